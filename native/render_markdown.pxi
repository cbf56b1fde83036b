# ---------------------------------------------------------------- Markdown writer (UCS4)

cdef inline int b_lit(Buf *o, const char *s) except -1:
    return wstr(o, s)

cdef int b_u(Buf *o, U4 c) except -1:
    reserve(o, 1)
    put(o, c)
    return 0

cdef inline int b_raw(Buf *o, object s) except -1:
    """A str copied as it is (a path, a URL): exact str only (the caller checked)."""
    return b_raw_n(o, s, PyUnicode_GET_LENGTH(s))

cdef int b_raw_n(Buf *o, object s, Py_ssize_t n) except -1:
    """The first n characters of a str, as they are."""
    cdef Py_ssize_t i
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    reserve(o, n)
    if kind == PyUnicode_4BYTE_KIND:
        memcpy(o.p + o.n, data, n * sizeof(U4))
        o.n += n
    else:
        for i in range(n):
            o.p[o.n + i] = PyUnicode_READ(kind, data, i)
        o.n += n
    return 0

cdef int b_int(Buf *o, long long v) except -1:
    reserve(o, 24)
    if v < 0:
        put(o, 45)
        put_dec(o, <unsigned long>(-v))
    else:
        put_dec(o, <unsigned long>v)
    return 0

cdef int b_ascii_bytes(Buf *o, const char *s, Py_ssize_t n) except -1:
    cdef Py_ssize_t i
    reserve(o, n)
    for i in range(n):
        o.p[o.n + i] = <unsigned char>s[i]
    o.n += n
    return 0

cdef int b_double(Buf *o, double d, char code, int prec) except -1:
    """format(d, ".{prec}f") for code 'f', str(d) for code 'r'."""
    cdef char *s = PyOS_double_to_string(d, code, prec,
                                         Py_DTSF_ADD_DOT_0 if code == b'r' else 0, NULL)
    try:
        b_ascii_bytes(o, s, strlen(s))
    finally:
        PyMem_Free(s)
    return 0

cdef int b_esc(Buf *o, object s, list keep) except -1:
    """day_notes.esc: plain text escaped by the Markdown core (s an exact str)."""
    cdef Ent stack_ents[1]
    cdef Ents ev
    ev.a = stack_ents
    ev.n = 0
    ev.cap = 1
    ev.heap = False
    return md_append(o, s, &ev, keep)

cdef struct MdCtx:
    TdCtx td
    PyObject *key           # exact str: the chat's note key (layout.note_key)
    PyObject *username      # exact str or None
    PyObject *dirs          # exact dict
    PyObject *locate        # (chat, msg id) -> unix date or None
    PyObject *note_of       # days since 1970 -> its date (final) or a placeholder
    bint final              # links name notes (else the workers' placeholders)
    bint same_ok            # [[#^m<id>]] for a link into the note being written
    PyObject *lines         # exact dict: index of a service message -> its italic line
    PyObject *names         # exact dict: name -> esc(name), for this call
    bint bail

cdef int md_ctx(MdCtx *c, tuple parts, tuple vault, object lines, list keep) except -1:
    """The façade's parts of a VaultContext as C values: 0 when one is unusual (then the twin
    renders).  `parts`: (chat, peers, files, clock) of its render context; `vault`:
    (key, note_key, username, dirs (chat -> its note key), locate, note_of, final);
    `lines`: the service messages' lines. `keep` holds the objects for as long as `c` is
    used."""
    if len(vault) != 7 or not PyDict_CheckExact(lines):
        return 0
    key, note_key, username, dirs, locate, note_of, final = vault
    keep += [parts, vault, lines]
    if not td_ctx(&c.td, parts):
        return 0
    if not (PyUnicode_CheckExact(key) and PyUnicode_CheckExact(note_key)
            and (username is None or PyUnicode_CheckExact(username))
            and PyDict_CheckExact(dirs)):
        return 0
    c.key = <PyObject *>key
    c.username = <PyObject *>username
    c.dirs = <PyObject *>dirs
    c.locate = <PyObject *>locate
    c.note_of = <PyObject *>note_of
    c.final = final is True
    c.same_ok = c.final and key == note_key
    c.lines = <PyObject *>lines
    names = {}
    keep.append(names)
    c.names = <PyObject *>names
    c.bail = False
    return 1

