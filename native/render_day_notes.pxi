cdef int b_link(Buf *o, MdCtx *c, Ref *target, object msg_id, long long mid,
                long long home) except -1:
    """day_notes.block_link(vctx, target, msg_id, "reply to", home) for a block of the note
    of day ``home`` (days since 1970)."""
    cdef long long when, local, day
    cdef bint own = ref_eq(target, &c.td.chat)
    # a migrated group's history is the chat's own, numbered as in result.json (vault_id)
    cdef bint migrated = not own and target.kind == P_CHAT
    ts = (<object>c.locate)(<object>target.obj, msg_id)
    if migrated:
        mid -= 1_000_000_000
        own = True
    if own:
        key = <object>c.key
    else:
        p = PyDict_GetItem(<object>c.dirs, <object>target.obj)
        key = <object>p if p != NULL else None
    if ts is None or key is None:
        b_lit(o, b"reply to ")      # esc() leaves "reply to <int>" as it is (- too)
        return b_int(o, mid)
    if not (PyUnicode_CheckExact(key) and i64(ts, &when)):
        c.bail = True
        return 0
    # the target's day by the clock's rule, the one that put that message in its note
    local_secs(<object>c.td.clock, when, &local)
    day = floordiv(local, 86400)
    path = (<object>c.note_of)(day)
    if not PyUnicode_CheckExact(path):
        c.bail = True
        return 0
    b_lit(o, b"[[")
    if not c.final:
        b_raw(o, path)
    elif not (own and c.same_ok and day == home):
        b_raw(o, path)
        b_u(o, 32)
        b_raw(o, key)
    b_lit(o, b"#^m")
    b_int(o, mid)
    b_lit(o, b"|reply to ")
    b_int(o, mid)
    return b_lit(o, b"]]")

cdef int md_quote(Buf *o, Py_ssize_t begin, long long mid) except -1:
    """day_notes.quoted: o.p[begin:] as a quote ("> " before each line, ">" alone for an
    empty one), then "\n\n^m<id>"."""
    cdef Py_ssize_t i, n = o.n, extra = 0, start = begin, dst, end, size
    for i in range(begin, n + 1):
        if i == n or o.p[i] == 10:
            extra += 1 if i == start else 2
            start = i + 1
    reserve(o, extra)
    dst = n + extra
    end = n
    while True:                     # the lines from the last, each moved to its place
        start = end
        while start > begin and o.p[start - 1] != 10:
            start -= 1
        size = end - start
        dst -= size
        memmove(o.p + dst, o.p + start, size * sizeof(U4))
        if size:
            dst -= 2
            o.p[dst] = 62
            o.p[dst + 1] = 32
        else:
            dst -= 1
            o.p[dst] = 62
        if start == begin:
            break
        dst -= 1
        o.p[dst] = 10
        end = start - 1
    o.n = n + extra
    b_lit(o, b"\n\n^m")
    return b_int(o, mid)

