# The native text core, shared by native/text.pyx (engine._native.text: td_text, markdown)
# and native/render.pyx (engine._native.render: whole result.json fragments and vault
# notes), each of which includes it.  engine/text/_pytext.py is the pure-Python twin, the
# reference reading of the same rules; engine/text/__init__.py states them.
#
# All per-character work runs in C over a UCS4 view of the text and writes into a UCS4
# buffer (on the stack for ordinary messages); Python objects are made only for what is
# returned and for the rare entity arguments that need ``str()``/``int()``.

from cpython.object cimport PyObject
from cpython.long cimport PyLong_Check
from cpython.tuple cimport PyTuple_Check
from cpython.list cimport PyList_Check
from cpython.unicode cimport PyUnicode_Check
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memmove

from engine.model import kinds as _kinds

cdef extern from "Python.h":
    # Py_UCS4 under another name: Cython treats its own Py_UCS4 as a character and turns
    # arithmetic on it into Python str operations; this one stays a plain C integer.
    ctypedef unsigned int U4 "Py_UCS4"
    U4 *PyUnicode_AsUCS4(object u, U4 *buf, Py_ssize_t buflen, int copy_null) except NULL
    object PyUnicode_FromKindAndData(int kind, const void *buf, Py_ssize_t size)
    object PyUnicode_Substring(object u, Py_ssize_t start, Py_ssize_t end)
    int PyUnicode_KIND(object u)
    void *PyUnicode_DATA(object u)
    Py_ssize_t PyUnicode_GET_LENGTH(object u)
    U4 PyUnicode_READ(int kind, void *data, Py_ssize_t i)
    int PyUnicode_4BYTE_KIND
    bint Py_UNICODE_ISALNUM(U4 ch)
    bint Py_UNICODE_ISSPACE(U4 ch)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    object PySequence_Fast(object o, const char *msg)
    Py_ssize_t PySequence_Fast_GET_SIZE(object o)
    PyObject **PySequence_Fast_ITEMS(object o)
    Py_ssize_t Py_SIZE(object o)
    PyObject *PyTuple_GET_ITEM(object t, Py_ssize_t i)
    PyObject *PyList_GET_ITEM(object t, Py_ssize_t i)

# Kind codes: the C below compares against these; checked against engine.model.kinds at import.
cdef enum:
    K_UNKNOWN = 0
    K_MENTION = 1
    K_URL = 4
    K_EMAIL = 5
    K_BOLD = 6
    K_ITALIC = 7
    K_CODE = 8
    K_PRE = 9
    K_TEXT_URL = 10
    K_MENTION_NAME = 11
    K_UNDERLINE = 14
    K_STRIKE = 15
    K_BLOCKQUOTE = 16
    K_SPOILER = 18
    K_CUSTOM_EMOJI = 19
    K_COUNT = 20

for _name, _code in (("UNKNOWN", K_UNKNOWN), ("MENTION", K_MENTION), ("URL", K_URL),
                     ("EMAIL", K_EMAIL), ("BOLD", K_BOLD), ("ITALIC", K_ITALIC),
                     ("CODE", K_CODE), ("PRE", K_PRE), ("TEXT_URL", K_TEXT_URL),
                     ("MENTION_NAME", K_MENTION_NAME), ("UNDERLINE", K_UNDERLINE),
                     ("STRIKE", K_STRIKE), ("BLOCKQUOTE", K_BLOCKQUOTE),
                     ("SPOILER", K_SPOILER), ("CUSTOM_EMOJI", K_CUSTOM_EMOJI),
                     ("COUNT", K_COUNT)):
    if getattr(_kinds, _name) != _code:
        raise ImportError(f"engine._native.text was built for another kinds.py ({_name})")

cdef tuple TD_NAMES = tuple(_kinds.TD_NAMES)
cdef const char *HEX = b"0123456789ABCDEF"
cdef long long SAT = 1LL << 62
cdef enum:
    STACK_UCS4 = 4096       # texts and outputs up to this size never touch the heap
    STACK_ENTS = 64
    MAX_DEPTH = 16          # inline nesting: one level per group, so at most 9

# ---------------------------------------------------------------- output buffer

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

# ---------------------------------------------------------------- entities

cdef struct Ent:
    Py_ssize_t s
    Py_ssize_t e
    Py_ssize_t idx
    int kind
    PyObject *arg           # borrowed; `keep` holds a reference
    # markdown payload: link target = PREFIX[pre] + (pay or text)[pa:pb]; emoji id = pay
    PyObject *pay
    Py_ssize_t pa
    Py_ssize_t pb
    int pre

cdef struct Ents:
    Ent *a
    Py_ssize_t n
    Py_ssize_t cap
    bint heap

cdef int ents_push(Ents *v) except -1:
    cdef Ent *p
    cdef Py_ssize_t cap
    if v.n < v.cap:
        return 0
    cap = v.cap * 2 + 16
    if v.heap:
        p = <Ent *>realloc(v.a, cap * sizeof(Ent))
    else:
        p = <Ent *>malloc(cap * sizeof(Ent))
        if p != NULL:
            memcpy(p, v.a, v.n * sizeof(Ent))
    if p == NULL:
        raise MemoryError()
    v.a = p
    v.cap = cap
    v.heap = True
    return 0

cdef inline long long sat(long long v, int ov) noexcept:
    if ov > 0 or v > SAT:
        return SAT
    if ov < 0 or v < -SAT:
        return -SAT
    return v

