# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Native core of the shared-memory SPSC ring (see engine/transport/_pyring.py
for the pure-Python twin with the same interface and byte layout).

Only the data path and the waits live here; blocking policy, timeouts, peer
liveness and segment lifetime are shared Python code in engine/transport/ring.py.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_CheckExact
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.stdint cimport uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.errno cimport EINTR

from ring_core cimport *

from engine.transport.errors import RecordTooLarge

IMPLEMENTATION = "native"

# Copies at least this large run with the GIL released; below it the
# release/re-acquire costs more than it frees.
cdef uint64_t NOGIL_COPY_BYTES = 64 * 1024
# Within one large batch, publish progress this often so the peer can start
# copying while we still do (the two copies overlap instead of taking turns).
cdef uint64_t PUBLISH_EVERY = 256 * 1024


cdef inline bytes as_bytes(object rec):
    if PyBytes_CheckExact(rec):
        return <bytes>rec
    return bytes(memoryview(rec).cast("B"))


cdef class _Mapped:
    cdef Py_buffer view
    cdef bint held
    cdef uint64_t *hdr

    def __cinit__(self, buf):
        PyObject_GetBuffer(buf, &self.view, PyBUF_WRITABLE | PyBUF_SIMPLE)
        self.held = True
        self.hdr = <uint64_t *>self.view.buf

    def release(self):
        """Drop the buffer export so the owner can close its mmap."""
        if self.held:
            PyBuffer_Release(&self.view)
            self.held = False
            self.hdr = NULL

    def __dealloc__(self):
        if self.held:
            PyBuffer_Release(&self.view)

    cdef inline void check(self) except *:
        if not self.held:
            raise ValueError("ring is closed in this process")

    def load(self, int slot):
        self.check()
        return rc_load(&self.hdr[slot])

    def store(self, int slot, uint64_t value):
        self.check()
        rc_store(&self.hdr[slot], value)

    def notify(self, int slot):
        """Wake a waiter of the eventcount at `slot`, if one announced itself."""
        self.check()
        rc_ec_notify(&self.hdr[slot])


cdef class Bell(_Mapped):
    """One eventcount in its own small segment: many notifiers, one waiter."""

    def wait(self, double timeout, check):
        """Sleep until notified, `check()` is true, or `timeout` seconds pass."""
        self.check()
        cdef uint64_t *ec = self.hdr
        cdef uint32_t seq = rc_ec_prepare(ec)
        if check():
            rc_ec_done(ec)
            return True
        with nogil:
            rc_ec_wait(ec, seq, <int64_t>(timeout * 1e9))
        rc_ec_done(ec)
        return False

    def ring(self):
        self.check()
        rc_ec_notify(self.hdr)


