"""The media planner's steps during a fetch (engine/supervisor/media_plan.py ``Unplanned``):
each acknowledgement hands the planner only the segments listed since the last step, yet
the numbering equals one pass over the whole archive, whatever order the segments came in.
Before, every step re-read the whole checkpoint list: a 10,000-segment chat's run was
quadratic."""

from __future__ import annotations

import random
import shutil

import msgspec
import pytest

from engine import model as m
from engine.archive.media_ledger import Ledger
from engine.archive.ranges import IdRanges
from engine.archive.store import ChatMeta, ChatStore, Segment
from engine.render.stream import history_segments
from engine.supervisor.catalogue import archive_batch
from engine.supervisor.media_plan import MediaPlanner, Unplanned
from tests._export import demo_channel


def _store(root, per: int = 25):
    """A channel of the demo corpus, ``per`` messages a segment, media included."""
    ref, msgs = demo_channel(600)
    store = ChatStore.open(root, ChatMeta(ref, "channel", "chat"))
    for k in range(0, len(msgs), per):
        part = msgs[k:k + per]
        lo, hi = part[0].id, part[-1].id
        archive_batch(store, f"{lo:010d}-{hi:010d}.1.{k}.seg", "history", lo, hi,
                      m.Batch(k, ref, part))
    return store


def _entries(ledger):
    return sorted((e.msg_id, e.n, e.path, e.status) for e in ledger.entries())


def _watermark(covered: IdRanges, top: int) -> int | None:
    gaps = covered.missing(1, top)
    return gaps[0][0] - 1 if gaps else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_steps_in_any_arrival_order_number_as_one_pass_and_hand_each_segment_once(
        tmp_path, seed):
    whole = _store(tmp_path / "whole")
    assert sum(1 for s in whole.cp.segments if s.files > 0) >= 3   # files to number
    shutil.copytree(tmp_path / "whole", tmp_path / "steps")
    with Ledger.open(whole.root) as ledger:
        MediaPlanner(whole, ledger, ("photo", "document"), None, "UTC").run()
        expected = _entries(ledger)
    assert expected

    store = ChatStore.open(tmp_path / "steps", whole.cp.chat)
    arrived = list(store.cp.segments)
    top = max(s.hi for s in arrived)
    random.Random(seed).shuffle(arrived)
    store.cp.segments.clear()              # the acknowledgements come back one by one
    handed: list[Segment] = []
    with Ledger.open(store.root) as ledger:
        planner = MediaPlanner(store, ledger, ("photo", "document"), None, "UTC")
        planner.scan()
        unplanned = Unplanned(store)
        for seg in arrived:
            store.add(seg)
            unplanned.refresh()
            limit = _watermark(unplanned.covered, top)
            step = unplanned.take(limit)
            assert all(s.hi <= limit for s in step) if limit is not None else True
            assert step == sorted(step, key=lambda s: s.lo)
            handed += step
            planner.step(step, limit)
        unplanned.refresh()
        last = unplanned.take(None)
        handed += last
        planner.step(last, None)
        assert _entries(ledger) == expected
    assert handed == history_segments(store)          # each once, in id order
    assert unplanned.take(None) == []


def test_a_rebuilt_list_hands_every_segment_again(tmp_path):
    store = _store(tmp_path / "c")
    unplanned = Unplanned(store)
    unplanned.refresh()
    first = unplanned.take(None)
    assert first == history_segments(store)
    unplanned.refresh()
    assert unplanned.take(None) == []
    store.cp.segments = list(store.cp.segments)   # a checkpoint read again, say
    unplanned.refresh()
    assert unplanned.take(None) == first
    store.cp.segments.pop()                       # a damaged one dropped
    unplanned.refresh()
    assert unplanned.take(None) == first[:-1]
    assert unplanned.covered.ranges == IdRanges((s.lo, s.hi) for s in first[:-1]).ranges


def test_an_empty_segment_covers_its_ids_and_is_not_handed(tmp_path):
    store = _store(tmp_path / "d")
    top = max(s.hi for s in store.cp.segments)
    store.add(Segment("x.seg", "history", top + 1, top + 50, 0, 0, 0, 0))
    unplanned = Unplanned(store)
    unplanned.refresh()
    assert unplanned.covered.ranges == store.cp.covered().ranges
    assert unplanned.covered.missing(top + 1, top + 50) == []
    handed = unplanned.take(None)
    assert handed and all(s.count for s in handed) and handed[-1].hi == top


class _Counted(list):
    """A checkpoint's segment list that counts the entries read out of it."""

    read = 0

    def __getitem__(self, i):
        got = super().__getitem__(i)
        _Counted.read += len(got) if isinstance(i, slice) else 1
        return got

    def __iter__(self):
        for x in super().__iter__():
            _Counted.read += 1
            yield x


def test_the_work_of_the_steps_grows_with_what_arrived_not_with_the_archive(tmp_path):
    """2,000 segments acknowledged one at a time: the steps read and hand about 2,000
    entries in all (a pass over the whole list at each step reads n²/2 = 2,000,000)."""
    store = _store(tmp_path / "e")
    seg = store.cp.segments[0]
    store.cp.segments = _Counted()
    unplanned, handed = Unplanned(store), 0
    for i in range(2000):
        lo = 1 + i * 1000
        store.add(msgspec.structs.replace(seg, name=f"{i}.seg", lo=lo, hi=lo + 999))
        unplanned.refresh()
        handed += len(unplanned.take(lo + 999))
    assert handed == 2000
    assert _Counted.read <= 3 * 2000
