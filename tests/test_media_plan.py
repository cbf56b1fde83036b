"""The media planner's numbering pass (engine/supervisor/media_plan.py) over real segments in
a real store and ledger: a segment whose catalogue entry says it holds no file is counted
without being read; one that holds files is numbered in id order as ever."""

from __future__ import annotations

import msgspec

from engine import model as m
from engine.archive.media_ledger import Ledger
from engine.archive.store import ChatMeta, ChatStore
from engine.supervisor.catalogue import archive_batch
from engine.supervisor.media_plan import MediaPlanner
from tests._export import demo_channel


def _store(tmp_path, files_known: bool = True):
    ref, msgs = demo_channel(400)
    store = ChatStore.open(tmp_path, ChatMeta(ref, "channel", "chat"))
    plain = [x for x in msgs if x.media is None]
    filed = [x for x in msgs if isinstance(x.media, m.Photo | m.Document)]
    # three segments: text only, with files, text only
    parts = [plain[:50], sorted(plain[50:60] + filed[:20], key=lambda x: x.id), plain[60:90]]
    lo = 1
    for k, part in enumerate(parts):
        hi = max(x.id for x in part) + 1000 * k
        part = [msgspec.structs.replace(x, id=x.id + 1000 * k) for x in part]
        archive_batch(store, f"{lo:010d}-{hi:010d}.1.{k}.seg", "history", lo, hi,
                      m.Batch(k, ref, part))
        lo = hi + 1
    if not files_known:
        for s in store.cp.segments:
            s.files = -1
    return store


def _plan(store, reads):
    original = store.read_segment

    def counted(name):
        reads.append(name)
        return original(name)
    store.read_segment = counted           # to see which segments the pass opens
    with Ledger.open(store.root) as ledger:
        planner = MediaPlanner(store, ledger, ("photo", "document"), None, "UTC")
        plan = planner.run()
        return plan, sorted((e.msg_id, e.path) for e in ledger.entries()), ledger.counted


def test_segments_without_files_are_counted_unread_and_numbering_is_unchanged(tmp_path):
    store = _store(tmp_path / "a")
    assert [s.files for s in store.cp.segments] == [0, 20, 0]
    reads: list[str] = []
    plan, entries, counted = _plan(store, reads)
    assert reads == [store.cp.segments[1].name]           # only the one with files
    assert len(entries) == plan.numbered > 0          # (the corpus repeats files: fewer)
    assert not counted.missing(1, store.cp.segments[-1].hi)   # every id counted

    old = _store(tmp_path / "b", files_known=False)       # a catalogue from before
    old_reads: list[str] = []
    _, old_entries, _ = _plan(old, old_reads)
    assert len(old_reads) == 3                            # each read, as before
    assert old_entries == entries                         # the same names either way
