/* ring_core.h -- the lock-free core of tgarc's single-producer/single-consumer
 * shared-memory ring.  Plain C with GCC __atomic builtins and the Linux futex
 * syscall; no Python here.  native/ring.pxd declares these functions and
 * native/ring.pyx drives them (converting arguments, dropping the GIL).
 *
 * The byte layout is shared with the pure-Python twin (engine/transport/_pyring.py),
 * documented in docs/transport.md.  All header fields are 64-bit slots; the
 * futex words are the low 32 bits of their slot (little-endian).
 */
#ifndef TGARC_RING_CORE_H
#define TGARC_RING_CORE_H

#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>

/* slot indices (uint64_t units) -- keep in sync with _layout.py */
#define RC_MAGIC            0
#define RC_CAPACITY         1
#define RC_HEAD             8    /* bytes ever published; written by the producer */
#define RC_TAIL            16    /* bytes ever consumed;  written by the consumer */
#define RC_PROD_CLOSED     24
#define RC_CONS_CLOSED     25
#define RC_DATA_SEQ        32    /* eventcount: "data was published" */
#define RC_DATA_WAITING    33
#define RC_SPACE_SEQ       40    /* eventcount: "space was freed" */
#define RC_SPACE_WAITING   41
#define RC_HEADER_BYTES   512
#define RC_REC_HDR          8    /* u32 length + u32 reserved before each record */

static inline uint64_t rc_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void rc_store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int64_t rc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static inline uint64_t rc_footprint(uint64_t n) { return RC_REC_HDR + ((n + 7u) & ~(uint64_t)7u); }

/* ---- eventcount on a (seq, waiting) pair of slots -------------------------
 * Waiter:   seq = rc_ec_prepare(ec); if (!condition) rc_ec_wait(ec, seq, t); rc_ec_done(ec)
 * Notifier: change the condition (release store), then rc_ec_notify(ec).
 * The seq_cst fences make "waiter announces, then re-checks" and "notifier
 * publishes, then checks for a waiter" a Dekker pair: one of them always sees
 * the other, so no wake-up is lost. */
static inline uint32_t rc_ec_prepare(uint64_t *ec) {
    uint32_t seq = __atomic_load_n((uint32_t *)&ec[0], __ATOMIC_ACQUIRE);
    __atomic_store_n(&ec[1], 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return seq;
}
static inline void rc_ec_done(uint64_t *ec) { __atomic_store_n(&ec[1], 0, __ATOMIC_RELAXED); }

/* Returns 0 when woken or the word changed, ETIMEDOUT after timeout_ns,
 * EINTR when a signal arrived. */
static inline int rc_ec_wait(uint64_t *ec, uint32_t seq, int64_t timeout_ns) {
    struct timespec ts;
    ts.tv_sec = timeout_ns / 1000000000LL;
    ts.tv_nsec = timeout_ns % 1000000000LL;
    long r = syscall(SYS_futex, (uint32_t *)&ec[0], FUTEX_WAIT, seq, &ts, NULL, 0);
    if (r == 0) return 0;
    if (errno == EAGAIN) return 0;
    return errno;
}
static inline void rc_ec_notify(uint64_t *ec) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ec[1], __ATOMIC_RELAXED)) {
        __atomic_fetch_add((uint32_t *)&ec[0], 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, (uint32_t *)&ec[0], FUTEX_WAKE, 1, NULL, NULL, 0);
    }
}

/* ---- data copies across the wrap point ------------------------------------ */
static inline void rc_copy_in(char *data, uint64_t cap, uint64_t pos, const char *src, uint64_t n) {
    uint64_t off = pos % cap;
    uint64_t first = cap - off;
    if (first >= n) { memcpy(data + off, src, n); return; }
    memcpy(data + off, src, first);
    memcpy(data, src + first, n - first);
}
static inline void rc_copy_out(const char *data, uint64_t cap, uint64_t pos, char *dst, uint64_t n) {
    uint64_t off = pos % cap;
    uint64_t first = cap - off;
    if (first >= n) { memcpy(dst, data + off, n); return; }
    memcpy(dst, data + off, first);
    memcpy(dst + first, data, n - first);
}
static inline void rc_write_len(char *data, uint64_t cap, uint64_t pos, uint64_t n) {
    uint64_t hdr = (uint32_t)n;           /* reserved half stays zero */
    memcpy(data + (pos % cap), &hdr, 8);  /* 8-aligned: never straddles the wrap */
}
static inline uint64_t rc_read_len(const char *data, uint64_t cap, uint64_t pos) {
    uint64_t hdr;
    memcpy(&hdr, data + (pos % cap), 8);
    return hdr & 0xffffffffu;
}

#endif