cdef inline Py_ssize_t bisect_right(Py_ssize_t *a, Py_ssize_t n, Py_ssize_t x) noexcept:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo

cdef enum:
    ASTRAL_STACK = 128      # astral code points tracked without touching the heap

cdef struct Astral:
    # the astral code points of a text, for UTF-16 -> code point offsets
    Py_ssize_t n            # how many
    Py_ssize_t n16          # the text's length in UTF-16 code units
    Py_ssize_t *pos         # code point index of each
    Py_ssize_t *ends        # UTF-16 end of each
    Py_ssize_t cap
    bint heap
    Py_ssize_t stack_pos[ASTRAL_STACK]
    Py_ssize_t stack_ends[ASTRAL_STACK]

cdef int astral_init(Astral *a, object text) except -1:
    """Find the astral code points of `text`, in one pass (only a 4-byte str has any)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0, k = 0, end, cap = ASTRAL_STACK
    cdef const U4 *data
    cdef Py_ssize_t *pos = a.stack_pos
    cdef Py_ssize_t *ends = a.stack_ends
    a.heap = False
    if PyUnicode_KIND(text) == PyUnicode_4BYTE_KIND:
        data = <const U4 *>PyUnicode_DATA(text)
        while i < n:
            # 8 code points at a time: a block with no astral one (none has bits above 16)
            # is skipped whole, the others are looked at one by one
            end = i + 8
            if end <= n:
                if ((data[i] | data[i + 1] | data[i + 2] | data[i + 3] | data[i + 4]
                        | data[i + 5] | data[i + 6] | data[i + 7]) >> 16) == 0:
                    i = end
                    continue
            else:
                end = n
            while i < end:
                if data[i] > 0xFFFF:
                    if k == cap:
                        cap *= 4
                        pos = <Py_ssize_t *>astral_grow(a, pos, k, cap)
                        ends = <Py_ssize_t *>astral_grow(a, ends, k, cap)
                        a.heap = True
                    pos[k] = i
                    ends[k] = i + k + 2
                    k += 1
                i += 1
    a.n = k
    a.n16 = n + k
    a.pos = pos
    a.ends = ends
    return 0

cdef void *astral_grow(Astral *a, Py_ssize_t *p, Py_ssize_t k, Py_ssize_t cap) except NULL:
    cdef Py_ssize_t *q
    if a.heap:
        q = <Py_ssize_t *>realloc(p, cap * sizeof(Py_ssize_t))
    else:
        q = <Py_ssize_t *>malloc(cap * sizeof(Py_ssize_t))
        if q != NULL:
            memcpy(q, p, k * sizeof(Py_ssize_t))
    if q == NULL:
        raise MemoryError()
    return q

cdef inline void astral_free(Astral *a) noexcept:
    if a.heap:
        free(a.pos)
        free(a.ends)
        a.heap = False

cdef int push_ent(Ents *out, Astral *a, Py_ssize_t idx, object okind, object ooff,
                  object oln, object arg, list keep) except -1:
    """One entity (kind, offset, length, arg) of _pytext._normalize: dropped when its offset
    or length is not an int or it is empty once clipped, else appended in code points.
    `keep` (None: the caller holds every arg already) keeps `arg` alive."""
    cdef int kind, ov
    cdef long long off, ln, s16, e16, v
    cdef Py_ssize_t m, na = a.n
    cdef Ent *x
    if not PyLong_Check(ooff) or not PyLong_Check(oln):
        return 0
    kind = K_UNKNOWN
    if PyLong_Check(okind):
        v = PyLong_AsLongLongAndOverflow(okind, &ov)
        if ov == 0 and 0 <= v < K_COUNT:
            kind = <int>v
    v = PyLong_AsLongLongAndOverflow(ooff, &ov)
    off = sat(v, ov)
    v = PyLong_AsLongLongAndOverflow(oln, &ov)
    ln = sat(v, ov)
    s16 = off if off > 0 else 0
    e16 = off + ln
    if e16 > a.n16:
        e16 = a.n16
    if e16 <= s16:
        return 0
    ents_push(out)
    x = &out.a[out.n]
    out.n += 1
    if na:
        m = bisect_right(a.ends, na, <Py_ssize_t>s16)
        if m < na and a.ends[m] - 1 == s16:
            x.s = a.pos[m]
        else:
            x.s = <Py_ssize_t>s16 - m
        m = bisect_right(a.ends, na, <Py_ssize_t>e16)
        if m < na and a.ends[m] - 1 == e16:
            x.e = a.pos[m] + 1
        else:
            x.e = <Py_ssize_t>e16 - m
    else:
        x.s = <Py_ssize_t>s16
        x.e = <Py_ssize_t>e16
    x.idx = idx
    x.kind = kind
    if arg is not None and keep is not None:
        keep.append(arg)
    x.arg = <PyObject *>arg
    x.pay = NULL
    x.pa = x.pb = 0
    x.pre = 0
    return 0

cdef int normalize(Ents *out, object text, object entities, list keep) except -1:
    """engine/text/_pytext.py _normalize: entities clipped to code points, input order."""
    if entities is None:
        return 0
    cdef object seq = PySequence_Fast(entities, "entities must be iterable")
    cdef Py_ssize_t count = PySequence_Fast_GET_SIZE(seq), idx, size
    cdef PyObject **items = PySequence_Fast_ITEMS(seq)
    cdef object ent
    cdef Astral a
    if count == 0:
        return 0
    astral_init(&a, text)
    try:
        for idx in range(count):
            ent = <object>items[idx]
            if PyTuple_Check(ent):
                size = Py_SIZE(ent)
                if size < 3:
                    continue
                push_ent(out, &a, idx, <object>PyTuple_GET_ITEM(ent, 0),
                         <object>PyTuple_GET_ITEM(ent, 1), <object>PyTuple_GET_ITEM(ent, 2),
                         <object>PyTuple_GET_ITEM(ent, 3) if size > 3 else None, keep)
            elif PyList_Check(ent):
                size = Py_SIZE(ent)
                if size < 3:
                    continue
                push_ent(out, &a, idx, <object>PyList_GET_ITEM(ent, 0),
                         <object>PyList_GET_ITEM(ent, 1), <object>PyList_GET_ITEM(ent, 2),
                         <object>PyList_GET_ITEM(ent, 3) if size > 3 else None, keep)
    finally:
        astral_free(&a)
    return 0


cdef inline object check_text(object text):
    if text is None:
        return ""
    if not PyUnicode_Check(text):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    return text

cdef int cmp_start(const void *a, const void *b) noexcept nogil:
    cdef const Ent *x = <const Ent *>a
    cdef const Ent *y = <const Ent *>b
    if x.s != y.s:
        return -1 if x.s < y.s else 1
    return -1 if x.idx < y.idx else (1 if x.idx > y.idx else 0)

# ---------------------------------------------------------------- markdown

cdef enum:
    G_BOLD = 1
    G_ITALIC = 2
    G_UNDERLINE = 4
    G_STRIKE = 8
    G_SPOILER = 16
    G_CODE = 32
    G_LINK = 64
    G_EMOJI = 128

cdef int GROUP[K_COUNT]
for _i in range(K_COUNT):
    GROUP[_i] = 0
GROUP[K_BOLD] = G_BOLD
GROUP[K_ITALIC] = G_ITALIC
GROUP[K_UNDERLINE] = G_UNDERLINE
GROUP[K_STRIKE] = G_STRIKE
GROUP[K_SPOILER] = G_SPOILER
GROUP[K_CODE] = G_CODE
GROUP[K_TEXT_URL] = G_LINK
GROUP[K_MENTION_NAME] = G_LINK
GROUP[K_URL] = G_LINK
GROUP[K_EMAIL] = G_LINK
GROUP[K_MENTION] = G_LINK
GROUP[K_CUSTOM_EMOJI] = G_EMOJI

# link target prefixes, by Ent.pre
cdef const char *PREFIX[5]
PREFIX[0] = b""
PREFIX[1] = b"http://"
PREFIX[2] = b"mailto:"
PREFIX[3] = b"https://t.me/"
PREFIX[4] = b"tg://user?id="

# link targets we never write (markdown-it refuses them, so the link would stay literal)
cdef const char *BAD_SCHEMES[4]
BAD_SCHEMES[0] = b"javascript:"
BAD_SCHEMES[1] = b"vbscript:"
BAD_SCHEMES[2] = b"file:"
BAD_SCHEMES[3] = b"data:"

# ASCII classes for plain text: 1 always escaped, 2 escaped at a line start, 3 escaped after
# a digit, 4 '\n', 5 '\r', 6 NUL, 7 space/tab, 8 other whitespace (edge-protected)
cdef unsigned char ESC[128]
for _i in range(128):
    ESC[_i] = 0
for _c in "\\`*_~[]<>&!#=$%^|":
    ESC[ord(_c)] = 1
ESC[ord("-")] = 2
ESC[ord("+")] = 2
ESC[ord(".")] = 3
ESC[ord(")")] = 3
ESC[10] = 4
ESC[13] = 5
ESC[0] = 6
ESC[32] = 7
ESC[9] = 7
for _c in (0x0b, 0x0c, 0x1c, 0x1d, 0x1e, 0x1f):
    ESC[_c] = 8

cdef inline bint no_ref(U4 c) noexcept:
    # whitespace that &#N; cannot carry (CommonMark turns those codes into U+FFFD)
    return c == 0x0b or (0x1c <= c <= 0x1f) or c == 0x85

cdef inline U4 ucs(PyObject *o, Py_ssize_t i) noexcept:
    return PyUnicode_READ(PyUnicode_KIND(<object>o), PyUnicode_DATA(<object>o), i)

cdef struct Blk:
    Py_ssize_t s
    Py_ssize_t e
    Py_ssize_t idx
    Py_ssize_t os          # the entity's own range, for the fallback to inline code
    Py_ssize_t oe
    int kind
    PyObject *arg
    Py_ssize_t parent
    Py_ssize_t last        # end of the last accepted child, -1 for none
    Py_ssize_t first_kid
    Py_ssize_t last_kid
    Py_ssize_t next_sib

cdef struct Piece:
    Py_ssize_t s
    Py_ssize_t e
    Py_ssize_t idx
    Py_ssize_t ent          # index into the inline entity array (payload)

cdef struct Node:
    Py_ssize_t s
    Py_ssize_t e
    int kind
    int mask
    Py_ssize_t ent
    Py_ssize_t first_kid
    Py_ssize_t last_kid
    Py_ssize_t next_sib

cdef int cmp_blk(const void *a, const void *b) noexcept nogil:
    cdef const Blk *x = <const Blk *>a
    cdef const Blk *y = <const Blk *>b
    if x.s != y.s:
        return -1 if x.s < y.s else 1
    if x.e != y.e:
        return -1 if x.e > y.e else 1
    return -1 if x.idx < y.idx else (1 if x.idx > y.idx else 0)

cdef inline bint piece_lt(Py_ssize_t s1, Py_ssize_t e1, Py_ssize_t i1,
                          Py_ssize_t s2, Py_ssize_t e2, Py_ssize_t i2) noexcept:
    # order (s, -e, idx)
    if s1 != s2:
        return s1 < s2
    if e1 != e2:
        return e1 > e2
    return i1 < i2

cdef int cmp_piece(const void *a, const void *b) noexcept nogil:
    cdef const Piece *x = <const Piece *>a
    cdef const Piece *y = <const Piece *>b
    if x.s != y.s:
        return -1 if x.s < y.s else 1
    if x.e != y.e:
        return -1 if x.e > y.e else 1
    return -1 if x.idx < y.idx else (1 if x.idx > y.idx else 0)

cdef struct Md:
    U4 *t
    Py_ssize_t n
    Buf *out               # appended to (the markdown text starts at out.n == base)
    Py_ssize_t base
    Ent *inl                # inline entities (with payloads)
    Py_ssize_t ninl
    Blk *blk
    Py_ssize_t nblk
    # the paragraph being written
    Py_ssize_t ps
    Py_ssize_t pe
    int depth               # blockquote depth: the line prefix is depth * "> "
    # scratch for paragraphs: starts on the caller's stack, moves to the heap if it grows
    Piece *pend
    Py_ssize_t npend
    Py_ssize_t cpend
    bint pend_heap
    Node *nodes
    Py_ssize_t nnodes
    Py_ssize_t cnodes
    bint nodes_heap

cdef void *grow(void *p, Py_ssize_t *cap, bint *heap, Py_ssize_t need, size_t item) except NULL:
    """`p` with room for `need` items (a stack array is copied to the heap when it outgrows)."""
    cdef Py_ssize_t c = cap[0]
    cdef void *q
    if need <= c:
        return p
    while c < need:
        c = c * 2 + 16
    if heap[0]:
        q = realloc(p, c * item)
    else:
        q = malloc(c * item)
        if q != NULL:
            memcpy(q, p, cap[0] * item)
    if q == NULL:
        raise MemoryError()
    cap[0] = c
    heap[0] = True
    return q

cdef inline void put_prefix(Md *m) noexcept:
    cdef int k
    for k in range(m.depth):
        put(m.out, 62)
        put(m.out, 32)

cdef inline U4 last_char(Md *m) noexcept:
    return m.out.p[m.out.n - 1] if m.out.n > m.base else 0

cdef int md_newline(Md *m, Py_ssize_t i) except -1:
    reserve(m.out, 8 + 2 * m.depth)
    if i == m.pe - 1:
        puts(m.out, b"&#10;")
    else:
        put(m.out, 92)
        put(m.out, 10)
        put_prefix(m)
    return 0

cdef int md_plain(Md *m, Py_ssize_t a, Py_ssize_t b) except -1:
    cdef U4 *t = m.t
    cdef Py_ssize_t i = a, j, ps = m.ps, pe = m.pe
    cdef U4 c
    cdef int cls
    cdef Buf *o = m.out
    while i < b:
        # a run of characters written as they are: one copy
        j = i
        while j < b:
            c = t[j]
            if c < 128:
                if ESC[c]:
                    break
            elif j == ps or j == pe - 1:
                break
            j += 1
        if j > i:
            reserve(o, j - i)
            memcpy(o.p + o.n, t + i, (j - i) * sizeof(U4))
            o.n += j - i
            i = j
            if i >= b:
                break
        # t[i] needs a look (escape, line break, edge whitespace)
        reserve(o, 32)
        c = t[i]
        if c < 128:
            cls = ESC[c]
            if cls == 1:
                put(o, 92)
                put(o, c)
            elif cls == 2:
                if i == ps or t[i - 1] == 10:
                    put(o, 92)
                put(o, c)
            elif cls == 3:
                if i > 0 and 48 <= t[i - 1] <= 57:
                    put(o, 92)
                put(o, c)
            elif cls == 4:
                md_newline(m, i)
            elif cls == 5:
                puts(o, b"&#13;")
            elif cls == 6:
                put(o, 0xFFFD)
            elif cls == 7:
                if i == ps or i == pe - 1 or t[i - 1] == 10 or t[i + 1] == 10:
                    puts(o, b"&#32;" if c == 32 else b"&#9;")
                else:
                    put(o, c)
            else:  # cls == 8: whitespace guarded only at the paragraph's edges
                md_edge_space(o, c, i == ps, i == pe - 1)
        elif Py_UNICODE_ISSPACE(c):   # non-ASCII at an edge of the paragraph
            md_edge_space(o, c, i == ps, i == pe - 1)
        else:
            put(o, c)
        i += 1
    return 0

cdef inline void md_edge_space(Buf *o, U4 c, bint first, bint last) noexcept:
    """Whitespace at a paragraph edge (needs 27): &#N;, or an empty span beside it."""
    if not (first or last):
        put(o, c)
    elif no_ref(c):
        if first:
            puts(o, b"<span></span>")
        put(o, c)
        if last:
            puts(o, b"<span></span>")
    else:
        put_ref(o, c)

