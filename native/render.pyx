# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native renderers: result.json fragments, JSONL lines, vault day notes and the day split.

The pure-Python twins are engine/render/result_json.py (``fragment``, ``fragments``),
engine/render/messages_jsonl.py (``jsonl_line``, ``jsonl_lines``) and
engine/render/day_notes.py (``day_note``, ``days``); those modules choose between this build
and themselves (``TGARC_RENDER_IMPL=pure`` forces the twins) and are the reference reading:
every function here produces their output byte for byte, and tests/test_render.py and
tests/test_render_md.py prove it on the corpus and on random messages.

How it stays identical without repeating every rule: the common shapes are written here
straight into a byte (result.json) or UCS4 (Markdown) buffer, reading the model Structs'
fields at their slot offsets.  A few rare parts are asked of the twin and spliced in: a
service message's action keys (result_json._action) and its italic line
(day_notes.service_line), a note's front matter, a reply link's target day.  Anything
else -- inline buttons, a field of an unexpected type or an int past 62 bits, a context
subclass -- makes the writer *bail*, and that message (or album, or whole call) is
rendered by the twin instead.  Bailing is never an error; it only costs the twin's time.
The text itself goes through the native text core (native/textcore.pxi, included below),
the same C as engine._native.text; JSONL is msgspec's encoder with the glue in C.
"""

include "textcore.pxi"

import datetime as _dt
import importlib

import orjson

from engine import model as _model

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_SIZE
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem
from cpython.unicode cimport PyUnicode_CheckExact
from libc.math cimport isfinite
from libc.string cimport strlen

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    char *PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int *ptype) except NULL
    void PyMem_Free(void *p)
    int Py_DTSF_ADD_DOT_0
    bint PyUnicode_IS_ASCII(object u)
    PyObject *Py_None
    Py_ssize_t PyDict_GET_SIZE(object o)

IMPLEMENTATION = "native"

# ---------------------------------------------------------------- model field access
#
# msgspec Structs keep their fields in slots; a member descriptor knows each one's offset.
# Objects are read at those offsets only after an exact type check.

cdef object Message = _model.Message
cdef object PeerRef = _model.PeerRef
cdef object PeerInfo = _model.PeerInfo
cdef object Entity = _model.Entity
cdef object ReplyTo = _model.ReplyTo
cdef object Forward = _model.Forward
cdef object Reaction = _model.Reaction
cdef object Reactor = _model.Reactor
cdef object Photo = _model.Photo
cdef object Document = _model.Document
cdef object Geo = _model.Geo
cdef object Venue = _model.Venue
cdef object Contact = _model.Contact
cdef object Poll = _model.Poll
cdef object PollAnswer = _model.PollAnswer
cdef object WebPage = _model.WebPage
cdef object Game = _model.Game
cdef object Invoice = _model.Invoice
cdef object Dice = _model.Dice
cdef object OtherMedia = _model.OtherMedia


cdef Py_ssize_t slot(object tp, str name) except -1:
    descr = tp.__dict__[name]
    if type(descr).__name__ != "member_descriptor":
        raise ImportError(f"engine._native.render: {tp.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject *><PyObject *>descr).d_member.offset


cdef inline object F(object o, Py_ssize_t off):
    """Field of a Struct at a slot offset (the caller checked the type)."""
    cdef PyObject *p = (<PyObject **>((<char *><PyObject *>o) + off))[0]
    if p == NULL:
        raise AttributeError("unset field")
    return <object>p


cdef Py_ssize_t M_ID = slot(Message, "id")
cdef Py_ssize_t M_CHAT = slot(Message, "chat")
cdef Py_ssize_t M_DATE = slot(Message, "date")
cdef Py_ssize_t M_TYPE = slot(Message, "type")
cdef Py_ssize_t M_FROM = slot(Message, "from_peer")
cdef Py_ssize_t M_POST = slot(Message, "post")
cdef Py_ssize_t M_TEXT = slot(Message, "text")
cdef Py_ssize_t M_ENTITIES = slot(Message, "entities")
cdef Py_ssize_t M_REPLY = slot(Message, "reply_to")
cdef Py_ssize_t M_FORWARD = slot(Message, "forward")
cdef Py_ssize_t M_MEDIA = slot(Message, "media")
cdef Py_ssize_t M_EDIT = slot(Message, "edit_date")
cdef Py_ssize_t M_GROUPED = slot(Message, "grouped_id")
cdef Py_ssize_t M_AUTHOR = slot(Message, "post_author")
cdef Py_ssize_t M_VIA = slot(Message, "via_bot_id")
cdef Py_ssize_t M_TOPIC = slot(Message, "topic_id")
cdef Py_ssize_t M_REACTIONS = slot(Message, "reactions")
cdef Py_ssize_t M_BUTTONS = slot(Message, "buttons")
cdef Py_ssize_t M_DELETED = slot(Message, "deleted_at")

cdef Py_ssize_t R_KIND = slot(PeerRef, "kind")
cdef Py_ssize_t R_ID = slot(PeerRef, "id")
cdef Py_ssize_t PI_NAME = slot(PeerInfo, "name")
cdef Py_ssize_t PI_USERNAME = slot(PeerInfo, "username")

cdef Py_ssize_t E_KIND = slot(Entity, "kind")
cdef Py_ssize_t E_OFFSET = slot(Entity, "offset")
cdef Py_ssize_t E_LENGTH = slot(Entity, "length")
cdef Py_ssize_t E_URL = slot(Entity, "url")
cdef Py_ssize_t E_LANGUAGE = slot(Entity, "language")
cdef Py_ssize_t E_USER_ID = slot(Entity, "user_id")
cdef Py_ssize_t E_DOCUMENT_ID = slot(Entity, "document_id")
cdef Py_ssize_t E_COLLAPSED = slot(Entity, "collapsed")

cdef Py_ssize_t RT_MSG_ID = slot(ReplyTo, "msg_id")
cdef Py_ssize_t RT_TOP_ID = slot(ReplyTo, "top_id")
cdef Py_ssize_t RT_PEER = slot(ReplyTo, "peer")
cdef Py_ssize_t RT_FORUM = slot(ReplyTo, "forum_topic")

cdef Py_ssize_t FW_FROM_PEER = slot(Forward, "from_peer")
cdef Py_ssize_t FW_FROM_NAME = slot(Forward, "from_name")
cdef Py_ssize_t FW_SAVED_FROM = slot(Forward, "saved_from_peer")

cdef Py_ssize_t RE_KIND = slot(Reaction, "kind")
cdef Py_ssize_t RE_COUNT = slot(Reaction, "count")
cdef Py_ssize_t RE_EMOJI = slot(Reaction, "emoji")
cdef Py_ssize_t RE_DOC = slot(Reaction, "document_id")
cdef Py_ssize_t RE_RECENT = slot(Reaction, "recent")
cdef Py_ssize_t RR_PEER = slot(Reactor, "peer")
cdef Py_ssize_t RR_DATE = slot(Reactor, "date")

cdef Py_ssize_t PH_ID = slot(Photo, "id")
cdef Py_ssize_t PH_WIDTH = slot(Photo, "width")
cdef Py_ssize_t PH_HEIGHT = slot(Photo, "height")
cdef Py_ssize_t PH_SIZE = slot(Photo, "size")
cdef Py_ssize_t PH_SPOILER = slot(Photo, "spoiler")
cdef Py_ssize_t PH_TTL = slot(Photo, "ttl_seconds")

cdef Py_ssize_t D_ID = slot(Document, "id")
cdef Py_ssize_t D_FILE_NAME = slot(Document, "file_name")
cdef Py_ssize_t D_SIZE = slot(Document, "size")
cdef Py_ssize_t D_THUMB = slot(Document, "has_thumb")
cdef Py_ssize_t D_MEDIA_TYPE = slot(Document, "media_type")
cdef Py_ssize_t D_STICKER = slot(Document, "sticker_emoji")
cdef Py_ssize_t D_PERFORMER = slot(Document, "performer")
cdef Py_ssize_t D_TITLE = slot(Document, "title")
cdef Py_ssize_t D_MIME = slot(Document, "mime_type")
cdef Py_ssize_t D_DURATION = slot(Document, "duration")
cdef Py_ssize_t D_WIDTH = slot(Document, "width")
cdef Py_ssize_t D_HEIGHT = slot(Document, "height")
cdef Py_ssize_t D_SPOILER = slot(Document, "spoiler")
cdef Py_ssize_t D_TTL = slot(Document, "ttl_seconds")

cdef Py_ssize_t G_LAT = slot(Geo, "latitude")
cdef Py_ssize_t G_LON = slot(Geo, "longitude")
cdef Py_ssize_t G_LIVE = slot(Geo, "live_period")
cdef Py_ssize_t V_LAT = slot(Venue, "latitude")
cdef Py_ssize_t V_LON = slot(Venue, "longitude")
cdef Py_ssize_t V_TITLE = slot(Venue, "title")
cdef Py_ssize_t V_ADDRESS = slot(Venue, "address")
cdef Py_ssize_t C_FIRST = slot(Contact, "first_name")
cdef Py_ssize_t C_LAST = slot(Contact, "last_name")
cdef Py_ssize_t C_PHONE = slot(Contact, "phone_number")
cdef Py_ssize_t C_VCARD = slot(Contact, "vcard")
cdef Py_ssize_t P_QUESTION = slot(Poll, "question")
cdef Py_ssize_t P_CLOSED = slot(Poll, "closed")
cdef Py_ssize_t P_TOTAL = slot(Poll, "total_voters")
cdef Py_ssize_t P_ANSWERS = slot(Poll, "answers")
cdef Py_ssize_t PA_TEXT = slot(PollAnswer, "text")
cdef Py_ssize_t PA_VOTERS = slot(PollAnswer, "voters")
cdef Py_ssize_t PA_CHOSEN = slot(PollAnswer, "chosen")
cdef Py_ssize_t WP_URL = slot(WebPage, "url")
cdef Py_ssize_t WP_TITLE = slot(WebPage, "title")
cdef Py_ssize_t WP_DESCRIPTION = slot(WebPage, "description")
cdef Py_ssize_t GA_TITLE = slot(Game, "title")
cdef Py_ssize_t GA_DESCRIPTION = slot(Game, "description")
cdef Py_ssize_t I_TITLE = slot(Invoice, "title")
cdef Py_ssize_t I_DESCRIPTION = slot(Invoice, "description")
cdef Py_ssize_t I_AMOUNT = slot(Invoice, "total_amount")
cdef Py_ssize_t I_CURRENCY = slot(Invoice, "currency")
cdef Py_ssize_t I_RECEIPT = slot(Invoice, "receipt_msg_id")
cdef Py_ssize_t DI_EMOTICON = slot(Dice, "emoticon")
cdef Py_ssize_t DI_VALUE = slot(Dice, "value")
cdef Py_ssize_t O_KIND = slot(OtherMedia, "kind")

# the twins, imported on first use (they import this module while they load)
cdef object _td_twin = None
cdef object _md_twin = None

cdef object _RenderContext = None
cdef object _LocalClock = None

cdef object td_twin():
    global _td_twin, _RenderContext, _LocalClock
    if _td_twin is None:
        _td_twin = importlib.import_module("engine.render.result_json")
        _RenderContext = _td_twin.RenderContext
        _LocalClock = _td_twin.LocalClock
    return _td_twin

cdef object md_twin():
    global _md_twin
    if _md_twin is None:
        _md_twin = importlib.import_module("engine.render.day_notes")
    return _md_twin

# entity kind name (the model's) -> code, as engine/render/entities.py CODE_OF
cdef dict CODE_OF = {name: code for code, name in enumerate(_kinds.TD_NAMES)}

# ---------------------------------------------------------------- small C helpers

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
# result_json.LocalClock knows the zone's UTC offset per quarter hour; consecutive messages
# share a quarter, so one cached (clock, quarter) -> offset pair answers nearly every call.

cdef object _clk = None
cdef long long _clk_q = 0
cdef long long _clk_off = 0

cdef int local_secs(object clock, long long ts, long long *out) except -1:
    global _clk, _clk_q, _clk_off
    cdef long long q = floordiv(ts, 900)
    if clock is not _clk or q != _clk_q:
        loc = clock._local(q * 900)
        _clk = None
        _clk_off = <long long>loc - q * 900
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

# ---------------------------------------------------------------- JSON writer (UTF-8)

cdef struct W:
    char *p
    Py_ssize_t n
    Py_ssize_t cap
    bint heap           # p is malloc'd (else the caller's stack buffer)
    bint bail           # the twin renders this message

cdef inline void w_init(W *w, char *stack, Py_ssize_t size) noexcept:
    w.p = stack
    w.n = 0
    w.cap = size
    w.heap = False
    w.bail = False

cdef inline void w_free(W *w) noexcept:
    if w.heap:
        free(w.p)
        w.heap = False

cdef int w_grow(W *w, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = w.cap * 2
    cdef char *p
    if cap < w.n + need:
        cap = w.n + need + 1024
    if w.heap:
        p = <char *>realloc(w.p, cap)
    else:
        p = <char *>malloc(cap)
        if p != NULL:
            memcpy(p, w.p, w.n)
    if p == NULL:
        raise MemoryError()
    w.p = p
    w.cap = cap
    w.heap = True
    return 0

cdef enum:
    WBUF = 8192         # a fragment up to this size never touches the heap

cdef inline int w_res(W *w, Py_ssize_t need) except -1:
    if w.n + need > w.cap:
        w_grow(w, need)
    return 0

cdef inline int w_lit(W *w, const char *s) except -1:
    cdef Py_ssize_t k = strlen(s)
    w_res(w, k)
    memcpy(w.p + w.n, s, k)
    w.n += k
    return 0

cdef inline int w_char(W *w, char c) except -1:
    w_res(w, 1)
    w.p[w.n] = c
    w.n += 1
    return 0

cdef int w_int(W *w, long long v) except -1:
    cdef char tmp[24]
    cdef int k = 0
    cdef unsigned long long u = <unsigned long long>(-v) if v < 0 else <unsigned long long>v
    w_res(w, 24)
    if v < 0:
        w.p[w.n] = 45
        w.n += 1
    while True:
        tmp[k] = <char>(48 + u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    while k:
        k -= 1
        w.p[w.n] = tmp[k]
        w.n += 1
    return 0

# JSON escapes as orjson writes them: 1 short form, 2 \u00XX (lowercase hex)
cdef unsigned char JESC[128]
for _i in range(128):
    JESC[_i] = 2 if _i < 0x20 else 0
for _c in (8, 9, 10, 12, 13, 34, 92):
    JESC[_c] = 1
cdef const char *JSHORT = b"01234567btn0fr"      # index by the control code (8..13)
cdef const char *LHEX = b"0123456789abcdef"

cdef int w_slice(W *w, object s, Py_ssize_t a, Py_ssize_t b) except -1:
    """JSON string of s[a:b] (s an exact str): one loop per string kind, ASCII copied as is."""
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef const unsigned char *u1
    cdef const unsigned short *u2
    cdef const U4 *u4
    cdef Py_ssize_t i, j, n
    cdef unsigned char *p
    cdef U4 c
    w_res(w, 6 * (b - a) + 2)
    p = <unsigned char *>w.p
    n = w.n
    p[n] = 34
    n += 1
    if kind == 1:
        u1 = <const unsigned char *>data
        i = a
        while i < b:
            j = i
            while j < b and u1[j] < 0x80 and JESC[u1[j]] == 0:
                j += 1
            if j > i:
                memcpy(p + n, u1 + i, j - i)
                n += j - i
                i = j
            if i < b:
                n = put_json(p, n, u1[i], &w.bail)
                i += 1
    elif kind == 2:
        u2 = <const unsigned short *>data
        for i in range(a, b):
            c = u2[i]
            if c < 0x80 and JESC[c] == 0:
                p[n] = <unsigned char>c
                n += 1
            else:
                n = put_json(p, n, c, &w.bail)
    else:
        u4 = <const U4 *>data
        for i in range(a, b):
            c = u4[i]
            if c < 0x80 and JESC[c] == 0:
                p[n] = <unsigned char>c
                n += 1
            else:
                n = put_json(p, n, c, &w.bail)
    p[n] = 34
    w.n = n + 1
    return 0

cdef inline Py_ssize_t put_json(unsigned char *p, Py_ssize_t n, U4 c, bint *bail) noexcept:
    """One code point, JSON-escaped as orjson does and UTF-8 encoded, at p[n] (6 bytes
    reserved); returns the new end."""
    if c < 0x80:
        if JESC[c] == 0:
            p[n] = <unsigned char>c
            return n + 1
        p[n] = 92
        if JESC[c] == 1:
            p[n + 1] = <unsigned char>(c if c == 34 or c == 92 else JSHORT[c])
            return n + 2
        p[n + 1] = 117
        p[n + 2] = 48
        p[n + 3] = 48
        p[n + 4] = LHEX[c >> 4]
        p[n + 5] = LHEX[c & 15]
        return n + 6
    if c < 0x800:
        p[n] = <unsigned char>(0xC0 | (c >> 6))
        p[n + 1] = <unsigned char>(0x80 | (c & 0x3F))
        return n + 2
    if c < 0x10000:
        if 0xD800 <= c <= 0xDFFF:       # orjson refuses lone surrogates; so does the twin
            bail[0] = True
        p[n] = <unsigned char>(0xE0 | (c >> 12))
        p[n + 1] = <unsigned char>(0x80 | ((c >> 6) & 0x3F))
        p[n + 2] = <unsigned char>(0x80 | (c & 0x3F))
        return n + 3
    p[n] = <unsigned char>(0xF0 | (c >> 18))
    p[n + 1] = <unsigned char>(0x80 | ((c >> 12) & 0x3F))
    p[n + 2] = <unsigned char>(0x80 | ((c >> 6) & 0x3F))
    p[n + 3] = <unsigned char>(0x80 | (c & 0x3F))
    return n + 4

cdef object _orjson_dumps = orjson.dumps

cdef int w_val(W *w, object o) except -1:
    """A scalar field value as orjson writes it; anything else bails."""
    cdef long long v
    cdef int ov
    cdef bytes b
    if o is None:
        return w_lit(w, b"null")
    if o is True:
        return w_lit(w, b"true")
    if o is False:
        return w_lit(w, b"false")
    if PyUnicode_CheckExact(o):
        return w_slice(w, o, 0, PyUnicode_GET_LENGTH(o))
    if PyLong_CheckExact(o):
        v = PyLong_AsLongLongAndOverflow(o, &ov)
        if ov == 0:
            return w_int(w, v)
    elif PyFloat_CheckExact(o):
        b = _orjson_dumps(o)
        w_res(w, PyBytes_GET_SIZE(b))
        memcpy(w.p + w.n, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        w.n += PyBytes_GET_SIZE(b)
        return 0
    w.bail = True
    return 0

cdef inline int w_key(W *w, const char *k) except -1:
    ""","k":"""
    cdef Py_ssize_t n = strlen(k)
    w_res(w, n + 4)
    w.p[w.n] = 44
    w.p[w.n + 1] = 34
    memcpy(w.p + w.n + 2, k, n)
    w.p[w.n + n + 2] = 34
    w.p[w.n + n + 3] = 58
    w.n += n + 4
    return 0

cdef int w_peer_id(W *w, Ref *r) except -1:
    """peer_id(ref): "user123" (r is not None)."""
    w_char(w, 34)
    w_lit(w, PEER_KIND[r.kind])
    w_int(w, r.id)
    return w_char(w, 34)

cdef int w_stamp(W *w, object clock, long long ts) except -1:
    """LocalClock.stamp: "YYYY-MM-DDTHH:MM:SS"."""
    cdef Stamp s
    cdef char tmp[32]
    stamp_of(clock, ts, &s)
    if not year_ok(&s):
        w.bail = True
        return 0
    tmp[0] = 34
    tmp[1] = <char>(48 + s.year // 1000)
    tmp[2] = <char>(48 + s.year // 100 % 10)
    tmp[3] = <char>(48 + s.year // 10 % 10)
    tmp[4] = <char>(48 + s.year % 10)
    tmp[5] = 45
    tmp[6] = <char>(48 + s.month // 10)
    tmp[7] = <char>(48 + s.month % 10)
    tmp[8] = 45
    tmp[9] = <char>(48 + s.day // 10)
    tmp[10] = <char>(48 + s.day % 10)
    tmp[11] = 84
    tmp[12] = <char>(48 + s.hour // 10)
    tmp[13] = <char>(48 + s.hour % 10)
    tmp[14] = 58
    tmp[15] = <char>(48 + s.minute // 10)
    tmp[16] = <char>(48 + s.minute % 10)
    tmp[17] = 58
    tmp[18] = <char>(48 + s.second // 10)
    tmp[19] = <char>(48 + s.second % 10)
    tmp[20] = 34
    w_res(w, 21)
    memcpy(w.p + w.n, tmp, 21)
    w.n += 21
    return 0

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

# ---------------------------------------------------------------- result.json: text

cdef int w_run(W *w, object text, Ent *x) except -1:
    """One entity run as Telegram Desktop's {"type", "text", extra key} object."""
    cdef int kind = x.kind
    cdef object arg
    w_lit(w, b'{"type":"')
    w_lit(w, TD_NAME_C[kind])
    w_lit(w, b'","text":')
    w_slice(w, text, x.s, x.e)
    if kind == K_PRE or kind == K_TEXT_URL or kind == K_MENTION_NAME \
            or kind == K_CUSTOM_EMOJI or kind == K_BLOCKQUOTE:
        arg = <object>x.arg if x.arg != NULL else None
        if kind == K_PRE:
            w_key(w, b"language")
            w_val(w, str(arg) if isinstance(arg, str) else "")
        elif kind == K_TEXT_URL:
            w_key(w, b"href")
            w_val(w, str(arg) if isinstance(arg, str) else "")
        elif kind == K_MENTION_NAME:
            w_key(w, b"user_id")
            w_val(w, int(arg) if isinstance(arg, int) else 0)
        elif kind == K_CUSTOM_EMOJI:
            w_key(w, b"document_id")
            w_val(w, str(int(arg)) if isinstance(arg, int)
                  else str(arg) if isinstance(arg, str) else "")
        else:
            w_key(w, b"collapsed")
            w_val(w, isinstance(arg, int) and int(arg) != 0)
    return w_char(w, 125)

