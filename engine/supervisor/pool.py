"""Worker processes and the rings between them, driven by one thread.

The pool thread owns every ring end the supervisor holds (a ring end belongs to one
thread): it places submitted jobs on the worker with the most free ring space (a full
ring leaves the job pending: backpressure reaches the fetcher through ``max_inflight``),
drains acknowledgements, and replaces a worker that died: a fresh process on fresh
rings, and every job it had not acknowledged is sent again. The death counts against the
oldest of them only (a worker takes its jobs in order: that is the one it died on); a job
(a batch, a probe of a hostile file) that takes down two workers is given up as failed
instead of killing a third, and the jobs queued behind it are not.

A ring's free space says nothing of the job its worker is busy with, so jobs are kept off
a worker that holds a heavy one (a transcode, a full decode: seconds to minutes) while
another has none; and a job someone awaits (``timely``: a probe a download waits on, a
transcode) goes to the worker with the fewest unacknowledged jobs rather than the one
with the emptiest ring.

Callbacks (``on_ack``, ``on_failed``, ``on_release``, ``on_proc``, ``on_error``,
``on_result``: a probe's, a copy's or a render's answer) run in
the pool thread (``on_proc`` also in the thread that starts the pool): they must not
touch what another thread owns. The supervisor's ``Dispatch`` (dispatch.py) only queues
what they report and hands it to the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import threading
import time
from collections import deque

from engine.model import events as ev
from engine.procs import sigint_ignored
from engine.transport import Closed, Empty, FanIn, FanOut, Full, PeerDied

EVENT_RING_BYTES = 1 << 20
log = logging.getLogger("tgarc.pool")
MAX_ATTEMPTS = 2
HEALTH_EVERY = 0.2      # seconds between looks at the worker processes' exit codes
IDLE_WAIT = HEALTH_EVERY


class WorkersFailing(RuntimeError):
    """Workers die before doing any work: restarting them again would loop forever."""


class WorkerPool:
    def __init__(self, n: int, root: str, tz_name: str, *, capacity: int = 4 << 20,
                 on_ack, on_failed, on_release=None, on_proc=None, on_error=None,
                 on_result=None, md: bool = True):
        self.n, self.root, self.tz_name, self.capacity = n, root, tz_name, capacity
        self.md = md                    # the workers render day-note blocks too
        self.on_ack, self.on_failed = on_ack, on_failed
        self.on_result = on_result or (lambda event: None)
        self.on_release = on_release or (lambda seq: None)
        self.on_proc = on_proc or (lambda pid, alive: None)
        self.on_error = on_error or (lambda exc: None)
        self.job_rings = FanOut(n, capacity)
        self.event_rings = FanIn(n, EVENT_RING_BYTES)
        self._ctx = mp.get_context("spawn")
        self.procs: list = [None] * n
        self.inflight: list[dict[int, bytes]] = [{} for _ in range(n)]
        self.attempts: dict[int, int] = {}
        self.restarts = 0
        self._crashes = 0          # deaths since the last acknowledgement
        self.blocked_seconds = 0.0
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: deque[tuple[int, bytes]] = deque()
        self._heavy: set[int] = set()      # seqs of heavy jobs (long: others avoid them)
        self._timely: set[int] = set()     # seqs placed by jobs in flight, not ring room
        self._ended = False
        self._abort = threading.Event()
        self.error: BaseException | None = None
        for i in range(n):
            self._spawn(i)
        self._thread = threading.Thread(target=self._run, name="tgarc-pool", daemon=True)
        self._thread.start()

    # ---- called from other threads ------------------------------------------------------------
    def submit(self, seq: int, record: bytes, kind: str = "batch") -> None:
        """``kind``: "batch" (placed by ring room), "timely" (by jobs in flight) or
        "heavy" (timely, and long: other jobs avoid its worker)."""
        self._q.put((seq, record, kind))
        self.event_rings.wake()

    def end(self) -> None:
        """No more jobs; the thread stops the workers once everything is acknowledged."""
        self._q.put(None)
        self.event_rings.wake()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def abort(self) -> None:
        """Stop at once: workers are killed, unacknowledged work is left to the next run."""
        self._abort.set()
        self.event_rings.wake()
        self._thread.join(5)
        self._kill_all()

    @property
    def max_job_bytes(self) -> int:
        """The largest record a job ring takes."""
        return self.job_rings._rings[0].max_record

    def fill(self) -> float:
        used = sum(self.capacity - self.job_rings.free(i) for i in range(self.n))
        return used / (self.capacity * self.n)

    # ---- the pool thread ----------------------------------------------------------------------
    def _spawn(self, i: int) -> None:
        from engine.worker import main as worker_main

        p = self._ctx.Process(target=worker_main.main, name=f"tgarc-worker-{i}",
                              args=(i, self.job_rings.consumer(i), self.event_rings.producer(i),
                                    self.root, self.tz_name, self.md), daemon=True)
        with sigint_ignored():          # Ctrl-C is the supervisor's to interpret
            p.start()
        self.job_rings.bind(i, p.pid)
        self.event_rings.bind(i, p.pid)
        self.procs[i] = p
        self.on_proc(p.pid, True)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:       # surfaced by the supervisor
            self.error = exc
            self._kill_all()
            self.on_error(exc)

    def _loop(self) -> None:
        next_check = 0.0
        while not self._abort.is_set():
            while True:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._ended = True
                else:
                    seq, record, kind = item
                    if kind != "batch":
                        self._timely.add(seq)
                    if kind == "heavy":
                        self._heavy.add(seq)
                    self._pending.append((seq, record))
            placed = self._place()
            idle = not placed
            try:
                # Asleep until an event, a job (submit wakes it) or the next look at the
                # workers' health: no polling while Telegram keeps the run waiting.
                self._handle(self.event_rings.get_many(timeout=IDLE_WAIT if idle else 0))
            except Empty:
                pass
            except PeerDied as exc:
                self._died(exc.index)
            except Closed:
                pass
            now = time.monotonic()
            if now >= next_check:
                next_check = now + HEALTH_EVERY
                for i, p in enumerate(self.procs):
                    if p is not None and p.exitcode is not None:
                        self._drain_then_replace(i)
            if self._ended and not self._pending and not any(self.inflight):
                self._stop_workers()
                return

    def _place(self) -> bool:
        placed = False
        while self._pending:
            seq, record = self._pending[0]
            i = self._worker_for(seq)
            try:
                self.job_rings.put(i, record, timeout=0)
            except Full:
                # Every ring is full: wait for the workers (acknowledgements are
                # the sign of progress), counted as time the producer was blocked.
                t0 = time.monotonic()
                try:
                    self._handle(self.event_rings.get_many(timeout=0.002))
                except (Empty, Closed):
                    pass
                except PeerDied as exc:
                    self._died(exc.index)
                self.blocked_seconds += time.monotonic() - t0
                return placed
            except PeerDied:
                self._drain_then_replace(i)
                continue
            self._pending.popleft()
            self.inflight[i][seq] = record
            placed = True
        return placed

    def _worker_for(self, seq: int) -> int:
        """Workers without a heavy job first; among them the emptiest ring, or for a timely
        job the fewest jobs in flight (then the emptiest ring)."""
        free = self.job_rings.free
        if seq in self._timely:
            return min(range(self.n), key=lambda k: (self._busy_with_heavy(k),
                                                     len(self.inflight[k]), -free(k)))
        return min(range(self.n), key=lambda k: (self._busy_with_heavy(k), -free(k)))

    def _busy_with_heavy(self, k: int) -> bool:
        return bool(self._heavy) and any(s in self._heavy for s in self.inflight[k])

    def _handle(self, records: list[bytes]) -> None:
        for rec in records:
            event = ev.WORKER_EVENT_DECODER.decode(rec)
            if self.inflight[event.worker].pop(event.seq, None) is None:
                continue                   # acknowledged before (a re-sent batch)
            self.attempts.pop(event.seq, None)
            self._heavy.discard(event.seq)
            self._timely.discard(event.seq)
            self._crashes = 0
            if isinstance(event, ev.Ack):
                self.on_ack(event)
            elif isinstance(event, ev.Probed | ev.Transcoded | ev.Rendered):
                self.on_result(event)
            elif event.errno:
                self.on_failed(event.seq, event.error, OSError(event.errno, event.error,
                                                               event.path or None))
            else:
                self.on_failed(event.seq, event.error)
            self.on_release(event.seq)

    def _drain_then_replace(self, i: int) -> None:
        # Whatever it acknowledged before dying still counts.
        while True:
            try:
                self._handle(self.event_rings.get_many(timeout=0))
            except (Empty, Closed):
                break
            except PeerDied as exc:
                if exc.index != i:
                    self._died(exc.index)
        self._died(i)

    def _died(self, i: int) -> None:
        p = self.procs[i]
        if p is None:
            return
        p.join(1)
        self.on_proc(p.pid, False)
        self.restarts += 1
        self._crashes += 1
        if self._crashes > 2 * self.n + 2:
            raise WorkersFailing(f"worker processes keep dying (last exit code {p.exitcode}) "
                                 f"without finishing a batch; see --debug")
        lost = self.inflight[i]
        log.warning("worker %d (pid %d) died with exit code %s; %d unacknowledged job(s) go "
                    "to its replacement", i, p.pid, p.exitcode, len(lost))
        self.inflight[i] = {}
        self.procs[i] = None
        self.job_rings.replace(i)
        self.event_rings.replace(i)
        self._spawn(i)
        # The worker takes its jobs in order, so the oldest unacknowledged one is the job it
        # died on; those queued behind it are not to blame and go again as they were.
        culprit = next(iter(lost), None)
        for seq in sorted(lost, reverse=True):
            if seq == culprit:
                self.attempts[seq] = self.attempts.get(seq, 0) + 1
            if self.attempts.get(seq, 0) >= MAX_ATTEMPTS:
                self._heavy.discard(seq)
                self._timely.discard(seq)
                self.on_failed(seq, f"a worker died twice processing this batch "
                                    f"(last exit code {p.exitcode})")
                self.on_release(seq)
            else:
                self._pending.appendleft((seq, lost[seq]))

    def _stop_workers(self) -> None:
        stop = ev.ENCODER.encode(ev.Stop())
        for i in range(self.n):
            with contextlib.suppress(PeerDied, Full):
                self.job_rings.put(i, stop, timeout=5)
        for p in self.procs:
            if p is not None:
                p.join(10)
                if p.exitcode is None:
                    p.kill()
                    p.join()
                self.on_proc(p.pid, False)
        self.job_rings.close()

    def _kill_all(self) -> None:
        for p in self.procs:
            if p is not None and p.exitcode is None:
                p.kill()
        for p in self.procs:
            if p is not None:
                p.join(5)

    def finished(self) -> list[ev.Proc]:
        """For the aggregator, once the pool ended: its workers, gone."""
        return [ev.Proc(p.pid, "worker", False) for p in self.procs if p is not None]

    def release(self) -> None:
        self.job_rings.release()
        self.event_rings.release()
