"""``tgarc export``: the supervisor's main path for one chat.

    resolve target → open the chat folder (crash leftovers removed) → the run's takeout
    session (asked once a run; commands/export.py finishes it after the last chat)
    → --refresh-edits (refresh.py) → plan the spans the archive lacks (planning.py)
    → fetch them oldest first, several spans at once (fetch.py) → jobs to the worker
    pool (dispatch.py: at most ``JOBS_PER_WORKER × workers + streams`` unacknowledged; segments
    enter the checkpoint, coalesced every 0.5 s and at the end) → assemble the outputs
    from the archive → --comments (threads.py).

Interrupts: the first Ctrl-C (or SIGTERM) stops asking Telegram for pages, lets every
batch already fetched become durable, saves the checkpoint and exits 130; the
outputs are assembled by the next run. A second Ctrl-C kills the workers and exits at
once; the checkpoint on disk is still consistent (it never lists what is not durable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import orjson

from engine import __version__
from engine import model as m
from engine.archive import layout, manifest
from engine.archive.atomic import write_atomic
from engine.archive.store import ChatMeta, ChatStore, DamagedSegment, RunRecord
from engine.config import ExportConfig
from engine.model import events as ev
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render import assemble as asm
from engine.render import topic_views
from engine.supervisor.dispatch import RING_BYTES, Dispatch
from engine.supervisor.fetch import PageStreams
from engine.supervisor.media import MediaRun, MediaTally, media_run
from engine.supervisor.outcome import (
    BatchesFailed,
    Interrupted,
    Outcome,
    SameChat,
    now_iso,
    say,
)
from engine.supervisor.planning import History, plan, split_spans
from engine.supervisor.refresh import refresh_edits
from engine.supervisor.tally import Tally
from engine.supervisor.threads import CommentThreads
from engine.supervisor.topics import fetch_topic_root, open_topic_store
from engine.supervisor.unchanged import fingerprint, looks_beyond
from engine.telegram.source import HistoryOf

__all__ = ["BatchesFailed", "ChatExport", "Interrupted"]     # what the command catches
log = logging.getLogger("tgarc.export")


class ChatExport:
    def __init__(self, cfg: ExportConfig, source, target: str, agg, tally: Tally, stats,
                 cache, stop: asyncio.Event, pool=None):
        self.cfg, self.source, self.target, self.agg = cfg, source, target, agg
        self.pool = pool              # () -> the run's shared Dispatch; None: one of its own
        self.claims: dict | None = None  # the run's: chat -> the target that exports it
        self.tally, self.stats, self.cache, self.stop = tally, stats, cache, stop
        self.outcome = Outcome()
        self.dispatch: Dispatch | None = None           # while a worker pool runs
        self.store: ChatStore | None = None
        self.histories: list[History] = [History()]
        self.topic: tuple[int, str] | None = None       # --topic: (id, title)
        self.tz = cfg.tz                                 # the chat's zone (zone())
        self.media = MediaTally()                        # the chat's downloads
        self.media_changed = False                       # old messages' files changed
        self.kept: dict[str, tuple[int, int, int]] = {}  # outputs extended: manifest hints
        self.media_run: MediaRun | None = None           # while the history is fetched
        self.media_since: float | None = None            # perf_counter while media runs
        self.media_retries0 = 0                          # stats.retries when it began
        self.media_retries = 0                           # retries while it ran

    def abort(self) -> None:
        """The second Ctrl-C (called on the event loop): workers killed at once."""
        if self.dispatch is not None:
            self.dispatch.abort()

    # ---- the run ----------------------------------------------------------------------------
    async def run(self) -> None:
        cfg, source = self.cfg, self.source
        meta = await source.resolve(self.target)
        if self.claims is not None:     # two targets, one chat: two writers of one folder
            first = self.claims.setdefault((meta.ref.kind, meta.ref.id), self.target)
            if first != self.target:
                raise SameChat(f"{self.target} is the chat {first} names: exported once")
        meta.me = await source.me()
        topics = await source.topics() if meta.forum else {}
        if cfg.topic is not None:
            store = self.store = open_topic_store(cfg, meta, topics, self.target)
            self.topic = (cfg.topic, topics[cfg.topic])
            self.histories = [History(HistoryOf(thread=cfg.topic))]
        else:
            # in a thread: a cluster job may wait here for a lock another run holds
            # (TGARC_LOCK_WAIT), and the run's other chats and pings go on meanwhile
            store = self.store = await asyncio.to_thread(ChatStore.open, Path(cfg.out), meta)
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
        cfg = self.cfg
        for line in store.notices:
            say(line)
        self.tz = tz = self.zone(store)
        run_no = store.next_run()
        record = RunRecord(started=now_iso(), status="running", tz=tz)
        store.cp.runs.append(record)
        store.cp.output.settled = ""             # until this run has left nothing to redo
        store.commit()
        await self._fetch_all(store, meta, run_no, record)
        t0 = time.perf_counter()
        try:
            await self.render(store, topics if cfg.topic is None else {})
        except DamagedSegment:
            self._ended(record, "failed")
            raise
        self.tally.sample("assemble", time.perf_counter() - t0)
        self._ended(record, "failed" if self.outcome.failures else "done")
        await self.write_chat_json(topics)
        await self._update_manifests(store, topics)
        if cfg.comments and cfg.topic is None:
            await CommentThreads(self, run_no).export()
        if self.outcome.failures:
            raise BatchesFailed("; ".join(self.outcome.failures))
        if not self.media.failed and not self.media.copies.failed and not looks_beyond(cfg):
            store.cp.output.settled = fingerprint(cfg)     # --all may skip it next time
            store.commit()

    def _ended(self, record: RunRecord, status: str) -> None:
        record.status, record.finished = status, now_iso()
        record.messages = self.outcome.fetched
        self.store.commit()

    async def _fetch_all(self, store: ChatStore, meta: ChatMeta, run_no: int,
                         record: RunRecord) -> None:
        """Everything this run asks Telegram for, inside the takeout session; raises
        Interrupted or the local error that stopped it."""
        cfg, source = self.cfg, self.source
        if meta.kind == "supergroup" and cfg.topic is None:
            old = await source.migrated_from()
            if old is not None:
                # one history: the basic group's messages first, as Telegram Desktop does
                basic = m.PeerRef("chat", old[0])
                self.histories.insert(0, History(HistoryOf(peer=basic), -MIGRATED_ID_SHIFT,
                                                 basic))
        await source.start_takeout(cfg.takeout)
        for w in source.warnings:
            log.warning(w)
            print(f"tgarc: warning: {w}", file=sys.stderr)
        source.warnings.clear()
        try:
            if cfg.refresh_edits and any(s.count for s in store.cp.segments):
                await refresh_edits(store, source, cfg.refresh_edits, run_no)
            if cfg.topic is not None:
                self.outcome.fetched += await fetch_topic_root(store, source, cfg.topic,
                                                               run_no, meta.ref)
            async with media_run(cfg, store, source, self.tz, self.stop, self.media) as media:
                self.media_run = media
                if media is not None:    # for the progress line and export_metrics.json
                    self.media_since = time.perf_counter()
                    self.media_retries0 = self.stats.retries
                try:
                    await self.fetch(run_no, meta.ref)        # media closes in there
                finally:
                    if media is not None:
                        self.media_since = None
                        self.media_retries += self.stats.retries - self.media_retries0
        except BaseException as exc:
            # the run's record says how it ended (best effort: the disk may be full)
            record.status = "interrupted" if isinstance(exc, asyncio.CancelledError) \
                else "failed"
            record.finished, record.messages = now_iso(), self.outcome.fetched
            with contextlib.suppress(OSError):
                store.commit()
            raise
        # the takeout session is the run's: commands/export.py finishes it after every chat
        if self.outcome.local_error is not None:
            self._ended(record, "failed")
            raise self.outcome.local_error
        if self.stop.is_set():
            self._ended(record, "interrupted")
            raise Interrupted()

    @contextlib.asynccontextmanager
    async def dispatching(self) -> AsyncIterator[Dispatch]:
        """A worker pool for the chat, for as long as the block runs: when it ends (or
        fails) every job this chat submitted has become durable or failed, and the
        checkpoints are written. The run's shared pool when there is one (it stays up for
        the other chats), else a pool of the chat's own."""
        if self.pool is not None:
            dispatch = self.dispatch = self.pool()
            try:
                yield dispatch
            finally:
                self.dispatch = None
                await self._settle(dispatch)
            return
        cfg = self.cfg
        dispatch = self.dispatch = Dispatch(cfg.workers, cfg.fetch_streams, self.store.root,
                                            self.tz, self.tally, self.outcome, self.stop,
                                            md="md" in cfg.formats)
        try:
            yield dispatch
        finally:
            self.dispatch = None
            await dispatch.close()

    async def _settle(self, dispatch: Dispatch) -> None:
        """The chat's jobs in the shared pool durable or failed, its checkpoints written;
        the pool's failure raised as the chat's."""
        mine = [d for d in dispatch.dests if d.outcome is self.outcome]
        for dest in mine:
            await dispatch.settled(dest)
            dispatch.forget(dest)
        if dispatch.broken:
            raise dispatch.pool.error or dispatch.error or RuntimeError(
                "the worker pool is gone")

    async def fetch(self, run_no: int, chat: m.PeerRef) -> None:
        """The spans the archive lacks, through the worker pool into the chat's store; with
        media, the downloads too (they end before the pool does)."""
        cfg, store = self.cfg, self.store
        # Workers start first: they import while the plan's requests are in flight.
        async with self.dispatching() as dispatch:
            spans, estimate = await plan(self.source, cfg, store.cp.covered(),
                                         self.histories)
            self.agg.send(ev.Plan(store.cp.chat.name or self.target, estimate, cfg.workers,
                                  RING_BYTES))
            log.info("%s: %d id range(s) to fetch, about %d messages: %s", store.root.name,
                     len(spans), estimate, " ".join(
                         f"{s.lo + s.history.id_shift}..{s.hi + s.history.id_shift}"
                         for s in spans[:20]))
            media = self.media_run
            if media is not None:
                media.fetching([(s.lo + s.history.id_shift, s.hi + s.history.id_shift)
                                for s in spans], dispatch, dispatch.folder_of(store.root))
            if spans:
                dest = dispatch.destination(store, chat, run_no, outcome=self.outcome,
                                            tz=self.tz,
                                            on_acks=None if media is None else media.poke)
                await PageStreams(self.source, dispatch, dest, self.tally,
                                  self.stop.is_set).run(split_spans(spans, cfg.fetch_streams),
                                                        cfg.fetch_streams)
                await dispatch.settled(dest)      # every page archived: numbers follow ids
            # the workers stay up until the last file is in: they probe the downloads
            if media is not None and not self.stop.is_set() \
                    and self.outcome.local_error is None:
                self.media_changed = await media.close()

    # ---- the outputs ------------------------------------------------------------------------
    async def render(self, store: ChatStore, topics: dict[int, str]) -> None:
        """The outputs from the archive: what the run added, or everything when an output
        is missing or differs from what tgarc last wrote (manifest.json) — outputs heal."""
        formats = list(self.cfg.formats)
        damaged = await asyncio.to_thread(manifest.stale, store.root)
        if damaged and damaged != [manifest.NAME] and store.cp.output.assembled:
            say(f"{store.root.name}: {len(damaged)} output file(s) missing or changed since "
                f"the last export ({damaged[0]}{', …' if len(damaged) > 1 else ''}); "
                f"rendering them again")
        done = await asyncio.to_thread(asm.assemble, store, formats, self.tz,
                                       full=bool(damaged) or self.media_changed)
        self.kept = done.kept
        log.info("%s: assembled %d new message(s) from %d segment(s) read; result.json %s,"
                 " messages.jsonl %s, %d day note(s) written", store.root.name, done.messages,
                 done.segments_read, done.json or "off", done.jsonl or "off",
                 done.days_written)
        if topics:
            await asyncio.to_thread(topic_views.render_topics, store, topics, formats, self.tz,
                                    done.resume)

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

    async def _update_manifests(self, store: ChatStore, topics: dict[int, str]) -> None:
        await asyncio.to_thread(
            manifest.update, store.root, tool=f"tgarc {__version__}",
            api_layer=self.source.api_layer, runs=msgspec.to_builtins(store.cp.runs),
            tz=store.cp.output.tz, kept=self.kept)
        if topics and self.cfg.topic is None:
            # topic folders a --topic run made hold a store and a manifest of their own,
            # and the views just rendered over their outputs
            for sub in sorted((store.root / layout.TOPICS).glob(f"*/{manifest.NAME}")):
                cp = ChatStore.read_checkpoint(sub.parent) or store.cp
                await asyncio.to_thread(
                    manifest.update, sub.parent, tool=f"tgarc {__version__}",
                    api_layer=self.source.api_layer, runs=msgspec.to_builtins(cp.runs),
                    tz=cp.output.tz)