cdef inline int w_copy(W *w, Py_ssize_t a, Py_ssize_t b) except -1:
    """Append a copy of what was written at w.p[a:b]."""
    w_res(w, b - a)
    memcpy(w.p + w.n, w.p + a, b - a)
    w.n += b - a
    return 0

cdef int td_text_json(W *w, object text, object entities) except -1:
    ""","text":...,"text_entities":[...] -- engine.text.td_text written as JSON.

    Each run is written once, for "text"; "text_entities" copies those bytes."""
    cdef Py_ssize_t n, i, cursor = 0, nruns = 0, a, b
    cdef Ent stack_ents[STACK_ENTS]
    cdef Ents ev
    cdef Ent *x
    # runs: index into ev.a, or -1 - start of a plain run (its end is the next run's start);
    # at[i], at[i + 1]: where run i's JSON (a string or an object) went in w.p
    cdef Py_ssize_t stack_runs[2 * STACK_ENTS + 1]
    cdef Py_ssize_t stack_at[4 * STACK_ENTS + 2]
    cdef Py_ssize_t *runs = stack_runs
    cdef Py_ssize_t *at = stack_at
    if not PyUnicode_CheckExact(text):
        w.bail = True
        return 0
    n = PyUnicode_GET_LENGTH(text)
    ents_init(&ev, stack_ents)
    try:
        if model_ents(&ev, text, entities) != 1:
            w.bail = True       # (checked for an empty text too: the twin reads them anyway)
            return 0
        if n == 0:
            return w_lit(w, b',"text":"","text_entities":[]')
        if ev.n > 1:
            qsort(ev.a, ev.n, sizeof(Ent), cmp_start)
        if ev.n > STACK_ENTS:
            runs = <Py_ssize_t *>malloc((2 * ev.n + 1) * sizeof(Py_ssize_t))
            at = <Py_ssize_t *>malloc((4 * ev.n + 2) * sizeof(Py_ssize_t))
            if runs == NULL or at == NULL:
                raise MemoryError()
        # the runs: plain gaps and the entities that do not overlap an earlier one
        for i in range(ev.n):
            x = &ev.a[i]
            if x.s < cursor:
                continue
            if x.s > cursor:
                runs[nruns] = -1 - cursor
                nruns += 1
            runs[nruns] = i
            nruns += 1
            cursor = x.e
        if cursor < n:
            runs[nruns] = -1 - cursor
            nruns += 1
        if nruns == 1 and runs[0] < 0:
            w_lit(w, b',"text":')
            a = w.n
            w_slice(w, text, 0, n)
            b = w.n
            w_lit(w, b',"text_entities":[{"type":"plain","text":')
            w_copy(w, a, b)
            return w_lit(w, b"}]")
        w_lit(w, b',"text":[')
        for i in range(nruns):
            if i:
                w_char(w, 44)
            at[2 * i] = w.n
            if runs[i] >= 0:
                w_run(w, text, &ev.a[runs[i]])
            else:
                w_slice(w, text, -1 - runs[i], run_end(runs, nruns, i, &ev, n))
            at[2 * i + 1] = w.n
        w_lit(w, b'],"text_entities":[')
        for i in range(nruns):
            if i:
                w_char(w, 44)
            if runs[i] >= 0:
                w_copy(w, at[2 * i], at[2 * i + 1])
            else:
                w_lit(w, b'{"type":"plain","text":')
                w_copy(w, at[2 * i], at[2 * i + 1])
                w_char(w, 125)
        w_char(w, 93)
    finally:
        if ev.heap:
            free(ev.a)
        if runs != stack_runs:
            free(runs)
        if at != stack_at:
            free(at)
    return 0

