# Markdown: which entities become blocks (the accepted tree) and which stay inline with
# their payloads (link targets, emoji ids), then md_append, the whole note: the twin of
# engine/text/_pymd_layout.py and markdown() in engine/text/_pymarkdown.py.  Included by
# native/textcore.pxi.

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

cdef int md_candidate(Md *m, Ent *x) except -1:
    """A pre or quote entity: a block candidate (into m.blk) when it covers whole lines (one
    trailing '\n' moved out; a pre without CR), else a pre falls back to inline code."""
    cdef U4 *t = m.t
    cdef Py_ssize_t j, bs = x.s, be = x.e
    cdef Blk *bk
    cdef bint has_cr = False
    if be - bs > 1 and t[be - 1] == 10:
        be -= 1
    if x.kind == K_PRE:
        for j in range(bs, be):
            if t[j] == 13:
                has_cr = True
                break
    if (bs == 0 or t[bs - 1] == 10) and (be == m.n or t[be] == 10) and not has_cr:
        bk = &m.blk[m.nblk]
        m.nblk += 1
        bk.s = bs
        bk.e = be
        bk.idx = x.idx
        bk.os = x.s
        bk.oe = x.e
        bk.kind = x.kind
        bk.arg = x.arg
    elif x.kind == K_PRE:
        inl_code(m, x.s, x.e, x.idx)
    return 0

cdef int md_link_target(Md *m, Ent *x, object arg, list keep) except -1:
    """_pymd_layout._href: a link entity's target, as x.pay (a str kept alive in `keep`)
    or the text range x.pa..x.pb, behind PREFIX[x.pre]; 0 when it renders as plain text."""
    cdef U4 *t = m.t
    cdef Py_ssize_t j
    cdef object pay
    cdef int kind = x.kind
    if kind == K_TEXT_URL:
        if not isinstance(arg, str):
            return 0
        if type(arg) is not str:
            arg = str(arg)
            keep.append(arg)
        x.pay = <PyObject *>arg
        x.pb = PyUnicode_GET_LENGTH(arg)
    elif kind == K_MENTION_NAME:
        if not isinstance(arg, int):
            return 0
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
            return 0
        x.pa = x.s + 1
        x.pb = x.e
        x.pre = 3
    return 0 if md_bad_scheme(m, x) else 1

cdef int md_emoji_id(Ent *x, object arg, list keep) except -1:
    """_pymd_layout._emoji_id: a custom emoji's id (ASCII digits) as x.pay; 0 when not."""
    cdef object pay
    if isinstance(arg, int):
        pay = str(int(arg))
    elif isinstance(arg, str):
        pay = str(arg)
    else:
        return 0
    if not digits_only(pay):
        return 0
    keep.append(pay)
    x.pay = <PyObject *>pay
    return 1

cdef int md_accept_blocks(Md *m, Py_ssize_t *root_first) except -1:
    """The block candidates made a tree: sorted by (s, -e, idx), each accepted unless it
    overlaps its parent's end or an earlier sibling, sits in a pre, or repeats its parent
    (a rejected pre becomes inline code).  Accepted ones are compacted to the front of m.blk
    in order (slot w <= i, and every slot below w holds an accepted block)."""
    cdef Py_ssize_t i, parent, sp = 0, plast, root_last = -1, root_tail = -1, w = 0
    cdef Blk c
    cdef Py_ssize_t *st
    if m.nblk > 1:
        qsort(m.blk, m.nblk, sizeof(Blk), cmp_blk)
    st = <Py_ssize_t *>malloc(m.nblk * sizeof(Py_ssize_t))
    if st == NULL:
        raise MemoryError()
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

cdef int md_layout(Md *m, Ents *ev, list keep, Py_ssize_t *root_first) except -1:
    """_pymd_layout.layout: accepted blocks (a tree in m.blk) and inline entities (m.inl)."""
    cdef Py_ssize_t i
    cdef Ent *x
    cdef int kind
    cdef object arg
    root_first[0] = -1
    m.ninl = 0
    m.nblk = 0
    for i in range(ev.n):
        x = &ev.a[i]
        kind = x.kind
        if kind == K_PRE or kind == K_BLOCKQUOTE:
            md_candidate(m, x)
        elif GROUP[kind]:
            arg = <object>x.arg if x.arg != NULL else None
            x.pay = NULL
            x.pa = 0
            x.pb = 0
            x.pre = 0
            if GROUP[kind] == G_LINK:
                if not md_link_target(m, x, arg, keep):
                    continue
            elif kind == K_CUSTOM_EMOJI:
                if not md_emoji_id(x, arg, keep):
                    continue
            inl_push(m, x, kind)
    if m.nblk == 0:
        return 0
    return md_accept_blocks(m, root_first)


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