cdef int md_span(Md *m, Py_ssize_t a, Py_ssize_t b) except -1:
    """One code span for t[a:b] (no line breaks inside)."""
    cdef U4 *t = m.t
    cdef Py_ssize_t i, run = 0, best = 0, k
    cdef bint pad, nonspace = False
    cdef Buf *o = m.out
    for i in range(a, b):
        if t[i] == 96:
            run += 1
            if run > best:
                best = run
        else:
            run = 0
        if t[i] != 32:
            nonspace = True
    pad = t[a] == 96 or t[b - 1] == 96 or (t[a] == 32 and t[b - 1] == 32 and nonspace)
    reserve(o, 2 * (best + 1) + 2 + (b - a))
    for k in range(best + 1):
        put(o, 96)
    if pad:
        put(o, 32)
    for i in range(a, b):
        put(o, t[i] if t[i] != 0 else 0xFFFD)
    if pad:
        put(o, 32)
    for k in range(best + 1):
        put(o, 96)
    return 0

cdef int md_code(Md *m, Py_ssize_t a, Py_ssize_t b) except -1:
    cdef U4 *t = m.t
    cdef Py_ssize_t i = a, j
    while i < b:
        if t[i] == 10:
            md_newline(m, i)
            i += 1
        elif t[i] == 13:
            wstr(m.out, b"&#13;")
            i += 1
        else:
            j = i + 1
            while j < b and t[j] != 10 and t[j] != 13:
                j += 1
            md_span(m, i, j)
            i = j
    return 0

