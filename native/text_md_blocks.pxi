# Markdown: regions of blocks and paragraphs, code fences, quotes, and the inline tree of
# one paragraph: the twin of _Md.region/fence/paragraph in engine/text/_pymarkdown.py.
# Included by native/textcore.pxi.

cdef int md_pieces(Md *m, Py_ssize_t ps, Py_ssize_t pe) except -1:
    """m.pend: the inline entities clipped to the paragraph ps..pe, sorted by (s, -e, idx)."""
    cdef Py_ssize_t i, s, e
    cdef Ent *x
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
    return 0

cdef int md_requeue(Md *m, Py_ssize_t i, Piece *p, Py_ssize_t s) except -1:
    """The part of piece `p` from `s` on (past the end of the entity open around it) back
    into the queue m.pend[i:], in (s, -e, idx) order (the twin's insort)."""
    cdef Py_ssize_t lo = i, hi, mid
    m.pend = <Piece *>grow(m.pend, &m.cpend, &m.pend_heap, m.npend + 1, sizeof(Piece))
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
    return 0

cdef int md_paragraph(Md *m, Py_ssize_t ps, Py_ssize_t pe) except -1:
    """_Md.paragraph: the inline entities of ps..pe made a tree of nodes (an entity inside
    one of its own group, or inside code, is dropped; one that overlaps the entity open
    around it is split at that end; adjacent code spans merge), then written."""
    cdef Py_ssize_t i, top, sib, ni
    cdef Py_ssize_t stack[MAX_DEPTH]
    cdef int sp, kind, group
    cdef Piece p
    m.ps = ps
    m.pe = pe
    md_pieces(m, ps, pe)
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
            md_requeue(m, i, &p, m.nodes[top].e)
            p.e = m.nodes[top].e
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
