# Declarations only: the C core lives in ring_core.h (see STYLE.md: the .pxd
# declares, the .pyx converts arguments and drops the GIL around the core).
from libc.stdint cimport uint32_t, uint64_t, int64_t

cdef extern from "ring_core.h" nogil:
    int RC_MAGIC, RC_CAPACITY, RC_HEAD, RC_TAIL, RC_PROD_CLOSED, RC_CONS_CLOSED
    int RC_DATA_SEQ, RC_SPACE_SEQ, RC_HEADER_BYTES, RC_REC_HDR
    uint64_t rc_load(const uint64_t *p)
    void rc_store(uint64_t *p, uint64_t v)
    uint64_t rc_footprint(uint64_t n)
    int64_t rc_now_ns()
    uint32_t rc_ec_prepare(uint64_t *ec)
    void rc_ec_done(uint64_t *ec)
    int rc_ec_wait(uint64_t *ec, uint32_t seq, int64_t timeout_ns)
    void rc_ec_notify(uint64_t *ec)
    void rc_copy_in(char *data, uint64_t cap, uint64_t pos, const char *src, uint64_t n)
    void rc_copy_out(const char *data, uint64_t cap, uint64_t pos, char *dst, uint64_t n)
    void rc_write_len(char *data, uint64_t cap, uint64_t pos, uint64_t n)
    uint64_t rc_read_len(const char *data, uint64_t cap, uint64_t pos)
