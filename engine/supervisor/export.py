"""``tgarc export``: the supervisor's main path for one or more chats.

    resolve target → open the chat folder (crash leftovers removed) → takeout session
    → --refresh-edits (new versions into a refresh segment) → plan the id ranges the
    archive lacks → fetch them oldest first, several ranges at once → batches to the
    worker pool (backpressure: at most ``4 × workers`` batches unacknowledged) →
    acknowledged segments enter the checkpoint (coalesced: every 0.5 s and at the end)
    → assemble the outputs from the archive.

Interrupts: the first Ctrl-C (or SIGTERM) stops asking Telegram for pages, lets every
batch already fetched become durable, saves the checkpoint and exits 130; the
outputs are assembled by the next run. A second Ctrl-C kills the workers and exits at
once; the checkpoint on disk is still consistent (it never lists what is not durable).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import msgspec
import orjson

from engine import __version__
from engine import model as m
from engine.archive import layout, manifest
from engine.archive.atomic import write_atomic
from engine.archive.naming import chat_folder
from engine.archive.store import (
    ChatMeta,
    ChatStore,
    CorruptState,
    DamagedSegment,
    RunRecord,
    Segment,
    batch_dates,
    history_name,
    refresh_name,
)
from engine.config import ConfigError, ExportConfig
from engine.model import events as ev
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render import assemble as asm
from engine.render import topic_views
from engine.supervisor.pool import WorkerPool
from engine.telegram import rawpage
from engine.telegram.source import PAGE, NotFound, Part, ThreadGone

log = logging.getLogger("tgarc.export")
RING_BYTES = 8 << 20          # per worker; a page of 100 maximal messages fits
REFRESH_PAGE = 100
JOB_MESSAGES = 1000           # messages per job / archive segment
COMMIT_EVERY = 0.5            # seconds between checkpoint writes while acks arrive


class Interrupted(Exception):
    """Ctrl-C: the checkpoint is saved (exit code 130)."""

    def __init__(self, msg: str = "interrupted; the checkpoint is saved — run the same "
                                  "command again to continue"):
        super().__init__(msg)


class BatchesFailed(Exception):
    """The run finished but some batches could not be processed (exit code 1)."""


def say(line: str) -> None:
    """A one-line notice on stderr and in tgarc.log."""
    log.warning("%s", line)
    print(f"tgarc: {line}", file=sys.stderr)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Tally:
    """Figures gathered by the fetchers (event loop) and the pool thread, sent to the
    aggregator by one ticker so only one thread ever writes its ring."""

    def __init__(self, workers: int):
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = {}
        self.messages = 0
        self.busy = [0.0] * workers
        self.procs: list[ev.Proc] = []
        self.floods: list[ev.Flood] = []

    def sample(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.samples.setdefault(stage, []).append(seconds)

    def take(self):
        with self.lock:
            samples, self.samples = self.samples, {}
            procs, self.procs = self.procs, []
            floods, self.floods = self.floods, []
            return samples, procs, floods, self.messages, list(self.busy)


@dataclass(frozen=True)
class Origin:
    """One history the chat's archive is made of. Ids in the archive's catalogue are
    ``request id + shift``: the basic group a supergroup migrated from comes before the
    supergroup's own history (Telegram Desktop shows its ids − 1e9); its messages keep
    their own chat and ids (``origin``), and the renderers apply the shift."""
    part: Part | None = None
    shift: int = 0
    origin: m.PeerRef | None = None


class ChatExport:
    def __init__(self, cfg: ExportConfig, source, target: str, agg, tally: Tally, stats,
                 cache, stop: asyncio.Event):
        self.cfg, self.source, self.target, self.agg = cfg, source, target, agg
        self.tally, self.stats, self.cache, self.stop = tally, stats, cache, stop
        self.failures: list[str] = []
        self.local_error: OSError | None = None
        self.pool: WorkerPool | None = None
        self.store: ChatStore | None = None
        self.fetched = 0
        self.origins: list[Origin] = [Origin()]
        self.topic: tuple[int, str] | None = None       # --topic: (id, title)
        self.tz = cfg.tz                                 # the chat's zone (zone())

    # ---- the run ----------------------------------------------------------------------------
    async def run(self) -> None:
        cfg, source = self.cfg, self.source
        meta = await source.resolve(self.target)
        meta.me = await source.me()
        topics = await source.topics() if meta.forum else {}
        if cfg.topic is not None:
            store = self.store = self.topic_store(meta, topics)
            self.origins = [Origin(Part(thread=cfg.topic))]
        else:
            store = self.store = ChatStore.open(Path(cfg.out), meta)
        try:
            await self._run(store, meta, topics)
        finally:
            store.close()

    def zone(self, store: ChatStore) -> str:
        """The chat's time zone: the one it was rendered in, unless this run names another."""
        cfg, kept = self.cfg, store.cp.output.tz
        if not kept or kept == cfg.tz:
            return cfg.tz
        if not cfg.tz_given:
            return kept
        say(f"{store.root.name}: time zone changed from {kept} to {cfg.tz}; its dates and "
            f"day notes are rendered again")
        return cfg.tz

    async def _run(self, store: ChatStore, meta: ChatMeta, topics: dict[int, str]) -> None:
        cfg, source = self.cfg, self.source
        for line in store.notices:
            say(line)
        self.tz = tz = self.zone(store)
        run_no = store.next_run()
        record = RunRecord(started=now_iso(), status="running", tz=tz)
        store.cp.runs.append(record)
        store.commit()
        if meta.kind == "supergroup" and cfg.topic is None:
            old = await source.migrated_from()
            if old is not None:
                # one history: the basic group's messages first, as Telegram Desktop does
                self.origins.insert(0, Origin(Part(peer=m.PeerRef("chat", old[0])),
                                              -MIGRATED_ID_SHIFT, m.PeerRef("chat", old[0])))
        await source.start_takeout(cfg.takeout)
        for w in source.warnings:
            log.warning(w)
            print(f"tgarc: warning: {w}", file=sys.stderr)
        source.warnings.clear()
        ok = False
        try:
            if cfg.refresh_edits and any(s.count for s in store.cp.segments):
                await self.refresh(run_no)
            if cfg.topic is not None:
                await self.topic_root(run_no, meta.ref)
            await self.fetch(run_no, meta.ref)
            ok = not self.failures
        except BaseException as exc:
            # the run's record says how it ended (best effort: the disk may be full)
            record.status = "interrupted" if isinstance(exc, asyncio.CancelledError) \
                else "failed"
            record.finished, record.messages = now_iso(), self.fetched
            with contextlib.suppress(OSError):
                store.commit()
            raise
        finally:
            await source.finish_takeout(ok)
        if self.local_error is not None:
            record.status, record.finished, record.messages = "failed", now_iso(), self.fetched
            store.commit()
            raise self.local_error
        if self.stop.is_set():
            record.status, record.finished, record.messages = "interrupted", now_iso(), \
                self.fetched
            store.commit()
            raise Interrupted()
        t0 = time.perf_counter()
        try:
            await self.render(store, topics if cfg.topic is None else {})
        except DamagedSegment:
            record.status, record.finished, record.messages = "failed", now_iso(), self.fetched
            store.commit()
            raise
        self.tally.sample("assemble", time.perf_counter() - t0)
        record.status = "failed" if self.failures else "done"
        record.finished, record.messages = now_iso(), self.fetched
        store.commit()
        await self.write_chat_json(topics)
        await asyncio.to_thread(
            manifest.update, store.root, tool=f"tgarc {__version__}",
            api_layer=self.source.api_layer, runs=msgspec.to_builtins(store.cp.runs),
            tz=store.cp.output.tz)
        if topics and cfg.topic is None:
            # topic folders a --topic run made hold a store and a manifest of their own,
            # and the views just rendered over their outputs
            for sub in sorted((store.root / layout.TOPICS).glob(f"*/{manifest.NAME}")):
                cp = ChatStore.read_checkpoint(sub.parent) or store.cp
                await asyncio.to_thread(
                    manifest.update, sub.parent, tool=f"tgarc {__version__}",
                    api_layer=self.source.api_layer, runs=msgspec.to_builtins(cp.runs),
                    tz=cp.output.tz)
        if cfg.comments and cfg.topic is None:
            await self.export_comments(run_no)
        if self.failures:
            raise BatchesFailed("; ".join(self.failures))

    async def render(self, store: ChatStore, topics: dict[int, str]) -> None:
        """The outputs from the archive: what the run added, or everything when an output
        is missing or differs from what tgarc last wrote (manifest.json) — outputs heal."""
        formats = list(self.cfg.formats)
        damaged = await asyncio.to_thread(manifest.stale, store.root)
        if damaged and damaged != [manifest.NAME] and store.cp.output.assembled:
            say(f"{store.root.name}: {len(damaged)} output file(s) missing or changed since "
                f"the last export ({damaged[0]}{', …' if len(damaged) > 1 else ''}); "
                f"rendering them again")
        await asyncio.to_thread(asm.assemble, store, formats, self.tz, full=bool(damaged))
        if topics:
            await asyncio.to_thread(topic_views.render_topics, store, topics, formats, self.tz)

    def topic_store(self, meta: ChatMeta, topics: dict[int, str]) -> ChatStore:
        """``--topic ID``: a store of its own in ``topics/<id>-<slug>/`` of the chat's
        folder, fetched through ``messages.getReplies``."""
        cfg = self.cfg
        if not topics:
            raise ConfigError(f"--topic: {meta.name or self.target} is not a forum (it has no "
                              f"topics)")
        if cfg.topic not in topics:
            listed = ", ".join(f"{k} ({v})" for k, v in list(topics.items())[:10])
            raise NotFound(f"--topic: {meta.name} has no topic {cfg.topic}; its topics: "
                           f"{listed}{' …' if len(topics) > 10 else ''}")
        out = Path(cfg.out)
        chat_root = ChatStore.find(out, meta.ref.kind, meta.ref.id) or \
            out / chat_folder(meta.ref.kind, meta.ref.id, meta.name)
        title = topics[cfg.topic]
        root = topic_views.find_topic_folder(chat_root, cfg.topic, title)
        topic_meta = ChatMeta(meta.ref, meta.kind, f"{meta.name} / {title}", meta.username,
                              meta.me, meta.forum)
        self.topic = (cfg.topic, title)
        return ChatStore.open_at(root, topic_meta, f"{chat_root.name}/{layout.TOPICS}/{root.name}")

    async def topic_root(self, run_no: int, chat: m.PeerRef) -> None:
        """The message that opened the topic: ``getReplies`` lists only the replies."""
        store, tid = self.store, self.cfg.topic
        if tid in store.cp.covered():
            return
        batch, _gone = await self.source.messages(chat, [tid])
        batch.messages = [x for x in batch.messages if topic_views.topic_of(x) == tid]
        name = history_name(tid, tid, run_no, 0)
        store.write_segment(name, m.ENCODER.encode(batch))
        lo, hi = batch_dates(batch)
        store.add(Segment(name, "history", tid, tid, len(batch.messages), lo, hi))
        store.commit()
        self.fetched += len(batch.messages)

    async def write_chat_json(self, topics: dict[int, str] | None = None) -> None:
        """chat.json: who the chat is, what the archive holds, every export run."""
        store = self.store
        meta, segs = store.cp.chat, [s for s in store.cp.segments if s.kind == "history"]
        ref = meta.ref
        marked = {"channel": -(10**12) - ref.id, "chat": -ref.id}.get(ref.kind, ref.id)
        info = {
            "title": meta.name, "username": meta.username, "about": await self.source.about(),
            "kind": meta.kind, "id": ref.id, "marked_id": marked, "folder": store.root.name,
            "messages": sum(s.count for s in segs),
            "first_id": min((s.lo for s in segs if s.count), default=None),
            "last_id": max((s.hi for s in segs if s.count), default=None),
            "versions": sum(s.count for s in store.cp.segments if s.kind == "refresh"),
            "exports": msgspec.to_builtins(store.cp.runs),
        }
        if self.topic is not None:
            info["topic"] = {"id": self.topic[0], "title": self.topic[1]}
        elif topics:
            info["topics"] = [{"id": k, "title": v} for k, v in topics.items()]
        if self.cfg.members:
            info.update(await self.source.members())
        write_atomic(store.root / layout.CHAT_JSON, orjson.dumps(info, option=orjson.OPT_INDENT_2))

    # ---- planning and fetching --------------------------------------------------------------
    async def plan(self) -> tuple[list[tuple[int, int, Origin]], int]:
        """The id ranges (as the requests number them) the archive lacks, of every
        origin, oldest first, and about how many messages they hold. ``--min-id`` and
        ``--max-id`` number the chat's own messages: with ``--min-id`` the history of a
        migrated basic group (which is older than id 1) is left out."""
        cfg, source = self.cfg, self.source
        covered = self.store.cp.covered()
        out, estimate = [], 0
        for o in self.origins:
            if o.shift and cfg.min_id:
                continue
            top, count = await source.newest(o.part)
            lo = 1 if o.shift else max(1, cfg.min_id)
            hi = top if o.shift or not cfg.max_id else min(top, cfg.max_id)
            if cfg.since is not None:
                lo = max(lo, await source.last_before(cfg.since, o.part) + 1)
            if cfg.until is not None:
                hi = min(hi, await source.last_before(cfg.until, o.part))
            if lo > hi:
                continue
            missing = covered.missing(lo + o.shift, hi + o.shift)
            width = sum(b - a + 1 for a, b in missing)
            estimate += round(width * count / top) if top else 0
            out += [(a - o.shift, b - o.shift, o) for a, b in missing]
        return out, estimate

    @staticmethod
    def split(ranges: list[tuple[int, int, Origin]], parts: int
              ) -> deque[tuple[int, int, Origin]]:
        """Cut the ranges into about ``parts`` × 4 pieces of similar width, so each fetch
        stream always finds work."""
        width = sum(b - a + 1 for a, b, _ in ranges)
        step = max(2000, -(-width // max(1, parts * 4)))
        out: deque[tuple[int, int, Origin]] = deque()
        for a, b, o in ranges:
            while a <= b:
                out.append((a, min(b, a + step - 1), o))
                a += step
        return out

    async def fetch(self, run_no: int, chat: m.PeerRef) -> None:
        cfg, store, tally = self.cfg, self.store, self.tally
        loop = asyncio.get_running_loop()
        permits = asyncio.Semaphore(4 * cfg.workers)
        jobs: dict[int, tuple[str, int, int]] = {}
        groups: dict[int, list[int]] = {}
        last_commit = [time.monotonic()]

        def on_ack(ack: ev.Ack) -> None:
            name, lo, hi = jobs.pop(ack.seq)
            store.add(Segment(name, "history", lo, hi, ack.messages, ack.date_lo, ack.date_hi))
            with tally.lock:
                tally.messages += ack.messages
                tally.busy[ack.worker] += ack.decode_s + ack.render_s + ack.write_s
                for stage, s in (("decode", ack.decode_s), ("render", ack.render_s),
                                 ("write", ack.write_s)):
                    tally.samples.setdefault(stage, []).append(s)
            self.fetched += ack.messages
            if time.monotonic() - last_commit[0] >= COMMIT_EVERY:
                store.commit()
                last_commit[0] = time.monotonic()

        def on_failed(seq: int, error: str, local: OSError | None = None) -> None:
            _name, lo, hi = jobs.pop(seq)
            log.error("messages %d..%d failed: %s", lo, hi, error)
            if local is not None:
                # disk full, read-only, permissions: every other batch would fail too
                if self.local_error is None:
                    self.local_error = local
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self.stop.set)
                return
            self.failures.append(f"messages {lo}..{hi}: {error}")

        def on_release(seq: int) -> None:
            group = groups.pop(seq)
            group[0] -= 1
            if group[0]:
                return
            with contextlib.suppress(RuntimeError):   # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(permits.release)

        def on_proc(pid: int, alive: bool) -> None:
            with tally.lock:
                tally.procs.append(ev.Proc(pid, "worker", alive))

        # Workers start first: they import while the plan's requests are in flight.
        def wake_all() -> None:
            self.stop.set()
            for _ in range(4 * cfg.workers + 2 * cfg.fetch_streams):
                permits.release()

        def on_error(exc: BaseException) -> None:
            """The pool thread died (say, the checkpoint could not be written): nothing
            will be acknowledged any more, so fetchers waiting for permits must wake."""
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake_all)

        pool = self.pool = WorkerPool(cfg.workers, str(store.root), self.tz, capacity=RING_BYTES,
                                      on_ack=on_ack, on_failed=on_failed,
                                      on_release=on_release, on_proc=on_proc,
                                      on_error=on_error)
        try:
            missing, estimate = await self.plan()
        except BaseException:
            await self._stop_pool(store)
            raise
        self.agg_send(ev.Plan(store.cp.chat.name or self.target, estimate, cfg.workers,
                              RING_BYTES))
        log.info("%s: %d id range(s) to fetch, about %d messages: %s", store.root.name,
                 len(missing), estimate,
                 " ".join(f"{a + o.shift}..{b + o.shift}" for a, b, o in missing[:20]))
        if not missing:
            await self._stop_pool(store)
            return
        limit = pool.fan._rings[0].max_record // 2
        work = self.split(missing, cfg.fetch_streams)
        seqs = itertools.count(1)

        def pieces(pages: list[tuple[bytes, int, int]]):
            """Raw pages (bytes, first id, last id covered) as jobs that fit a ring: cut
            in halves at a page boundary while too big."""
            size = sum(len(p) for p, _, _ in pages)
            if size > limit and len(pages) > 1:
                half = len(pages) // 2
                yield from pieces(pages[:half])
                yield from pieces(pages[half:])
            else:
                yield pages

        def submit(pages: list[tuple[bytes, int, int]], o: Origin) -> None:
            """Send pages; their jobs share one permit, returned when the last is done."""
            parts = list(pieces(pages))
            group = [len(parts)]
            for part in parts:
                seq = next(seqs)
                lo, hi = part[0][1], part[-1][2]
                name = history_name(lo + o.shift, hi + o.shift, run_no, seq)
                jobs[seq] = (name, lo + o.shift, hi + o.shift)
                groups[seq] = group
                pool.submit(seq, ev.ENCODER.encode(ev.PagesJob(
                    seq, name, chat, lo, hi, [p for p, _, _ in part], o.origin)))

        async def stream() -> None:
            # Consecutive pages of one range travel as one job of about JOB_MESSAGES:
            # one segment file, one fsync and one acknowledgement per job, not per page.
            # Pages go undecoded (raw-page mode): workers parse the TL.
            held: list[tuple[bytes, int, int]] = []
            count = 0
            o = Origin()
            try:
                while work and not self.stop.is_set():
                    lo, hi, o = work.popleft()
                    cursor = lo
                    while cursor <= hi and not self.stop.is_set():
                        if not held:
                            await permits.acquire()
                            if self.stop.is_set():
                                permits.release()
                                return
                        data, n, covered, took = await self.source.raw_page(cursor, hi,
                                                                            o.part)
                        tally.sample("fetch", took)
                        held.append((data, cursor, covered))
                        count += n
                        cursor = covered + 1
                        if count >= JOB_MESSAGES or cursor > hi or self.stop.is_set():
                            submit(held, o)
                            held, count = [], 0
            finally:
                if held:             # fetched before a failure elsewhere: keep it
                    submit(held, o)

        try:
            try:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(max(1, cfg.fetch_streams)):
                        tg.create_task(stream())
            except BaseExceptionGroup as group:     # report the first failure as itself
                raise group.exceptions[0] from None
        except BaseException:
            await self._stop_pool(store)
            raise
        await self._stop_pool(store)

    async def _stop_pool(self, store: ChatStore) -> None:
        """Every job submitted becomes durable (or failed), the workers exit, and the
        checkpoint is written."""
        self.pool.end()
        await asyncio.to_thread(self.pool.join)
        self._close_pool(store)

    def _close_pool(self, store: ChatStore) -> None:
        pool, self.pool = self.pool, None
        error = pool.error
        pool.release()
        with self.tally.lock:
            self.tally.procs.extend(ev.Proc(p.pid, "worker", False)
                                    for p in pool.procs if p is not None)
        store.commit()
        if error is not None:
            raise error

    # ---- --comments -------------------------------------------------------------------------
    async def export_comments(self, run_no: int) -> None:
        """Each post's comment thread (in the channel's linked discussion group) into
        ``comments/<post-id>/``: a store of its own, fetched through ``getReplies`` and
        decoded here (threads are small; the pool is for the chat's history). A thread
        that already holds as many comments as its post announces is not asked for."""
        store, meta = self.store, self.store.cp.chat
        if meta.kind != "channel":
            if not self.cfg.all_kinds:
                print(f"tgarc: --comments: {meta.name} is not a channel; only channel posts "
                      f"have comment threads", file=sys.stderr)
            return
        overrides, _ = asm.refreshed(store)
        posts: list[tuple[int, int, int]] = []          # (post, comments, discussion group)
        for seg in asm.history_segments(store):
            for x in store.read_segment(seg.name).messages:
                x = overrides.get(x.id, x)
                if x.chat == meta.ref and x.comments_chat and x.replies:
                    posts.append((x.id, x.replies, x.comments_chat))
        todo, heal = [], []
        for post, replies, group in posts:
            root = store.root / layout.COMMENTS / str(post)
            try:
                cp = ChatStore.read_checkpoint(root)
            except CorruptState:
                cp = None                        # opening the thread rebuilds it
            if cp is None or sum(s.count for s in cp.segments) < replies:
                todo.append((post, m.PeerRef("channel", group), root, True))
            elif cp.output.tz != self.tz or manifest.stale(root):
                heal.append((post, m.PeerRef("channel", group), root, False))
        log.info("%s: %d comment threads, %d to fetch, %d to render again", store.root.name,
                 len(posts), len(todo), len(heal))
        for item in heal:                      # outputs only: no request to Telegram
            await self.export_thread(run_no, *item)
        # threads are a request or two each: --fetch-streams of them at a time
        queue = deque(todo)

        async def worker() -> None:
            while queue and not self.stop.is_set():
                await self.export_thread(run_no, *queue.popleft())

        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(max(1, self.cfg.fetch_streams)):
                    tg.create_task(worker())
        except BaseExceptionGroup as group:     # report the first failure as itself
            raise group.exceptions[0] from None
        if self.stop.is_set():
            raise Interrupted()

    async def export_thread(self, run_no: int, post: int, group: m.PeerRef, root: Path,
                            fetch: bool = True) -> None:
        """One post's comment thread: what it lacks fetched (``fetch``), its outputs
        rendered in the chat's zone, its manifest updated."""
        meta = self.store.cp.chat
        thread = ChatStore.open_at(
            root, ChatMeta(group, "supergroup", f"{meta.name} — comments on post {post}",
                           None, meta.me),
            f"{self.store.root.name}/{layout.COMMENTS}/{post}")
        try:
            for line in thread.notices:
                say(line)
            if fetch:
                record = RunRecord(started=now_iso(), status="running", tz=self.tz)
                thread.cp.runs.append(record)
                n = await self._fetch_thread(thread, run_no, post, group)
                if n is None:
                    return
            full = bool(await asyncio.to_thread(manifest.stale, root))
            await asyncio.to_thread(asm.assemble, thread, list(self.cfg.formats), self.tz,
                                    full=full)
            if fetch:
                record.status, record.finished, record.messages = "done", now_iso(), n
                thread.commit()
                self.fetched += n
            write_atomic(root / layout.THREAD_JSON, orjson.dumps({
                "post": post, "channel": meta.name, "channel_id": meta.ref.id,
                "discussion_group_id": group.id,
                "comments": sum(s.count for s in thread.cp.segments if s.kind == "history"),
                "exports": msgspec.to_builtins(thread.cp.runs)}, option=orjson.OPT_INDENT_2))
            await asyncio.to_thread(
                manifest.update, root, tool=f"tgarc {__version__}",
                api_layer=self.source.api_layer, runs=msgspec.to_builtins(thread.cp.runs),
                tz=thread.cp.output.tz)
        finally:
            thread.close()

    async def _fetch_thread(self, thread: ChatStore, run_no: int, post: int,
                            group: m.PeerRef) -> int | None:
        """The comments the thread's archive lacks; how many (None: the thread is gone)."""
        part = Part(thread=post)
        try:
            top, _count = await self.source.newest(part)
        except ThreadGone as exc:
            log.warning("post %d: its comment thread is gone (%s)", post, exc)
            return None
        n, seq = 0, itertools.count(1)
        for lo, hi in thread.cp.covered().missing(1, top) if top else []:
            cursor, pages = lo, []
            while cursor <= hi:
                data, _k, covered, took = await self.source.raw_page(cursor, hi, part)
                self.tally.sample("fetch", took)
                pages.append(data)
                cursor = covered + 1
                if len(pages) * PAGE >= JOB_MESSAGES or cursor > hi:
                    batch = rawpage.decode_pages(pages, group, lo, covered)
                    name = history_name(lo, covered, run_no, next(seq))
                    thread.write_segment(name, m.ENCODER.encode(batch))
                    d_lo, d_hi = batch_dates(batch)
                    thread.add(Segment(name, "history", lo, covered, len(batch.messages),
                                       d_lo, d_hi))
                    thread.commit()
                    n += len(batch.messages)
                    with self.tally.lock:
                        self.tally.messages += len(batch.messages)
                    lo, pages = cursor, []
        return n

    # ---- --refresh-edits --------------------------------------------------------------------
    async def refresh(self, run_no: int) -> None:
        """Re-read the newest N archived messages: a changed one is stored as a new
        version, one Telegram no longer has is kept and flagged ``deleted_at``."""
        store, n = self.store, self.cfg.refresh_edits
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
        ids = sorted(newest, reverse=True)[:n]
        changed: list[m.Message] = []
        peers: dict[m.PeerRef, m.PeerInfo] = {}
        now = int(time.time())
        chat = store.cp.chat.ref
        for k in range(0, len(ids), REFRESH_PAGE):
            chunk = sorted(ids[k:k + REFRESH_PAGE])
            batch, gone = await self.source.messages(chat, chunk)
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
        batch = m.Batch(0, chat, changed, list(peers.values()))
        name = refresh_name(run_no, sum(s.kind == "refresh" for s in store.cp.segments) + 1)
        store.write_segment(name, m.ENCODER.encode(batch))
        lo, hi = batch_dates(batch)
        store.add(Segment(name, "refresh", changed[0].id, changed[-1].id, len(changed), lo, hi))
        store.commit()

    def agg_send(self, event) -> None:
        self.agg.send(event)