cdef int md_href(Md *m, Ent *x) except -1:
    """Write "](" + escaped link target + ")"."""
    cdef const char *pre = PREFIX[x.pre]
    cdef Py_ssize_t i, k = 0
    cdef U4 c
    cdef Buf *o = m.out
    reserve(o, 2)
    puts(o, b"](")
    while pre[k]:
        reserve(o, 1)
        put(o, <unsigned char>pre[k])
        k += 1
    for i in range(x.pa, x.pb):
        c = ucs(x.pay, i) if x.pay != NULL else m.t[i]
        reserve(o, 12)
        if c <= 0x20 or c == 0x7F or c == 60 or c == 62 or c == 40 or c == 41 or c == 92 \
                or c == 96 or (c >= 0x80 and Py_UNICODE_ISSPACE(c)):
            put_pct(o, c)
        elif c == 38:
            put(o, 92)
            put(o, 38)
        else:
            put(o, c)
    reserve(o, 1)
    put(o, 41)
    return 0

cdef bint md_bad_scheme(Md *m, Ent *x) noexcept:
    """The link target starts (ASCII case-insensitively) with a scheme we never link."""
    cdef U4 head[11]
    cdef Py_ssize_t k = 0, i
    cdef const char *pre = PREFIX[x.pre]
    cdef const char *bad
    cdef int j, w
    cdef U4 c
    while pre[k] and k < 11:
        head[k] = <unsigned char>pre[k]
        k += 1
    i = x.pa
    while k < 11 and i < x.pb:
        c = ucs(x.pay, i) if x.pay != NULL else m.t[i]
        head[k] = c + 32 if 65 <= c <= 90 else c
        k += 1
        i += 1
    for j in range(4):
        bad = BAD_SCHEMES[j]
        w = 0
        while bad[w]:
            w += 1
        if k < w:
            continue
        i = 0
        while i < w and head[i] == <unsigned char>bad[i]:
            i += 1
        if i == w:
            return True
    return False