cdef inline Py_ssize_t run_end(Py_ssize_t *runs, Py_ssize_t nruns, Py_ssize_t i, Ents *ev,
                               Py_ssize_t n) noexcept:
    if i + 1 == nruns:
        return n
    return ev.a[runs[i + 1]].s      # a plain run is always followed by an entity run

cdef const char *TD_NAME_C[K_COUNT]
cdef list _td_name_bytes = [name.encode() for name in _kinds.TD_NAMES]
for _i in range(K_COUNT):
    TD_NAME_C[_i] = <const char *>(<bytes>_td_name_bytes[_i])

# ---------------------------------------------------------------- result.json: message

cdef object NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"

cdef struct TdCtx:
    PyObject *ctx           # the RenderContext
    Ref chat
    PyObject *peers         # exact dict
    PyObject *files         # exact dict
    PyObject *clock

cdef inline bint is_render_context(object ctx) except -1:
    td_twin()
    return type(ctx) is _RenderContext

cdef bint td_ctx(TdCtx *c, object ctx, object chat, object peers, object files,
                 object clock) except -1:
    """A RenderContext's parts as C values: False when one is unusual (then the twin
    renders).  The caller holds the objects for as long as `c` is used."""
    if not (ref_of(chat, &c.chat) and c.chat.kind != P_NONE and PyDict_CheckExact(peers)
            and PyDict_CheckExact(files) and type(clock) is _LocalClock):
        return False
    c.ctx = <PyObject *>ctx
    c.peers = <PyObject *>peers
    c.files = <PyObject *>files
    c.clock = <PyObject *>clock
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
            w_val(w, NOT_INCLUDED)
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
    if truthy(F(msg, M_BUTTONS)):
        w.bail = True           # inline buttons: the twin's
        return 0
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
    x = F(msg, M_REACTIONS)
    if truthy(x):
        if not PyList_CheckExact(x):
            w.bail = True
            return 0
        td_reactions(w, c, x)
    return w_char(w, 125)


