"""A cluster job's worker pool: each job a Ray task on whichever node has a CPU free.

A cluster job (an account's ``tgarc export``, ray_run.py) runs the export of one machine
with one part swapped: its ``Dispatch`` takes ``TaskPool`` for the pool of worker
processes (``pools=``). Each job the supervisor submits (the raw pages of about 1,000
messages, a probe, a copy, a render) goes to Ray's object store and runs as the task
``work``, which is the local worker's own body (``engine.worker.main.answer``): it decodes,
renders, writes the segment and its fragments on the shared --out, and returns its answer.
The pool hands the answers to the callbacks the local pool calls, so the supervisor lists
a segment only once its task answered, and the chat's checkpoint stays the unit of resume.

What travels: the job's bytes (one object of ≈ 0.3 MB per 1,000 text messages; ~0.5 ms of
Ray's overhead per task, so never one task per page) and the answer (≈ 100 bytes). No
session, no key: the tasks never talk to Telegram.

Losses: a task whose process or node dies is run again by Ray once (``max_retries``); its
writes are atomic renames of the same bytes, so a second run changes nothing. A task that
died twice is given up as failed, as a job that kills two local workers is. A job the
supervisor never heard answered is not in its checkpoint and is fetched again next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time

import ray
from ray.exceptions import RayError, RayTaskError

from engine.model import events as ev

log = logging.getLogger("tgarc.pool")
MAX_ATTEMPTS = 2            # as for a local worker (engine/supervisor/pool.py)
WAIT = 0.2                  # seconds the pool thread sleeps when nothing arrives
_here: dict = {}            # per task process: (root, zone, md) -> worker.Here


@ray.remote(num_cpus=1, max_retries=MAX_ATTEMPTS - 1)
def work(record: bytes, root: str, tz_name: str, md: bool) -> tuple[str, float, bytes]:
    """(this node's id, the task's CPU-seconds, the answer to the job ``record``)."""
    from engine.worker import main as worker

    cpu = time.thread_time()
    here = _here.get((root, tz_name, md))
    if here is None:
        from zoneinfo import ZoneInfo

        from engine.telegram import tl

        here = _here[root, tz_name, md] = worker.Here(root, tz_name, ZoneInfo(tz_name), md,
                                                      tl)
    answer = ev.ENCODER.encode(worker.answer(ev.JOB_DECODER.decode(record), 0, here))
    return ray.get_runtime_context().get_node_id(), time.thread_time() - cpu, answer


class TaskPool:
    """``engine.supervisor.pool.WorkerPool``'s face (the same constructor, calls and
    callbacks, run on a thread of its own), with Ray tasks for worker processes. It counts
    as many workers as the cluster has CPUs (``n`` at least): the supervisor's permits
    (jobs in flight) and the copies of --transcode made at once follow that count, and Ray
    runs the tasks wherever a CPU is free."""

    def __init__(self, n: int, root: str, tz_name: str, *, capacity: int = 4 << 20,
                 on_ack, on_failed, on_release=None, on_proc=None, on_error=None,
                 on_result=None, md: bool = True):
        self.n = max(n, int(ray.cluster_resources().get("CPU", 0)))
        # the same path on every node (docs/cluster.md); a task's own cwd is Ray's
        self.root, self.tz_name, self.md = os.path.abspath(root), tz_name, md
        self.on_ack, self.on_failed = on_ack, on_failed
        self.on_result = on_result or (lambda event: None)
        self.on_release = on_release or (lambda seq: None)
        self.on_error = on_error or (lambda exc: None)
        # as a ring of that capacity takes, so jobs are cut as on one machine
        self.max_job_bytes = capacity - 64
        self.procs: list = []               # no local worker processes
        self.blocked_seconds = 0.0          # the cluster queues tasks; nothing blocks here
        self.restarts = 0
        self.error: BaseException | None = None
        self.nodes: dict[str, list] = {}    # node -> [tasks answered, their CPU-seconds]
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._running: dict = {}             # ObjectRef -> seq
        self._ended = False
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tgarc-tasks", daemon=True)
        self._thread.start()

    def submit(self, seq: int, record: bytes, kind: str = "batch") -> None:
        """``kind`` is the local pool's placement hint; Ray queues every task alike, and the
        supervisor's permits keep that queue short."""
        self._q.put((seq, record))

    def end(self) -> None:
        self._q.put(None)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def abort(self) -> None:
        """Stop at once: the tasks are cancelled, unanswered work is left to the next run."""
        self._abort.set()
        self._q.put(None)
        self._thread.join(5)
        for ref in list(self._running):
            with contextlib.suppress(RayError):
                ray.cancel(ref, force=True)

    def fill(self) -> float:
        return min(1.0, len(self._running) / max(1, 4 * self.n))

    def release(self) -> None:
        pass

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:          # surfaced by the supervisor
            self.error = exc
            self.on_error(exc)
        if self.nodes:
            log.info("%d tasks on %d nodes (%s), sized for %d CPUs",
                     sum(k for k, _ in self.nodes.values()), len(self.nodes),
                     ", ".join(f"{n[:12]}: {k}" for n, (k, _) in self.nodes.items()), self.n)

    def finished(self) -> list[ev.Tasks]:
        """For the aggregator, once the pool ended: the tasks per node and their CPU."""
        return [ev.Tasks(node, k, cpu) for node, (k, cpu) in self.nodes.items()]

    def _loop(self) -> None:
        while not self._abort.is_set():
            self._take(block=not self._running)
            if self._ended and not self._running:
                return
            if not self._running:
                continue
            refs = list(self._running)
            done, _ = ray.wait(refs, num_returns=1, timeout=WAIT)
            if done:                            # and whatever else is ready by now
                done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in done:
                self._answered(self._running.pop(ref), ref)

    def _take(self, block: bool) -> None:
        while True:
            try:
                item = self._q.get(timeout=WAIT) if block else self._q.get_nowait()
            except queue.Empty:
                return
            block = False
            if item is None:
                self._ended = True
                continue
            seq, record = item
            self._running[work.remote(record, self.root, self.tz_name, self.md)] = seq

    def _answered(self, seq: int, ref) -> None:
        try:
            node, cpu, answer = ray.get(ref)
        except RayTaskError as exc:            # not the job's failure: those are answers
            self.on_failed(seq, f"{type(exc.cause).__name__}: {exc.cause}")
        except RayError as exc:
            self.on_failed(seq, f"the task's process or node died {MAX_ATTEMPTS} times "
                                f"processing this batch ({type(exc).__name__})")
        else:
            got = self.nodes.setdefault(node, [0, 0.0])
            got[0] += 1
            got[1] += cpu
            event = ev.WORKER_EVENT_DECODER.decode(answer)
            if isinstance(event, ev.Ack):
                self.on_ack(event)
            elif isinstance(event, ev.Probed | ev.Transcoded | ev.Rendered):
                self.on_result(event)
            elif event.errno:
                self.on_failed(seq, event.error, OSError(event.errno, event.error,
                                                         event.path or None))
            else:
                self.on_failed(seq, event.error)
        self.on_release(seq)


CLIENT_TRIES = 3            # Ray Client's server for this driver failing to start, again


def connect(address: str) -> None:
    """This process as a driver of the cluster at ``address``: the run's (ray_run.py) or a
    job's (given by its actor). Through Ray Client (``ray://``) the head starts a server
    for each driver, and that start can fail on a busy head (seen once in CI: "Initialization
    failure from server", a ConnectionAbortedError): tried again, a few times."""
    for attempt in range(1, CLIENT_TRIES + 1):
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            return
        except ConnectionAbortedError:
            if not address.startswith("ray://") or attempt == CLIENT_TRIES:
                raise
            log.warning("Ray Client at %s failed to start this driver's server; again",
                        address)
            ray.shutdown()
            time.sleep(2.0 * attempt)


def disconnect() -> None:
    ray.shutdown()
