"""The run's downloads: the planned files fetched over several connections, into place.

``start`` → ``feed(wanted)`` (as media.py plans them, while the history comes in) →
``finish``; ``run(plan)`` does all three at once. Telegram's published per-DC limits are
the default budget: at most ``SMALL`` small files and ``LARGE`` large ones (over
``LARGE_FROM`` bytes) at once, every file itself ``download.PARALLEL`` parts at a time,
over the call media.py gives (the ``--media-lanes`` connections to the home DC,
engine/telegram/download_lanes.py, and the history's own once it is done); a file on another DC goes
over the run's connection to that DC (``source.dc_call``: engine/telegram/download_dcs.py,
authorized once per run by an exported authorization). Each file:

* goes to its ledger path through ``<path>.part`` (engine/telegram/download.py: resumed
  from its durable parts after a crash, renamed only once whole and its size checked);
* when its bytes equal a file the chat already holds (same size and SHA-256), becomes a
  hard link to that file (a copy where the filesystem has none) -- stored once;
* is marked ``done`` in the ledger only after the rename, with its size and SHA-256;
* FILE_REFERENCE_EXPIRED: the message is read again for a fresh reference and the
  download goes on from its durable parts; a file that still fails is ``failed`` in the
  ledger (result.json: *unavailable*) and tried again by the next run;
* FILE_MIGRATE_X (the file is not where its media says): the download goes on from DC X
  with the parts it has (at most ``MIGRATIONS`` moves, then ``failed``).
* a document's thumbnail follows it (``<path>_thumb.jpg``), and a video, round video, GIF,
  voice note or audio file is read by a worker (``prober``: the pool's ``ProbeJob``,
  engine/media/probe.py) before the entry is ``done``; one that does not read as media is
  kept and recorded as corrupt.

A lost network, a revoked session, a flood wait over the ceiling or a local error
(disk full) stop the pass and go up as they do for history; Ctrl-C stops it at once
(the parts on disk are kept). Nothing here blocks the event loop on a file's bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine import model as m
from engine.archive.media_ledger import Ledger
from engine.media import kinds
from engine.supervisor.media_plan import Plan, Wanted
from engine.supervisor.media_transcode import TranscodeTally
from engine.telegram import download as dl
from engine.telegram.source import HistoryOf

log = logging.getLogger("tgarc.media")

PROBED = frozenset({"video", "round", "gif", "voice", "audio"})   # kinds a worker reads
SMALL, LARGE = 5, 2           # files at once per DC (Telegram's published limits)
LARGE_FROM = 10 << 20         # bytes: a "large" file, as Telegram's upload rules count
MIGRATIONS = 3                # FILE_MIGRATE moves followed per file before it fails


@dataclass
class MediaTally:
    """What the pass did, for the summary and export_metrics.json."""
    files: int = 0            # downloaded (or linked) this run
    failed: int = 0
    bytes_total: int = 0      # of the files wanted
    bytes_done: int = 0       # durable so far (resumed parts included)
    bytes_fetched: int = 0    # asked of Telegram by this run
    probed: int = 0           # files read by a worker (engine/media/probe.py)
    probe_seconds: float = 0.0
    corrupt: int = 0          # downloaded whole but not readable as media
    dedup_files: int = 0
    dedup_bytes: int = 0
    refreshes: int = 0        # file references renewed
    seconds: float = 0.0      # while at least one file was downloading (busy time)
    busy_since: float | None = None   # perf_counter since files are downloading, if they are
    busy: int = 0             # files downloading now (every MediaFetch of the chat together)
    by_dc: dict[int, int] = field(default_factory=dict)   # bytes fetched per DC (as parts land)
    errors: list[str] = field(default_factory=list)
    copies: TranscodeTally = field(default_factory=TranscodeTally)    # --transcode
    hwaccel: dict | None = None   # the encoder detection (hwaccel.Verdict.as_dict), if asked


class MediaFetch:
    def __init__(self, root: Path, ledger: Ledger, source, call, chat: m.PeerRef,
                 home_dc: int, stop: asyncio.Event, tally: MediaTally | None = None,
                 thread: HistoryOf | None = None):
        self.root, self.ledger, self.source, self.call = root, ledger, source, call
        self.chat, self.home_dc, self.stop = chat, home_dc, stop
        self.thread = thread       # a comment thread's files: its messages are read there
        self.prober = None         # path -> Future(Probed | str): the worker pool's (dispatch)
        self.on_done = None        # Entry -> None: a file done (media_transcode.py offers it)
        self.tally = tally or MediaTally()
        self.by_hash: dict[tuple[int, str], str] = {}

    async def run(self, plan: Plan) -> MediaTally:
        """Every file of ``plan`` at once (``start``, ``feed``, ``finish``)."""
        self.start(plan.by_hash)
        self.feed(plan.wanted)
        await self.finish()
        return self.tally

    def start(self, by_hash: dict[tuple[int, str], str]) -> None:
        """Workers up, waiting for files (``feed``) until ``finish``."""
        self.by_hash = by_hash
        self._queues = (asyncio.Queue(), asyncio.Queue())       # small, large
        self._task = asyncio.create_task(self._run())

    def feed(self, wanted: list[Wanted]) -> None:
        for w in wanted:
            self._queues[w.media.size > LARGE_FROM].put_nowait(w)
            self.tally.bytes_total += w.media.size + _thumb_size(w)

    async def finish(self) -> None:
        """Every file fed downloaded (or failed); the first error that stopped the
        workers goes up (``Stopped`` after Ctrl-C)."""
        for q, n in zip(self._queues, (SMALL, LARGE), strict=True):
            for _ in range(n):
                q.put_nowait(None)
        await self._task

    def cancel(self) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                watch = tg.create_task(self._watch_stop())
                workers = [tg.create_task(self._worker(q)) for q, n in
                           zip(self._queues, (SMALL, LARGE), strict=True) for _ in range(n)]
                await asyncio.gather(*workers)
                watch.cancel()
        except BaseExceptionGroup as group:
            raise _first(group) from None

    async def _watch_stop(self) -> None:
        await self.stop.wait()
        raise Stopped()

    async def _worker(self, queue: asyncio.Queue) -> None:
        while (w := await queue.get()) is not None:
            t = self.tally
            t.busy += 1
            if t.busy == 1:
                t.busy_since = time.perf_counter()
            try:
                await self._one(w)
            finally:
                t.busy -= 1
                if not t.busy:
                    t.seconds += time.perf_counter() - t.busy_since
                    t.busy_since = None

    async def _one(self, w: Wanted) -> None:
        entry = w.entry
        dest = self.root / entry.path
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        try:
            got = await self._download(w, dest)
        except dl.DownloadFailed as exc:          # refused, wrong size, expired for good
            self._failed(w, str(exc) or type(exc).__name__)
            return
        path, linked = entry.path, await asyncio.to_thread(self._dedupe, dest, got)
        thumb = await self._thumb(w)
        probe, corrupt = await self._probe(w)
        entry = self.ledger.done(w.key, path, got.size, got.sha256, thumb, probe, corrupt)
        if self.on_done is not None:
            self.on_done(entry)
        self.tally.files += 1
        self.tally.bytes_fetched += got.fetched_bytes
        if linked:
            self.tally.dedup_files += 1
            self.tally.dedup_bytes += got.size
        log.debug("media: %s (%d bytes%s)", path, got.size, ", linked" if linked else "")

    async def _download(self, w: Wanted, dest: Path) -> dl.Downloaded:
        """The file from the DC its media names (home when it names none); FILE_MIGRATE
        moves it to the DC Telegram names and an expired reference is renewed once, the
        parts already on disk kept each time (download() resumes from its journal)."""
        media, refreshed, hops = w.media, False, 0
        dc = media.dc_id or self.home_dc
        while True:
            call = await self._call_for(dc)
            try:
                return await dl.download(call, dl.location_of(media), media.size, dest,
                                         key=media.id, on_part=self._counter(dc))
            except dl.WrongDC as exc:
                hops += 1
                if exc.dc == dc or hops > MIGRATIONS:
                    raise dl.DownloadFailed(f"Telegram sent the file from DC {dc} to DC "
                                            f"{exc.dc} ({hops} moves); given up") from None
                log.info("media: %s: FILE_MIGRATE from DC %d to DC %d", w.entry.path, dc,
                         exc.dc)
                dc = exc.dc
            except dl.ReferenceExpired:
                if refreshed:
                    raise
                refreshed = True
                fresh = await self._refresh(w)
                if fresh is None:
                    raise dl.DownloadFailed("the message or its file is gone "
                                            "(FILE_REFERENCE_EXPIRED)") from None
                media = w.media = fresh               # its thumbnail needs the new one too

    async def _call_for(self, dc: int):
        """The home DC's lanes, or the run's connection to DC ``dc`` (in the takeout)."""
        if not self.home_dc or dc == self.home_dc:
            return self.call
        return self.source.wrap(await self.source.dc_call(dc))

    async def _refresh(self, w: Wanted) -> m.Photo | m.Document | None:
        """The message read again: its media with a fresh file reference, or None. A comment
        thread's message (``thread``) or a migrated group's is read through its own history."""
        of = self.thread
        if of is None and w.msg.chat != self.chat:
            of = HistoryOf(peer=w.msg.chat)
        if of is None:
            batch, _gone = await self.source.messages(w.msg.chat, [w.msg.id])
        else:
            batch = await self.source.reread(w.msg.chat, [w.msg.id], of)
        self.tally.refreshes += 1
        for msg in batch.messages:
            media = msg.media
            if msg.id == w.msg.id and type(media) is type(w.media) and media.id == w.media.id:
                return media
        return None

    async def _thumb(self, w: Wanted) -> str:
        """A document's thumbnail beside it (``<path>_thumb.jpg``); "" when it has none or
        it cannot be had (result.json then says *unavailable* for it)."""
        media, path = w.media, w.entry.thumb
        if not isinstance(media, m.Document) or not media.thumb_type or not path:
            return ""
        dc = media.dc_id or self.home_dc
        try:
            got = await dl.download(await self._call_for(dc),
                                    dl.location_of(media, thumb=media.thumb_type),
                                    media.thumb_size, self.root / path, key=media.id,
                                    on_part=self._counter(dc))
        except dl.DownloadFailed as exc:
            log.warning("media: the thumbnail %s (message %d): %s", path, w.msg.id, exc)
            return ""
        self.tally.files += 1                      # a file on disk of its own
        self.tally.bytes_fetched += got.fetched_bytes
        return path

    async def _probe(self, w: Wanted) -> tuple[bytes, str]:
        """(msgpack map of its Probe, "") for a video, round video, GIF, voice note or audio
        file read by a worker, or (b"", why) when it does not probe: the file stays (it is
        what Telegram sent), recorded as corrupt, one warning."""
        if self.prober is None or kinds.kind(w.media) not in PROBED:
            return b"", ""
        got = await self.prober(w.entry.path)
        if isinstance(got, str):                  # no worker could read it (died on it)
            why = f"corrupt: {got}"
        elif got.error:
            why = f"corrupt: {got.error}"
        else:
            self.tally.probed += 1
            self.tally.probe_seconds += got.seconds
            return got.probe, ""
        self.tally.corrupt += 1
        log.warning("media: %s (message %d) does not read as media: %s", w.entry.path,
                    w.msg.id, why)
        return b"", why

    def _counter(self, dc: int):
        """``on_part`` for parts fetched from DC ``dc``."""
        def on_part(offset: int, length: int) -> None:
            self.tally.bytes_done += length
            self.tally.by_dc[dc] = self.tally.by_dc.get(dc, 0) + length
        return on_part

    def _dedupe(self, dest: Path, got: dl.Downloaded) -> bool:
        """In a thread: a file the chat holds already becomes a link to it."""
        key = (got.size, got.sha256)
        other = self.by_hash.get(key)
        if other is None or (self.root / other) == dest:
            self.by_hash.setdefault(key, os.path.relpath(dest, self.root))
            return False
        tmp = dest.with_name(dest.name + ".link")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.link(self.root / other, tmp)
        except OSError:
            return False           # no hard links here (or the other file is gone): keep the copy
        os.replace(tmp, dest)
        return True

    def _failed(self, w: Wanted, error: str) -> None:
        self.ledger.failed(w.key, error)
        self.tally.failed += 1
        if len(self.tally.errors) < 20:
            self.tally.errors.append(f"{w.entry.path}: {error}")
        log.warning("media: %s (message %d): %s", w.entry.path, w.msg.id, error)


def _thumb_size(w: Wanted) -> int:
    media = w.media
    return media.thumb_size if isinstance(media, m.Document) and media.thumb_type \
        and w.entry.thumb else 0


class Stopped(Exception):
    """Ctrl-C during the downloads: the pass ends; durable parts stay for the next run."""


def _first(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, asyncio.CancelledError | Stopped):
            return exc
    return Stopped() if any(isinstance(e, Stopped) for e in group.exceptions) \
        else group.exceptions[0]