cdef int td_action(W *w, TdCtx *c, object msg) except -1:
    """A service message's action keys: the twin's _action, spliced in as orjson writes it."""
    cdef dict d = {}
    cdef bytes b
    td_twin()._action(<object>c.ctx, msg, d)
    if d:
        b = _orjson_dumps(d)
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
        if truthy(reply_id) and not (truthy(F(x, RT_FORUM)) and F(x, RT_TOP_ID) is None
                                     and reply_id == F(msg, M_TOPIC)):
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
        td_media(w, c, x)
    return 0


cdef object w_bytes(W *w):
    return PyBytes_FromStringAndSize(w.p, w.n)


def fragment(msg, ctx):
    """result_json.fragment: one message as its result.json object (bytes, no newline)."""
    cdef W w
    cdef TdCtx c
    if not is_render_context(ctx):
        return td_twin().fragment(msg, ctx)
    chat, peers, files, clock = ctx.chat, ctx.peers, ctx.files, ctx.clock
    if not td_ctx(&c, ctx, chat, peers, files, clock):
        return td_twin().fragment(msg, ctx)
    cdef char buf[WBUF]
    w_init(&w, buf, WBUF)
    try:
        td_message(&w, &c, msg)
        if w.bail:
            return td_twin().fragment(msg, ctx)
        return w_bytes(&w)
    finally:
        w_free(&w)


