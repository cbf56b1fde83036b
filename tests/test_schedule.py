"""Which account exports which chat (engine/cluster/schedule.py, issue 16)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cluster.schedule import assign, reassign

ACCOUNTS = ["a", "b", "c"]


@st.composite
def dialogs(draw, max_chats=10, everyone=False):
    """account -> {chat: size}: which chats each account sees (and how big it says it is)."""
    n = draw(st.integers(1, max_chats))
    sizes = draw(st.lists(st.integers(0, 5000), min_size=n, max_size=n))
    out = {a: {} for a in ACCOUNTS}
    for i, size in enumerate(sizes):
        who = ACCOUNTS if everyone else draw(st.lists(st.sampled_from(ACCOUNTS), min_size=1,
                                                      max_size=3, unique=True))
        for a in who:
            out[a][f"chat{i:02d}"] = size
    return out


def _every_chat_once(plan, visible):
    """Every chat placed once or reported, and placed only where it is seen."""
    placed = [k for keys in plan.chats.values() for k in keys]
    assert len(placed) == len(set(placed)) and not set(placed) & set(plan.orphans)
    assert set(placed) | set(plan.orphans) == {k for v in visible.values() for k in v}
    for account, keys in plan.chats.items():
        assert all(k in visible[account] for k in keys), "only to an account that sees it"
        assert plan.load[account] == sum(visible[account][k] for k in keys)


@settings(max_examples=200, deadline=None)
@given(visible=dialogs())
def test_every_chat_goes_to_exactly_one_account_that_sees_it(visible):
    plan = assign(visible)
    _every_chat_once(plan, visible)
    assert plan.orphans == []
    assert assign(visible) == plan                    # the same lists, the same plan


@settings(max_examples=60, deadline=None)
@given(visible=dialogs(max_chats=8, everyone=True))
def test_where_everyone_sees_everything_the_balance_is_within_four_thirds_of_the_best(visible):
    sizes = visible["a"]
    keys = sorted(sizes)
    best = min(max(sum(sizes[k] for k, w in zip(keys, who, strict=True) if w == a)
                   for a in ACCOUNTS)
               for who in itertools.product(ACCOUNTS, repeat=len(keys)))
    got = max(assign(visible).load.values())
    assert got <= best * 4 / 3 + 1e-9


def test_two_accounts_seeing_the_same_chats_split_them_evenly():
    chats = {f"c{i}": 1000 for i in range(10)}
    plan = assign({"a": dict(chats), "b": dict(chats)})
    assert plan.load == {"a": 5000, "b": 5000}


@settings(max_examples=200, deadline=None)
@given(visible=dialogs(), lost=st.sampled_from(ACCOUNTS))
def test_a_lost_accounts_chats_move_to_accounts_that_see_them_and_only_they_move(visible,
                                                                                   lost):
    plan = assign(visible)
    kept = {a: list(k) for a, k in plan.chats.items() if a != lost}
    theirs = list(plan.chats[lost])
    moved = reassign(plan, lost, visible)
    assert lost not in plan.chats
    for account, keys in kept.items():
        assert plan.chats[account][:len(keys)] == keys      # nothing else moves
    nobody = sorted(k for k in theirs if not any(k in visible[a] for a in kept))
    assert sorted(plan.orphans) == nobody                  # reported, not dropped
    assert moved == sorted(set(theirs) - set(nobody))
    # the lost account takes no more work; its chats are placed elsewhere or reported
    _every_chat_once(plan, {**visible, lost: {k: 0 for k in nobody}})
