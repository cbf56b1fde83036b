# The native text core's output buffer (a growing UCS4 array) and its view of a text (UCS4,
# on the stack for ordinary messages).  Included by native/textcore.pxi; the pure twin
# (engine/text/_py*.py) builds Python strings instead and needs no counterpart.

cdef struct Buf:
    U4 *p
    Py_ssize_t n
    Py_ssize_t cap
    bint heap

cdef int buf_grow(Buf *b, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = b.cap * 2
    cdef U4 *p
    if cap < b.n + need:
        cap = b.n + need + 256
    if b.heap:
        p = <U4 *>realloc(b.p, cap * sizeof(U4))
    else:
        p = <U4 *>malloc(cap * sizeof(U4))
        if p != NULL:
            memcpy(p, b.p, b.n * sizeof(U4))
    if p == NULL:
        raise MemoryError()
    b.p = p
    b.cap = cap
    b.heap = True
    return 0

cdef inline int reserve(Buf *b, Py_ssize_t need) except -1:
    if b.n + need > b.cap:
        buf_grow(b, need)
    return 0

cdef inline void put(Buf *b, U4 c) noexcept:
    # callers reserve first
    b.p[b.n] = c
    b.n += 1

cdef inline void puts(Buf *b, const char *s) noexcept:
    while s[0]:
        b.p[b.n] = <unsigned char>s[0]
        b.n += 1
        s += 1

cdef int wstr(Buf *b, const char *s) except -1:
    cdef Py_ssize_t k = 0
    while s[k]:
        k += 1
    reserve(b, k)
    puts(b, s)
    return 0

cdef inline void put_dec(Buf *b, unsigned long v) noexcept:
    cdef char tmp[24]
    cdef int k = 0
    while True:
        tmp[k] = <char>(48 + v % 10)
        k += 1
        v //= 10
        if v == 0:
            break
    while k:
        k -= 1
        b.p[b.n] = <U4>tmp[k]
        b.n += 1

cdef inline void put_ref(Buf *b, U4 c) noexcept:
    # "&#N;"  (needs 12)
    b.p[b.n] = 38
    b.p[b.n + 1] = 35
    b.n += 2
    put_dec(b, c)
    b.p[b.n] = 59
    b.n += 1

cdef inline void put_pct(Buf *b, U4 c) noexcept:
    # UTF-8 percent-encoding (needs 12); only called for ASCII and BMP whitespace
    cdef unsigned char u[4]
    cdef int k, m
    if c < 0x80:
        u[0] = <unsigned char>c
        m = 1
    elif c < 0x800:
        u[0] = <unsigned char>(0xC0 | (c >> 6))
        u[1] = <unsigned char>(0x80 | (c & 0x3F))
        m = 2
    else:
        u[0] = <unsigned char>(0xE0 | (c >> 12))
        u[1] = <unsigned char>(0x80 | ((c >> 6) & 0x3F))
        u[2] = <unsigned char>(0x80 | (c & 0x3F))
        m = 3
    for k in range(m):
        b.p[b.n] = 37
        b.p[b.n + 1] = <unsigned char>HEX[u[k] >> 4]
        b.p[b.n + 2] = <unsigned char>HEX[u[k] & 15]
        b.n += 3

# ---------------------------------------------------------------- text view

cdef struct Text:
    U4 *t              # code points
    Py_ssize_t n
    bint heap

cdef int text_view(Text *v, object text, U4 *stackbuf) except -1:
    """A UCS4 view of `text`: its own data when it is 4-byte, else a copy."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    v.n = n
    v.heap = False
    if PyUnicode_KIND(text) == PyUnicode_4BYTE_KIND:
        v.t = <U4 *>PyUnicode_DATA(text)
        return 0
    if n + 1 <= STACK_UCS4:
        v.t = stackbuf
    else:
        v.t = <U4 *>malloc((n + 1) * sizeof(U4))
        if v.t == NULL:
            raise MemoryError()
        v.heap = True
    PyUnicode_AsUCS4(text, v.t, n + 1, 1)
    return 0