def fragments(msgs, ctx):
    """result_json.fragments: [fragment(msg, ctx) for msg in msgs]."""
    cdef W w
    cdef TdCtx c
    cdef list out = []
    if not is_render_context(ctx):
        return td_twin().fragments(msgs, ctx)
    chat, peers, files, clock = ctx.chat, ctx.peers, ctx.files, ctx.clock
    if not td_ctx(&c, ctx, chat, peers, files, clock):
        return td_twin().fragments(msgs, ctx)
    cdef char buf[WBUF]
    w_init(&w, buf, WBUF)
    try:
        for msg in msgs:
            w.n = 0
            w.bail = False
            td_message(&w, &c, msg)
            out.append(td_twin().fragment(msg, ctx) if w.bail else w_bytes(&w))
    finally:
        w_free(&w)
    return out


def covers(msg, ctx):
    """True when fragment() renders `msg` here rather than through the twin (for tests)."""
    cdef W w
    cdef TdCtx c
    if not is_render_context(ctx):
        return False
    chat, peers, files, clock = ctx.chat, ctx.peers, ctx.files, ctx.clock
    if not td_ctx(&c, ctx, chat, peers, files, clock):
        return False
    cdef char buf[WBUF]
    w_init(&w, buf, WBUF)
    try:
        td_message(&w, &c, msg)
        return not w.bail
    finally:
        w_free(&w)

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
    PyObject *vctx
    PyObject *chat_dir      # exact str
    PyObject *username      # exact str or None
    PyObject *dirs          # exact dict
    PyObject *locate
    PyObject *names         # exact dict: name -> esc(name), for this call
    bint bail

