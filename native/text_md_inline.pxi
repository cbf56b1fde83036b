# Markdown: writing inside a paragraph, plain text escaped, code spans, emphasis, links and
# custom emoji: the twin of _Md.content/node/plain/char/code/span in
# engine/text/_pymarkdown.py.  Included by native/textcore.pxi.

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
