# ---------------------------------------------------------------- small C helpers
# (included by render.pyx, after render_model.pxi)

cdef inline long long floordiv(long long a, long long b) noexcept:
    cdef long long q = a / b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q

cdef inline bint truthy(object o) except -1:
    """Python truthiness, without a call for the usual field values."""
    if o is None or o is False:
        return False
    if o is True:
        return True
    if PyLong_CheckExact(o):
        return nonzero(o)
    if PyUnicode_CheckExact(o):
        return PyUnicode_GET_LENGTH(o) != 0
    if PyList_CheckExact(o):
        return PyList_GET_SIZE(o) != 0
    return bool(o)

cdef inline bint nonzero(object o) noexcept:
    cdef int ov
    return PyLong_AsLongLongAndOverflow(o, &ov) != 0 or ov != 0

cdef inline bint i64(object o, long long *v) noexcept:
    """An exact int that fits in 63 bits (so sums and shifts stay in range)."""
    cdef int ov
    if not PyLong_CheckExact(o):
        return False
    v[0] = PyLong_AsLongLongAndOverflow(o, &ov)
    return ov == 0 and -(1LL << 62) <= v[0] < (1LL << 62)

cdef inline bint ascii_is(object s, const char *lit) noexcept:
    """s is an exact str equal to the ASCII literal."""
    cdef Py_ssize_t n, i
    cdef const unsigned char *d
    if not PyUnicode_CheckExact(s) or not PyUnicode_IS_ASCII(s):
        return False
    n = PyUnicode_GET_LENGTH(s)
    d = <const unsigned char *>PyUnicode_DATA(s)
    for i in range(n):
        if d[i] != <unsigned char>lit[i]:
            return False
    return lit[n] == 0