cdef int md_ctx(MdCtx *c, object vctx, list keep) except -1:
    """A VaultContext's parts as C values: 0 when one is unusual (then the twin renders).
    `keep` holds the objects for as long as `c` is used."""
    twin = md_twin()
    if type(vctx) is not twin.VaultContext:
        return 0
    base = vctx.base
    if not is_render_context(base):
        return 0
    chat, peers, files, clock = base.chat, base.peers, base.files, base.clock
    chat_dir, username, dirs, locate = vctx.chat_dir, vctx.username, vctx.dirs, vctx.locate
    keep += [vctx, chat, peers, files, clock, chat_dir, username, dirs, locate]
    if not td_ctx(&c.td, base, chat, peers, files, clock) or clock.tz is not base.tz:
        return 0
    if not (PyUnicode_CheckExact(chat_dir) and (username is None or PyUnicode_CheckExact(username))
            and PyDict_CheckExact(dirs)):
        return 0
    c.vctx = <PyObject *>vctx
    c.chat_dir = <PyObject *>chat_dir
    c.username = <PyObject *>username
    c.dirs = <PyObject *>dirs
    c.locate = <PyObject *>locate
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
                b_lit(o, b"![[")
                b_raw(o, <object>c.chat_dir)
                b_u(o, 47)
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