cdef object md_name(MdCtx *c, Ref *r):
    """ctx.name(ref): the name (any object), None; c.bail on an unusual peers entry."""
    info = info_of(<dict>c.td.peers, r)
    if info is None:
        return None
    if type(info) is not PeerInfo:
        c.bail = True
        return None
    return F(info, PI_NAME)

cdef int b_text(Buf *o, MdCtx *c, object s, list keep) except -1:
    """esc(s) for a value that must be a str."""
    if not PyUnicode_CheckExact(s):
        c.bail = True
        return 0
    return b_esc(o, s, keep)

cdef int b_name(Buf *o, MdCtx *c, object s, list keep) except -1:
    """esc(s) for a peer's name: the same few names recur all day, so each is escaped once."""
    cdef PyObject *p
    cdef Py_ssize_t start = o.n
    if not PyUnicode_CheckExact(s):
        c.bail = True
        return 0
    p = PyDict_GetItem(<object>c.names, s)
    if p != NULL:
        return b_raw(o, <object>p)
    b_esc(o, s, keep)
    (<dict>c.names)[s] = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.p + start,
                                                    o.n - start)
    return 0

cdef int b_ival(Buf *o, MdCtx *c, object v) except -1:
    """f"{v}" of an int field."""
    cdef long long x
    if not i64(v, &x):
        c.bail = True
        return 0
    return b_int(o, x)

cdef int b_size(Buf *o, MdCtx *c, object v) except -1:
    """day_notes._size."""
    cdef long long n
    if not i64(v, &n):
        c.bail = True
        return 0
    if n < (1 << 20):
        b_double(o, <double>n / 1024.0, b'f', 1)
        return b_lit(o, b" KB")
    b_double(o, <double>n / 1048576.0, b'f', 1)
    return b_lit(o, b" MB")

cdef int b_float(Buf *o, MdCtx *c, object v, char code, int prec) except -1:
    if not PyFloat_CheckExact(v):
        c.bail = True
        return 0
    return b_double(o, PyFloat_AS_DOUBLE(v), code, prec)

cdef int b_geo(Buf *o, MdCtx *c, object lat, object lon) except -1:
    """[{lat:.5f}, {lon:.5f}](geo:{lat},{lon})"""
    b_u(o, 91)
    b_float(o, c, lat, b'f', 5)
    b_lit(o, b", ")
    b_float(o, c, lon, b'f', 5)
    b_lit(o, b"](geo:")
    b_float(o, c, lat, b'r', 0)
    b_u(o, 44)
    b_float(o, c, lon, b'r', 0)
    return b_u(o, 41)

