"""msgspec Structs for everything a Telegram message can carry.

This is the archive's schema: workers decode it, renderers read it, the archive of
record stores it. Nothing here imports Telethon (engine/telegram/convert.py builds
these from TL objects). Kinds the schema does not model field by field are kept
whole: ``Action.fields`` and ``OtherMedia.fields`` hold the TL object as plain data,
and ``Message.raw`` has room for the message's original TL bytes, so nothing
Telegram sent is lost while the schema is still thin.

Dates are unix seconds (int); ids are ints; file references are bytes.
``SCHEMA_VERSION`` goes into every JSONL line and archive segment.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import Struct

SCHEMA_VERSION = 1

__all__ = [
    "BATCH_DECODER",
    "ENCODER",
    "SCHEMA_VERSION",
    "Action",
    "Batch",
    "Button",
    "Contact",
    "Dice",
    "Document",
    "Entity",
    "Forward",
    "Game",
    "Geo",
    "Invoice",
    "Media",
    "Message",
    "OtherMedia",
    "PeerInfo",
    "PeerRef",
    "Photo",
    "Poll",
    "PollAnswer",
    "Reaction",
    "Reactor",
    "ReplyTo",
    "Venue",
    "WebPage",
]


class PeerRef(Struct, frozen=True, array_like=True, gc=False):
    """A user, basic group (``chat``) or channel/supergroup (``channel``) by id."""
    kind: Literal["user", "chat", "channel"]
    id: int


class PeerInfo(Struct, gc=False, omit_defaults=True):
    """What a page told us about a peer it mentions (names change; the id does not)."""
    ref: PeerRef
    name: str | None = None           # "First Last" for users, title for chats
    username: str | None = None
    bot: bool = False
    deleted: bool = False


class Entity(Struct, array_like=True, gc=False):
    """A text entity; offsets and lengths count UTF-16 code units, as Telegram does."""
    kind: str                         # Telegram Desktop's name: bold, text_link, mention_name, ...
    offset: int
    length: int
    url: str | None = None            # text_link
    language: str | None = None       # pre
    user_id: int | None = None        # mention_name
    document_id: int | None = None    # custom_emoji
    collapsed: bool | None = None     # blockquote


class ReplyTo(Struct, gc=False, omit_defaults=True):
    msg_id: int | None = None
    top_id: int | None = None         # thread root (comments, topics)
    peer: PeerRef | None = None       # set when the reply points into another chat
    forum_topic: bool = False
    quote_text: str | None = None
    quote_entities: list[Entity] = []
    story_id: int | None = None


class Forward(Struct, gc=False, omit_defaults=True):
    date: int = 0
    from_peer: PeerRef | None = None
    from_name: str | None = None      # hidden senders
    channel_post: int | None = None
    post_author: str | None = None
    saved_from_peer: PeerRef | None = None
    saved_from_msg_id: int | None = None
    imported: bool = False


class Reactor(Struct, array_like=True, gc=False):
    peer: PeerRef
    date: int


class Reaction(Struct, gc=False, omit_defaults=True):
    kind: Literal["emoji", "custom_emoji", "paid"]
    count: int
    emoji: str | None = None
    document_id: int | None = None
    recent: list[Reactor] = []


class Button(Struct, gc=False, omit_defaults=True):
    kind: str                         # callback, url, switch_inline, ... (TL name, snake_case)
    text: str
    data: bytes | None = None
    url: str | None = None
    forward_text: str | None = None
    button_id: int | None = None


# ---- media ----------------------------------------------------------------------------------
class Photo(Struct, tag="photo", gc=False, omit_defaults=True):
    id: int
    access_hash: int = 0
    file_reference: bytes = b""
    dc_id: int = 0
    date: int = 0
    width: int = 0
    height: int = 0
    size: int = 0                     # bytes of the largest size
    thumb_type: str = ""              # which PhotoSize that is ("y", "x", ...)
    spoiler: bool = False
    ttl_seconds: int | None = None


class Document(Struct, tag="document", gc=False, omit_defaults=True):
    id: int
    access_hash: int = 0
    file_reference: bytes = b""
    dc_id: int = 0
    date: int = 0
    mime_type: str = ""
    size: int = 0
    file_name: str | None = None      # as Telegram sent it: unsanitized
    # Telegram Desktop's media_type: sticker, video_message, voice_message, animation,
    # video_file, audio_file; None for a plain file
    media_type: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    performer: str | None = None
    title: str | None = None
    sticker_emoji: str | None = None
    has_thumb: bool = False           # a real thumbnail (not only a stripped/path one)
    spoiler: bool = False
    ttl_seconds: int | None = None
    thumb_type: str = ""              # the largest thumbnail's PhotoSize type ("m", ...)
    thumb_size: int = 0               # its bytes


class Geo(Struct, tag="geo", gc=False, omit_defaults=True):
    latitude: float
    longitude: float
    live_period: int | None = None    # geo_live


class Venue(Struct, tag="venue", gc=False, omit_defaults=True):
    latitude: float
    longitude: float
    title: str = ""
    address: str = ""
    provider: str = ""
    venue_id: str = ""


class Contact(Struct, tag="contact", gc=False, omit_defaults=True):
    phone_number: str = ""
    first_name: str = ""
    last_name: str = ""
    vcard: str = ""
    user_id: int = 0


class PollAnswer(Struct, gc=False, omit_defaults=True):
    text: str
    option: bytes
    voters: int = 0
    chosen: bool = False
    correct: bool = False


class Poll(Struct, tag="poll", gc=False, omit_defaults=True):
    id: int
    question: str
    answers: list[PollAnswer] = []
    closed: bool = False
    quiz: bool = False
    multiple_choice: bool = False
    public_voters: bool = False
    total_voters: int = 0


class WebPage(Struct, tag="webpage", gc=False, omit_defaults=True):
    url: str = ""
    display_url: str = ""
    site_name: str | None = None
    title: str | None = None
    description: str | None = None
    page_type: str | None = None      # Telegram's "type": article, photo, video, ...


class Game(Struct, tag="game", gc=False, omit_defaults=True):
    title: str = ""
    description: str = ""
    short_name: str = ""


class Invoice(Struct, tag="invoice", gc=False, omit_defaults=True):
    title: str = ""
    description: str = ""
    currency: str = ""
    total_amount: int = 0
    receipt_msg_id: int | None = None


class Dice(Struct, tag="dice", gc=False, omit_defaults=True):
    emoticon: str
    value: int


class OtherMedia(Struct, tag="other", gc=False, omit_defaults=True):
    """Story, giveaway, paid media, to-do list, unsupported...: kept whole as plain data."""
    kind: str                         # TL class name without MessageMedia, snake_case
    fields: dict[str, Any] = {}


Media = Photo | Document | Geo | Venue | Contact | Poll | WebPage | Game | Invoice | Dice | \
    OtherMedia


class Action(Struct, gc=False, omit_defaults=True):
    """A service message's action: ``kind`` is the TL name without MessageAction in
    snake_case (chat_create, pin_message, topic_create, ...) and ``fields`` every
    field of it as plain data, so each kind Telethon knows survives unmodelled."""
    kind: str
    fields: dict[str, Any] = {}


class Message(Struct, gc=False, omit_defaults=True):
    id: int
    chat: PeerRef
    date: int
    type: Literal["message", "service", "empty"] = "message"
    from_peer: PeerRef | None = None
    out: bool = False
    post: bool = False
    text: str = ""
    entities: list[Entity] = []
    reply_to: ReplyTo | None = None
    forward: Forward | None = None
    media: Media | None = None
    action: Action | None = None
    edit_date: int | None = None
    views: int | None = None
    forwards: int | None = None
    replies: int | None = None        # reply / comment count
    comments_chat: int | None = None  # linked discussion group holding the comments
    grouped_id: int | None = None
    post_author: str | None = None
    via_bot_id: int | None = None
    topic_id: int | None = None
    reactions: list[Reaction] = []
    buttons: list[list[Button]] = []
    pinned: bool = False
    silent: bool = False
    noforwards: bool = False
    ttl_period: int | None = None
    raw: bytes | None = None          # the message's original TL bytes, where they came free
    # archive bookkeeping (set by the archive, not by Telegram)
    deleted_at: int | None = None


class Batch(Struct, gc=False, omit_defaults=True):
    """Messages of one history page travelling supervisor -> worker, in order."""
    seq: int
    chat: PeerRef
    messages: list[Message]
    peers: list[PeerInfo] = []


ENCODER = msgspec.msgpack.Encoder()
BATCH_DECODER = msgspec.msgpack.Decoder(Batch)
