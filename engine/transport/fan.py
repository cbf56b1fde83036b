"""Fan-out (supervisor → N workers) and fan-in (N workers → one reader) over SPSC rings.

Both keep one ring per worker, so a worker that dies is replaced on a *fresh*
ring (``replace(i)``) and nothing a half-dead process left behind can confuse
its successor.  What was in flight is the caller's to re-send: ``put_many``
errors carry ``index`` (which worker) and ``sent`` (how much of the call got in).

The fan-in reader sleeps on one doorbell (an eventcount in a small segment of
its own) that every producer rings after publishing, so one futex wait covers N
rings.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence

from . import _layout as L
from . import _shm
from ._impl import by_name
from .errors import Closed, Empty, PeerDied, RingError
from .ring import (
    DEFAULT_CAPACITY,
    DEFAULT_MAX_BYTES,
    SLICE,
    Consumer,
    Producer,
    Ring,
    release_mapping,
)


class FanOut:
    """One producer (this process) feeding ``n`` consumers, one ring each."""

    def __init__(self, n: int, capacity: int = DEFAULT_CAPACITY, impl: str | None = None):
        self._capacity, self._impl = capacity, impl
        self._rings = [Ring.create(capacity, impl) for _ in range(n)]
        self._tx = [r.producer() for r in self._rings]
        for tx in self._tx:
            # This process produces from the start: a consumer started before its first
            # job must still see it die (an unclaimed end reads as "not yet known": alive).
            tx.claim()

    def __len__(self) -> int:
        return len(self._rings)

    def consumer(self, i: int) -> Consumer:
        """The handle worker ``i`` reads from (pass it to the worker process)."""
        return self._rings[i].consumer()

    def bind(self, i: int, pid: int) -> None:
        """Tell ring ``i`` that process ``pid`` consumes it (right after starting it)."""
        self._rings[i].consumer().bind(pid)

    def put_many(self, i: int, records: Sequence[bytes], timeout: float | None = None) -> None:
        try:
            self._tx[i].put_many(records, timeout)
        except RingError as exc:
            exc.index = i
            raise

    def put(self, i: int, record: bytes, timeout: float | None = None) -> None:
        self.put_many(i, (record,), timeout)

    def free(self, i: int) -> int:
        """Bytes free in ring ``i`` now."""
        return self._rings[i].capacity - self._rings[i].used()

    def least_loaded(self) -> int:
        return max(range(len(self._rings)), key=self.free)

    def replace(self, i: int) -> Consumer:
        """Retire ring ``i`` (its consumer died) and return a fresh ring's consumer."""
        old = self._rings[i]
        self._rings[i] = Ring.create(self._capacity, self._impl)
        self._tx[i] = self._rings[i].producer()
        self._tx[i].claim()
        old.close()
        return self._rings[i].consumer()

    def close(self) -> None:
        """End of stream on every ring: each consumer drains, then gets Closed."""
        for tx in self._tx:
            tx.close()

    def release(self) -> None:
        """Unmap and unlink every ring (after the consumers are done)."""
        for r in self._rings:
            r.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class FanInProducer(Producer):
    """A producer whose every publish also rings its fan-in's doorbell."""

    def __init__(self, ring: Ring, bell_name: str, bell=None):
        super().__init__(ring)
        self._bell_name = bell_name
        if bell is None:
            bell_mm = _shm.attach(bell_name)
            bell = ring._mod.Bell(bell_mm)
            weakref.finalize(self, release_mapping, bell, bell_mm, None, 0)
        self._bell = bell

    def __reduce__(self):
        return (FanInProducer, (self.ring, self._bell_name))


class FanIn:
    """``n`` producers (workers) feeding one consumer (this process)."""

    def __init__(self, n: int, capacity: int = DEFAULT_CAPACITY, impl: str | None = None):
        self._capacity, self._impl = capacity, impl
        self._bell_name, bell_mm = _shm.create(L.BELL_BYTES)
        self._bell = by_name(impl).Bell(bell_mm)
        self._bell_fin = weakref.finalize(self, release_mapping, self._bell, bell_mm,
                                          self._bell_name, _shm.me()[0])
        self._rings = [Ring.create(capacity, impl) for _ in range(n)]
        self._rx = [r.consumer() for r in self._rings]
        for rx in self._rx:
            rx.claim()                    # so a producer sees this process die, read or not
        self._done = [False] * n          # closed, or died and reported
        self._next = 0
        self._woken = False

    def __len__(self) -> int:
        return len(self._rings)

    def producer(self, i: int) -> FanInProducer:
        """The handle worker ``i`` writes to (pass it to the worker process)."""
        return FanInProducer(self._rings[i], self._bell_name,
                             self._bell)

    def bind(self, i: int, pid: int) -> None:
        self._rings[i].producer().bind(pid)

    def replace(self, i: int) -> FanInProducer:
        """Retire ring ``i`` (its producer died) and return a fresh ring's producer."""
        old = self._rings[i]
        self._rings[i] = Ring.create(self._capacity, self._impl)
        self._rx[i] = self._rings[i].consumer()
        self._rx[i].claim()
        self._done[i] = False
        old.close()
        return self.producer(i)

    def _drain(self, max_records: int, max_bytes: int) -> list[bytes]:
        out: list[bytes] = []
        n = len(self._rx)
        start = self._next
        self._next = (start + 1) % n
        for k in range(n):
            i = (start + k) % n
            if self._done[i]:
                continue
            got = self._rx[i]._core.try_get_many(max_records - len(out), max_bytes)
            if got:
                out += got
                if len(out) >= max_records:
                    break
        return out

    def wake(self) -> None:
        """Make a ``get_many`` of this process (another thread's, waiting or about to) return
        at once: with records if there are some, else with Empty. So its reader can sleep
        long and still take other work (new jobs) the moment it comes."""
        self._woken = True
        self._bell.ring()

    def _ready(self) -> bool:
        return self._woken or any(
            not done and (rx._core.used() or rx._core.load(L.PROD_CLOSED))
            for rx, done in zip(self._rx, self._done, strict=True))

    def get_many(self, max_records: int = 1 << 16, max_bytes: int = DEFAULT_MAX_BYTES,
                 timeout: float | None = None) -> list[bytes]:
        """Records from any producer (per producer in order), at least one.

        Raises PeerDied with ``index`` once per producer that died (after all it
        published was delivered), Closed when every producer closed, Empty on
        timeout.
        """
        for rx in self._rx:
            if rx._claimed != _shm.me()[0]:
                rx.claim()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            out = self._drain(max_records, max_bytes)
            if out:
                return out
            if self._woken:
                self._woken = False
                raise Empty("woken: the reader has other work")
            for i, rx in enumerate(self._rx):
                if self._done[i] or rx._core.used():
                    continue
                if rx._core.load(L.PROD_CLOSED):
                    self._done[i] = True
                elif not rx.peer_alive():
                    self._done[i] = True
                    raise PeerDied(f"producer {i} (pid {rx.peer_pid()}) died", index=i)
            if all(self._done):
                raise Closed("end of stream: every producer closed")
            left = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
            if left <= 0:
                raise Empty(f"no record for {timeout} s")
            self._bell.wait(left, self._ready)

    def release(self) -> None:
        for r in self._rings:
            r.close()
        self._bell_fin()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
