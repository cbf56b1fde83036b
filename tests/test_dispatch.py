"""The worker pool seen from the event loop (engine/supervisor/dispatch.py), with real
workers, real stores and real Telegram pages from the test server: jobs into the chat's
own store and into a comment thread's store nested in it, each landing in its own
folder and catalogue, and every catalogue change made on the event loop's thread."""

from __future__ import annotations

import asyncio
import threading

from engine import model as m
from engine.archive.store import ChatMeta, ChatStore
from engine.fakedc.corpus import Corpus
from engine.fakedc.rpc_history import history_page
from engine.fakedc.server import FakeDC
from engine.supervisor.dispatch import Dispatch
from engine.supervisor.outcome import Outcome
from engine.supervisor.planning import History
from engine.supervisor.tally import Tally
from engine.telegram import convert


def _pages(n: int = 400) -> tuple[m.PeerRef, list[tuple[bytes, list[int]]]]:
    dc = FakeDC(Corpus(messages=n))
    chat = dc.corpus.chats["channel"]
    offset, out = 0, []
    while True:
        data, ids = history_page(dc, chat, (chat.id, offset, 0, 0, 100, 0, 0, 0))
        if not ids:
            return convert.peer_ref(chat.peer()), out
        out.append((data, ids))
        offset = ids[-1]


async def _export(root, ref, pages):
    chat = ChatStore.open(root, ChatMeta(ref, "channel", "chat"))
    group = m.PeerRef("channel", 77)
    thread = ChatStore.open_at(chat.root / "comments" / "7",
                               ChatMeta(group, "supergroup", "thread"), "x/comments/7")
    adders: list[int] = []
    for store in (chat, thread):
        def add(seg, _add=store.add):
            adders.append(threading.get_ident())
            _add(seg)
        store.add = add
    tally, outcome = Tally(2), Outcome()
    dispatch = Dispatch(2, 1, chat.root, "UTC", tally, outcome, asyncio.Event())
    try:
        ours = dispatch.destination(chat, ref, 1)
        theirs = dispatch.destination(thread, group, 1)
        assert theirs.folder == "comments/7" and ours.folder == ""
        for i, (data, ids) in enumerate(pages):
            await dispatch.permit()
            dispatch.submit(ours if i % 2 else theirs, [(data, min(ids), max(ids))],
                            History())
        await dispatch.settled(theirs)
        dispatch.forget(theirs)
    finally:
        await dispatch.close()
    chat.close()
    thread.close()
    return chat, thread, tally, outcome, adders, threading.get_ident()


def test_jobs_land_in_the_store_they_name_and_the_loop_alone_lists_them(tmp_path):
    ref, pages = _pages()
    assert len(pages) >= 4
    chat, thread, tally, outcome, adders, loop_thread = asyncio.run(
        asyncio.wait_for(_export(tmp_path, ref, pages), 120))
    assert outcome.failures == [] and outcome.local_error is None
    total = sum(len(ids) for _, ids in pages)
    assert tally.messages == outcome.fetched == total
    assert adders and set(adders) == {loop_thread}
    for store, mine in ((thread, pages[0::2]), (chat, pages[1::2])):
        cp = ChatStore.read_checkpoint(store.root)          # as committed on disk
        assert sorted(s.lo for s in cp.segments) == sorted(min(ids) for _, ids in mine)
        assert sum(s.count for s in cp.segments) == sum(len(ids) for _, ids in mine)
        for seg in cp.segments:
            assert (store.archive / seg.name).is_file()
            assert (store.render_cache / (seg.name + ".frag")).is_file()
            assert store.read_segment(seg.name).chat == store.cp.chat.ref
    # the thread's segments are its own: none in the chat's folder
    names = {s.name for s in ChatStore.read_checkpoint(chat.root).segments}
    assert not names & {p.name for p in thread.archive.iterdir()}


def test_one_pool_serves_several_chats_each_in_its_zone_and_with_its_own_outcome(tmp_path):
    """A run's shared pool is rooted at --out: every chat's jobs go to its own folder,
    rendered in its own zone, counted in its own Outcome."""
    from engine.render import fragments

    ref, pages = _pages()
    zones = {"a": "UTC", "b": "Asia/Tokyo"}

    async def run():
        stores = {k: ChatStore.open(tmp_path, ChatMeta(m.PeerRef("channel", 100 + i),
                                                       "channel", f"chat {k}"))
                  for i, k in enumerate(zones)}
        outcomes = {k: Outcome() for k in zones}
        dispatch = Dispatch(2, 1, tmp_path, "UTC", Tally(2), Outcome(), asyncio.Event())
        try:
            dests = {k: dispatch.destination(stores[k], ref, 1, outcome=outcomes[k],
                                             tz=zones[k]) for k in zones}
            assert {d.folder for d in dests.values()} == {s.root.name for s in stores.values()}
            for i, (data, ids) in enumerate(pages):
                await dispatch.permit()
                dispatch.submit(dests["ab"[i % 2]], [(data, min(ids), max(ids))], History())
        finally:
            await dispatch.close()
        for s in stores.values():
            s.close()
        return stores, outcomes

    stores, outcomes = asyncio.run(asyncio.wait_for(run(), 120))
    for i, k in enumerate(zones):
        mine = pages[i::2]
        assert outcomes[k].fetched == sum(len(ids) for _, ids in mine)
        cp = ChatStore.read_checkpoint(stores[k].root)
        assert sorted(s.lo for s in cp.segments) == sorted(min(ids) for _, ids in mine)
        for seg in cp.segments:
            batch = stores[k].read_segment(seg.name)
            path = stores[k].render_cache / (seg.name + ".frag")
            assert fragments.read(path, batch, zones[k]) is not None
            other = zones["ab"[1 - i]]
            assert fragments.read(path, batch, other) is None      # rendered in its own zone


def test_a_pool_that_breaks_wakes_every_stream_waiting_for_a_permit(tmp_path):
    """A run's pool serves every chat in flight: more streams can wait for a permit than
    one chat has. When the pool breaks, every one of them wakes (and stops)."""
    async def run():
        stop = asyncio.Event()
        dispatch = Dispatch(1, 1, tmp_path, "UTC", Tally(1), Outcome(), stop)
        try:
            while not dispatch.permits.locked():
                await dispatch.permit()
            waiting = [asyncio.create_task(dispatch.permit()) for _ in range(40)]
            await asyncio.sleep(0.05)
            assert not any(t.done() for t in waiting)
            dispatch.abort()
            await asyncio.wait_for(asyncio.gather(*waiting), 5)
            return stop.is_set()
        finally:
            dispatch.pool.release()

    assert asyncio.run(run())
