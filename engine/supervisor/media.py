"""A chat's media, downloaded while its history is fetched, inside the same takeout session.

    open: the ledger (state/media.ledger), one scan of it (media_plan.py), download workers
    while the history comes in: each time segments are acknowledged, the segments below
        the fetch's watermark (every id under it is in the archive) are numbered in id
        order and their wanted files fed to the workers (media_fetch.py)
    close: the rest numbered (everything is in the archive now), the workers drained,
        the settings remembered (state/media.json)

Numbers follow ids whatever the timing: a segment is numbered only once every message
below it that this run fetches is in the archive, and a crash leaves the rest to the
next run, which numbers them in the same order. While history is fetched, files travel
only on the extra connections (``--media-lanes``), so history pages never queue behind
file parts; the main connection joins them once the history is done.

``--media none`` runs none of this, so a chat exported that way gets exactly the outputs
it had before tgarc downloaded media. Files an earlier run downloaded stay where they are
and keep being pointed at (the outputs read the ledger, not the flags).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
import time

from engine.archive.media_ledger import Ledger
from engine.archive.ranges import IdRanges
from engine.archive.store import ChatStore
from engine.config import ExportConfig
from engine.media import identify
from engine.supervisor.media_fetch import MediaFetch, MediaTally, Stopped
from engine.supervisor.media_plan import MediaPlanner, Plan, Unplanned
from engine.supervisor.media_transcode import Transcoder, TranscodeTally
from engine.supervisor.outcome import Interrupted, say
from engine.telegram.source import HistoryOf

log = logging.getLogger("tgarc.media")


class _Spread:
    """Requests spread over the lanes' connections; without the first (the history's own)
    while ``history`` says it is still being fetched."""

    def __init__(self, calls: list):
        self.calls, self.history, self._n = calls, True, 0

    async def __call__(self, request):
        calls = self.calls[1:] if self.history and len(self.calls) > 1 else self.calls
        self._n += 1
        return await calls[self._n % len(calls)](request)


class MediaRun:
    def __init__(self, cfg: ExportConfig, store: ChatStore, source, tz: str,
                 stop: asyncio.Event, tally: MediaTally, lanes: int | None = None,
                 thread: HistoryOf | None = None):
        self.cfg, self.store, self.source, self.tz = cfg, store, source, tz
        self.thread = thread              # a comment thread's run: where to re-read messages
        # connections besides the history's: --media-lanes; 0 for a comment thread's few
        # files (new connections would cost more than they bring)
        self.extra = cfg.media_lanes if lanes is None else lanes
        self.stop, self.tally = stop, tally
        self.ledger: Ledger | None = None
        self.planner: MediaPlanner | None = None
        self.fetch: MediaFetch | None = None
        self.transcoder: Transcoder | None = None       # --transcode
        self._copies0 = TranscodeTally()
        self.dispatch = None              # the worker pool's (dispatch.py): probes, copies
        self.folder = ""                  # the store's place under the pool's folder
        self.lanes = None
        self.spread: _Spread | None = None
        self.spans = IdRanges()           # what this run fetches (the archive's ids)
        self.unplanned = Unplanned(store)
        self._stepping: asyncio.Task | None = None
        self._again = False
        self._t0 = time.perf_counter()

    async def open(self) -> None:
        store = self.store
        self.ledger = await asyncio.to_thread(identify.open_ledger, store, self.tz)
        for line in self.ledger.notices:
            say(f"{store.root.name}: {line}")
        self.planner = MediaPlanner(store, self.ledger, self.cfg.media,
                                    self.cfg.max_media_size, self.tz)
        self.planner.rendered = IdRanges(
            (s.lo, s.hi) for s in store.cp.segments[:store.cp.output.assembled]
            if s.kind == "history" and s.count)
        await asyncio.to_thread(self.planner.scan)
        if self.cfg.transcode != "off":
            await self._open_transcoder()
        self.lanes = self.source.lanes(self.extra + 1)
        self.spread = _Spread(self.lanes.calls)
        self.spread.history = self.extra > 0
        self.fetch = MediaFetch(store.root, self.ledger, self.source,
                                self.source.wrap(self.spread), store.cp.chat.ref,
                                self.source.home_dc, self.stop, self.tally, self.thread)
        self.fetch.start(self.planner.plan.by_hash)
        if self.transcoder is not None:
            self.fetch.on_done = self.transcoder.offer
            by_hash = self.fetch.by_hash
            self.transcoder.on_replaced = lambda size, sha: by_hash.pop((size, sha), None)

    async def _open_transcoder(self) -> None:
        """The run's encoder (detected once per run: engine/media/hwaccel.py), and the
        files earlier runs downloaded that want a copy."""
        from engine.media import hwaccel, transcode

        verdict = await asyncio.to_thread(hwaccel.detected, self.cfg.hwaccel)
        self.tally.hwaccel = verdict.as_dict()
        hw = transcode.hardware_encoder(self.cfg.transcode, verdict)
        self.transcoder = Transcoder(self.cfg, self.store.root, self.ledger,
                                     self.tally.copies, self.stop, hw)
        self._copies0 = dataclasses.replace(self.tally.copies)
        for line in await asyncio.to_thread(self.transcoder.scan):
            say(f"{self.store.root.name}: {line}")

    def fetching(self, spans: list[tuple[int, int]], dispatch=None, folder: str = "") -> None:
        """The id ranges (the archive's ids) this run's history fetch will fill, and the
        worker pool (dispatch.py) that reads each downloaded file and makes the copies;
        ``folder``: where the store lies under the pool's folder (a comment thread's)."""
        for lo, hi in spans:
            self.spans.add(lo, hi)
        self.dispatch, self.folder = dispatch, folder
        if dispatch is not None:
            prefix = f"{folder}/" if folder else ""
            self.fetch.prober = lambda path: dispatch.probe(prefix + path)

    def poke(self) -> None:
        """Segments were acknowledged (on the loop): number what is now below the watermark."""
        if self._stepping is None:
            self._stepping = asyncio.create_task(self._step())
        elif not self._stepping.done():
            self._again = True
        elif self._stepping.exception() is None:     # a failure waits for close() to raise it
            self._stepping = asyncio.create_task(self._step())

    def _watermark(self) -> int | None:
        """The highest id below which every id this run fetches is in the archive; None
        when all of it is (every segment may be numbered)."""
        covered = self.unplanned.covered
        holes = [h for lo, hi in self.spans.ranges
                 if (h := covered.first_missing(lo, hi)) is not None]
        return min(holes) - 1 if holes else None

    async def _step(self, final: bool = False) -> None:
        while True:
            self._again = False
            # the final step too: a batch that failed leaves a gap, and what lies above it
            # waits for the run that fills it (numbers follow ids)
            self.unplanned.refresh()                      # on the loop: a snapshot
            limit = self._watermark()
            history = self.unplanned.take(limit)
            wanted = await asyncio.to_thread(self.planner.step, history, limit)
            if final:                                     # files edits brought, after all
                wanted += await asyncio.to_thread(self.planner.edits,
                                                  list(self.store.cp.segments))
            self.fetch.feed(wanted)
            if not self._again or final:
                return

    async def close(self) -> bool:
        """The history is in: the rest planned and downloaded. True when an earlier run's
        entry changed (the outputs must be rendered in full)."""
        if self._stepping is not None:
            await self._stepping
        await self._step(final=True)
        self.spread.history = False
        if self.transcoder is not None and self.dispatch is not None:
            self.transcoder.start(self.dispatch, self.dispatch.pool.n, self.folder)
        try:
            await self.fetch.finish()
            if self.transcoder is not None:
                self.transcoder.downloaded()
                await self.transcoder.finish()
        except Stopped:
            raise Interrupted() from None
        if self.stop.is_set():
            raise Interrupted()
        await asyncio.to_thread(self.planner.save_settings)
        plan = self.planner.plan
        log.info("%s: media: %d new file(s) numbered, %d downloaded (%s skipped), %d "
                 "downloaded before, in %.2f s", self.store.root.name, plan.numbered,
                 self.tally.files, sum(plan.skipped.values()), plan.done_before,
                 time.perf_counter() - self._t0)
        _report(self.store.root.name, plan, self.tally)
        if self.transcoder is not None:
            _report_copies(self.store.root.name, self.tally.copies, self._copies0)
            self.planner.plan.changed_old |= self.transcoder.changed_old
        return plan.changed_old

    async def release(self) -> None:
        """Always, last: workers stopped if still running, connections and ledger closed."""
        if self._stepping is not None and not self._stepping.done():
            self._stepping.cancel()
            with contextlib.suppress(BaseException):
                await self._stepping
        if self.fetch is not None:
            self.fetch.cancel()
            with contextlib.suppress(BaseException):
                await self.fetch.finish()
        if self.transcoder is not None:
            self.transcoder.cancel()
            with contextlib.suppress(BaseException):
                await self.transcoder.finish()
        if self.lanes is not None:
            await self.lanes.close()
        if self.ledger is not None:
            self.ledger.close()


@contextlib.asynccontextmanager
async def media_run(cfg: ExportConfig, store: ChatStore, source, tz: str,
                    stop: asyncio.Event, tally: MediaTally, lanes: int | None = None,
                    thread: HistoryOf | None = None):
    """A ``MediaRun`` for the block (None with ``--media none``), released at its end."""
    if not cfg.media:
        yield None
        return
    run = MediaRun(cfg, store, source, tz, stop, tally, lanes, thread)
    try:
        await run.open()
        yield run
    finally:
        await run.release()


def _report(folder: str, plan: Plan, tally: MediaTally) -> None:
    """One line for the user when files came or failed (tgarc.log has the details)."""
    if not plan.wanted_files:
        return
    mb = tally.bytes_fetched / 1e6
    rate = f", {mb / tally.seconds:.1f} MB/s" if tally.seconds > 0 and mb else ""
    line = f"{folder}: media: {tally.files} file(s) downloaded ({mb:.1f} MB{rate})"
    if tally.dedup_files:
        line += f", {tally.dedup_files} stored once as a link to an identical file"
    if tally.corrupt:
        line += (f"; {tally.corrupt} do not read as media (kept as Telegram sent them, "
                 f"recorded as corrupt in messages.jsonl)")
    if tally.failed:
        line += (f"; {tally.failed} could not be downloaded (marked unavailable, tried again "
                 f"by the next run): {tally.errors[0]}")
    if tally.failed or tally.corrupt:
        say(line)                  # a warning, in tgarc.log too
    else:
        log.info("%s", line)
        print(f"tgarc: {line}", file=sys.stderr)


def _report_copies(folder: str, now: TranscodeTally, before: TranscodeTally) -> None:
    """One line for the copies this media run made (``before``: the chat's tally at its
    start; a comment thread's run shares it)."""
    made, failed = now.files - before.files, now.failed - before.failed
    linked = now.linked - before.linked
    if not made and not failed and not linked:
        return
    mb_in = (now.bytes_in - before.bytes_in) / 1e6
    mb_out = (now.bytes_out - before.bytes_out) / 1e6
    encoders = ", ".join(sorted(now.encoders or {})) or "no encoder"
    line = (f"{folder}: media: {made} compact cop{'y' if made == 1 else 'ies'} of videos made "
            f"with {encoders} ({mb_in:.1f} MB of originals, {mb_out:.1f} MB of copies)")
    if linked:
        line += f", {linked} more as links to the copy of an identical original"
    replaced = now.replaced - before.replaced
    kept = now.not_replaced - before.not_replaced
    if replaced:
        line += f"; {replaced} original(s) replaced by their verified copy"
    if kept:
        line += f"; {kept} original(s) kept: the copy did not verify or was not smaller"
    fell = now.fallbacks - before.fallbacks
    if fell:
        line += f"; {fell} made on the CPU after the hardware encoder failed"
    if failed:
        line += f"; {failed} could not be copied (tried again by the next run)"
    if failed or fell:
        say(line)
    else:
        log.info("%s", line)
        print(f"tgarc: {line}", file=sys.stderr)


__all__ = ["MediaRun", "MediaTally", "media_run"]