cdef int md_block(Buf *o, MdCtx *c, object messages, Py_ssize_t start, Py_ssize_t count,
                  list keep) except -1:
    """day_notes.message_block for messages[start:start + count] (c.bail: the twin's).
    A service message's line is the twin's service_line, handed over in c.lines."""
    cdef object first = <object>PyList_GET_ITEM(messages, start)
    cdef object x, v
    cdef Ref chat, sender, r
    cdef long long date, mid, xid, local, home
    cdef Stamp s
    cdef Py_ssize_t k, i, j, nl, pos0, line0, fe, nr
    cdef Py_ssize_t begin = o.n
    cdef bint any_deleted = False
    cdef bint reacted = False
    cdef Ent stack_ents[STACK_ENTS]
    cdef Ents ev
    for k in range(count):
        x = <object>PyList_GET_ITEM(messages, start + k)
        if type(x) is not Message:
            c.bail = True
            return 0
        if F(x, M_DELETED) is not None:
            any_deleted = True
    type_ = F(first, M_TYPE)
    if not PyUnicode_CheckExact(type_):
        c.bail = True
        return 0
    service = ascii_is(type_, b"service")
    if not (i64(F(first, M_DATE), &date) and i64(F(first, M_ID), &mid)
            and ref_of(F(first, M_CHAT), &chat) and chat.kind != P_NONE
            and ref_of(F(first, M_FROM), &sender)):
        c.bail = True
        return 0
    if not ref_eq(&chat, &c.td.chat) and chat.kind == P_CHAT:
        mid -= 1_000_000_000    # a migrated basic group's history, numbered as in result.json
    # header: **HH:MM** · sender · [t.me](link) · *edited* · *deleted on Telegram*
    stamp_of(<object>c.td.clock, date, &s)
    local_secs(<object>c.td.clock, date, &local)
    home = floordiv(local, 86400)
    reserve(o, 9)
    puts(o, b"**")
    put(o, 48 + <U4>(s.hour // 10))
    put(o, 48 + <U4>(s.hour % 10))
    put(o, 58)
    put(o, 48 + <U4>(s.minute // 10))
    put(o, 48 + <U4>(s.minute % 10))
    puts(o, b"**")
    if sender.kind == P_NONE and (truthy(F(first, M_POST)) or chat.kind == P_CHANNEL):
        sender = chat
    name = md_name(c, &sender) if sender.kind != P_NONE else None
    if truthy(name) and not service:
        b_dot(o)
        b_name(o, c, name, keep)
    if chat.kind == P_CHANNEL:
        b_dot(o)
        b_lit(o, b"[t.me](https://t.me/")
        if c.username != Py_None and PyUnicode_GET_LENGTH(<object>c.username):
            b_raw(o, <object>c.username)
        else:
            b_lit(o, b"c/")
            b_int(o, chat.id)
        b_u(o, 47)
        b_int(o, mid)
        b_u(o, 41)
    if truthy(F(first, M_EDIT)):
        b_dot(o)
        b_lit(o, b"*edited*")
    if any_deleted:
        b_dot(o)
        b_lit(o, b"*deleted on Telegram*")
    if service:                 # one italic line, written by the twin
        p = PyDict_GetItem(<object>c.lines, start)
        if p == NULL or not PyUnicode_CheckExact(<object>p):
            c.bail = True
            return 0
        line = <object>p
        b_lit(o, b"\n\n")
        b_raw(o, line)
        return md_quote(o, begin, mid)
    if ascii_is(type_, b"empty"):
        b_lit(o, b"\n\n*[message unavailable]*")
        return md_quote(o, begin, mid)
    # reply and forward lines
    pos0 = o.n
    b_lit(o, b"\n\n")
    line0 = o.n
    x = F(first, M_REPLY)
    if x is not None:
        if type(x) is not ReplyTo:
            c.bail = True
            return 0
        v = F(x, RT_MSG_ID)
        if truthy(v) and not (truthy(F(x, RT_FORUM)) and F(x, RT_TOP_ID) is None):
            if not (i64(v, &xid) and ref_of(F(x, RT_PEER), &r)):
                c.bail = True
                return 0
            if r.kind == P_NONE:
                r = chat
            b_u(o, 0x21AA)                                  # ↪
            b_u(o, 32)
            b_link(o, c, &r, v, xid, home)
    x = F(first, M_FORWARD)
    if x is not None:
        if type(x) is not Forward:
            c.bail = True
            return 0
        if o.n > line0:
            b_lit(o, b"  \n")
        src = F(x, FW_FROM_NAME)
        if not truthy(src):
            if not ref_of(F(x, FW_FROM_PEER), &r):
                c.bail = True
                return 0
            src = md_name(c, &r)
            if not truthy(src):
                src = "unknown"
        b_lit(o, b"*Forwarded from ")
        b_name(o, c, src, keep)
        b_u(o, 42)
    if o.n == line0:
        o.n = pos0
    # texts
    for k in range(count):
        x = <object>PyList_GET_ITEM(messages, start + k)
        v = F(x, M_TEXT)
        if not PyUnicode_CheckExact(v):
            c.bail = True
            return 0
        if PyUnicode_GET_LENGTH(v):
            b_lit(o, b"\n\n")
            ents_init(&ev, stack_ents)
            try:
                if model_ents(&ev, v, F(x, M_ENTITIES)) != 1:
                    c.bail = True
                    return 0
                md_append(o, v, &ev, keep)
            finally:
                if ev.heap:
                    free(ev.a)
    # the first message's media
    pos0 = o.n
    b_lit(o, b"\n\n")
    fe = o.n
    nl = md_media(o, c, F(first, M_MEDIA), &fe, keep)
    if c.bail:
        return 0
    if nl == 0:
        o.n = pos0
    # reactions of the whole group
    for k in range(count):
        x = <object>PyList_GET_ITEM(messages, start + k)
        v = F(x, M_REACTIONS)
        if not PyList_CheckExact(v):
            c.bail = True
            return 0
        nr = PyList_GET_SIZE(v)
        for i in range(nr):
            rx = <object>PyList_GET_ITEM(v, i)
            if type(rx) is not Reaction:
                c.bail = True
                return 0
            if reacted:
                b_dot(o)
            else:
                b_lit(o, b"\n\n")
                reacted = True
            kind = F(rx, RE_KIND)
            if ascii_is(kind, b"emoji"):
                em = F(rx, RE_EMOJI)
                if truthy(em):
                    b_text(o, c, em, keep)
                b_u(o, 32)
            elif ascii_is(kind, b"custom_emoji"):
                b_lit(o, b"[custom emoji] ")
            elif PyUnicode_CheckExact(kind):
                b_u(o, 0x2B50)                              # ⭐
                b_u(o, 32)
            else:
                c.bail = True
                return 0
            b_ival(o, c, F(rx, RE_COUNT))
    md_quote(o, begin, mid)
    # an album's other messages: a block each, with its media
    for k in range(1, count):
        x = <object>PyList_GET_ITEM(messages, start + k)
        if not i64(F(x, M_ID), &xid):
            c.bail = True
            return 0
        if not ref_eq(&chat, &c.td.chat) and chat.kind == P_CHAT:
            xid -= 1_000_000_000
        b_lit(o, b"\n\n")
        pos0 = o.n
        fe = o.n
        nl = md_media(o, c, F(x, M_MEDIA), &fe, keep)
        if c.bail:
            return 0
        if nl == 0:
            b_lit(o, b"*[no media]*")
        md_quote(o, pos0, xid)
    return 0

cdef inline int b_dot(Buf *o) except -1:
    """ · """
    reserve(o, 3)
    put(o, 32)
    put(o, 0xB7)
    put(o, 32)
    return 0

cdef object utf8(Buf *o):
    """The buffer as UTF-8 bytes, or None when it holds a surrogate (the twin raises)."""
    cdef Py_ssize_t i, n = o.n, size = o.n
    cdef U4 c
    cdef const U4 *src = o.p
    cdef unsigned int bad = 0
    cdef unsigned char *p
    for i in range(n):                  # branch-free, so the compiler vectorizes it
        c = src[i]
        size += (c > 0x7F) + (c > 0x7FF) + (c > 0xFFFF)
        bad |= (c - 0xD800) <= 0x7FF
    if bad:
        return None
    out = PyBytes_FromStringAndSize(NULL, size)
    p = <unsigned char *>PyBytes_AS_STRING(out)
    i = 0
    while i < n:
        c = src[i]
        i += 1
        if c < 0x80:
            p[0] = <unsigned char>c
            p += 1
        elif c < 0x800:
            p[0] = <unsigned char>(0xC0 | (c >> 6))
            p[1] = <unsigned char>(0x80 | (c & 0x3F))
            p += 2
        elif c < 0x10000:
            p[0] = <unsigned char>(0xE0 | (c >> 12))
            p[1] = <unsigned char>(0x80 | ((c >> 6) & 0x3F))
            p[2] = <unsigned char>(0x80 | (c & 0x3F))
            p += 3
        else:
            p[0] = <unsigned char>(0xF0 | (c >> 18))
            p[1] = <unsigned char>(0x80 | ((c >> 12) & 0x3F))
            p[2] = <unsigned char>(0x80 | ((c >> 6) & 0x3F))
            p[3] = <unsigned char>(0x80 | (c & 0x3F))
            p += 4
    return out

cdef Py_ssize_t group_end(object messages, Py_ssize_t i, Py_ssize_t n) except -1:
    """day_notes._groups: where the group starting at messages[i] ends (-1: unusual)."""
    cdef object first = <object>PyList_GET_ITEM(messages, i)
    cdef object g, x, gx
    cdef Py_ssize_t j = i + 1
    if type(first) is not Message:
        return -1
    g = F(first, M_GROUPED)
    while j < n:
        x = <object>PyList_GET_ITEM(messages, j)
        if type(x) is not Message:
            return -1
        gx = F(x, M_GROUPED)
        if not truthy(gx):
            break
        if not (PyLong_CheckExact(gx) and (g is None or PyLong_CheckExact(g))):
            return -1
        if g is None or gx != g or not ascii_is(F(x, M_TYPE), b"message"):
            if not PyUnicode_CheckExact(F(x, M_TYPE)):
                return -1
            break
        j += 1
    return j