cdef Py_ssize_t md_media(Buf *o, MdCtx *c, object media, Py_ssize_t *first_end,
                         list keep) except -1:
    """day_notes.media_lines joined by "\\n"; returns how many lines, and where the first
    one ends in `first_end`."""
    cdef PyObject *p = NULL
    cdef Py_ssize_t i, n, nlines = 1
    tp = type(media)
    if media is None:
        return 0
    if tp is Photo or tp is Document:
        mid = F(media, PH_ID if tp is Photo else D_ID)
        if PyDict_GET_SIZE(<object>c.td.files):
            p = PyDict_GetItem(<object>c.td.files, mid)
        if p != NULL and truthy(<object>p):
            path = <object>p
            if not PyUnicode_CheckExact(path):
                c.bail = True
                return 0
            if PyUnicode_READ(PyUnicode_KIND(path), PyUnicode_DATA(path), 0) != 40:
                if tp is Document and not truthy(F(media, D_MEDIA_TYPE)):
                    c.bail = True                   # a plain file's link: the twin's
                    return 0
                b_lit(o, b"![[")
                b_raw(o, path)
                b_lit(o, b"]]")
                first_end[0] = o.n
                return 1
        if tp is Photo:
            b_lit(o, b"*[photo ")
            b_ival(o, c, F(media, PH_WIDTH))
            b_u(o, 0xD7)                                    # ×
            b_ival(o, c, F(media, PH_HEIGHT))
            b_lit(o, b", ")
            b_size(o, c, F(media, PH_SIZE))
        else:
            mt = F(media, D_MEDIA_TYPE)
            if not truthy(mt):
                b_lit(o, b"*[file")
            elif PyUnicode_CheckExact(mt):
                b_lit(o, b"*[")
                b_raw(o, mt.replace("_", " "))
            else:
                c.bail = True
                return 0
            name = F(media, D_FILE_NAME)
            if truthy(name):
                b_lit(o, b" ")
                b_u(o, 0x201C)                              # “
                b_text(o, c, name, keep)
                b_u(o, 0x201D)                              # ”
            b_lit(o, b", ")
            b_size(o, c, F(media, D_SIZE))
        b_lit(o, b", not downloaded]*")
        first_end[0] = o.n
        return 1
    if tp is Poll:
        b_lit(o, b"**Poll (closed):** " if truthy(F(media, P_CLOSED)) else b"**Poll:** ")
        b_text(o, c, F(media, P_QUESTION), keep)
        first_end[0] = o.n
        b_lit(o, b"\n")
        answers = F(media, P_ANSWERS)
        if not PyList_CheckExact(answers):
            c.bail = True
            return 0
        n = PyList_GET_SIZE(answers)
        for i in range(n):
            a = <object>PyList_GET_ITEM(answers, i)
            if type(a) is not PollAnswer:
                c.bail = True
                return 0
            b_lit(o, b"\n- ")
            b_text(o, c, F(a, PA_TEXT), keep)
            b_lit(o, b" ")
            b_u(o, 0x2014)                                  # —
            b_lit(o, b" ")
            b_ival(o, c, F(a, PA_VOTERS))
            if truthy(F(a, PA_CHOSEN)):
                b_lit(o, b" ")
                b_u(o, 0x2713)                              # ✓
        b_lit(o, b"\n\n*")
        b_ival(o, c, F(media, P_TOTAL))
        b_lit(o, b" voters*")
        return 4 + n
    if tp is Geo:
        b_u(o, 0x1F4CD)                                     # 📍
        b_lit(o, b" ")
        b_geo(o, c, F(media, G_LAT), F(media, G_LON))
    elif tp is Venue:
        b_u(o, 0x1F4CD)
        b_lit(o, b" **")
        b_text(o, c, F(media, V_TITLE), keep)
        b_lit(o, b"**, ")
        b_text(o, c, F(media, V_ADDRESS), keep)
        b_lit(o, b" ")
        b_geo(o, c, F(media, V_LAT), F(media, V_LON))
    elif tp is Contact:
        first, last = F(media, C_FIRST), F(media, C_LAST)
        b_u(o, 0x1F464)                                     # 👤
        b_lit(o, b" ")
        b_text(o, c, " ".join([x for x in (first, last) if x]), keep)
        b_lit(o, b" ")
        b_text(o, c, F(media, C_PHONE), keep)
    elif tp is WebPage:
        url, title, desc = F(media, WP_URL), F(media, WP_TITLE), F(media, WP_DESCRIPTION)
        if not PyUnicode_CheckExact(url):
            c.bail = True
            return 0
        b_lit(o, b"> [")
        b_text(o, c, title if truthy(title) else url, keep)
        b_lit(o, b"](<")
        b_raw(o, url)
        b_lit(o, b">)")
        if truthy(desc):
            b_lit(o, b"  \n> ")
            b_text(o, c, desc, keep)
            first_end[0] = o.n
            return 1            # one line holding a "\n" (the twin's list has one item)
    elif tp is Dice:
        b_text(o, c, F(media, DI_EMOTICON), keep)
        b_lit(o, b" ")
        b_ival(o, c, F(media, DI_VALUE))
    elif tp is Game:
        b_u(o, 0x1F3AE)                                     # 🎮
        b_lit(o, b" ")
        b_text(o, c, F(media, GA_TITLE), keep)
    elif tp is Invoice:
        b_u(o, 0x1F9FE)                                     # 🧾
        b_lit(o, b" ")
        b_text(o, c, F(media, I_TITLE), keep)
        b_lit(o, b" ")
        b_u(o, 0x2014)
        b_lit(o, b" ")
        b_ival(o, c, F(media, I_AMOUNT))
        b_lit(o, b" ")
        b_text(o, c, F(media, I_CURRENCY), keep)
    elif tp is OtherMedia:
        kind = F(media, O_KIND)
        if not PyUnicode_CheckExact(kind):
            c.bail = True
            return 0
        b_lit(o, b"*[")
        b_esc(o, kind.replace("_", " "), keep)
        b_lit(o, b"]*")
    else:
        c.bail = True
        return 0
    first_end[0] = o.n
    return nlines

