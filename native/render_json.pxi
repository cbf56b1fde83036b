# ---------------------------------------------------------------- JSON writer (UTF-8)

cdef struct W:
    char *p
    Py_ssize_t n
    Py_ssize_t cap
    bint heap           # p is malloc'd (else the caller's stack buffer)
    bint bail           # the twin renders this message

cdef inline void w_init(W *w, char *stack, Py_ssize_t size) noexcept:
    w.p = stack
    w.n = 0
    w.cap = size
    w.heap = False
    w.bail = False

cdef inline void w_free(W *w) noexcept:
    if w.heap:
        free(w.p)
        w.heap = False

cdef int w_grow(W *w, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = w.cap * 2
    cdef char *p
    if cap < w.n + need:
        cap = w.n + need + 1024
    if w.heap:
        p = <char *>realloc(w.p, cap)
    else:
        p = <char *>malloc(cap)
        if p != NULL:
            memcpy(p, w.p, w.n)
    if p == NULL:
        raise MemoryError()
    w.p = p
    w.cap = cap
    w.heap = True
    return 0

cdef enum:
    WBUF = 8192         # a fragment up to this size never touches the heap

cdef inline int w_res(W *w, Py_ssize_t need) except -1:
    if w.n + need > w.cap:
        w_grow(w, need)
    return 0

cdef inline int w_lit(W *w, const char *s) except -1:
    cdef Py_ssize_t k = strlen(s)
    w_res(w, k)
    memcpy(w.p + w.n, s, k)
    w.n += k
    return 0

cdef inline int w_char(W *w, char c) except -1:
    w_res(w, 1)
    w.p[w.n] = c
    w.n += 1
    return 0

cdef int w_int(W *w, long long v) except -1:
    cdef char tmp[24]
    cdef int k = 0
    cdef unsigned long long u = <unsigned long long>(-v) if v < 0 else <unsigned long long>v
    w_res(w, 24)
    if v < 0:
        w.p[w.n] = 45
        w.n += 1
    while True:
        tmp[k] = <char>(48 + u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    while k:
        k -= 1
        w.p[w.n] = tmp[k]
        w.n += 1
    return 0

# JSON escapes as orjson writes them: 1 short form, 2 \u00XX (lowercase hex)
cdef unsigned char JESC[128]
for _i in range(128):
    JESC[_i] = 2 if _i < 0x20 else 0
for _c in (8, 9, 10, 12, 13, 34, 92):
    JESC[_c] = 1
cdef const char *JSHORT = b"01234567btn0fr"      # index by the control code (8..13)
cdef const char *LHEX = b"0123456789abcdef"

cdef int w_slice(W *w, object s, Py_ssize_t a, Py_ssize_t b) except -1:
    """JSON string of s[a:b] (s an exact str): one loop per string kind, ASCII copied as is."""
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef const unsigned char *u1
    cdef const unsigned short *u2
    cdef const U4 *u4
    cdef Py_ssize_t i, j, n
    cdef unsigned char *p
    cdef U4 c
    w_res(w, 6 * (b - a) + 2)
    p = <unsigned char *>w.p
    n = w.n
    p[n] = 34
    n += 1
    if kind == 1:
        u1 = <const unsigned char *>data
        i = a
        while i < b:
            j = i
            while j < b and u1[j] < 0x80 and JESC[u1[j]] == 0:
                j += 1
            if j > i:
                memcpy(p + n, u1 + i, j - i)
                n += j - i
                i = j
            if i < b:
                n = put_json(p, n, u1[i], &w.bail)
                i += 1
    elif kind == 2:
        u2 = <const unsigned short *>data
        for i in range(a, b):
            c = u2[i]
            if c < 0x80 and JESC[c] == 0:
                p[n] = <unsigned char>c
                n += 1
            else:
                n = put_json(p, n, c, &w.bail)
    else:
        u4 = <const U4 *>data
        for i in range(a, b):
            c = u4[i]
            if c < 0x80 and JESC[c] == 0:
                p[n] = <unsigned char>c
                n += 1
            else:
                n = put_json(p, n, c, &w.bail)
    p[n] = 34
    w.n = n + 1
    return 0

cdef inline Py_ssize_t put_json(unsigned char *p, Py_ssize_t n, U4 c, bint *bail) noexcept:
    """One code point, JSON-escaped as orjson does and UTF-8 encoded, at p[n] (6 bytes
    reserved); returns the new end."""
    if c < 0x80:
        if JESC[c] == 0:
            p[n] = <unsigned char>c
            return n + 1
        p[n] = 92
        if JESC[c] == 1:
            p[n + 1] = <unsigned char>(c if c == 34 or c == 92 else JSHORT[c])
            return n + 2
        p[n + 1] = 117
        p[n + 2] = 48
        p[n + 3] = 48
        p[n + 4] = LHEX[c >> 4]
        p[n + 5] = LHEX[c & 15]
        return n + 6
    if c < 0x800:
        p[n] = <unsigned char>(0xC0 | (c >> 6))
        p[n + 1] = <unsigned char>(0x80 | (c & 0x3F))
        return n + 2
    if c < 0x10000:
        if 0xD800 <= c <= 0xDFFF:       # orjson refuses lone surrogates; so does the twin
            bail[0] = True
        p[n] = <unsigned char>(0xE0 | (c >> 12))
        p[n + 1] = <unsigned char>(0x80 | ((c >> 6) & 0x3F))
        p[n + 2] = <unsigned char>(0x80 | (c & 0x3F))
        return n + 3
    p[n] = <unsigned char>(0xF0 | (c >> 18))
    p[n + 1] = <unsigned char>(0x80 | ((c >> 12) & 0x3F))
    p[n + 2] = <unsigned char>(0x80 | ((c >> 6) & 0x3F))
    p[n + 3] = <unsigned char>(0x80 | (c & 0x3F))
    return n + 4

cdef object _orjson_dumps = orjson.dumps

cdef int w_val(W *w, object o) except -1:
    """A scalar field value as orjson writes it; anything else bails."""
    cdef long long v
    cdef int ov
    cdef bytes b
    if o is None:
        return w_lit(w, b"null")
    if o is True:
        return w_lit(w, b"true")
    if o is False:
        return w_lit(w, b"false")
    if PyUnicode_CheckExact(o):
        return w_slice(w, o, 0, PyUnicode_GET_LENGTH(o))
    if PyLong_CheckExact(o):
        v = PyLong_AsLongLongAndOverflow(o, &ov)
        if ov == 0:
            return w_int(w, v)
    elif PyFloat_CheckExact(o):
        b = _orjson_dumps(o)
        w_res(w, PyBytes_GET_SIZE(b))
        memcpy(w.p + w.n, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        w.n += PyBytes_GET_SIZE(b)
        return 0
    w.bail = True
    return 0

cdef inline int w_key(W *w, const char *k) except -1:
    ""","k":"""
    cdef Py_ssize_t n = strlen(k)
    w_res(w, n + 4)
    w.p[w.n] = 44
    w.p[w.n + 1] = 34
    memcpy(w.p + w.n + 2, k, n)
    w.p[w.n + n + 2] = 34
    w.p[w.n + n + 3] = 58
    w.n += n + 4
    return 0

cdef int w_peer_id(W *w, Ref *r) except -1:
    """peer_id(ref): "user123" (r is not None)."""
    w_char(w, 34)
    w_lit(w, PEER_KIND[r.kind])
    w_int(w, r.id)
    return w_char(w, 34)

cdef int w_stamp(W *w, object clock, long long ts) except -1:
    """LocalClock.stamp: "YYYY-MM-DDTHH:MM:SS"."""
    cdef Stamp s
    cdef char tmp[32]
    stamp_of(clock, ts, &s)
    if not year_ok(&s):
        w.bail = True
        return 0
    tmp[0] = 34
    tmp[1] = <char>(48 + s.year // 1000)
    tmp[2] = <char>(48 + s.year // 100 % 10)
    tmp[3] = <char>(48 + s.year // 10 % 10)
    tmp[4] = <char>(48 + s.year % 10)
    tmp[5] = 45
    tmp[6] = <char>(48 + s.month // 10)
    tmp[7] = <char>(48 + s.month % 10)
    tmp[8] = 45
    tmp[9] = <char>(48 + s.day // 10)
    tmp[10] = <char>(48 + s.day % 10)
    tmp[11] = 84
    tmp[12] = <char>(48 + s.hour // 10)
    tmp[13] = <char>(48 + s.hour % 10)
    tmp[14] = 58
    tmp[15] = <char>(48 + s.minute // 10)
    tmp[16] = <char>(48 + s.minute % 10)
    tmp[17] = 58
    tmp[18] = <char>(48 + s.second // 10)
    tmp[19] = <char>(48 + s.second % 10)
    tmp[20] = 34
    w_res(w, 21)
    memcpy(w.p + w.n, tmp, 21)
    w.n += 21
    return 0

