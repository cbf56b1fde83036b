"""``--comments``: each channel post's comment thread, a store of its own.

After the channel's own run, every archived post that announces comments and names its
linked discussion group gets ``comments/<post-id>/``, a store nested in the channel's
folder, fed through ``messages.getReplies(group, post)``. Its pages go to a worker pool
like any history (the jobs name the thread's folder; the workers decode and write
there) and its outputs are rendered in the channel's zone. A thread whose store already
holds as many comments as its post announces is not asked for again; one whose outputs
are missing, changed or in another zone is only rendered again. A post whose thread is
gone (``ThreadGone``) is logged and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import msgspec
import orjson

from engine import __version__
from engine import model as m
from engine.archive import layout, manifest
from engine.archive.atomic import write_atomic
from engine.archive.store import ChatMeta, ChatStore, CorruptState, RunRecord
from engine.render import assemble as asm
from engine.supervisor.dispatch import Dispatch
from engine.supervisor.fetch import PageStreams
from engine.supervisor.media import media_run
from engine.supervisor.outcome import Interrupted, now_iso, say
from engine.supervisor.planning import History, Span
from engine.telegram.source import HistoryOf, ThreadGone

log = logging.getLogger("tgarc.export")


@dataclass(frozen=True)
class Thread:
    post: int
    group: m.PeerRef            # the channel's discussion group, where the comments are
    root: Path
    fetch: bool                 # False: its outputs only are rendered again


_POSTS = msgspec.msgpack.Decoder(dict[str, list[tuple[int, int, int]]])


def posts_with_comments(store: ChatStore) -> list[tuple[int, int, int]]:
    """(post, comments, discussion group) of every archived post that announces comments,
    in its newest version, by id. What each segment says is kept in ``state/posts.msgpack``
    by segment name (never reused), so a re-run decodes only the segments it has not seen:
    of a history segment, its posts with comments; of a refresh segment, every message of
    the chat (a newer version may add or take away its comments)."""
    meta, path = store.cp.chat, store.state / layout.POSTS
    try:
        cache = _POSTS.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        cache = {}
    seen, fresh = {}, False
    for seg in store.cp.segments:
        if seg.kind not in ("history", "refresh") or not seg.count:
            continue
        got = cache.get(seg.name)
        if got is None:
            got, fresh = [], True
            every = seg.kind == "refresh"
            for x in store.read_segment(seg.name).messages:
                if x.chat == meta.ref and (every or (x.comments_chat and x.replies)):
                    got.append((x.id, x.replies or 0, x.comments_chat or 0))
        seen[seg.name] = got
    posts: dict[int, tuple[int, int]] = {}
    for seg in sorted((s for s in store.cp.segments if s.name in seen),
                      key=lambda s: s.kind == "refresh"):     # history first, then refreshes
        for post, replies, group in seen[seg.name]:           # in catalogue order
            if replies and group:
                posts[post] = (replies, group)
            else:
                posts.pop(post, None)
    if fresh or len(seen) != len(cache):
        write_atomic(path, msgspec.msgpack.encode(seen), durable=False)   # a cache
    return [(post, *posts[post]) for post in sorted(posts)]


def threads_of(store: ChatStore, tz: str) -> tuple[list[Thread], list[Thread], int]:
    """(threads to fetch, threads to render again, posts with a thread)."""
    posts = posts_with_comments(store)
    todo, heal = [], []
    for post, replies, group in posts:
        root = store.root / layout.COMMENTS / str(post)
        try:
            cp = ChatStore.read_checkpoint(root)
        except CorruptState:
            cp = None                        # opening the thread rebuilds it
        if cp is None or sum(s.count for s in cp.segments) < replies:
            todo.append(Thread(post, m.PeerRef("channel", group), root, True))
        elif cp.output.tz != tz or manifest.stale(root):
            heal.append(Thread(post, m.PeerRef("channel", group), root, False))
    return todo, heal, len(posts)


class CommentThreads:
    """The comment threads of the channel ``chat`` (a ChatExport) exports."""

    def __init__(self, chat, run_no: int):
        self.chat, self.run_no = chat, run_no

    async def export(self) -> None:
        chat = self.chat
        store, meta = chat.store, chat.store.cp.chat
        if meta.kind != "channel":
            if not chat.cfg.all_kinds:
                print(f"tgarc: --comments: {meta.name} is not a channel; only channel posts "
                      f"have comment threads", file=sys.stderr)
            return
        todo, heal, posts = threads_of(store, chat.tz)
        log.info("%s: %d comment threads, %d to fetch, %d to render again", store.root.name,
                 posts, len(todo), len(heal))
        for thread in heal:                  # outputs only: no request to Telegram
            await self.export_thread(None, thread)
        if todo:
            async with chat.dispatching() as dispatch:
                await self._fetch_all(dispatch, deque(todo))
            if chat.outcome.local_error is not None:
                raise chat.outcome.local_error
        if chat.stop.is_set():
            raise Interrupted()

    async def _fetch_all(self, dispatch: Dispatch, queue: deque[Thread]) -> None:
        """Threads are a request or two each: ``--fetch-streams`` of them at a time."""
        async def one_after_another() -> None:
            while queue and not self.chat.stop.is_set():
                await self.export_thread(dispatch, queue.popleft())

        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(max(1, self.chat.cfg.fetch_streams)):
                    tg.create_task(one_after_another())
        except BaseExceptionGroup as group:     # report the first failure as itself
            raise group.exceptions[0] from None

    async def export_thread(self, dispatch: Dispatch | None, t: Thread) -> None:
        """One post's comment thread: what it lacks fetched (with a ``dispatch``), its
        outputs rendered in the chat's zone, thread.json and its manifest written."""
        chat = self.chat
        meta = chat.store.cp.chat
        thread = ChatStore.open_at(
            t.root, ChatMeta(t.group, "supergroup", f"{meta.name} — comments on post "
                             f"{t.post}", None, meta.me),
            f"{chat.store.root.name}/{layout.COMMENTS}/{t.post}")
        try:
            for line in thread.notices:
                say(line)
            record = None
            if dispatch is not None:
                record = RunRecord(started=now_iso(), status="running", tz=chat.tz)
                thread.cp.runs.append(record)
                got = await self._fetch(dispatch, thread, t)
                if got is None or chat.outcome.local_error is not None:
                    return                   # gone; or the disk refuses: nothing to render
            full = bool(await asyncio.to_thread(manifest.stale, t.root))
            if dispatch is not None:
                full = await self._media(thread, t.post, dispatch) or full
            await asyncio.to_thread(asm.assemble, thread, list(chat.cfg.formats), chat.tz,
                                    full=full)
            if record is not None:
                record.status = "failed" if got[1] else "done"
                record.finished, record.messages = now_iso(), got[0]
                thread.commit()
            write_atomic(t.root / layout.THREAD_JSON, orjson.dumps({
                "post": t.post, "channel": meta.name, "channel_id": meta.ref.id,
                "discussion_group_id": t.group.id,
                "comments": sum(s.count for s in thread.cp.segments if s.kind == "history"),
                "exports": msgspec.to_builtins(thread.cp.runs)}, option=orjson.OPT_INDENT_2))
            await asyncio.to_thread(
                manifest.update, t.root, tool=f"tgarc {__version__}",
                api_layer=chat.source.api_layer, runs=msgspec.to_builtins(thread.cp.runs),
                tz=thread.cp.output.tz)
        finally:
            thread.close()

    async def _media(self, thread: ChatStore, post: int, dispatch: Dispatch) -> bool:
        """The thread's files, into its own folder (its own ledger), over the session's
        connection, probed by the pool's workers; True when an earlier run's entry changed."""
        chat = self.chat
        async with media_run(chat.cfg, thread, chat.source, chat.tz, chat.stop, chat.media,
                             lanes=0, thread=HistoryOf(thread=post)) as media:
            if media is None:
                return False
            media.fetching([], dispatch, dispatch.folder_of(thread.root))
            return await media.close()

    async def _fetch(self, dispatch: Dispatch, thread: ChatStore, t: Thread
                     ) -> tuple[int, int] | None:
        """The comments the thread's archive lacks, through the pool into its store:
        (messages made durable, jobs failed); None when the thread is gone. A thread is
        fetched whole unless the pool fails: it is a request or two."""
        of = HistoryOf(thread=t.post)
        try:
            top, _count = await self.chat.source.newest(of)
        except ThreadGone as exc:
            log.warning("post %d: its comment thread is gone (%s)", t.post, exc)
            return None
        spans = deque(Span(lo, hi, History(of))
                      for lo, hi in (thread.cp.covered().missing(1, top) if top else []))
        dest = dispatch.destination(thread, t.group, self.run_no,
                                    label=f"comments on post {t.post}: ",
                                    outcome=self.chat.outcome, tz=self.chat.tz)
        try:
            await PageStreams(self.chat.source, dispatch, dest, self.chat.tally,
                              lambda: dispatch.failing).run(spans, 1)
        finally:
            await dispatch.settled(dest)     # what was fetched becomes durable and listed
            dispatch.forget(dest)
        return dest.messages, dest.failed
