"""Pure-Python twin of native/ring.pyx: same interface, same byte layout.

Used when the native build is missing (``tgarc doctor`` says which one is
loaded).  Header slots are read and written through ``memoryview.cast('Q')``:
one aligned 8-byte store that never tears, unlike ``struct.pack_into``, which
zero-fills before writing (../shared/FACTS.md).  Waits use the futex syscall
through ctypes, which releases the GIL.

Python has no memory fence, so the twin's eventcount can, rarely, miss a
wake-up that the native core (seq_cst fences) never misses; waits are sliced
(see ring.SLICE) so such a miss costs latency, never a hang.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import time

from . import _layout as L
from .errors import RecordTooLarge

IMPLEMENTATION = "pure"

_SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(os.uname().machine)
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1
_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _futex_wait(addr: int, seq: int, timeout: float) -> int:
    if _SYS_FUTEX is None:  # unknown architecture: a short sleep keeps the contract
        time.sleep(min(timeout, 0.001))
        return 0
    ts = _Timespec(int(timeout), int((timeout % 1) * 1e9))
    r = _syscall(_SYS_FUTEX, ctypes.c_void_p(addr), _FUTEX_WAIT, ctypes.c_uint(seq),
                 ctypes.byref(ts), None, 0)
    return 0 if r == 0 else ctypes.get_errno()


def _futex_wake(addr: int) -> None:
    if _SYS_FUTEX is not None:
        _syscall(_SYS_FUTEX, ctypes.c_void_p(addr), _FUTEX_WAKE, 1, None, None, 0)


class _Mapped:
    def __init__(self, buf):
        self._buf = memoryview(buf)
        self._q = self._buf[: min(len(self._buf), L.HEADER_BYTES)].cast("Q")
        self._u32 = self._q.cast("B").cast("I")
        anchor = ctypes.c_char.from_buffer(buf)
        self._addr = ctypes.addressof(anchor)
        del anchor                          # keep no buffer export but our memoryviews

    def release(self):
        if self._buf is not None:
            for view in self.__dict__.get("_dq"), self.__dict__.get("_data"):
                if view is not None:
                    view.release()
            self._u32.release()
            self._q.release()
            self._buf.release()
            self._buf = None

    def _check(self):
        if self._buf is None:
            raise ValueError("ring is closed in this process")

    def load(self, slot):
        self._check()
        return self._q[slot]

    def store(self, slot, value):
        self._check()
        self._q[slot] = value

    def _prepare(self, slot):
        seq = self._u32[slot * 2]
        self._q[slot + 1] = 1
        return seq

    def _wait(self, slot, seq, timeout):
        r = _futex_wait(self._addr + slot * 8, seq, timeout)
        self._q[slot + 1] = 0
        return r

    def notify(self, slot):
        self._check()
        if self._q[slot + 1]:
            self._u32[slot * 2] = (self._u32[slot * 2] + 1) & 0xFFFFFFFF
            _futex_wake(self._addr + slot * 8)


class Bell(_Mapped):
    """One eventcount in its own small segment: many notifiers, one waiter."""

    def wait(self, timeout, check):
        self._check()
        seq = self._prepare(0)
        if check():
            self._q[1] = 0
            return True
        self._wait(0, seq, timeout)
        return False

    def ring(self):
        self.notify(0)


class RingCore(_Mapped):
    def __init__(self, buf):
        super().__init__(buf)
        self._data = self._buf[L.HEADER_BYTES :]
        self._dq = self._data.cast("Q")    # record headers: 8-aligned, one slot each
        self._cap = self._q[L.CAPACITY]

    def format(self, capacity, magic):
        self._q[L.CAPACITY] = capacity
        self._cap = capacity
        self._q[L.MAGIC_SLOT] = magic

    @property
    def capacity(self):
        return self._cap

    @property
    def max_record(self):
        return self._cap - L.REC_HDR

    def used(self):
        self._check()
        return self._q[L.HEAD] - self._q[L.TAIL]

    def _copy_in(self, pos, rec):
        cap, data = self._cap, self._data
        off = pos % cap
        n = len(rec)
        first = cap - off
        if first >= n:
            data[off : off + n] = rec
        else:
            data[off:cap] = rec[:first]
            data[: n - first] = rec[first:]

    def _copy_out(self, pos, n):
        cap, data = self._cap, self._data
        off = pos % cap
        first = cap - off
        if first >= n:
            return data[off : off + n].tobytes()
        return data[off:cap].tobytes() + data[: n - first].tobytes()

    def try_put_many(self, records, start=0, check=True):
        self._check()
        q, cap, maxrec = self._q, self._cap, self._cap - L.REC_HDR
        head = q[L.HEAD]
        free = cap - (head - q[L.TAIL])
        if check:
            recs = [r if type(r) is bytes else memoryview(r).cast("B") for r in records[start:]]
            sizes = [len(r) for r in recs]
            if sizes and max(sizes) > maxrec:
                i = next(i for i, s in enumerate(sizes) if s > maxrec)
                raise RecordTooLarge(
                    f"record {start + i} is {sizes[i]} bytes; this ring carries at most {maxrec}")
        else:   # a retry: records were checked; look no further than what fits now
            recs = (r if type(r) is bytes else memoryview(r).cast("B")
                    for r in itertools.islice(records, start, None))
        k = 0
        cap, data = self._cap, self._data
        for rec in recs:
            n = len(rec)
            need = L.footprint(n)
            if need > free:
                break
            off = head % cap
            if off + L.REC_HDR + n <= cap:      # the usual case: no wrap
                self._dq[off >> 3] = n
                data[off + L.REC_HDR : off + L.REC_HDR + n] = rec
            else:
                self._dq[off >> 3] = n
                self._copy_in(head + L.REC_HDR, rec)
            head += need
            free -= need
            k += 1
        if k:
            q[L.HEAD] = head
            self.notify(L.DATA_SEQ)
        return k

    def try_get_many(self, max_records, max_bytes):
        self._check()
        q, cap, data = self._q, self._cap, self._data
        tail, head = q[L.TAIL], q[L.HEAD]
        out = []
        total = 0
        dq = self._dq
        while tail != head and len(out) < max_records:
            off = tail % cap
            n = dq[off >> 3] & 0xFFFFFFFF
            if out and total + n > max_bytes:
                break
            total += n
            start = off + L.REC_HDR
            if start + n <= cap:
                out.append(data[start : start + n].tobytes())
            else:
                out.append(self._copy_out(tail + L.REC_HDR, n))
            tail += L.footprint(n)
        if out:
            q[L.TAIL] = tail
            self.notify(L.SPACE_SEQ)
        return out

    def _sliced_wait(self, slot, ready, timeout):
        self._check()
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            seq = self._prepare(slot)
            if ready():
                self._q[slot + 1] = 0
                return True
            if self._wait(slot, seq, left) == errno.EINTR:
                return ready()

    def wait_data(self, timeout):
        q = self._q
        return self._sliced_wait(
            L.DATA_SEQ, lambda: q[L.HEAD] != q[L.TAIL] or q[L.PROD_CLOSED], timeout)

    def wait_space(self, need, timeout):
        q, cap = self._q, self._cap
        return self._sliced_wait(
            L.SPACE_SEQ, lambda: cap - (q[L.HEAD] - q[L.TAIL]) >= need or q[L.CONS_CLOSED],
            timeout)