cdef int md_content(Md *m, Py_ssize_t ni) except -1:
    cdef Node *nd = &m.nodes[ni]
    cdef Py_ssize_t pos = nd.s, end = nd.e, ch = nd.first_kid
    while ch >= 0:
        if m.nodes[ch].s > pos:
            md_plain(m, pos, m.nodes[ch].s)
        md_node(m, ch)
        pos = m.nodes[ch].e
        ch = m.nodes[ch].next_sib
    if end > pos:
        md_plain(m, pos, end)
    return 0

cdef int md_node(Md *m, Py_ssize_t ni) except -1:
    cdef Node nd = m.nodes[ni]      # a copy: md_content may not grow nodes, but be safe
    cdef int k = nd.kind
    cdef bint md
    cdef U4 d0
    cdef const char *opening
    cdef const char *closing
    cdef Ent *x
    cdef PyObject *pid
    cdef Py_ssize_t i, n
    if k == K_CODE:
        return md_code(m, nd.s, nd.e)
    if k == K_BOLD or k == K_ITALIC or k == K_STRIKE:
        d0 = 126 if k == K_STRIKE else 42
        md = (Py_UNICODE_ISALNUM(m.t[nd.s]) and Py_UNICODE_ISALNUM(m.t[nd.e - 1])
              and (nd.first_kid < 0 or (m.nodes[nd.first_kid].s != nd.s
                                         and m.nodes[nd.last_kid].e != nd.e))
              and last_char(m) != d0)
        if k == K_BOLD:
            opening = b"**" if md else b"<b>"
            closing = b"**" if md else b"</b>"
        elif k == K_ITALIC:
            opening = b"*" if md else b"<i>"
            closing = b"*" if md else b"</i>"
        else:
            opening = b"~~" if md else b"<s>"
            closing = b"~~" if md else b"</s>"
        wstr(m.out, opening)
        md_content(m, ni)
        wstr(m.out, closing)
    elif k == K_UNDERLINE:
        wstr(m.out, b"<u>")
        md_content(m, ni)
        wstr(m.out, b"</u>")
    elif k == K_SPOILER:
        wstr(m.out, b'<span class="tg-spoiler">')
        md_content(m, ni)
        wstr(m.out, b"</span>")
    elif k == K_CUSTOM_EMOJI:
        pid = m.inl[nd.ent].pay
        n = PyUnicode_GET_LENGTH(<object>pid)
        wstr(m.out, b'<span data-custom-emoji="')
        reserve(m.out, n + 2)
        for i in range(n):
            put(m.out, ucs(pid, i))
        puts(m.out, b'">')
        md_content(m, ni)
        wstr(m.out, b"</span>")
    else:
        x = &m.inl[nd.ent]
        wstr(m.out, b"[")
        md_content(m, ni)
        md_href(m, x)
    return 0

