# Markdown: the tables (inline groups, link prefixes, refused schemes, ASCII escape classes)
# and the writer's state (blocks, paragraph pieces, inline nodes, the Md struct).  The
# pure twin keeps the same tables at the top of engine/text/_pymd_layout.py and
# engine/text/_pymarkdown.py.  Included by native/textcore.pxi.

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
