"""``--refresh-edits N``: the newest N archived messages read again.

A message that changed is stored as a new version, one Telegram no longer has is kept
and flagged ``deleted_at``; both go into one refresh segment, which wins over older
versions in catalogue order. Only the chat's own messages are read again (refresh
overrides match by chat and id; a migrated basic group's history is left as it is).
"""

from __future__ import annotations

import time

from engine import model as m
from engine.archive.store import ChatStore, refresh_name
from engine.supervisor.catalogue import archive_batch

REFRESH_PAGE = 100            # ids per messages.getMessages


def newest_versions(store: ChatStore, n: int) -> dict[int, m.Message]:
    """The chat's newest ``n`` archived messages (at least), each in its latest version."""
    latest: dict[int, m.Message] = {}
    for s in store.cp.segments:
        if s.kind == "refresh":
            latest.update((x.id, x) for x in store.read_segment(s.name).messages)
    newest: dict[int, m.Message] = {}
    for s in sorted((s for s in store.cp.segments if s.kind == "history" and s.count),
                    key=lambda s: s.hi, reverse=True):
        for x in reversed(store.read_segment(s.name).messages):
            if x.chat == store.cp.chat.ref:
                newest[x.id] = latest.get(x.id, x)
        if len(newest) >= n:
            break
    return newest


async def refresh_edits(store: ChatStore, source, n: int, run_no: int) -> None:
    newest = newest_versions(store, n)
    ids = sorted(newest, reverse=True)[:n]
    changed: list[m.Message] = []
    peers: dict[m.PeerRef, m.PeerInfo] = {}
    now = int(time.time())
    chat = store.cp.chat.ref
    for k in range(0, len(ids), REFRESH_PAGE):
        chunk = sorted(ids[k:k + REFRESH_PAGE])
        batch, gone = await source.messages(chat, chunk)
        peers.update((p.ref, p) for p in batch.peers)
        for x in batch.messages:
            old = newest[x.id]
            if old.deleted_at is None and x != old:
                changed.append(x)
        for i in sorted(gone):
            old = newest[i]
            if old.deleted_at is None:
                flagged = m.Message(**{f: getattr(old, f) for f in old.__struct_fields__})
                flagged.deleted_at = now
                changed.append(flagged)
    if not changed:
        return
    changed.sort(key=lambda x: x.id)
    name = refresh_name(run_no, sum(s.kind == "refresh" for s in store.cp.segments) + 1)
    archive_batch(store, name, "refresh", changed[0].id, changed[-1].id,
                  m.Batch(0, chat, changed, list(peers.values())))
