"""Bounded single-producer/single-consumer ring of byte records in shared memory.

    ring = Ring.create(capacity=1 << 20)       # this process owns the segment
    tx = ring.producer()                       # use here ...
    rx = ring.consumer()                       # ... and hand this to a child process
    tx.put_many([b"a", b"bc"]); tx.close()     # close = end of stream
    rx.get_many()  -> [b"a", b"bc"];  rx.get_many() raises Closed

Records are 0 .. ``ring.max_record`` bytes and come out in order, each exactly
once.  Blocking calls sleep on a futex (no busy loop), wake in slices of
``SLICE`` seconds to check that the process on the other side still lives, and
raise ``PeerDied`` when it does not.  A ``Full`` / ``Closed`` / ``PeerDied`` from
``put_many`` carries ``sent``: how many records of that call were published, so
the caller knows exactly what to re-send elsewhere.

Endpoints and rings pickle by segment name, so they pass to ``spawn`` children;
``fork`` children simply inherit them.  An endpoint claims its role (records its
pid in the header, for the peer's liveness checks) on first use, or when the
parent calls ``bind(pid)`` for a child it started.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Sequence

from . import _layout as L
from . import _shm
from ._impl import by_name
from .errors import Closed, Empty, Full, PeerDied, RingError

SLICE = 0.1            # seconds between peer-liveness checks while blocked
DEFAULT_CAPACITY = 1 << 20
DEFAULT_MAX_BYTES = 64 * 1024   # per get_many call (see Consumer.get_many)


def release_mapping(core, mm, name, owner_pid):
    """Drop a core's view, unmap, and unlink ``name`` if this process created it."""
    core.release()
    with contextlib.suppress(BufferError, ValueError):
        mm.close()
    if name is not None and _shm.me()[0] == owner_pid:
        _shm.unlink(name)


class Ring:
    """A handle on one ring segment (see the module docstring)."""

    def __init__(self, name: str, mm, core_mod, owner: bool):
        self.name = name
        self._mm = mm
        self._mod = core_mod
        if len(mm) < L.HEADER_BYTES + 16:
            size = len(mm)
            mm.close()
            raise RingError(f"{name} is not a tgarc ring (only {size} bytes)")
        self.core = core_mod.RingCore(mm)
        if not owner and (self.core.load(L.MAGIC_SLOT) != L.MAGIC
                          or self.core.capacity + L.HEADER_BYTES != len(mm)):
            self.core.release()
            mm.close()
            raise RingError(f"{name} is not a tgarc ring (bad header)")
        self.owner = owner
        self._finalizer = weakref.finalize(
            self, release_mapping, self.core, mm, name if owner else None, _shm.me()[0])

    @classmethod
    def create(cls, capacity: int = DEFAULT_CAPACITY, impl: str | None = None) -> Ring:
        """A new ring holding ``capacity`` bytes of records (rounded up to 8;
        each record takes 8 bytes of header plus its payload rounded up to 8)."""
        if capacity < 16:
            raise ValueError("ring capacity must be at least 16 bytes")
        capacity = (capacity + 7) & ~7
        name, mm = _shm.create(L.HEADER_BYTES + capacity)
        ring = cls(name, mm, by_name(impl), owner=True)
        pid, start = _shm.me()
        ring.core.store(L.CREATOR_PID, pid)
        ring.core.store(L.CREATOR_START, start)
        ring.core.format(capacity, L.MAGIC)
        return ring

    @classmethod
    def attach(cls, name: str, impl: str | None = None) -> Ring:
        """Map an existing ring by name (what unpickling does)."""
        try:
            mm = _shm.attach(name)
        except FileNotFoundError:
            raise RingError(f"ring {name} no longer exists (its creator closed it)") from None
        return cls(name, mm, by_name(impl), owner=False)

    def __reduce__(self):
        return (Ring.attach, (self.name, self._mod.IMPLEMENTATION))

    @property
    def implementation(self) -> str:
        return self._mod.IMPLEMENTATION

    @property
    def capacity(self) -> int:
        return self.core.capacity

    @property
    def max_record(self) -> int:
        """Largest record this ring carries; a larger one raises RecordTooLarge."""
        return self.core.max_record

    def used(self) -> int:
        """Bytes of records (with their headers) waiting to be read."""
        return self.core.used()

    def producer(self) -> Producer:
        return Producer(self)

    def consumer(self) -> Consumer:
        return Consumer(self)

    def unlink(self) -> None:
        """Remove the name now; mappings stay valid in every process."""
        _shm.unlink(self.name)

    def close(self) -> None:
        """Unmap in this process (and unlink the name if this process created it)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Endpoint:
    _SLOTS: tuple[int, int]
    _PEER: tuple[int, int]
    _ROLE: str

    def __init__(self, ring: Ring):
        self.ring = ring
        self._core = ring.core
        self._claimed = 0
        self._bell = None

    def __reduce__(self):
        return (type(self), (self.ring,))

    def bind(self, pid: int) -> None:
        """Record ``pid`` (a child this process started) as this end's process,
        so the peer can watch it before the child's first call."""
        if self._core.load(self._SLOTS[0]) == pid:
            return                      # the child claimed its end already
        # A child that already exited is recorded with start time 0: dead to the peer.
        start = _shm.process_start(pid) or 0
        self._core.store(self._SLOTS[0], pid)
        self._core.store(self._SLOTS[1], start)

    def claim(self) -> None:
        """Record this process as this end of the ring (done on first use)."""
        pid, start = _shm.me()
        if self._claimed == pid:
            return
        other = self._core.load(self._SLOTS[0])
        if other not in (0, pid) and _shm.alive(other, self._core.load(self._SLOTS[1])):
            raise RingError(f"ring {self.ring.name} already has a live {self._ROLE} (pid {other})")
        self._core.store(self._SLOTS[0], pid)
        self._core.store(self._SLOTS[1], start)
        self._claimed = pid

    def peer_pid(self) -> int:
        return self._core.load(self._PEER[0])

    def peer_alive(self) -> bool:
        """False once the peer is known to have died; True while alive or not yet known."""
        pid = self._core.load(self._PEER[0])
        return pid == 0 or _shm.alive(pid, self._core.load(self._PEER[1]))

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + max(0.0, timeout)

    @staticmethod
    def _left(deadline: float | None) -> float:
        return SLICE if deadline is None else min(SLICE, deadline - time.monotonic())


