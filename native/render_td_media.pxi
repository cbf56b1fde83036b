# ---------------------------------------------------------------- result.json: media
# The media object of one message (result_json._media), its file path or the "not included"
# line, spoiler and self-destruct keys. Uses TdCtx and the writers of render_result_json.pxi.

cdef int w_file(W *w, TdCtx *c, object media_id) except -1:
    """ctx.files.get(id, NOT_INCLUDED)."""
    cdef PyObject *p = NULL
    if PyDict_GET_SIZE(<object>c.files):
        p = PyDict_GetItem(<object>c.files, media_id)
    return w_val(w, <object>p if p != NULL else NOT_INCLUDED)

cdef int w_spoiler_ttl(W *w, object spoiler, object ttl) except -1:
    if truthy(spoiler):
        w_lit(w, b',"media_spoiler":true')
    if truthy(ttl):
        w_key(w, b"self_destruct_period_seconds")
        w_val(w, ttl)
    return 0

cdef int td_media(W *w, TdCtx *c, object media) except -1:
    """result_json._media."""
    cdef object v, h
    cdef double d
    cdef Py_ssize_t i, n
    tp = type(media)
    if tp is Photo:
        w_key(w, b"photo")
        w_file(w, c, F(media, PH_ID))
        v = F(media, PH_SIZE)
        if truthy(v):
            w_key(w, b"photo_file_size")
            w_val(w, v)
        v = F(media, PH_WIDTH)
        if truthy(v):
            w_key(w, b"width")
            w_val(w, v)
            w_key(w, b"height")
            w_val(w, F(media, PH_HEIGHT))
        w_spoiler_ttl(w, F(media, PH_SPOILER), F(media, PH_TTL))
    elif tp is Document:
        w_key(w, b"file")
        w_file(w, c, F(media, D_ID))
        v = F(media, D_FILE_NAME)
        if truthy(v):
            w_key(w, b"file_name")
            w_val(w, v)
        v = F(media, D_SIZE)
        if truthy(v):
            w_key(w, b"file_size")
            w_val(w, v)
        if truthy(F(media, D_THUMB)):
            w_key(w, b"thumbnail")
            w_file(w, c, -F(media, D_ID))                   # a thumbnail's key: -id
            v = F(media, D_THUMB_SIZE)
            if truthy(v):
                w_key(w, b"thumbnail_file_size")
                w_val(w, v)
        mt = F(media, D_MEDIA_TYPE)
        if truthy(mt):
            w_key(w, b"media_type")
            w_val(w, mt)
        v = F(media, D_STICKER)
        if truthy(v):
            w_key(w, b"sticker_emoji")
            w_val(w, v)
        v = F(media, D_PERFORMER)
        if truthy(v):
            w_key(w, b"performer")
            w_val(w, v)
        v = F(media, D_TITLE)
        if truthy(v):
            w_key(w, b"title")
            w_val(w, v)
        v = F(media, D_MIME)
        if truthy(v):
            w_key(w, b"mime_type")
            w_val(w, v)
        v = F(media, D_DURATION)
        if PyFloat_CheckExact(v):
            d = PyFloat_AS_DOUBLE(v)
            if d != 0.0:
                if not (isfinite(d) and -9.2e18 < d < 9.2e18):
                    w.bail = True
                    return 0
                if <long long>d != 0:    # whole seconds, as Telegram Desktop: 0.4 s is none
                    w_key(w, b"duration_seconds")
                    w_int(w, <long long>d)
        elif truthy(v):
            w_key(w, b"duration_seconds")
            w_val(w, v if PyLong_CheckExact(v) else int(v))
        v = F(media, D_WIDTH)
        if truthy(v) and not ascii_is(mt, b"voice_message"):
            if not (mt is None or PyUnicode_CheckExact(mt)):
                w.bail = True
                return 0
            w_key(w, b"width")
            w_val(w, v)
            w_key(w, b"height")
            w_val(w, F(media, D_HEIGHT))
        w_spoiler_ttl(w, F(media, D_SPOILER), F(media, D_TTL))
    elif tp is Contact:
        w_lit(w, b',"contact_information":{"first_name":')
        w_val(w, F(media, C_FIRST))
        w_lit(w, b',"last_name":')
        w_val(w, F(media, C_LAST))
        w_lit(w, b',"phone_number":')
        w_val(w, F(media, C_PHONE))
        w_char(w, 125)
        if truthy(F(media, C_VCARD)):
            w_key(w, b"contact_vcard")
            w_val(w, NOT_INCLUDED)
    elif tp is Geo:
        w_lit(w, b',"location_information":{"latitude":')
        w_val(w, F(media, G_LAT))
        w_lit(w, b',"longitude":')
        w_val(w, F(media, G_LON))
        w_char(w, 125)
        v = F(media, G_LIVE)
        if truthy(v):
            w_key(w, b"live_location_period_seconds")
            w_val(w, v)
    elif tp is Venue:
        w_key(w, b"place_name")
        w_val(w, F(media, V_TITLE))
        w_key(w, b"address")
        w_val(w, F(media, V_ADDRESS))
        w_lit(w, b',"location_information":{"latitude":')
        w_val(w, F(media, V_LAT))
        w_lit(w, b',"longitude":')
        w_val(w, F(media, V_LON))
        w_char(w, 125)
    elif tp is Game:
        w_key(w, b"game_title")
        w_val(w, F(media, GA_TITLE))
        w_key(w, b"game_description")
        w_val(w, F(media, GA_DESCRIPTION))
    elif tp is Invoice:
        w_lit(w, b',"invoice_information":{"title":')
        w_val(w, F(media, I_TITLE))
        w_lit(w, b',"description":')
        w_val(w, F(media, I_DESCRIPTION))
        w_lit(w, b',"amount":')
        w_val(w, F(media, I_AMOUNT))
        w_lit(w, b',"currency":')
        w_val(w, F(media, I_CURRENCY))
        v = F(media, I_RECEIPT)
        if truthy(v):
            w_key(w, b"receipt_message_id")
            w_val(w, v)
        w_char(w, 125)
    elif tp is Poll:
        w_lit(w, b',"poll":{"question":')
        w_val(w, F(media, P_QUESTION))
        w_lit(w, b',"closed":')
        w_val(w, F(media, P_CLOSED))
        w_lit(w, b',"total_voters":')
        w_val(w, F(media, P_TOTAL))
        w_lit(w, b',"answers":[')
        answers = F(media, P_ANSWERS)
        if not PyList_CheckExact(answers):
            w.bail = True
            return 0
        n = PyList_GET_SIZE(answers)
        for i in range(n):
            a = <object>PyList_GET_ITEM(answers, i)
            if type(a) is not PollAnswer:
                w.bail = True
                return 0
            w_lit(w, b'{"text":' if i == 0 else b',{"text":')
            w_val(w, F(a, PA_TEXT))
            w_lit(w, b',"voters":')
            w_val(w, F(a, PA_VOTERS))
            w_lit(w, b',"chosen":')
            w_val(w, F(a, PA_CHOSEN))
            w_char(w, 125)
        w_lit(w, b"]}")
    elif not (tp is WebPage or tp is Dice or tp is OtherMedia):
        w.bail = True       # not a model media kind: let the twin decide
    return 0