cdef class RingCore(_Mapped):
    cdef char *data
    cdef uint64_t cap

    def __init__(self, buf):
        self.data = <char *>self.view.buf + RC_HEADER_BYTES
        self.cap = 0
        if self.hdr[RC_CAPACITY]:
            self.cap = self.hdr[RC_CAPACITY]

    def format(self, uint64_t capacity, uint64_t magic):
        """Lay out a fresh header (creator only, before anyone else maps it)."""
        self.hdr[RC_CAPACITY] = capacity
        self.cap = capacity
        rc_store(&self.hdr[RC_MAGIC], magic)

    @property
    def capacity(self):
        return self.cap

    @property
    def max_record(self):
        return self.cap - RC_REC_HDR

    def used(self):
        self.check()
        return rc_load(&self.hdr[RC_HEAD]) - rc_load(&self.hdr[RC_TAIL])

    def try_put_many(self, records, Py_ssize_t start=0, bint check=True):
        """Copy records[start:] into the ring as far as they fit; publish once.

        Returns how many were written.  With ``check``, raises RecordTooLarge,
        before writing anything, if any remaining record could never fit; a retry
        of the same call passes check=False and stops scanning at the first
        record that does not fit now (no quadratic rescans of a big batch).
        """
        self.check()
        cdef Py_ssize_t n = len(records), i, k = 0
        cdef uint64_t cap = self.cap, maxrec = self.cap - RC_REC_HDR
        cdef uint64_t head = self.hdr[RC_HEAD]            # ours: no other writer
        cdef uint64_t tail = rc_load(&self.hdr[RC_TAIL])
        cdef uint64_t free_ = cap - (head - tail), need, total = 0, sz, published
        cdef bint fits = True
        cdef object rec
        cdef list conv = None
        for i in range(start, n):
            rec = records[i]
            if not PyBytes_CheckExact(rec):
                if conv is None:
                    conv = list(records)
                conv[i] = rec = as_bytes(rec)
            sz = <uint64_t>PyBytes_GET_SIZE(rec)
            if sz > maxrec:
                raise RecordTooLarge(
                    f"record {i} is {sz} bytes; this ring carries at most {maxrec}")
            if fits:
                need = rc_footprint(sz)
                if need <= free_:
                    free_ -= need
                    total += sz
                    k += 1
                else:
                    fits = False
                    if not check:
                        break
        if k == 0:
            return 0
        if conv is not None:
            records = conv
        cdef const char **src
        cdef uint64_t *lens
        cdef tuple keep
        if total < NOGIL_COPY_BYTES:
            for i in range(start, start + k):
                rec = records[i]
                sz = <uint64_t>PyBytes_GET_SIZE(rec)
                rc_write_len(self.data, cap, head, sz)
                rc_copy_in(self.data, cap, head + RC_REC_HDR, PyBytes_AS_STRING(rec), sz)
                head += rc_footprint(sz)
        else:
            keep = tuple(records[start:start + k])   # our own references while the GIL is away
            src = <const char **>malloc(k * sizeof(char *))
            lens = <uint64_t *>malloc(k * sizeof(uint64_t))
            if src == NULL or lens == NULL:
                free(src); free(lens)
                raise MemoryError()
            for i in range(k):
                src[i] = PyBytes_AS_STRING(keep[i])
                lens[i] = <uint64_t>PyBytes_GET_SIZE(keep[i])
            with nogil:
                published = head
                for i in range(k):
                    rc_write_len(self.data, cap, head, lens[i])
                    rc_copy_in(self.data, cap, head + RC_REC_HDR, src[i], lens[i])
                    head += rc_footprint(lens[i])
                    if head - published >= PUBLISH_EVERY:
                        rc_store(&self.hdr[RC_HEAD], head)
                        rc_ec_notify(&self.hdr[RC_DATA_SEQ])
                        published = head
            free(src); free(lens)
        rc_store(&self.hdr[RC_HEAD], head)
        rc_ec_notify(&self.hdr[RC_DATA_SEQ])
        return k

    def try_get_many(self, Py_ssize_t max_records, uint64_t max_bytes):
        """Take up to max_records records (and about max_bytes of payload; at
        least one record when any is there).  Returns a list, empty if none."""
        self.check()
        cdef uint64_t cap = self.cap
        cdef uint64_t tail = self.hdr[RC_TAIL]            # ours
        cdef uint64_t head = rc_load(&self.hdr[RC_HEAD])
        cdef uint64_t pos = tail, sz, total = 0, published
        cdef Py_ssize_t k = 0, i
        while pos != head and k < max_records:
            sz = rc_read_len(self.data, cap, pos)
            if k and total + sz > max_bytes:
                break
            total += sz
            pos += rc_footprint(sz)
            k += 1
        if k == 0:
            return []
        cdef list out = PyList_New(k)
        cdef object b
        cdef char **dst
        pos = tail
        if total < NOGIL_COPY_BYTES:
            for i in range(k):
                sz = rc_read_len(self.data, cap, pos)
                b = PyBytes_FromStringAndSize(NULL, sz)
                rc_copy_out(self.data, cap, pos + RC_REC_HDR, PyBytes_AS_STRING(b), sz)
                Py_INCREF(b)
                PyList_SET_ITEM(out, i, b)
                pos += rc_footprint(sz)
        else:
            dst = <char **>malloc(k * sizeof(char *))
            if dst == NULL:
                raise MemoryError()
            try:
                for i in range(k):
                    sz = rc_read_len(self.data, cap, pos)
                    b = PyBytes_FromStringAndSize(NULL, sz)
                    dst[i] = PyBytes_AS_STRING(b)
                    Py_INCREF(b)
                    PyList_SET_ITEM(out, i, b)
                    pos += rc_footprint(sz)
                pos = tail
                with nogil:
                    published = pos
                    for i in range(k):
                        sz = rc_read_len(self.data, cap, pos)
                        rc_copy_out(self.data, cap, pos + RC_REC_HDR, dst[i], sz)
                        pos += rc_footprint(sz)
                        if pos - published >= PUBLISH_EVERY:
                            rc_store(&self.hdr[RC_TAIL], pos)
                            rc_ec_notify(&self.hdr[RC_SPACE_SEQ])
                            published = pos
            finally:
                free(dst)
        rc_store(&self.hdr[RC_TAIL], pos)
        rc_ec_notify(&self.hdr[RC_SPACE_SEQ])
        return out

    def wait_data(self, double timeout):
        """Sleep (GIL released) until a record is there, the producer closed,
        or `timeout` seconds pass.  True if the ring is worth reading now."""
        self.check()
        cdef uint64_t *h = self.hdr
        cdef int64_t deadline = rc_now_ns() + <int64_t>(timeout * 1e9), left
        cdef uint32_t seq
        cdef int r
        cdef bint ready = False
        with nogil:
            while True:
                if rc_load(&h[RC_HEAD]) != h[RC_TAIL] or rc_load(&h[RC_PROD_CLOSED]):
                    ready = True
                    break
                left = deadline - rc_now_ns()
                if left <= 0:
                    break
                seq = rc_ec_prepare(&h[RC_DATA_SEQ])
                if rc_load(&h[RC_HEAD]) != h[RC_TAIL] or rc_load(&h[RC_PROD_CLOSED]):
                    rc_ec_done(&h[RC_DATA_SEQ])
                    ready = True
                    break
                r = rc_ec_wait(&h[RC_DATA_SEQ], seq, left)
                rc_ec_done(&h[RC_DATA_SEQ])
                if r == EINTR:
                    break          # let Python run its signal handlers
        return ready

    def wait_space(self, uint64_t need, double timeout):
        """Sleep (GIL released) until `need` bytes are free, the consumer
        closed, or `timeout` seconds pass.  True if worth writing now."""
        self.check()
        cdef uint64_t *h = self.hdr
        cdef uint64_t cap = self.cap
        cdef int64_t deadline = rc_now_ns() + <int64_t>(timeout * 1e9), left
        cdef uint32_t seq
        cdef int r
        cdef bint ready = False
        with nogil:
            while True:
                if cap - (h[RC_HEAD] - rc_load(&h[RC_TAIL])) >= need or rc_load(&h[RC_CONS_CLOSED]):
                    ready = True
                    break
                left = deadline - rc_now_ns()
                if left <= 0:
                    break
                seq = rc_ec_prepare(&h[RC_SPACE_SEQ])
                if cap - (h[RC_HEAD] - rc_load(&h[RC_TAIL])) >= need or rc_load(&h[RC_CONS_CLOSED]):
                    rc_ec_done(&h[RC_SPACE_SEQ])
                    ready = True
                    break
                r = rc_ec_wait(&h[RC_SPACE_SEQ], seq, left)
                rc_ec_done(&h[RC_SPACE_SEQ])
                if r == EINTR:
                    break
        return ready