class Producer(_Endpoint):
    """The writing end of a ring."""

    def __init__(self, ring: Ring):
        super().__init__(ring)
        self._refill = min(ring.capacity // 8, 256 * 1024)

    _SLOTS = (L.PRODUCER_PID, L.PRODUCER_START)
    _PEER = (L.CONSUMER_PID, L.CONSUMER_START)
    _ROLE = "producer"

    def put(self, record: bytes, timeout: float | None = None) -> None:
        self.put_many((record,), timeout)

    def put_many(self, records: Sequence[bytes], timeout: float | None = None) -> None:
        """Publish every record in order, blocking while the ring is full.

        ``timeout`` None waits as long as the consumer lives; 0 never blocks.
        Raises Full, Closed (consumer closed) or PeerDied (consumer died), each
        with ``sent`` = records of this call already published; RecordTooLarge
        before publishing any record from the oversized one on.
        """
        core = self._core
        if self._claimed != _shm.me()[0]:
            self.claim()
        if core.load(L.CONS_CLOSED):
            raise Closed("the consumer closed this ring", sent=0)
        if core.load(L.PROD_CLOSED):
            raise Closed("this ring's producer end is closed", sent=0)
        n = len(records)
        sent = core.try_put_many(records, 0)
        if sent == n:
            if self._bell is not None:
                self._bell.ring()
            return
        deadline = self._deadline(timeout)
        while True:
            if sent and self._bell is not None:
                self._bell.ring()
            if sent == n:
                return
            if core.load(L.CONS_CLOSED):
                raise Closed("the consumer closed this ring", sent=sent)
            left = self._left(deadline)
            # Wait for a good share of the ring, not one record's worth: the
            # consumer frees space in steps anyway, and each wake-up costs more
            # than the copy it enables (the ring always drains, so this cannot stall).
            need = max(L.footprint(len(records[sent])), self._refill)
            if left > 0 and core.wait_space(need, left):
                sent += core.try_put_many(records, sent, False)
                continue
            if not self.peer_alive():
                raise PeerDied(f"the consumer (pid {self.peer_pid()}) died", sent=sent)
            if deadline is not None and time.monotonic() >= deadline:
                raise Full(f"ring stayed full for {timeout} s", sent=sent)

    def close(self) -> None:
        """End of stream: the consumer gets what was published, then Closed."""
        if not self.ring.closed:
            self._core.store(L.PROD_CLOSED, 1)
            self._core.notify(L.DATA_SEQ)
            if self._bell is not None:
                self._bell.ring()


class Consumer(_Endpoint):
    """The reading end of a ring."""

    _SLOTS = (L.CONSUMER_PID, L.CONSUMER_START)
    _PEER = (L.PRODUCER_PID, L.PRODUCER_START)
    _ROLE = "consumer"

    def get(self, timeout: float | None = None) -> bytes:
        return self.get_many(1, timeout=timeout)[0]

    def get_many(self, max_records: int = 1 << 16, max_bytes: int = DEFAULT_MAX_BYTES,
                 timeout: float | None = None) -> list[bytes]:
        """Take the records that are there (at least one), blocking while empty.

        Returns at most ``max_records`` records, stopping before ``max_bytes``
        of payload unless that would return none. The 64 KiB default keeps each
        call's allocations under glibc's trim threshold: taking megabytes at once
        made every call page-fault its memory back in (bench: 32 KB records went
        from 0.9 to 6.6 GB/s).  Raises Empty on timeout,
        Closed once the producer closed and everything was delivered, PeerDied
        once the producer died and everything it published was delivered.
        """
        core = self._core
        if self._claimed != _shm.me()[0]:
            self.claim()
        out = core.try_get_many(max_records, max_bytes)
        if out:
            return out
        deadline = self._deadline(timeout)
        while True:
            if core.load(L.PROD_CLOSED):
                # the flag is stored after the last record is published: read again
                out = core.try_get_many(max_records, max_bytes)
                if out:
                    return out
                raise Closed("end of stream: the producer closed this ring")
            left = self._left(deadline)
            if left > 0 and core.wait_data(left):
                out = core.try_get_many(max_records, max_bytes)
                if out:
                    return out
                continue
            if not self.peer_alive():
                out = core.try_get_many(max_records, max_bytes)
                if out:
                    return out
                raise PeerDied(f"the producer (pid {self.peer_pid()}) died")
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty(f"ring stayed empty for {timeout} s")

    def close(self) -> None:
        """Stop reading: the producer's next put raises Closed."""
        if not self.ring.closed:
            self._core.store(L.CONS_CLOSED, 1)
            self._core.notify(L.SPACE_SEQ)
