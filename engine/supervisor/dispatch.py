"""The worker pool seen from the event loop: jobs out, acknowledgements into catalogues.

    fetch streams ─submit─► Dispatch ─PagesJob─► pool thread ─rings─► workers
    event loop: _apply ◄─ queue ◄─ pool thread callbacks (ack, failed, release, proc, error)

One owner. The pool's callbacks run on the pool's own thread; here they only queue what
they heard and wake the event loop (``call_soon_threadsafe``). ``_apply`` runs on the
loop and is the one place that touches what the loop also touches: the stores'
catalogues and checkpoints, the permits, the tally and the run's ``Outcome``. Nothing
here needs a lock.

Backpressure: a fetch stream takes a permit before it reads the first page of a job, so
at most ``JOBS_PER_WORKER × workers + streams`` jobs are unacknowledged or being gathered
(a gathering job's requests are the governor's to pace); the permit comes back once
the job (every piece it was cut into to fit a ring) is acknowledged or failed.

A job writes into a ``Destination``: a chat's own store, or a comment thread's store
nested in the chat's folder (its ``folder`` under the pool's root; the worker writes
there). One pool can serve a whole run: rooted at --out, it takes jobs for every chat
in flight, each destination with its own zone and its own ``Outcome``. A segment enters
its store's catalogue when its ``Ack`` arrives; the checkpoints are written at most every
``COMMIT_EVERY`` seconds while acks arrive, when a destination settles, and at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from engine import model as m
from engine.archive.store import ChatStore, history_name
from engine.model import events as ev
from engine.supervisor.catalogue import list_segment
from engine.supervisor.outcome import Outcome
from engine.supervisor.planning import History
from engine.supervisor.pool import WorkerPool
from engine.supervisor.tally import Tally

log = logging.getLogger("tgarc.export")
RING_BYTES = 8 << 20          # per worker; a page of 100 maximal messages fits
COMMIT_EVERY = 0.5            # seconds between checkpoint writes while acks arrive

# (page bytes, first id it covers, last id it covers), as the requests number them
Page = tuple[bytes, int, int]


@dataclass(eq=False)
class Destination:
    """A store jobs write into, and what its jobs have come to."""
    store: ChatStore
    chat: m.PeerRef             # the chat its batches are labelled with
    run_no: int
    folder: str = ""            # the store's folder relative to the pool's ('': the pool's)
    label: str = ""             # how a failure names it
    outcome: Outcome = field(default_factory=Outcome)    # the chat's (fetched, failures)
    tz: str = ""                # the zone its fragments are rendered in ('': the pool's)
    on_acks: object = None      # called (on the loop) after acknowledgements arrived
    acked: bool = False
    names: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    in_flight: int = 0
    messages: int = 0           # acknowledged
    failed: int = 0             # jobs given up
    dirty: bool = False         # listed segments the checkpoint does not hold yet
    idle: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class _Job:
    dest: Destination
    name: str
    lo: int                     # as the catalogue numbers them (request id + shift)
    hi: int
    permit: list[int]           # the pieces of one submit still out: one permit for all


# Jobs in flight per worker: enough that a worker never waits for the next job while its
# last acknowledgement travels back, few enough that the rings' memory stays small.
JOBS_PER_WORKER = 4


class Dispatch:
    def __init__(self, workers: int, streams: int, root: Path, tz: str, tally: Tally,
                 outcome: Outcome, stop: asyncio.Event, md: bool = True, pools=None):
        self.loop = asyncio.get_running_loop()
        self.root = Path(root)
        self.tally, self.outcome, self.stop = tally, outcome, stop
        self.jobs: dict[int, _Job] = {}
        self.dests: list[Destination] = []
        self.broken = False
        self.error: BaseException | None = None
        self._seqs = itertools.count(1)
        self._heard: queue.SimpleQueue = queue.SimpleQueue()
        self._woken = False
        self._last_commit = time.monotonic()
        self._acked: list[Destination] = []    # destinations acknowledged since _apply
        self._waiting = 0                      # fetch streams waiting for a permit
        # seq of a job someone awaits (probe, copy, render) -> Future(its answer | str)
        self.results: dict[int, asyncio.Future] = {}
        # ``pools``: who makes the pool (WorkerPool's signature): a cluster job's is
        # engine/cluster/tasks.py TaskPool
        self.pool = (pools or WorkerPool)(
            workers, str(root), tz, capacity=RING_BYTES,
            on_ack=lambda ack: self._hear("ack", ack),
            on_failed=lambda seq, error, local=None: self._hear("failed", seq, error, local),
            on_release=lambda seq: self._hear("release", seq),
            on_proc=lambda pid, alive: self._hear("proc", pid, alive),
            on_error=lambda exc: self._hear("error", exc),
            on_result=lambda event: self._hear("result", event), md=md)
        self._limit = self.pool.max_job_bytes // 2
        workers = self.pool.n           # a cluster job's: as many as the cluster has CPUs
        # jobs being gathered hold a permit too: ``streams`` more than the workers' share,
        # or a pool of one worker would let only four pages out at once, whatever the
        # governor allows (42 pages/s at 80 ms round trips, 8 allowed)
        self.permits = asyncio.Semaphore(JOBS_PER_WORKER * workers + streams)
        self._wake = JOBS_PER_WORKER * workers + 3 * streams   # every waiter there can be

    # ---- the event loop's side ----------------------------------------------------------------
    def destination(self, store: ChatStore, chat: m.PeerRef, run_no: int, label: str = "", *,
                    outcome: Outcome | None = None, tz: str = "", on_acks=None) -> Destination:
        """Where jobs into ``store`` go; their messages and failures count in ``outcome``
        (the pool's own by default), ``on_acks`` hears of their acknowledgements."""
        dest = Destination(store, chat, run_no, self.folder_of(store.root), label,
                           outcome if outcome is not None else self.outcome, tz,
                           on_acks)
        dest.idle.set()
        self.dests.append(dest)
        return dest

    def folder_of(self, root: Path) -> str:
        """A store's folder as the workers name it: relative to the pool's ('' for it)."""
        rel = os.path.relpath(root, self.root)
        if rel == ".":
            return ""
        if rel.startswith(".."):
            raise ValueError(f"{root} is not inside the worker pool's folder {self.root}")
        return rel

    async def permit(self) -> None:
        self._waiting += 1          # a run's pool: any number of chats' streams may wait
        try:
            await self.permits.acquire()
        finally:
            self._waiting -= 1

    def unpermit(self) -> None:
        self.permits.release()

    @property
    def failing(self) -> bool:
        """Nothing more should be fetched: the pool is gone or the disk refuses writes."""
        return self.broken or self.outcome.local_error is not None

    def submit(self, dest: Destination, pages: list[Page], history: History) -> None:
        """Consecutive pages of one history as jobs into ``dest``, sharing the permit the
        caller took for them."""
        pieces = list(self._pieces(pages))
        permit = [len(pieces)]
        shift = history.id_shift
        for piece in pieces:
            seq = next(self._seqs)
            lo, hi = piece[0][1], piece[-1][2]
            name = history_name(lo + shift, hi + shift, dest.run_no, next(dest.names))
            self.jobs[seq] = _Job(dest, name, lo + shift, hi + shift, permit)
            dest.in_flight += 1
            dest.idle.clear()
            self.pool.submit(seq, ev.ENCODER.encode(ev.PagesJob(
                seq, name, dest.chat, lo, hi, [p for p, _, _ in piece],
                history.messages_chat, dest.folder, dest.tz)))

    def probe(self, path: str, decode: bool = False) -> asyncio.Future:
        """A downloaded file (relative to the chat's folder) read by a worker: the future
        gives its ``Probed``, or a one-line string when no worker could (one died on it
        twice, or the pool is gone)."""
        seq = next(self._seqs)
        return self._ask(seq, ev.ProbeJob(seq, path, decode), "heavy" if decode else "timely")

    def transcode(self, job: ev.TranscodeJob) -> asyncio.Future:
        """A compact copy made by a worker (``job``'s seq is set here): the future gives its
        ``Transcoded``, or a one-line string when no worker could."""
        job = msgspec.structs.replace(job, seq=next(self._seqs))
        return self._ask(job.seq, job, "heavy")

    def render(self, segment: str, folder: str = "", tz: str = "") -> asyncio.Future:
        """A segment's fragments rendered into the cache by a worker (``tgarc render``): the
        future gives its ``Rendered``, or a one-line string when no worker could."""
        seq = next(self._seqs)
        return self._ask(seq, ev.RenderJob(seq, segment, folder, tz), "batch")

    def _ask(self, seq: int, job, kind: str) -> asyncio.Future:
        """A job whose answer someone awaits (``kind``: pool.py's "batch", "timely" or
        "heavy")."""
        fut = self.results[seq] = self.loop.create_future()
        if self.broken:
            fut.set_result("the worker pool is gone")
            del self.results[seq]
        else:
            self.pool.submit(seq, ev.ENCODER.encode(job), kind)
        return fut

    def _pieces(self, pages: list[Page]) -> Iterator[list[Page]]:
        """Pages as jobs that fit a ring: cut in halves at a page boundary while too big."""
        if sum(len(p) for p, _, _ in pages) > self._limit and len(pages) > 1:
            half = len(pages) // 2
            yield from self._pieces(pages[:half])
            yield from self._pieces(pages[half:])
        else:
            yield pages

    async def settled(self, dest: Destination) -> None:
        """Every job into ``dest`` acknowledged or failed (or the pool is gone)."""
        while dest.in_flight and not self.broken:
            await dest.idle.wait()

    def forget(self, dest: Destination) -> None:
        """``dest`` takes no more jobs: its checkpoint written, its store the caller's."""
        self.dests.remove(dest)
        if dest.dirty:
            dest.store.commit()
            dest.dirty = False

    def commit(self) -> None:
        for dest in self.dests:
            if dest.dirty:
                dest.store.commit()
                dest.dirty = False
        self._last_commit = time.monotonic()

    async def close(self) -> None:
        """Every job submitted becomes durable (or failed), the workers exit, and every
        destination's checkpoint is written; the pool's failure, if any, is raised."""
        pool = self.pool
        pool.end()
        await asyncio.to_thread(pool.join)
        self._apply()                          # the last of what the pool heard
        pool.release()
        self.tally.procs.extend(pool.finished())
        for dest in self.dests:
            dest.store.commit()
            dest.dirty = False
        error = pool.error or self.error
        if error is not None:
            raise error

    def abort(self) -> None:
        """The second Ctrl-C: the workers are killed now; what they had not acknowledged
        is left to the next run (the checkpoint never lists it)."""
        self.pool.abort()
        self._break()

    def _break(self) -> None:
        """Nothing will be acknowledged any more: fetchers waiting for permits and
        threads waiting to settle must wake, and the run stops."""
        self.broken = True
        self.stop.set()
        for fut in self.results.values():
            if not fut.done():
                fut.set_result("the worker pool is gone")
        self.results.clear()
        for _ in range(self._wake + self._waiting):
            self.permits.release()
        for dest in self.dests:
            dest.idle.set()

    # ---- news from the pool thread --------------------------------------------------------------
    def _hear(self, *news) -> None:
        """The pool thread's only act: queue the news, wake the loop once for all of it."""
        self._heard.put(news)
        if not self._woken:
            self._woken = True
            with contextlib.suppress(RuntimeError):   # a closed loop: nobody listens any more
                self.loop.call_soon_threadsafe(self._apply)

    def _apply(self) -> None:
        """On the event loop: what the pool heard, applied to the stores and the tally."""
        self._woken = False
        while True:
            try:
                kind, *args = self._heard.get_nowait()
            except queue.Empty:
                break
            getattr(self, f"_on_{kind}")(*args)
        acked, self._acked = self._acked, []
        for dest in acked:
            dest.acked = False
            if dest.on_acks is not None:
                dest.on_acks()
        if time.monotonic() - self._last_commit >= COMMIT_EVERY:
            try:
                self.commit()
            except Exception as exc:           # the checkpoint cannot be written: stop
                if self.error is None:
                    self.error = exc
                self._break()

    def _on_ack(self, ack: ev.Ack) -> None:
        job = self.jobs[ack.seq]
        dest = job.dest
        list_segment(dest.store, job.name, "history", job.lo, job.hi, ack.messages,
                     (ack.date_lo, ack.date_hi), ack.files)
        dest.dirty = True
        if not dest.acked:
            dest.acked = True
            self._acked.append(dest)
        dest.messages += ack.messages
        dest.outcome.fetched += ack.messages
        self.tally.acknowledged(ack)

    def _on_result(self, event: ev.Probed | ev.Transcoded | ev.Rendered) -> None:
        # a worker's time on files counts as its busy time (tune reads it), a copy's as a
        # sample of the transcode stage too
        self.tally.busy[event.worker] += event.seconds
        if isinstance(event, ev.Transcoded):
            self.tally.sample("transcode", event.seconds)
        fut = self.results.pop(event.seq, None)
        if fut is not None and not fut.done():
            fut.set_result(event)

    def _on_failed(self, seq: int, error: str, local: OSError | None) -> None:
        fut = self.results.pop(seq, None)
        if fut is not None:                   # a job someone awaits: no worker could finish it
            if not fut.done():
                fut.set_result(error)
            return
        job = self.jobs[seq]
        job.dest.failed += 1
        outcome = job.dest.outcome
        log.error("%smessages %d..%d failed: %s", job.dest.label, job.lo, job.hi, error)
        if local is not None:
            # disk full, read-only, permissions: every other batch would fail too
            if outcome.local_error is None:
                outcome.local_error = local
            if self.outcome.local_error is None:
                self.outcome.local_error = local
            self.stop.set()
            return
        outcome.failures.append(f"{job.dest.label}messages {job.lo}..{job.hi}: {error}")

    def _on_release(self, seq: int) -> None:
        job = self.jobs.pop(seq, None)
        if job is None:                 # a job someone awaits: no permit, no destination
            return
        job.permit[0] -= 1
        if not job.permit[0]:
            self.permits.release()
        dest = job.dest
        dest.in_flight -= 1
        if not dest.in_flight:
            dest.idle.set()

    def _on_proc(self, pid: int, alive: bool) -> None:
        self.tally.procs.append(ev.Proc(pid, "worker", alive))

    def _on_error(self, exc: BaseException) -> None:
        """The pool thread died (a worker kept dying, say); ``close`` raises it."""
        self._break()
