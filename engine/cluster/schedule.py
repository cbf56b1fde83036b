"""Which account exports which chat (issue 16's scheduler).

Each account can export only the chats it sees (its dialog list); a chat several accounts
see is exported once. Accounts are Telegram's unit of throughput (flood limits are per
account), so the work is balanced by size: the largest chats first, each to the account that
sees it and has the least assigned so far (longest processing time first: where every
account sees every chat, within 4/3 of the best balance). Ties go to the smaller chat key and
the first account by name, so the same dialog lists always give the same plan.

When an account is lost (its node died) or held back by flood waits, ``reassign`` takes it
out of the plan and moves its chats, the same way, to the other accounts that see them; a
chat no other account sees is reported (``orphans``), never dropped silently. A moved chat
resumes from its checkpoint: the unit of resume is the chat, wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Plan:
    chats: dict[str, list[str]] = field(default_factory=dict)   # account -> chat keys
    load: dict[str, int] = field(default_factory=dict)          # account -> messages
    orphans: list[str] = field(default_factory=list)            # chats nobody left sees


def assign(visible: dict[str, dict[str, int]]) -> Plan:
    """``visible``: account -> {chat key: its size (messages)}."""
    names = sorted(visible)
    plan = Plan({a: [] for a in names}, {a: 0 for a in names})
    _place(plan, visible, _sizes(visible), names)
    return plan


def reassign(plan: Plan, lost: str, visible: dict[str, dict[str, int]]) -> list[str]:
    """Move ``lost``'s chats to the accounts left; the chats moved (``plan.orphans`` gets
    those no other account sees)."""
    keys = plan.chats.pop(lost, [])
    plan.load.pop(lost, None)
    sizes = {k: s for k, s in _sizes(visible).items() if k in keys}
    had = len(plan.orphans)
    _place(plan, visible, sizes, sorted(plan.chats))
    left = set(plan.orphans[had:])
    return sorted(k for k in keys if k not in left)


def _sizes(visible: dict[str, dict[str, int]]) -> dict[str, int]:
    """Each chat's size: the largest any account reports (dialog lists age differently)."""
    out: dict[str, int] = {}
    for chats in visible.values():
        for key, size in chats.items():
            out[key] = max(out.get(key, 0), max(0, int(size)))
    return out


def _place(plan: Plan, visible, sizes: dict[str, int], names: list[str]) -> None:
    for key in sorted(sizes, key=lambda k: (-sizes[k], k)):
        seen = [a for a in names if key in visible.get(a, {})]
        if not seen:
            plan.orphans.append(key)
            continue
        best = min(seen, key=lambda a: (plan.load[a], a))
        plan.chats[best].append(key)
        plan.load[best] += sizes[key]
