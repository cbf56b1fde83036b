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
import os
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path

import msgspec
import orjson

from engine import __version__
from engine import model as m
from engine.archive import assemble as asm
from engine.archive import manifest
from engine.archive.atomic import write_atomic
from engine.archive.store import ChatStore, RunRecord, Segment, history_name, refresh_name
from engine.config import ConfigError, ExportConfig
from engine.model import events as ev
from engine.supervisor.pool import WorkerPool
from engine.telegram.middleware import AuthRevoked, TelegramFailure

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

    # ---- the run ----------------------------------------------------------------------------
    async def run(self) -> None:
        cfg, source = self.cfg, self.source
        meta = await source.resolve(self.target)
        meta.me = await source.me()
        store = self.store = ChatStore.open(Path(cfg.out), meta)
        run_no = store.next_run()
        record = RunRecord(started=now_iso(), status="running")
        store.cp.runs.append(record)
        store.commit()
        await source.start_takeout(cfg.takeout)
        for w in source.warnings:
            log.warning(w)
            print(f"tgarc: warning: {w}", file=sys.stderr)
        source.warnings.clear()
        ok = False
        try:
            if cfg.refresh_edits and any(s.count for s in store.cp.segments):
                await self.refresh(run_no)
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
        await asyncio.to_thread(asm.assemble, store, list(cfg.formats), cfg.tz)
        self.tally.sample("assemble", time.perf_counter() - t0)
        record.status = "failed" if self.failures else "done"
        record.finished, record.messages = now_iso(), self.fetched
        store.commit()
        await self.write_chat_json()
        await asyncio.to_thread(
            manifest.update, store.root, tool=f"tgarc {__version__}",
            api_layer=self.source.api_layer, runs=msgspec.to_builtins(store.cp.runs))
        if self.failures:
            raise BatchesFailed("; ".join(self.failures))

    async def write_chat_json(self) -> None:
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
        write_atomic(store.root / "chat.json", orjson.dumps(info, option=orjson.OPT_INDENT_2))

    # ---- planning and fetching --------------------------------------------------------------
    async def plan(self) -> tuple[list[tuple[int, int]], int]:
        cfg, source = self.cfg, self.source
        top, count = await source.newest()
        lo, hi = max(1, cfg.min_id), top if not cfg.max_id else min(top, cfg.max_id)
        if cfg.since is not None:
            lo = max(lo, await source.last_before(cfg.since) + 1)
        if cfg.until is not None:
            hi = min(hi, await source.last_before(cfg.until))
        if lo > hi:
            return [], 0
        missing = self.store.cp.covered().missing(lo, hi)
        width = sum(b - a + 1 for a, b in missing)
        estimate = round(width * count / top) if top else 0
        return missing, estimate

    @staticmethod
    def split(ranges: list[tuple[int, int]], parts: int) -> deque[tuple[int, int]]:
        """Cut the ranges into about ``parts`` × 4 pieces of similar width, so each fetch
        stream always finds work."""
        width = sum(b - a + 1 for a, b in ranges)
        step = max(2000, -(-width // max(1, parts * 4)))
        out: deque[tuple[int, int]] = deque()
        for a, b in ranges:
            while a <= b:
                out.append((a, min(b, a + step - 1)))
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

        pool = self.pool = WorkerPool(cfg.workers, str(store.root), cfg.tz, capacity=RING_BYTES,
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
                 len(missing), estimate, " ".join(f"{a}..{b}" for a, b in missing[:20]))
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

        def submit(pages: list[tuple[bytes, int, int]]) -> None:
            """Send pages; their jobs share one permit, returned when the last is done."""
            parts = list(pieces(pages))
            group = [len(parts)]
            for part in parts:
                seq = next(seqs)
                lo, hi = part[0][1], part[-1][2]
                name = history_name(lo, hi, run_no, seq)
                jobs[seq] = (name, lo, hi)
                groups[seq] = group
                pool.submit(seq, ev.ENCODER.encode(ev.PagesJob(
                    seq, name, chat, lo, hi, [p for p, _, _ in part])))

        async def stream() -> None:
            # Consecutive pages of one range travel as one job of about JOB_MESSAGES:
            # one segment file, one fsync and one acknowledgement per job, not per page.
            # Pages go undecoded (raw-page mode): workers parse the TL.
            held: list[tuple[bytes, int, int]] = []
            count = 0
            try:
                while work and not self.stop.is_set():
                    lo, hi = work.popleft()
                    cursor = lo
                    while cursor <= hi and not self.stop.is_set():
                        if not held:
                            await permits.acquire()
                            if self.stop.is_set():
                                permits.release()
                                return
                        data, n, covered, took = await self.source.raw_page(cursor, hi)
                        tally.sample("fetch", took)
                        held.append((data, cursor, covered))
                        count += n
                        cursor = covered + 1
                        if count >= JOB_MESSAGES or cursor > hi or self.stop.is_set():
                            submit(held)
                            held, count = [], 0
            finally:
                if held:             # fetched before a failure elsewhere: keep it
                    submit(held)

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
        lo, hi = asm.segment_dates(batch)
        store.add(Segment(name, "refresh", changed[0].id, changed[-1].id, len(changed), lo, hi))
        store.commit()

    def agg_send(self, event) -> None:
        self.agg.send(event)


# ---- the command --------------------------------------------------------------------------------
async def _ticker(agg, tally: Tally, stats, cache, exports: list[ChatExport]) -> None:
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
    if cache is not None:
        agg.send(ev.CacheSnapshot("input_peer_cache", cache.hits, cache.misses,
                                  cache.evictions, cache.expirations))
    pool = exports[-1].pool if exports else None
    if pool is not None:
        agg.send(ev.QueueSample(pool.fill(), pool.blocked_seconds))
    for i, b in enumerate(busy):
        agg.send(ev.WorkerBusy(i, b))


async def run(cfg: ExportConfig, agg, result: dict | None = None) -> int:
    """Export every target; ``result['messages']`` gets the messages made durable."""
    from engine.telegram import session as tg

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    exports: list[ChatExport] = []
    presses = [0]

    def on_signal() -> None:
        presses[0] += 1
        if presses[0] == 1:
            print("tgarc: stopping — finishing the pages in flight and saving the checkpoint "
                  "(Ctrl-C again to abort)", file=sys.stderr)
            stop.set()
        else:
            for e in exports:
                if e.pool is not None:
                    e.pool.abort()
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    tally = Tally(cfg.workers)
    agg.send(ev.Proc(os.getpid(), "supervisor"))
    agg.send(ev.Proc(agg.pid, "aggregator"))
    async with tg.connected(cfg, on_flood=lambda method, s: tally.floods.append(
            ev.Flood(method, s))) as (source, stats, cache):
        ticker = asyncio.create_task(_ticker(agg, tally, stats, cache, exports))
        failed: list[str] = []
        try:
            targets = list(cfg.targets)
            if cfg.all_kinds:
                targets = [t for kind, t in await source.dialogs() if kind in cfg.all_kinds]
                log.info("--all: %d chats of kinds %s", len(targets), ",".join(cfg.all_kinds))
                print(f"tgarc: exporting {len(targets)} chats, one after the other",
                      file=sys.stderr)
            for target in targets:
                if stop.is_set():
                    raise Interrupted()
                e = ChatExport(cfg, source, target, agg, tally, stats, cache, stop)
                exports.append(e)
                try:
                    await e.run()
                except (ConfigError, TelegramFailure, BatchesFailed) as exc:
                    # One chat that cannot be exported does not stop the others; a
                    # revoked session stops everything.
                    if len(targets) == 1 or isinstance(exc, AuthRevoked):
                        raise
                    log.error("%s: %s", target, exc)
                    print(f"tgarc: {target}: {exc}", file=sys.stderr)
                    failed.append(f"{target}: {exc}")
        except asyncio.CancelledError:
            raise Interrupted() from None
        finally:
            ticker.cancel()
            flush(agg, tally, stats, cache, exports)
            if result is not None:
                result["messages"] = tally.messages
    if failed:
        raise BatchesFailed(f"{len(failed)} of {len(targets)} chats: " + "; ".join(failed))
    return 0
