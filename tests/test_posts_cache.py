"""Which archived posts announce comments (engine/supervisor/threads.py
``posts_with_comments``): what each segment says is kept in ``state/posts.msgpack``, so a
``--comments`` re-run decodes only the segments it has not seen; refresh segments (newer
versions) still add and take away threads, and the answer equals a pass over every
segment with the newest versions."""

from __future__ import annotations

import random

from engine import model as m
from engine.archive import layout
from engine.archive.store import ChatMeta, ChatStore
from engine.render.stream import history_segments, refreshed
from engine.supervisor.catalogue import archive_batch
from engine.supervisor.threads import posts_with_comments

CHAT = m.PeerRef("channel", 7)
GROUP = 99


def _post(i: int, replies: int | None) -> m.Message:
    return m.Message(id=i, chat=CHAT, date=1700000000 + i, text=f"post {i}",
                     replies=replies, comments_chat=GROUP if replies is not None else None)


def _reference(store) -> list[tuple[int, int, int]]:
    """The pass over every segment the cache stands for."""
    overrides, _ = refreshed(store)
    out = []
    for seg in history_segments(store):
        for x in store.read_segment(seg.name).messages:
            x = overrides.get(x.id, x)
            if x.chat == CHAT and x.comments_chat and x.replies:
                out.append((x.id, x.replies, x.comments_chat))
    return out


def _counting(store) -> list[str]:
    reads: list[str] = []
    original = store.read_segment

    def read(name, *args):
        reads.append(name)
        return original(name, *args)
    store.read_segment = read
    return reads


def test_a_rerun_reads_only_new_segments_and_refreshes_still_count(tmp_path):
    rng = random.Random(5)
    store = ChatStore.open(tmp_path, ChatMeta(CHAT, "channel", "chat"))
    for k in range(4):
        lo = 1 + 100 * k
        archive_batch(store, f"h{k}.seg", "history", lo, lo + 99, m.Batch(k, CHAT, [
            _post(i, rng.choice([None, 0, 3, 7])) for i in range(lo, lo + 100)]))
    want = _reference(store)
    reads = _counting(store)
    assert posts_with_comments(store) == want and len(reads) == 4
    assert (store.state / layout.POSTS).exists()
    reads.clear()
    assert posts_with_comments(store) == want and reads == []      # nothing decoded
    archive_batch(store, "h4.seg", "history", 401, 450,
                  m.Batch(4, CHAT, [_post(i, 2) for i in range(401, 451)]))
    gains = next(i for i in range(1, 101) if i not in {p for p, *_ in want})
    loses = want[0][0]
    archive_batch(store, "r1.seg", "refresh", min(gains, loses), max(gains, loses),
                  m.Batch(0, CHAT, sorted([_post(gains, 5), _post(loses, None)],
                                          key=lambda x: x.id)))
    reads.clear()
    got = posts_with_comments(store)
    assert sorted(reads) == ["h4.seg", "r1.seg"]
    assert got == _reference(store)
    assert (gains, 5, GROUP) in got and all(p != loses for p, *_ in got)


def test_a_damaged_cache_is_read_again_from_the_segments(tmp_path):
    store = ChatStore.open(tmp_path, ChatMeta(CHAT, "channel", "chat"))
    archive_batch(store, "h0.seg", "history", 1, 50,
                  m.Batch(0, CHAT, [_post(i, i % 3) for i in range(1, 51)]))
    want = _reference(store)
    assert posts_with_comments(store) == want
    (store.state / layout.POSTS).write_bytes(b"\x92garbage")
    reads = _counting(store)
    assert posts_with_comments(store) == want and reads == ["h0.seg"]
