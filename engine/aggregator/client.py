"""The supervisor's handle on the aggregator process (see ``Aggregator``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from itertools import islice
from pathlib import Path

import orjson

from engine.model.events import (
    ENCODER,
    CacheSnapshot,
    Finish,
    GovernorState,
    LinkState,
    MediaSnapshot,
    Progress,
    QueueSample,
    Stages,
    TelegramSnapshot,
    WorkerBusy,
)
from engine.procs import sigint_ignored
from engine.transport import Full, Ring, RingError

MODES = ("auto", "tty", "json", "off")
TERM_GRACE = 2.0        # seconds close() waits after SIGTERM before SIGKILL
MAX_PENDING = 100_000   # records held while the ring is full; beyond that the oldest go


def _coalesce_key(event):
    """Running totals: only the latest of each key matters while the ring is full."""
    if isinstance(event, Progress):
        return ("progress",)
    if isinstance(event, TelegramSnapshot):
        return ("telegram",)
    if isinstance(event, LinkState):
        return ("link",)
    if isinstance(event, GovernorState):
        return ("governor",)
    if isinstance(event, MediaSnapshot):
        return ("media",)
    if isinstance(event, CacheSnapshot):
        return ("cache", event.name)
    if isinstance(event, WorkerBusy):
        return ("busy", event.worker)
    return None


# A fresh interpreter that imports only the aggregator (not the parent's __main__, as a
# multiprocessing "spawn" child would: for the `tgarc` console script that is engine.cli).
_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from engine.aggregator.process import entry; entry()")


def _spawn(cfg: dict, stderr_path) -> subprocess.Popen:
    root = os.fspath(Path(__file__).resolve().parents[2])
    stderr = None if stderr_path is None else open(stderr_path, "ab")  # noqa: SIM115
    try:
        with sigint_ignored():
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT.format(root=root)], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=stderr, close_fds=True)
    finally:
        if stderr is not None:
            stderr.close()
    try:
        proc.stdin.write(orjson.dumps(cfg))
        proc.stdin.close()
    except OSError:
        pass                          # it died at once: finish() will say so ({})
    return proc


def _shutdown(proc: subprocess.Popen, ring: Ring, owner_pid: int) -> None:
    """Kill the process if it still runs and release the ring (in the creating process only)."""
    if os.getpid() != owner_pid:
        return
    with contextlib.suppress(Exception):
        if proc.poll() is None:
            proc.terminate()              # it writes the document with status "terminated"
            try:
                proc.wait(TERM_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(5)
    with contextlib.suppress(Exception):
        ring.close()


class Aggregator:
    """The aggregator process and the ring the supervisor feeds it through.

    ``send`` never blocks: when the ring is full, records wait in a local queue and go
    out with the next ``send`` or ``finish`` (``Stages`` samples are never dropped while
    fewer than MAX_PENDING records wait; running totals keep only their latest value;
    a ``QueueSample`` is dropped when the ring is full, the next one carries the total).
    """

    def __init__(self, proc: subprocess.Popen, ring: Ring, metrics_path: Path):
        self._proc = proc
        self._ring = ring
        self._tx = ring.producer()
        self._max_record = ring.max_record
        self.metrics_path = metrics_path
        self.pid: int = proc.pid
        self._lock = threading.Lock()
        self._pending: deque[bytes] = deque()
        self._latest: dict[tuple, bytes] = {}
        self._dead = False
        self._closed = False
        self.dropped = 0          # records given up (the aggregator died, or MAX_PENDING)
        self._finalizer = weakref.finalize(self, _shutdown, proc, ring, os.getpid())

    @classmethod
    def start(cls, metrics_path, progress: str = "auto", interval: float = 10.0,
              stderr_path=None, capacity: int = 1 << 20) -> Aggregator:
        """Start the aggregator process; ``progress``: auto | tty | json | off (docs/metrics.md).
        ``stderr_path``: send the aggregator's stderr (progress, summary) to this file."""
        if progress not in MODES:
            raise ValueError(f"progress must be one of {', '.join(MODES)}, not {progress!r}")
        mode = progress
        if mode == "auto":
            try:
                tty = stderr_path is None and os.isatty(2)
            except OSError:
                tty = False
            mode = "tty" if tty else "json"
        metrics_path = Path(metrics_path).absolute()
        ring = Ring.create(capacity=capacity)
        cfg = {"ring": ring.name, "impl": ring.implementation,
               "metrics_path": os.fspath(metrics_path), "mode": mode,
               "interval": float(interval), "started_wall": time.time(),
               "started_mono": time.monotonic()}
        try:
            proc = _spawn(cfg, stderr_path)
        except BaseException:
            ring.close()
            raise
        self = cls(proc, ring, metrics_path)
        ring.consumer().bind(proc.pid)      # so a put sees the aggregator die before it reads
        self._tx.claim()                    # so the aggregator sees this process die
        return self

    # ---- sending ------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not self._dead and not self._closed and self._proc.poll() is None

    def _publish(self, batch: list[bytes], deadline: float | None) -> int | None:
        """Put ``batch``; how many went out, or None once the aggregator is gone."""
        timeout = 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            self._tx.put_many(batch, timeout=timeout)
            return len(batch)
        except Full as e:
            return e.sent
        except RingError:                     # PeerDied, Closed: nobody reads any more
            self._dead = True
            self.dropped += len(self._pending) + len(self._latest)
            self._pending.clear()
            self._latest.clear()
            return None

    def _flush(self, deadline: float | None = None) -> bool:
        """Publish what waits (ordered records first, then the latest running totals);
        True when nothing is left. ``deadline`` None: never block. Caller holds the lock."""
        pending = self._pending
        while pending:
            batch = list(islice(pending, 4096))
            sent = self._publish(batch, deadline)
            if sent is None:
                return True
            for _ in range(sent):
                pending.popleft()
            if sent < len(batch):
                return False
        if self._latest:
            batch = list(self._latest.values())
            sent = self._publish(batch, deadline)
            if sent is None:
                return True
            for key in list(self._latest)[:sent]:
                del self._latest[key]
            return sent == len(batch)
        return True

    def send(self, event) -> None:
        """Queue one event for the aggregator; never blocks (see the class docstring)."""
        if self._dead or self._closed:
            return
        data = ENCODER.encode(event)
        if len(data) > self._max_record:
            if isinstance(event, Stages) and len(event.seconds) > 1:
                half = len(event.seconds) // 2
                self.send(Stages(event.stage, event.seconds[:half]))
                self.send(Stages(event.stage, event.seconds[half:]))
            else:
                self.dropped += 1
            return
        with self._lock:
            if not self._pending and not self._latest:
                if self._publish([data], None) != 0:      # out (or nobody reads any more)
                    return
                self._hold(event, data)
            else:
                self._hold(event, data)
                self._flush()

    def _hold(self, event, data: bytes) -> None:
        """Keep a record the full ring did not take. Caller holds the lock."""
        key = _coalesce_key(event)
        if key is not None:
            self._latest[key] = data
        elif not isinstance(event, QueueSample):
            self._pending.append(data)
            if len(self._pending) > MAX_PENDING:
                self._pending.popleft()
                self.dropped += 1

    # ---- the end ------------------------------------------------------------------------------
    def finish(self, finish: Finish, timeout: float = 15.0) -> dict:
        """Send ``finish``, wait for the final metrics and the process to exit; return the
        metrics ({} if the process was already dead, or did not finish within ``timeout``)."""
        if self._closed:
            return {}
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._dead or self._proc.poll() is not None:
                self._dead = True
                return {}
            ok = self._flush(deadline)
            if ok and not self._dead:
                try:
                    self._tx.put_many((ENCODER.encode(finish),),
                                      timeout=max(0.0, deadline - time.monotonic()))
                except RingError:              # Full, PeerDied, Closed
                    ok = False
            else:
                ok = False
            with contextlib.suppress(RingError):
                self._tx.close()
            self._dead = True
        if not ok:
            return {}
        try:
            self._proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return {}
        try:
            return orjson.loads(self.metrics_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}

    def close(self) -> None:
        """Stop the process if it still runs (SIGTERM: it writes its document with status
        "terminated"; SIGKILL after TERM_GRACE s) and release the ring; idempotent."""
        self._closed = True
        self._dead = True
        self._finalizer()

    def __enter__(self) -> Aggregator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