cdef int b_link(Buf *o, MdCtx *c, Ref *target, object msg_id, long long mid) except -1:
    """day_notes.block_link(vctx, target, msg_id, f"reply to {msg_id}")."""
    ts = (<object>c.locate)(<object>target.obj, msg_id)
    if ref_eq(target, &c.td.chat):
        folder = <object>c.chat_dir
    else:
        p = PyDict_GetItem(<object>c.dirs, <object>target.obj)
        folder = <object>p if p != NULL else None
    if ts is None or folder is None:
        b_lit(o, b"reply to ")      # esc() leaves "reply to <int>" as it is
        return b_int(o, mid)
    if not PyUnicode_CheckExact(folder):
        c.bail = True
        return 0
    # the day as the twin finds it (datetime.fromtimestamp), not through the quarter-hour clock
    twin = md_twin()
    path = twin.note_path(twin.day_of(ts, (<object>c.vctx).base.tz))
    b_lit(o, b"[[")
    b_raw(o, folder)
    b_u(o, 47)
    if not (PyUnicode_CheckExact(path) and PyUnicode_GET_LENGTH(path) >= 3):
        c.bail = True
        return 0
    b_raw_n(o, path, PyUnicode_GET_LENGTH(path) - 3)      # without ".md"
    b_lit(o, b"#^m")
    b_int(o, mid)
    b_lit(o, b"|reply to ")
    b_int(o, mid)
    return b_lit(o, b"]]")

cdef int md_block(Buf *o, MdCtx *c, object messages, Py_ssize_t start, Py_ssize_t count,
                  list keep) except -1:
    """day_notes.message_block for messages[start:start + count] (c.bail: the twin's).
    A service message's line comes from the twin's service_line."""
    cdef object first = <object>PyList_GET_ITEM(messages, start)
    cdef object x, v
    cdef Ref chat, sender, r
    cdef long long date, mid, xid
    cdef Stamp s
    cdef Py_ssize_t k, i, j, nl, pos0, line0, fe, nr
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
    # header: **HH:MM** · sender · [t.me](link) · *edited* · *deleted on Telegram* ^m<id>
    stamp_of(<object>c.td.clock, date, &s)
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
    b_lit(o, b" ^m")
    b_int(o, mid)
    if service:                 # one italic line, written by the twin
        line = md_twin().service_line(<object>c.vctx, first, name)
        if not PyUnicode_CheckExact(line):
            c.bail = True
            return 0
        b_lit(o, b"\n\n")
        return b_raw(o, line)
    if ascii_is(type_, b"empty"):
        return b_lit(o, b"\n\n*[message unavailable]*")
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
            b_link(o, c, &r, v, xid)
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
    # media; an album's other messages keep their block ids on their first line
    for k in range(count):
        x = <object>PyList_GET_ITEM(messages, start + k)
        pos0 = o.n
        b_lit(o, b"\n\n")
        line0 = o.n
        fe = o.n
        nl = md_media(o, c, F(x, M_MEDIA), &fe, keep)
        if c.bail:
            return 0
        if x is first:
            if nl == 0:
                o.n = pos0
            continue
        if not i64(F(x, M_ID), &xid):
            c.bail = True
            return 0
        md_tag_line(o, line0, fe if nl else line0, xid)
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
    return 0

cdef inline int b_dot(Buf *o) except -1:
    """ · """
    reserve(o, 3)
    put(o, 32)
    put(o, 0xB7)
    put(o, 32)
    return 0

cdef int md_tag_line(Buf *o, Py_ssize_t line0, Py_ssize_t fe, long long xid) except -1:
    """(line + f" ^m{id}").lstrip() for the first line o.p[line0:fe]."""
    cdef U4 tag[32]
    cdef Py_ssize_t nt = 0, k, lead = 0
    cdef Buf t
    t.p = tag
    t.n = 0
    t.cap = 32
    t.heap = False
    puts(&t, b" ^m")
    if xid < 0:
        put(&t, 45)
        put_dec(&t, <unsigned long>(-xid))
    else:
        put_dec(&t, <unsigned long>xid)
    nt = t.n
    reserve(o, nt)
    memmove(o.p + fe + nt, o.p + fe, (o.n - fe) * sizeof(U4))
    memcpy(o.p + fe, tag, nt * sizeof(U4))
    o.n += nt
    while line0 + lead < fe + nt and Py_UNICODE_ISSPACE(o.p[line0 + lead]):
        lead += 1
    if lead:
        memmove(o.p + line0, o.p + line0 + lead, (o.n - line0 - lead) * sizeof(U4))
        o.n -= lead
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


