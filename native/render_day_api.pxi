# The day notes' Python-visible entry points (render_day_notes.pxi has the blocks).

cdef int buf_init(Buf *o, Py_ssize_t cap) except -1:
    o.n = 0
    o.cap = cap
    o.heap = True
    o.p = <U4 *>malloc(o.cap * sizeof(U4))
    if o.p == NULL:
        raise MemoryError()
    return 0


def day_note(list messages not None, str front not None, tuple parts not None,
             tuple vault not None, lines):
    """day_notes.day_note: the whole note of one day of one chat (bytes), or None when the
    twin must write it.  `front`: the note's front matter (the twin's); `parts`, `vault`,
    `lines`: see md_ctx."""
    cdef MdCtx c
    cdef Buf o
    cdef list keep = []
    cdef Py_ssize_t i, j, n
    if not md_ctx(&c, parts, vault, lines, keep):
        return None
    n = PyList_GET_SIZE(messages)
    buf_init(&o, 256 + 400 * n)
    try:
        b_raw(&o, front)
        i = 0
        while i < n:
            j = group_end(messages, i, n)
            if j < 0:
                return None
            if i:
                b_lit(&o, b"\n\n---\n\n")
            c.bail = False
            md_block(&o, &c, messages, i, j - i, keep)
            if c.bail:
                return None
            i = j
        b_u(&o, 10)
        return utf8(&o)             # None when it holds a surrogate (the twin raises)
    finally:
        free(o.p)


def blocks(list messages not None, tuple parts not None, tuple vault not None, lines):
    """day_notes.blocks: [(messages in the block, block bytes)] for one day's messages, or
    None when the twin must write them.  `parts`, `vault`, `lines`: see md_ctx."""
    cdef MdCtx c
    cdef Buf o
    cdef list keep = []
    cdef list out = []
    cdef Py_ssize_t i, j, n
    if not md_ctx(&c, parts, vault, lines, keep):
        return None
    n = PyList_GET_SIZE(messages)
    buf_init(&o, 1024)
    try:
        i = 0
        while i < n:
            j = group_end(messages, i, n)
            if j < 0:
                return None
            o.n = 0
            c.bail = False
            md_block(&o, &c, messages, i, j - i, keep)
            if c.bail:
                return None
            b = utf8(&o)            # None when it holds a surrogate (the twin raises)
            if b is None:
                return None
            out.append((j - i, b))
            i = j
        return out
    finally:
        free(o.p)


def block_covered(list group not None, tuple parts not None, tuple vault not None, lines):
    """True when day_note() renders this group here rather than through the twin (tests)."""
    cdef MdCtx c
    cdef Buf o
    cdef list keep = []
    if not group or not md_ctx(&c, parts, vault, lines, keep):
        return False
    buf_init(&o, 1024)
    try:
        md_block(&o, &c, group, 0, PyList_GET_SIZE(group), keep)
        return not c.bail
    finally:
        free(o.p)


def days(list messages not None, clock):
    """day_notes.days: {local date: [messages of that day]}, in order of appearance, by the
    clock's day rule; None when the twin must split them."""
    cdef long long ts, local, d, last = 0
    cdef bint have = False
    cdef dict days = {}
    cdef list cur = None
    for msg in messages:
        if type(msg) is not Message or not i64(F(msg, M_DATE), &ts):
            return None
        local_secs(clock, ts, &local)
        d = floordiv(local, 86400)
        if not have or d != last:
            cur = days.get(d)
            if cur is None:
                cur = days[d] = []
            last = d
            have = True
        cur.append(msg)
    epoch = _dt.date(1970, 1, 1)
    return {epoch + _dt.timedelta(k): v for k, v in days.items()}