# civil date from days since 1970-01-01 (H. Hinnant's algorithm)
cdef inline void civil(long long days, long long *y, int *m, int *d) noexcept:
    cdef long long z = days + 719468
    cdef long long era = (z if z >= 0 else z - 146096) / 146097
    cdef long long doe = z - era * 146097
    cdef long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    cdef long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    cdef long long mp = (5 * doy + 2) / 153
    d[0] = <int>(doy - (153 * mp + 2) / 5 + 1)
    m[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    y[0] = yoe + era * 400 + (1 if m[0] <= 2 else 0)

# ---------------------------------------------------------------- the local clock
#
# The render context's clock (engine/render/context.py, LocalClock) gives the zone's UTC
# offset per quarter hour through its public utc_offset(); consecutive messages share a
# quarter, so one cached (clock, quarter) -> offset pair answers nearly every call.  Its
# day rule is the one every output uses: floor((ts + offset) / 86400).

cdef object _clk = None
cdef long long _clk_q = 0
cdef long long _clk_off = 0

cdef int local_secs(object clock, long long ts, long long *out) except -1:
    global _clk, _clk_q, _clk_off
    cdef long long q = floordiv(ts, 900)
    cdef long long off
    if clock is not _clk or q != _clk_q:
        off = clock.utc_offset(q * 900)
        _clk = None
        _clk_off = off
        _clk_q = q
        _clk = clock
    out[0] = ts + _clk_off
    return 0

cdef struct Stamp:
    long long year
    int month, day, hour, minute, second
    long long days

cdef int stamp_of(object clock, long long ts, Stamp *s) except -1:
    """Local date and time of `ts`; False-y year 0 when out of dt.date's range."""
    cdef long long local, secs
    local_secs(clock, ts, &local)
    s.days = floordiv(local, 86400)
    secs = local - s.days * 86400
    civil(s.days, &s.year, &s.month, &s.day)
    s.hour = <int>(secs / 3600)
    s.minute = <int>(secs % 3600 / 60)
    s.second = <int>(secs % 60)
    return 0

cdef inline bint year_ok(Stamp *s) noexcept:
    return 1 <= s.year <= 9999

# ---------------------------------------------------------------- peers

cdef enum:
    P_NONE = 0
    P_USER = 1
    P_CHAT = 2
    P_CHANNEL = 3

cdef const char *PEER_KIND[4]
PEER_KIND[0] = b""
PEER_KIND[1] = b"user"
PEER_KIND[2] = b"chat"
PEER_KIND[3] = b"channel"

cdef struct Ref:
    int kind            # P_NONE for None
    long long id
    PyObject *obj       # borrowed (the message holds it)

cdef inline bint ref_of(object o, Ref *r) noexcept:
    """A PeerRef (or None) as C values; False when it is anything unusual."""
    cdef object kind
    r.obj = <PyObject *>o
    if o is None:
        r.kind = P_NONE
        r.id = 0
        return True
    if type(o) is not PeerRef:
        return False
    kind = F(o, R_KIND)
    if ascii_is(kind, b"user"):
        r.kind = P_USER
    elif ascii_is(kind, b"chat"):
        r.kind = P_CHAT
    elif ascii_is(kind, b"channel"):
        r.kind = P_CHANNEL
    else:
        return False
    return i64(F(o, R_ID), &r.id)

cdef inline bint ref_eq(Ref *a, Ref *b) noexcept:
    return a.kind == b.kind and a.id == b.id

cdef object info_of(dict peers, Ref *r):
    """peers.get(ref): a PeerInfo, None, or a non-PeerInfo value (the caller bails)."""
    cdef PyObject *p
    if r.kind == P_NONE:
        return None
    p = PyDict_GetItem(peers, <object>r.obj)
    return <object>p if p != NULL else None


# ---------------------------------------------------------------- entities of a message

cdef object EMPTY = ""

cdef inline bint plain_arg(object o) noexcept:
    """None, a bool or an exact int or str: nothing that runs Python code when read."""
    return o is None or o is True or o is False or PyLong_CheckExact(o) or PyUnicode_CheckExact(o)

cdef int model_ents(Ents *ev, object text, object entities) except 0:
    """normalize(text, entities.as_tuples(entities)) straight from the model's Entity
    list: 1 done, 2 when something is unusual (the caller bails).  Every arg is a plain
    value the Entity holds (or a constant), so nothing needs keeping alive."""
    cdef Py_ssize_t count, idx
    cdef object e, kind, arg
    cdef PyObject *code
    cdef int k
    cdef Astral a
    if not PyList_CheckExact(entities):
        return 2
    count = PyList_GET_SIZE(entities)
    if count == 0:
        return 1
    astral_init(&a, text)
    try:
        for idx in range(count):
            e = <object>PyList_GET_ITEM(entities, idx)
            if type(e) is not Entity:
                return 2
            kind = F(e, E_KIND)
            if not PyUnicode_CheckExact(kind):
                return 2
            code = PyDict_GetItem(CODE_OF, kind)
            k = <int>(<long>(<object>code)) if code != NULL else K_UNKNOWN
            if k == K_TEXT_URL:
                arg = F(e, E_URL)
            elif k == K_PRE:
                arg = F(e, E_LANGUAGE)
            elif k == K_MENTION_NAME:
                arg = F(e, E_USER_ID)
            elif k == K_CUSTOM_EMOJI:
                arg = F(e, E_DOCUMENT_ID)
            elif k == K_BLOCKQUOTE:
                arg = F(e, E_COLLAPSED)
            else:
                arg = None
            if not plain_arg(arg):
                return 2
            if k == K_PRE and not truthy(arg):
                arg = EMPTY                     # e.language or ""
            elif k == K_BLOCKQUOTE:
                arg = True if truthy(arg) else False    # bool(e.collapsed)
            push_ent(ev, &a, idx, k, F(e, E_OFFSET), F(e, E_LENGTH), arg, None)
    finally:
        astral_free(&a)
    return 1

cdef inline void ents_init(Ents *ev, Ent *stack) noexcept:
    ev.a = stack
    ev.n = 0
    ev.cap = STACK_ENTS
    ev.heap = False

