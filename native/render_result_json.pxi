# ---------------------------------------------------------------- result.json: message

cdef object NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"

cdef struct TdCtx:
    Ref chat
    PyObject *peers         # exact dict
    PyObject *files         # exact dict
    PyObject *clock         # the context's LocalClock
    PyObject *action        # this message's action keys (orjson bytes) or None

cdef bint td_ctx(TdCtx *c, tuple parts) except -1:
    """The façade's (chat, peers, files, clock) as C values: False when one is unusual
    (then the twin renders).  The caller holds `parts` for as long as `c` is used."""
    if len(parts) != 4:
        return False
    chat, peers, files, clock = parts
    if not (ref_of(chat, &c.chat) and c.chat.kind != P_NONE and PyDict_CheckExact(peers)
            and PyDict_CheckExact(files)):
        return False
    c.peers = <PyObject *>peers
    c.files = <PyObject *>files
    c.clock = <PyObject *>clock
    c.action = Py_None
    return True

cdef int w_name(W *w, TdCtx *c, Ref *r) except -1:
    """ctx.name(ref) as a JSON value."""
    info = info_of(<dict>c.peers, r)
    if info is None:
        return w_lit(w, b"null")
    if type(info) is not PeerInfo:
        w.bail = True
        return 0
    return w_val(w, F(info, PI_NAME))

cdef int td_reactions(W *w, TdCtx *c, object reactions) except -1:
    cdef Py_ssize_t i, j, n, nr
    cdef long long ts
    cdef Ref r
    n = PyList_GET_SIZE(reactions)
    w_lit(w, b',"reactions":[')
    for i in range(n):
        x = <object>PyList_GET_ITEM(reactions, i)
        if type(x) is not Reaction:
            w.bail = True
            return 0
        kind = F(x, RE_KIND)
        w_lit(w, b'{"type":' if i == 0 else b',{"type":')
        w_val(w, kind)
        w_lit(w, b',"count":')
        w_val(w, F(x, RE_COUNT))
        if ascii_is(kind, b"emoji"):
            w_key(w, b"emoji")
            w_val(w, F(x, RE_EMOJI))
        elif ascii_is(kind, b"custom_emoji"):
            v = F(x, RE_DOC)
            w_key(w, b"document_id")
            if PyLong_CheckExact(v):
                w_val(w, str(v))
            elif v is None:
                w_lit(w, b'"None"')
            else:
                w.bail = True
                return 0
        recent = F(x, RE_RECENT)
        if not PyList_CheckExact(recent):
            w.bail = True
            return 0
        nr = PyList_GET_SIZE(recent)
        if nr:
            w_lit(w, b',"recent":[')
            for j in range(nr):
                y = <object>PyList_GET_ITEM(recent, j)
                if type(y) is not Reactor or not ref_of(F(y, RR_PEER), &r) \
                        or r.kind == P_NONE or not i64(F(y, RR_DATE), &ts):
                    w.bail = True
                    return 0
                w_lit(w, b'{"from":' if j == 0 else b',{"from":')
                w_name(w, c, &r)
                w_lit(w, b',"from_id":')
                w_peer_id(w, &r)
                w_lit(w, b',"date":')
                w_stamp(w, <object>c.clock, ts)
                w_char(w, 125)
            w_char(w, 93)
        w_char(w, 125)
    return w_char(w, 93)

