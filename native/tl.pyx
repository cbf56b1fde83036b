# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""History pages decoded straight from TL bytes into the model's Structs.

The pure-Python twin is engine/telegram/rawpage.py (Telethon's reader, then convert.py);
this reads the same bytes for layer LAYER and must give equal Structs (tests/test_tl.py
runs both on the fakedc corpus, on hypothesis-made messages and on hand-built exotic ones).

What it reads itself: the page's header, ``message`` with its sender, forward and reply
headers, entities, reply/comment counts, reactions, restriction reasons, photos and
documents (tl_media.pxi), ``messageEmpty``, and the chats and users after the messages
(tl_peers.pxi). A message holding anything else (service
messages, other media, an inline keyboard, a fact-check, a constructor of another layer)
is read by Telethon, that message only (``rawpage.message_at``), and counted (``counts``);
a forum topic or an unknown peer after the messages hands Telethon the whole tail.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.string cimport memcpy

from engine import model as _model

LAYER = 229                        # the layer every layout below was written for

cdef object Message = _model.Message
cdef object PeerRef = _model.PeerRef
cdef object Entity = _model.Entity
cdef object ReplyTo = _model.ReplyTo
cdef object Forward = _model.Forward
cdef object Reaction = _model.Reaction
cdef object Reactor = _model.Reactor
cdef object Batch = _model.Batch

# constructors (checked against Telethon's at import: tl_ids)
DEF C_CHANNEL_MESSAGES = 0xc776ba4e
DEF C_MESSAGES_SLICE = 0x5f206716
DEF C_MESSAGES = 0x1d73e7ea
DEF C_MESSAGE = 0x7600b9d3
DEF C_MESSAGE_EMPTY = 0x90a6ca84
DEF C_PEER_USER = 0x59511722
DEF C_PEER_CHAT = 0x36c6019a
DEF C_PEER_CHANNEL = 0xa2a5371e
DEF C_FWD = 0x4e4df4bb
DEF C_REPLY = 0x1b97dd66
DEF C_REPLY_STORY = 0x0e5af939
DEF C_REPLIES = 0x83d60fc2
DEF C_REACTIONS = 0x0a339f0b
DEF C_REACTION_COUNT = 0xa3d1cb80
DEF C_PEER_REACTION = 0x8c79b63c
DEF C_REACTOR = 0x4ba3a95a
DEF C_REACTION_EMOJI = 0x1b2286b8
DEF C_REACTION_CUSTOM = 0x8935fc73
DEF C_REACTION_PAID = 0x523da4eb
DEF C_REACTION_EMPTY = 0x79f5d419
DEF C_RESTRICTION = 0xd072acb4
DEF C_MEDIA_EMPTY = 0x3ded6320
DEF C_ENT_BLOCKQUOTE = 0xf1ccaaac
DEF C_ENT_TEXT_URL = 0x76a6d327
DEF C_ENT_PRE = 0x73924be0
DEF C_ENT_MENTION_NAME = 0xdc7b1140
DEF C_ENT_CUSTOM_EMOJI = 0xc8cf05f8
DEF C_ENT_DIFF_REPLACE = 0xc6c1e5a7
DEF C_ENT_FORMATTED_DATE = 0x904ac7c7

# (offset, length) entities by constructor: their model kind (convert.ENTITY_KINDS' names)
cdef dict SIMPLE_ENTITIES = {
    0xbb92ba95: "unknown", 0xfa04579d: "mention", 0x6f635b0d: "hashtag",
    0x6cef8ac7: "bot_command", 0x6ed02538: "link", 0x64e475c2: "email",
    0xbd610bc9: "bold", 0x826f8b60: "italic", 0x28a20571: "code", 0x9b69e34b: "phone",
    0x4c4e743f: "cashtag", 0x9c4e7e8b: "underline", 0xbf0693d4: "strikethrough",
    0x761e6af4: "bank_card", 0x32ca960f: "spoiler", 0x0652c1c5: "diff_delete",
    0x71777116: "diff_insert",
}


def tl_ids() -> dict:
    """Every constructor id this module reads, by Telethon's class name (for the check at
    import: engine/telegram/tl.py)."""
    return {
        "messages.ChannelMessages": C_CHANNEL_MESSAGES, "messages.MessagesSlice": C_MESSAGES_SLICE,
        "messages.Messages": C_MESSAGES, "Message": C_MESSAGE, "MessageEmpty": C_MESSAGE_EMPTY,
        "PeerUser": C_PEER_USER, "PeerChat": C_PEER_CHAT, "PeerChannel": C_PEER_CHANNEL,
        "MessageFwdHeader": C_FWD, "MessageReplyHeader": C_REPLY,
        "MessageReplyStoryHeader": C_REPLY_STORY, "MessageReplies": C_REPLIES,
        "MessageReactions": C_REACTIONS, "ReactionCount": C_REACTION_COUNT,
        "MessagePeerReaction": C_PEER_REACTION, "MessageReactor": C_REACTOR,
        "ReactionEmoji": C_REACTION_EMOJI, "ReactionCustomEmoji": C_REACTION_CUSTOM,
        "ReactionPaid": C_REACTION_PAID, "ReactionEmpty": C_REACTION_EMPTY,
        "RestrictionReason": C_RESTRICTION, "MessageMediaEmpty": C_MEDIA_EMPTY,
        "MessageEntityBlockquote": C_ENT_BLOCKQUOTE, "MessageEntityTextUrl": C_ENT_TEXT_URL,
        "MessageEntityPre": C_ENT_PRE, "MessageEntityMentionName": C_ENT_MENTION_NAME,
        "MessageEntityCustomEmoji": C_ENT_CUSTOM_EMOJI,
        "MessageEntityDiffReplace": C_ENT_DIFF_REPLACE,
        "MessageEntityFormattedDate": C_ENT_FORMATTED_DATE,
        **MEDIA_IDS, **PEER_IDS,
    }


def simple_entities() -> dict:
    return dict(SIMPLE_ENTITIES)


cdef Py_ssize_t _native = 0, _fallback = 0, _tails = 0, _tails_fallback = 0


def counts() -> tuple:
    """(messages read here, messages handed to Telethon) since the process started."""
    return _native, _fallback


def tails() -> tuple:
    """(pages whose chats and users were read here, pages whose were Telethon's)."""
    return _tails, _tails_fallback


# ---------------------------------------------------------------- the reader
cdef struct R:
    const unsigned char *b
    Py_ssize_t pos
    Py_ssize_t n
    bint bad                       # past the end, or something this module does not read


cdef inline uint32_t u32(R *r) noexcept:
    cdef uint32_t v = 0
    if r.pos + 4 > r.n:
        r.bad = 1
        return 0
    memcpy(&v, r.b + r.pos, 4)     # TL is little-endian, as every x86-64
    r.pos += 4
    return v


cdef inline int32_t i32(R *r) noexcept:
    return <int32_t>u32(r)


cdef inline int64_t i64(R *r) noexcept:
    cdef int64_t v = 0
    if r.pos + 8 > r.n:
        r.bad = 1
        return 0
    memcpy(&v, r.b + r.pos, 8)
    r.pos += 8
    return v


cdef inline Py_ssize_t span(R *r, Py_ssize_t *length) noexcept:
    """A TL string/bytes: where its bytes start (their length in ``length``), as
    Telethon's tgread_bytes reads it (255 included)."""
    cdef Py_ssize_t first, n, pad, at
    if r.pos + 1 > r.n:
        r.bad = 1
        return 0
    first = r.b[r.pos]
    if first == 254:
        if r.pos + 4 > r.n:
            r.bad = 1
            return 0
        n = r.b[r.pos + 1] | (r.b[r.pos + 2] << 8) | (r.b[r.pos + 3] << 16)
        at = r.pos + 4
        pad = n % 4
    else:
        n = first
        at = r.pos + 1
        pad = (n + 1) % 4
    if pad:
        pad = 4 - pad
    if at + n + pad > r.n:
        r.bad = 1
        return 0
    r.pos = at + n + pad
    length[0] = n
    return at


cdef inline object string(R *r):
    cdef Py_ssize_t n = 0
    cdef Py_ssize_t at = span(r, &n)
    if r.bad:
        return None
    return PyUnicode_DecodeUTF8(<const char *>(r.b + at), n, "replace")


cdef inline void skip_string(R *r) noexcept:
    cdef Py_ssize_t n = 0
    span(r, &n)


cdef inline uint32_t vector(R *r) noexcept:
    """A vector's length (Telethon skips its constructor unread; so does this)."""
    u32(r)
    cdef int32_t n = i32(r)
    if n < 0:
        r.bad = 1
        return 0
    return <uint32_t>n


include "tl_media.pxi"
include "tl_message.pxi"
include "tl_peers.pxi"


# ---------------------------------------------------------------- pages
cdef Py_ssize_t header(R *r) noexcept:
    """The message count of a page, the reader at its first message; -1: not a page."""
    cdef uint32_t c = u32(r), flags
    if c == C_CHANNEL_MESSAGES:
        flags = u32(r)
        i32(r)
        i32(r)
        if flags & 4:
            i32(r)
    elif c == C_MESSAGES_SLICE:
        flags = u32(r)
        i32(r)
        if flags & 1:
            i32(r)
        if flags & 4:
            i32(r)
        if flags & 8:                            # search_flood: Telethon's
            return -1
    elif c != C_MESSAGES:
        return -1
    cdef uint32_t n = vector(r)
    return -1 if r.bad else <Py_ssize_t>n


def decode_page(bytes data, chat, lo: int, hi: int, twin):
    """rawpage.decode_page's twin: the page's messages with ids in lo..hi (oldest first,
    each with its TL bytes) and the peers it mentions. ``twin``: rawpage itself (given, not
    imported: a compiled module imports no twin), whose ``message_at`` reads a message
    this module does not and ``peers_from`` the chats and users."""
    global _native, _fallback, _tails, _tails_fallback
    cdef R r
    r.b = <const unsigned char *>PyBytes_AS_STRING(data)
    r.n = PyBytes_GET_SIZE(data)
    r.pos = 0
    r.bad = 0
    cdef Py_ssize_t count = header(&r), k, start
    cdef uint32_t c
    if count < 0:
        return twin.decode_page(data, chat, lo, hi)
    cdef list msgs = []
    for k in range(count):
        start = r.pos
        c = u32(&r)
        x = None
        if c == C_MESSAGE:
            x = message(&r, chat, data, start)
        elif c == C_MESSAGE_EMPTY:
            flags = u32(&r)
            mid = i32(&r)
            if flags & 1:
                peer(&r)
            if not r.bad:
                x = Message(mid, chat, 0, type="empty")
        if x is None:
            x, end = twin.message_at(data, start, chat)
            r.pos, r.bad = end, 0
            _fallback += 1
        else:
            _native += 1
        if lo <= x.id <= hi:
            msgs.append(x)
    start = r.pos
    peers = tail_peers(&r)
    if r.bad:
        peers = twin.peers_from(data, start)
        _tails_fallback += 1
    else:
        _tails += 1
    msgs.reverse()
    return Batch(0, chat, msgs, peers)


def decode_pages(list pages, chat, lo: int, hi: int, twin):
    """rawpage.decode_pages with this module's decode_page."""
    batches = [decode_page(p, chat, lo, hi, twin) for p in pages]
    peers = {}
    msgs = []
    for b in sorted(batches, key=lambda b: b.messages[0].id if b.messages else 0):
        msgs += b.messages
        peers.update((p.ref, p) for p in b.peers)
    return Batch(0, chat, msgs, list(peers.values()))