cdef int md_paragraph(Md *m, Py_ssize_t ps, Py_ssize_t pe) except -1:
    cdef Py_ssize_t i, j, lo, hi, mid, s, e, idx, top, sib, ni
    cdef Py_ssize_t stack[MAX_DEPTH]
    cdef int sp, kind, group
    cdef Ent *x
    cdef Piece p
    m.ps = ps
    m.pe = pe
    # pieces: inline entities clipped to the paragraph, sorted by (s, -e, idx)
    m.npend = 0
    for i in range(m.ninl):
        x = &m.inl[i]
        s = x.s if x.s > ps else ps
        e = x.e if x.e < pe else pe
        if s < e:
            m.pend = <Piece *>grow(m.pend, &m.cpend, &m.pend_heap, m.npend + 1, sizeof(Piece))
            m.pend[m.npend].s = s
            m.pend[m.npend].e = e
            m.pend[m.npend].idx = x.idx
            m.pend[m.npend].ent = i
            m.npend += 1
    if m.npend > 1:
        qsort(m.pend, m.npend, sizeof(Piece), cmp_piece)
    m.nodes = <Node *>grow(m.nodes, &m.cnodes, &m.nodes_heap, 1, sizeof(Node))
    m.nnodes = 1
    m.nodes[0].s = ps
    m.nodes[0].e = pe
    m.nodes[0].kind = -1
    m.nodes[0].mask = 0
    m.nodes[0].ent = -1
    m.nodes[0].first_kid = m.nodes[0].last_kid = m.nodes[0].next_sib = -1
    stack[0] = 0
    sp = 1
    i = 0
    while i < m.npend:
        p = m.pend[i]
        i += 1
        while sp > 1 and m.nodes[stack[sp - 1]].e <= p.s:
            sp -= 1
        top = stack[sp - 1]
        if p.e > m.nodes[top].e:
            # overlaps the open entity: the rest goes back into the queue, in order
            m.pend = <Piece *>grow(m.pend, &m.cpend, &m.pend_heap, m.npend + 1, sizeof(Piece))
            s = m.nodes[top].e
            lo = i
            hi = m.npend
            while lo < hi:
                mid = (lo + hi) >> 1
                if piece_lt(s, p.e, p.idx, m.pend[mid].s, m.pend[mid].e, m.pend[mid].idx):
                    hi = mid
                else:
                    lo = mid + 1
            memmove(&m.pend[lo + 1], &m.pend[lo], (m.npend - lo) * sizeof(Piece))
            m.pend[lo].s = s
            m.pend[lo].e = p.e
            m.pend[lo].idx = p.idx
            m.pend[lo].ent = p.ent
            m.npend += 1
            p.e = s
        kind = m.inl[p.ent].kind
        group = GROUP[kind]
        if m.nodes[top].mask & (group | G_CODE):
            continue
        sib = m.nodes[top].last_kid
        if group == G_CODE and sib >= 0 and m.nodes[sib].kind == K_CODE \
                and m.nodes[sib].e == p.s:
            m.nodes[sib].e = p.e
            stack[sp] = sib
            sp += 1
            continue
        m.nodes = <Node *>grow(m.nodes, &m.cnodes, &m.nodes_heap, m.nnodes + 1, sizeof(Node))
        ni = m.nnodes
        m.nnodes += 1
        m.nodes[ni].s = p.s
        m.nodes[ni].e = p.e
        m.nodes[ni].kind = kind
        m.nodes[ni].mask = m.nodes[top].mask | group
        m.nodes[ni].ent = p.ent
        m.nodes[ni].first_kid = m.nodes[ni].last_kid = m.nodes[ni].next_sib = -1
        if m.nodes[top].last_kid >= 0:
            m.nodes[m.nodes[top].last_kid].next_sib = ni
        else:
            m.nodes[top].first_kid = ni
        m.nodes[top].last_kid = ni
        stack[sp] = ni
        sp += 1
    return md_content(m, 0)

