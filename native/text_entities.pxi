# Entities in UTF-16 units made into code-point ranges (clipped, saturated, widened over a
# split surrogate pair) in input order: the twin of engine/text/_pyentities.py.  Included
# by native/textcore.pxi.

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
    """One entity (kind, offset, length, arg) of _pyentities.normalize: dropped when its offset
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
    """engine/text/_pyentities.py normalize: entities clipped to code points, input order."""
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