# ---- the tally, sent to the aggregator ----------------------------------------------------
async def ticker(agg, tally: Tally, stats, cache, exports: list[ChatExport]) -> None:
    while True:
        flush(agg, tally, stats, cache, exports)
        await asyncio.sleep(0.5)


def flush(agg, tally: Tally, stats, cache, exports: list[ChatExport]) -> None:
    samples, procs, floods, messages, busy = tally.take()
    for p in procs:
        agg.send(p)
    for stage, secs in samples.items():
        agg.send(ev.Stages(stage, secs))
    for f in floods:
        agg.send(f)
    agg.send(ev.Progress(messages))
    agg.send(ev.TelegramSnapshot(stats.requests, stats.flood_waits, stats.flood_wait_seconds,
                                 stats.retries, stats.timeouts, stats.reconnects))
    agg.send(ev.LinkState(stats.offline_now(), stats.reconnect_limit, stats.offline_total()))
    if cache is not None:
        agg.send(ev.CacheSnapshot("input_peer_cache", cache.hits, cache.misses,
                                  cache.evictions, cache.expirations))
    pool = exports[-1].pool if exports else None
    if pool is not None:
        agg.send(ev.QueueSample(pool.fill(), pool.blocked_seconds))
    for i, b in enumerate(busy):
        agg.send(ev.WorkerBusy(i, b))