cdef int td_message(W *w, TdCtx *c, object msg) except -1:
    """result_json.message_dict + orjson.dumps, for the common shapes (else w.bail)."""
    cdef long long mid, date, v
    cdef Ref chat, sender, r
    cdef object type_, x
    if type(msg) is not Message:
        w.bail = True
        return 0
    if not (i64(F(msg, M_ID), &mid) and ref_of(F(msg, M_CHAT), &chat) and chat.kind != P_NONE):
        w.bail = True
        return 0
    type_ = F(msg, M_TYPE)
    if not ref_eq(&chat, &c.chat) and chat.kind == P_CHAT:
        mid -= 1_000_000_000    # history of the basic group this one migrated from
    w_lit(w, b'{"id":')
    w_int(w, mid)
    if ascii_is(type_, b"empty"):
        return w_lit(w, b',"type":"unsupported"}')
    w_key(w, b"type")
    w_val(w, type_)
    if not i64(F(msg, M_DATE), &date):
        w.bail = True
        return 0
    w_key(w, b"date")
    w_stamp(w, <object>c.clock, date)
    w_lit(w, b',"date_unixtime":"')
    w_int(w, date)
    w_char(w, 34)
    x = F(msg, M_EDIT)
    if truthy(x):
        if not i64(x, &v):
            w.bail = True
            return 0
        w_key(w, b"edited")
        w_stamp(w, <object>c.clock, v)
        w_lit(w, b',"edited_unixtime":"')
        w_int(w, v)
        w_char(w, 34)
    if not ref_of(F(msg, M_FROM), &sender):
        w.bail = True
        return 0
    if sender.kind == P_NONE and (truthy(F(msg, M_POST)) or chat.kind == P_CHANNEL):
        sender = chat
    if ascii_is(type_, b"service"):
        w_key(w, b"actor")
        w_name(w, c, &sender)
        if sender.kind != P_NONE:
            w_key(w, b"actor_id")
            w_peer_id(w, &sender)
        td_action(w, c, msg)
    else:
        td_sent(w, c, msg, &chat, &sender)
    if w.bail:
        return 0
    td_text_json(w, F(msg, M_TEXT), F(msg, M_ENTITIES))
    x = F(msg, M_BUTTONS)
    if truthy(x):
        td_buttons(w, x)
        if w.bail:
            return 0
    x = F(msg, M_REACTIONS)
    if truthy(x):
        if not PyList_CheckExact(x):
            w.bail = True
            return 0
        td_reactions(w, c, x)
    return w_char(w, 125)


cdef int td_buttons(W *w, object rows) except -1:
    """result_json._buttons: the inline keyboard, row by row (w.bail for callback data
    that is not UTF-8, which the twin writes as base64)."""
    cdef Py_ssize_t i, j
    if not PyList_CheckExact(rows):
        w.bail = True
        return 0
    w_lit(w, b',"inline_bot_buttons":[')
    for i in range(PyList_GET_SIZE(rows)):
        row = <object>PyList_GET_ITEM(rows, i)
        if not PyList_CheckExact(row):
            w.bail = True
            return 0
        w_lit(w, b"[" if i == 0 else b",[")
        for j in range(PyList_GET_SIZE(row)):
            b = <object>PyList_GET_ITEM(row, j)
            if type(b) is not Button:
                w.bail = True
                return 0
            w_lit(w, b'{"type":' if j == 0 else b',{"type":')
            w_val(w, F(b, BT_KIND))
            w_key(w, b"text")
            w_val(w, F(b, BT_TEXT))
            data, url = F(b, BT_DATA), F(b, BT_URL)
            if data is not None:
                if not PyBytes_CheckExact(data):
                    w.bail = True
                    return 0
                try:
                    data = (<bytes>data).decode("utf-8")
                except UnicodeDecodeError:
                    w.bail = True
                    return 0
            if truthy(url):             # the twin's "data" key, the url its value
                data = url
            if data is not None:
                w_key(w, b"data")
                w_val(w, data)
            x = F(b, BT_FORWARD)
            if truthy(x):
                w_key(w, b"forward_text")
                w_val(w, x)
            x = F(b, BT_ID)
            if x is not None:
                w_key(w, b"button_id")
                w_val(w, x)
            w_char(w, 125)
        w_char(w, 93)
    return w_char(w, 93)


cdef int td_action(W *w, TdCtx *c, object msg) except -1:
    """A service message's action keys: the twin's action_keys, as orjson wrote them, which
    the façade hands over (None: the twin renders the whole message)."""
    cdef object b = <object>c.action
    if type(b) is not bytes or PyBytes_GET_SIZE(b) < 2:
        w.bail = True
        return 0
    if PyBytes_GET_SIZE(b) > 2:             # not b"{}"
        w_char(w, 44)
        w_res(w, PyBytes_GET_SIZE(b) - 2)
        memcpy(w.p + w.n, PyBytes_AS_STRING(b) + 1, PyBytes_GET_SIZE(b) - 2)
        w.n += PyBytes_GET_SIZE(b) - 2
    return 0