def day_note(vctx, day, messages):
    """day_notes.day_note: the whole note of one day of one chat (bytes)."""
    cdef MdCtx c
    cdef Buf o
    cdef list keep = []
    cdef Py_ssize_t i, j, n, start
    twin = md_twin()
    if not PyList_CheckExact(messages) or not md_ctx(&c, vctx, keep):
        return twin.day_note(vctx, day, messages)
    n = PyList_GET_SIZE(messages)
    o.n = 0
    o.cap = 256 + 400 * n
    o.heap = True
    o.p = <U4 *>malloc(o.cap * sizeof(U4))
    if o.p == NULL:
        raise MemoryError()
    try:
        b_raw(&o, twin.front_matter(vctx, day, messages))
        i = 0
        while i < n:
            j = group_end(messages, i, n)
            if j < 0:
                return twin.day_note(vctx, day, messages)
            if i:
                b_lit(&o, b"\n\n---\n\n")
            start = o.n
            c.bail = False
            md_block(&o, &c, messages, i, j - i, keep)
            if c.bail:
                o.n = start
                b_raw(&o, twin.message_block(vctx, messages[i:j]))
            i = j
        b_u(&o, 10)
        out = utf8(&o)
        return out if out is not None else twin.day_note(vctx, day, messages)
    finally:
        free(o.p)


def block_covered(vctx, group):
    """True when day_note() renders this group here rather than through the twin (tests)."""
    cdef MdCtx c
    cdef Buf o
    cdef list keep = []
    if not PyList_CheckExact(group) or not group or not md_ctx(&c, vctx, keep):
        return False
    o.n = 0
    o.cap = 1024
    o.heap = True
    o.p = <U4 *>malloc(o.cap * sizeof(U4))
    if o.p == NULL:
        raise MemoryError()
    try:
        md_block(&o, &c, group, 0, PyList_GET_SIZE(group), keep)
        return not c.bail
    finally:
        free(o.p)


def days(messages, tz):
    """day_notes.days: {local date: [messages of that day]}, in order of appearance."""
    cdef long long ts, local, d, last = 0
    cdef bint have = False
    cdef dict days = {}
    cdef list cur = None
    clock = td_twin().LocalClock(tz)
    msgs = messages if PyList_CheckExact(messages) else list(messages)
    for msg in msgs:
        if type(msg) is not Message or not i64(F(msg, M_DATE), &ts):
            return md_twin().days(msgs, tz)
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

# ---------------------------------------------------------------- messages.jsonl
#
# messages_jsonl: the msgspec JSON of the Message after '{"v":N,', without the TL bytes (raw).
# msgspec does the encoding; what is saved here is the Python glue around it (one bytearray
# per batch, one copy per line).

import msgspec as _msgspec
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.ref cimport Py_INCREF, Py_XDECREF

cdef Py_ssize_t M_RAW = slot(Message, "raw")
cdef object _encode_into = _msgspec.json.Encoder().encode_into
cdef bytes _JSONL_HEAD = b'{"v":%d' % _model.SCHEMA_VERSION    # then "," and the fields
cdef object _jsonl_twin = None

cdef object jsonl_twin():
    global _jsonl_twin
    if _jsonl_twin is None:
        _jsonl_twin = importlib.import_module("engine.render.messages_jsonl")
    return _jsonl_twin

cdef object jsonl_one(bytearray buf, object msg):
    """One line, or None when the twin must write it (not a Message)."""
    cdef Py_ssize_t h = PyBytes_GET_SIZE(_JSONL_HEAD), n
    cdef char *p
    cdef char *q
    cdef PyObject **raw
    cdef PyObject *old
    if type(msg) is not Message:
        return None
    if F(msg, M_RAW) is not None:
        # the TL bytes stay out of the line: encode a shallow copy of our own without them
        # (what the twin's msgspec.structs.replace(msg, raw=None) gives, a little cheaper)
        msg = msg.__copy__()
        if type(msg) is not Message:
            return None
        raw = <PyObject **>((<char *><PyObject *>msg) + M_RAW)
        old = raw[0]
        Py_INCREF(None)
        raw[0] = Py_None
        Py_XDECREF(old)
    _encode_into(msg, buf, h)           # '{"v":N' + '{"id":...}'
    n = PyByteArray_GET_SIZE(buf)
    p = PyByteArray_AS_STRING(buf)
    if n <= h or p[h] != 123:
        return None
    out = PyBytes_FromStringAndSize(NULL, n + 1)
    q = PyBytes_AS_STRING(out)
    memcpy(q, p, n)
    q[h] = 44                           # '{' -> ','
    q[n] = 10
    return out


def jsonl_line(msg):
    """messages_jsonl.jsonl_line: one message as its JSONL line (with the trailing newline)."""
    out = jsonl_one(bytearray(_JSONL_HEAD), msg)
    return out if out is not None else jsonl_twin().jsonl_line(msg)


def jsonl_lines(msgs):
    """messages_jsonl.jsonl_lines: [jsonl_line(msg) for msg in msgs]."""
    cdef bytearray buf = bytearray(_JSONL_HEAD)
    cdef list out = []
    for msg in msgs:
        x = jsonl_one(buf, msg)
        out.append(x if x is not None else jsonl_twin().jsonl_line(msg))
    return out