cdef int md_fence(Md *m, Blk *b) except -1:
    cdef U4 *t = m.t
    cdef Py_ssize_t i, run = 0, best = 0, nt, k, nl = 0
    cdef object lang = <object>b.arg if b.arg != NULL else None
    cdef Py_ssize_t nlang = 0
    cdef U4 c
    cdef bint ok
    cdef Buf *o = m.out
    for i in range(b.s, b.e):
        if t[i] == 96:
            run += 1
            if run > best:
                best = run
        else:
            run = 0
            if t[i] == 10:
                nl += 1
    nt = best + 1 if best + 1 > 3 else 3
    if isinstance(lang, str):
        nlang = PyUnicode_GET_LENGTH(lang)
        ok = nlang > 0
        for i in range(nlang):
            c = ucs(<PyObject *>lang, i)
            if not ((48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95
                    or c == 43 or c == 35 or c == 46 or c == 45):
                ok = False
                break
        if not ok:
            nlang = 0
    reserve(o, 2 * nt + nlang + 2 + (b.e - b.s) + (nl + 2) * (2 * m.depth + 1))
    for k in range(nt):
        put(o, 96)
    for i in range(nlang):
        put(o, ucs(<PyObject *>lang, i))
    put(o, 10)
    put_prefix(m)
    for i in range(b.s, b.e):
        c = t[i]
        if c == 10:
            put(o, 10)
            put_prefix(m)
        else:
            put(o, c if c != 0 else 0xFFFD)
    put(o, 10)
    put_prefix(m)
    for k in range(nt):
        put(o, 96)
    return 0


cdef int md_region(Md *m, Py_ssize_t s, Py_ssize_t e, Py_ssize_t kid) except -1:
    """Blocks and paragraphs of t[s:e], whose accepted child blocks start at `kid`."""
    cdef Py_ssize_t cur = s, gs, ge, b
    cdef bint after = False, first = True
    b = kid
    while b >= 0:
        gs = cur + 1 if after else cur
        if m.blk[b].s > s:
            ge = m.blk[b].s - 1
            if after and gs > ge:
                pass
            elif gs == ge:
                md_sep(m, &first)
                wstr(m.out, b"<br>")
            else:
                md_sep(m, &first)
                md_paragraph(m, gs, ge)
        md_sep(m, &first)
        if m.blk[b].kind == K_PRE:
            md_fence(m, &m.blk[b])
        else:
            wstr(m.out, b"> ")
            m.depth += 1
            md_region(m, m.blk[b].s, m.blk[b].e, m.blk[b].first_kid)
            m.depth -= 1
        cur = m.blk[b].e
        after = True
        b = m.blk[b].next_sib
    if not after:
        md_sep(m, &first)
        md_paragraph(m, s, e)
    elif cur < e:
        md_sep(m, &first)
        if cur + 1 == e:
            wstr(m.out, b"<br>")
        else:
            md_paragraph(m, cur + 1, e)
    return 0

cdef int md_sep(Md *m, bint *first) except -1:
    """Blank line between two items of a region (with the quote prefix)."""
    cdef int k
    if first[0]:
        first[0] = False
        return 0
    reserve(m.out, 2 + 4 * m.depth)
    put(m.out, 10)
    for k in range(m.depth):
        put(m.out, 62)
        if k + 1 < m.depth:
            put(m.out, 32)
    put(m.out, 10)
    put_prefix(m)
    return 0

cdef int digits_only(object o) except -1:
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(o)
    cdef U4 c
    if n == 0:
        return 0
    for i in range(n):
        c = ucs(<PyObject *>o, i)
        if c < 48 or c > 57:
            return 0
    return 1

cdef inline void inl_push(Md *m, Ent *x, int kind) noexcept:
    # m.inl has room for every entity (each adds at most one inline entry)
    m.inl[m.ninl] = x[0]
    m.inl[m.ninl].kind = kind
    m.ninl += 1

cdef inline void inl_code(Md *m, Py_ssize_t s, Py_ssize_t e, Py_ssize_t idx) noexcept:
    cdef Ent *y = &m.inl[m.ninl]
    y.s = s
    y.e = e
    y.idx = idx
    y.kind = K_CODE
    y.arg = NULL
    y.pay = NULL
    y.pa = y.pb = 0
    y.pre = 0
    m.ninl += 1

cdef int md_layout(Md *m, Ents *ev, list keep, Py_ssize_t *root_first) except -1:
    """_pytext._layout: accepted blocks (a tree in m.blk) and inline entities (m.inl)."""
    cdef U4 *t = m.t
    cdef Py_ssize_t n = m.n, i, j, bs, be, parent, sp, plast
    cdef Py_ssize_t root_last = -1, root_tail = -1, w = 0
    cdef Ent *x
    cdef Blk *bk
    cdef Blk c
    cdef int kind
    cdef bint has_cr
    cdef object arg, pay
    cdef Py_ssize_t *st
    root_first[0] = -1
    m.ninl = 0
    m.nblk = 0
    for i in range(ev.n):
        x = &ev.a[i]
        kind = x.kind
        if kind == K_PRE or kind == K_BLOCKQUOTE:
            bs = x.s
            be = x.e
            if be - bs > 1 and t[be - 1] == 10:
                be -= 1
            has_cr = False
            if kind == K_PRE:
                for j in range(bs, be):
                    if t[j] == 13:
                        has_cr = True
                        break
            if (bs == 0 or t[bs - 1] == 10) and (be == n or t[be] == 10) and not has_cr:
                bk = &m.blk[m.nblk]
                m.nblk += 1
                bk.s = bs
                bk.e = be
                bk.idx = x.idx
                bk.os = x.s
                bk.oe = x.e
                bk.kind = kind
                bk.arg = x.arg
            elif kind == K_PRE:
                inl_code(m, x.s, x.e, x.idx)
        elif GROUP[kind]:
            arg = <object>x.arg if x.arg != NULL else None
            x.pay = NULL
            x.pa = 0
            x.pb = 0
            x.pre = 0
            if GROUP[kind] == G_LINK:
                if kind == K_TEXT_URL:
                    if not isinstance(arg, str):
                        continue
                    if type(arg) is not str:
                        arg = str(arg)
                        keep.append(arg)
                    x.pay = <PyObject *>arg
                    x.pb = PyUnicode_GET_LENGTH(arg)
                elif kind == K_MENTION_NAME:
                    if not isinstance(arg, int):
                        continue
                    pay = str(int(arg))
                    keep.append(pay)
                    x.pay = <PyObject *>pay
                    x.pb = PyUnicode_GET_LENGTH(pay)
                    x.pre = 4
                elif kind == K_URL:
                    x.pa = x.s
                    x.pb = x.e
                    x.pre = 1
                    for j in range(x.s, x.e - 2):
                        if t[j] == 58 and t[j + 1] == 47 and t[j + 2] == 47:
                            x.pre = 0
                            break
                elif kind == K_EMAIL:
                    x.pa = x.s
                    x.pb = x.e
                    x.pre = 2
                else:  # MENTION: @name -> https://t.me/name
                    if x.e - x.s < 2 or t[x.s] != 64:
                        continue
                    x.pa = x.s + 1
                    x.pb = x.e
                    x.pre = 3
                if md_bad_scheme(m, x):
                    continue
            elif kind == K_CUSTOM_EMOJI:
                if isinstance(arg, int):
                    pay = str(int(arg))
                elif isinstance(arg, str):
                    pay = str(arg)
                else:
                    continue
                if not digits_only(pay):
                    continue
                keep.append(pay)
                x.pay = <PyObject *>pay
            inl_push(m, x, kind)
    if m.nblk == 0:
        return 0
    if m.nblk > 1:
        qsort(m.blk, m.nblk, sizeof(Blk), cmp_blk)
    # Accept blocks into a tree; accepted ones are compacted to the front of m.blk in
    # order (slot w <= i, and every slot below w holds an accepted block).
    st = <Py_ssize_t *>malloc(m.nblk * sizeof(Py_ssize_t))
    if st == NULL:
        raise MemoryError()
    sp = 0
    try:
        for i in range(m.nblk):
            c = m.blk[i]
            while sp > 0 and m.blk[st[sp - 1]].e <= c.s:
                sp -= 1
            parent = st[sp - 1] if sp > 0 else -1
            plast = m.blk[parent].last if parent >= 0 else root_last
            if (plast >= 0 and c.s <= plast) or (parent >= 0 and (
                    c.e > m.blk[parent].e or m.blk[parent].kind == K_PRE
                    or (c.s == m.blk[parent].s and c.e == m.blk[parent].e
                        and c.kind == m.blk[parent].kind))):
                if c.kind == K_PRE:
                    inl_code(m, c.os, c.oe, c.idx)
                continue
            c.parent = parent
            c.last = -1
            c.first_kid = -1
            c.last_kid = -1
            c.next_sib = -1
            m.blk[w] = c
            if parent >= 0:
                m.blk[parent].last = c.e
                if m.blk[parent].last_kid >= 0:
                    m.blk[m.blk[parent].last_kid].next_sib = w
                else:
                    m.blk[parent].first_kid = w
                m.blk[parent].last_kid = w
            else:
                root_last = c.e
                if root_tail >= 0:
                    m.blk[root_tail].next_sib = w
                else:
                    root_first[0] = w
                root_tail = w
            st[sp] = w
            sp += 1
            w += 1
    finally:
        free(st)
    m.nblk = w
    return 0



cdef int md_append(Buf *out, object text, Ents *ev, list keep) except -1:
    """markdown(text, entities) appended to `out`, from the entities `normalize` left in
    `ev` (md_layout fills in their payloads).  `text` is a str."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), root = -1
    if n == 0:
        return 0
    cdef U4 tbuf[STACK_UCS4]
    cdef Ent stack_inl[STACK_ENTS]
    cdef Blk stack_blk[STACK_ENTS]
    cdef Piece stack_pend[STACK_ENTS]
    cdef Node stack_nodes[STACK_ENTS]
    cdef Text v
    cdef Md m
    v.heap = False
    m.out = out
    m.base = out.n
    m.inl = stack_inl
    m.blk = stack_blk
    m.ninl = m.nblk = 0
    m.pend = stack_pend
    m.npend = 0
    m.cpend = STACK_ENTS
    m.pend_heap = False
    m.nodes = stack_nodes
    m.nnodes = 0
    m.cnodes = STACK_ENTS
    m.nodes_heap = False
    m.depth = 0
    try:
        text_view(&v, text, tbuf)
        m.t = v.t
        m.n = n
        if ev.n > STACK_ENTS:
            m.inl = <Ent *>malloc(ev.n * sizeof(Ent))
            m.blk = <Blk *>malloc(ev.n * sizeof(Blk))
            if m.inl == NULL or m.blk == NULL:
                raise MemoryError()
        md_layout(&m, ev, keep, &root)
        md_region(&m, 0, n, root)
    finally:
        if v.heap:
            free(v.t)
        if m.inl != stack_inl:
            free(m.inl)
        if m.blk != stack_blk:
            free(m.blk)
        if m.pend_heap:
            free(m.pend)
        if m.nodes_heap:
            free(m.nodes)
    return 0