cdef int td_sent(W *w, TdCtx *c, object msg, Ref *chat, Ref *sender) except -1:
    """The keys of a message that is not a service message, from "from" to the media."""
    cdef Ref r
    cdef object x
    w_key(w, b"from")
    w_name(w, c, sender)
    if sender.kind != P_NONE:
        w_key(w, b"from_id")
        w_peer_id(w, sender)
    x = F(msg, M_AUTHOR)
    if truthy(x):
        w_key(w, b"author")
        w_val(w, x)
    x = F(msg, M_FORWARD)
    if x is not None:
        if type(x) is not Forward:
            w.bail = True
            return 0
        w_key(w, b"forwarded_from")
        name = F(x, FW_FROM_NAME)
        if truthy(name):
            w_val(w, name)
        elif ref_of(F(x, FW_FROM_PEER), &r):
            w_name(w, c, &r)
        else:
            w.bail = True
            return 0
        if F(x, FW_SAVED_FROM) is not None:
            if not ref_of(F(x, FW_SAVED_FROM), &r):
                w.bail = True
                return 0
            w_key(w, b"saved_from")
            w_name(w, c, &r)
    x = F(msg, M_REPLY)
    if x is not None:
        if type(x) is not ReplyTo:
            w.bail = True
            return 0
        reply_id = F(x, RT_MSG_ID)
        if truthy(reply_id):          # a forum message's implicit reply to its topic too
            w_key(w, b"reply_to_message_id")
            if F(x, RT_PEER) is None and not ref_eq(chat, &c.chat) and chat.kind == P_CHAT:
                w_val(w, reply_id - 1_000_000_000)    # within the migrated history
            else:
                w_val(w, reply_id)
            if F(x, RT_PEER) is not None:
                if not ref_of(F(x, RT_PEER), &r):
                    w.bail = True
                    return 0
                if not ref_eq(&r, chat):
                    w_key(w, b"reply_to_peer_id")
                    w_peer_id(w, &r)
    x = F(msg, M_VIA)
    if truthy(x):
        via = (<dict>c.peers).get(PeerRef("user", x))
        if via is not None and type(via) is not PeerInfo:
            w.bail = True
            return 0
        if via is not None and truthy(F(via, PI_USERNAME)):
            w_key(w, b"via_bot")
            w_val(w, "@" + F(via, PI_USERNAME))
    x = F(msg, M_MEDIA)
    if x is not None:
        if not truthy(F(msg, M_OUT)) and (
                type(x) is Photo and truthy(F(x, PH_TTL))
                or type(x) is Document and truthy(F(x, D_TTL))):
            w.bail = True       # an incoming self-destructing file (result_json.gone): rare
            return 0
        td_media(w, c, x)
    return 0


cdef object w_bytes(W *w):
    return PyBytes_FromStringAndSize(w.p, w.n)


def fragment(msg, tuple parts not None, action):
    """result_json.fragment: one message as its result.json object (bytes, no newline), or
    None when the twin must write it.  `parts`: (chat, peers, files, clock) of the context;
    `action`: a service message's action keys as orjson bytes."""
    cdef W w
    cdef TdCtx c
    cdef char buf[WBUF]
    if not td_ctx(&c, parts):
        return None
    c.action = <PyObject *>action
    w_init(&w, buf, WBUF)
    try:
        td_message(&w, &c, msg)
        return None if w.bail else w_bytes(&w)
    finally:
        w_free(&w)


def fragments(list msgs not None, tuple parts not None, dict actions not None):
    """result_json.fragments: [fragment(msg, ...) for msg in msgs], None where the twin must
    write; `actions`: index -> a service message's action keys."""
    cdef W w
    cdef TdCtx c
    cdef list out = []
    cdef char buf[WBUF]
    cdef Py_ssize_t i
    cdef PyObject *a
    if not td_ctx(&c, parts):
        return [None] * len(msgs)
    w_init(&w, buf, WBUF)
    try:
        for i in range(PyList_GET_SIZE(msgs)):
            msg = <object>PyList_GET_ITEM(msgs, i)
            a = PyDict_GetItem(actions, i) if PyDict_GET_SIZE(actions) else NULL
            c.action = a if a != NULL else Py_None
            w.n = 0
            w.bail = False
            td_message(&w, &c, msg)
            out.append(None if w.bail else w_bytes(&w))
    finally:
        w_free(&w)
    return out
