# ---------------------------------------------------------------- model field access
# (included by render.pyx)
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
cdef object Button = _model.Button
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
cdef Py_ssize_t M_OUT = slot(Message, "out")
cdef Py_ssize_t M_TEXT = slot(Message, "text")
cdef Py_ssize_t M_ENTITIES = slot(Message, "entities")
cdef Py_ssize_t M_REPLY = slot(Message, "reply_to")
cdef Py_ssize_t M_FORWARD = slot(Message, "forward")
cdef Py_ssize_t M_MEDIA = slot(Message, "media")
cdef Py_ssize_t M_EDIT = slot(Message, "edit_date")
cdef Py_ssize_t M_GROUPED = slot(Message, "grouped_id")
cdef Py_ssize_t M_AUTHOR = slot(Message, "post_author")
cdef Py_ssize_t M_VIA = slot(Message, "via_bot_id")
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
cdef Py_ssize_t BT_KIND = slot(Button, "kind")
cdef Py_ssize_t BT_TEXT = slot(Button, "text")
cdef Py_ssize_t BT_DATA = slot(Button, "data")
cdef Py_ssize_t BT_URL = slot(Button, "url")
cdef Py_ssize_t BT_FORWARD = slot(Button, "forward_text")
cdef Py_ssize_t BT_ID = slot(Button, "button_id")

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
cdef Py_ssize_t D_THUMB_SIZE = slot(Document, "thumb_size")

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

# entity kind name (the model's) -> code, as engine/render/entities.py CODE_OF
cdef dict CODE_OF = {name: code for code, name in enumerate(_kinds.TD_NAMES)}
