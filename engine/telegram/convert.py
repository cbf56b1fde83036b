"""Telethon TL objects -> engine.model Structs. The one place that reads TL classes.

Unknown or unmodelled shapes are never dropped: service actions and exotic media
keep all their fields as plain data (``plain``), and entity kinds we do not know
by name keep their TL name.
"""

from __future__ import annotations

import base64
import datetime as dt
import re

from telethon.tl import types
from telethon.tl.tlobject import TLObject

from engine import model as m

ENTITY_KINDS = {
    types.MessageEntityUnknown: "unknown", types.MessageEntityMention: "mention",
    types.MessageEntityHashtag: "hashtag", types.MessageEntityBotCommand: "bot_command",
    types.MessageEntityUrl: "link", types.MessageEntityEmail: "email",
    types.MessageEntityBold: "bold", types.MessageEntityItalic: "italic",
    types.MessageEntityCode: "code", types.MessageEntityPre: "pre",
    types.MessageEntityTextUrl: "text_link", types.MessageEntityMentionName: "mention_name",
    types.InputMessageEntityMentionName: "mention_name", types.MessageEntityPhone: "phone",
    types.MessageEntityCashtag: "cashtag", types.MessageEntityUnderline: "underline",
    types.MessageEntityStrike: "strikethrough", types.MessageEntityBlockquote: "blockquote",
    types.MessageEntityBankCard: "bank_card", types.MessageEntitySpoiler: "spoiler",
    types.MessageEntityCustomEmoji: "custom_emoji",
}


def snake(name: str, prefix: str = "") -> str:
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def ts(value) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return int(value)


def plain(obj):
    """A TL object (or anything inside one) as JSON-safe data: dicts with a ``_`` type
    name, ints, strs, bools, floats, lists; bytes as base64, dates as unix seconds."""
    if isinstance(obj, TLObject):
        return {"_": type(obj).__name__,
                **{k: plain(v) for k, v in obj.to_dict().items() if k != "_" and v is not None}}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode()
    if isinstance(obj, dt.datetime):
        return int(obj.timestamp())
    return obj


def peer_ref(peer) -> m.PeerRef | None:
    if isinstance(peer, types.PeerUser):
        return m.PeerRef("user", peer.user_id)
    if isinstance(peer, types.PeerChat):
        return m.PeerRef("chat", peer.chat_id)
    if isinstance(peer, types.PeerChannel):
        return m.PeerRef("channel", peer.channel_id)
    return None


def peer_info(obj) -> m.PeerInfo | None:
    """A User / Chat / Channel from a page's ``users`` / ``chats``."""
    if isinstance(obj, types.User):
        name = " ".join(x for x in (obj.first_name, obj.last_name) if x) or None
        return m.PeerInfo(m.PeerRef("user", obj.id), name, obj.username, bool(obj.bot),
                          bool(obj.deleted))
    if isinstance(obj, types.Chat | types.ChatForbidden):
        return m.PeerInfo(m.PeerRef("chat", obj.id), obj.title or None)
    if isinstance(obj, types.Channel | types.ChannelForbidden):
        return m.PeerInfo(m.PeerRef("channel", obj.id), obj.title or None,
                          getattr(obj, "username", None))
    return None


def entities(ents) -> list[m.Entity]:
    out = []
    for e in ents or ():
        kind = ENTITY_KINDS.get(type(e)) or snake(type(e).__name__, "MessageEntity")
        out.append(m.Entity(
            kind, e.offset, e.length,
            url=getattr(e, "url", None) if kind == "text_link" else None,
            language=getattr(e, "language", None),
            user_id=getattr(e, "user_id", None) if kind == "mention_name" else None,
            document_id=getattr(e, "document_id", None),
            collapsed=getattr(e, "collapsed", None)))
    return out


def _largest_photo_size(photo):
    return _largest(photo.sizes)


def _largest(sizes):
    """(area, size, bytes) of the largest real PhotoSize (stripped and path ones are
    previews, not files), or None."""
    best = None
    for size in sizes or ():
        if isinstance(size, types.PhotoSizeProgressive):
            area, nbytes = size.w * size.h, max(size.sizes or [0])
        elif isinstance(size, types.PhotoSize | types.PhotoCachedSize):
            area = size.w * size.h
            nbytes = getattr(size, "size", None) or len(getattr(size, "bytes", b""))
        else:
            continue
        if best is None or area > best[0]:
            best = (area, size, nbytes)
    return best


def photo(p, spoiler=False, ttl=None) -> m.Photo | None:
    if not isinstance(p, types.Photo):
        return None
    best = _largest_photo_size(p)
    return m.Photo(
        id=p.id, access_hash=p.access_hash, file_reference=p.file_reference, dc_id=p.dc_id,
        date=ts(p.date), width=best[1].w if best else 0, height=best[1].h if best else 0,
        size=best[2] if best else 0, thumb_type=best[1].type if best else "",
        spoiler=bool(spoiler), ttl_seconds=ttl)


def document(d, spoiler=False, ttl=None) -> m.Document | None:
    if not isinstance(d, types.Document):
        return None
    out = m.Document(id=d.id, access_hash=d.access_hash, file_reference=d.file_reference,
                     dc_id=d.dc_id, date=ts(d.date), mime_type=d.mime_type, size=d.size,
                     spoiler=bool(spoiler), ttl_seconds=ttl)
    thumb = _largest(d.thumbs)
    if thumb is not None:        # as Telegram Desktop: a stripped preview is no thumbnail
        out.has_thumb, out.thumb_type, out.thumb_size = True, thumb[1].type, thumb[2]
    animated = sticker = False
    for a in d.attributes:
        if isinstance(a, types.DocumentAttributeFilename):
            out.file_name = a.file_name
        elif isinstance(a, types.DocumentAttributeSticker):
            sticker = True
            out.sticker_emoji = a.alt or None
        elif isinstance(a, types.DocumentAttributeAnimated):
            animated = True
        elif isinstance(a, types.DocumentAttributeVideo):
            out.duration, out.width, out.height = float(a.duration), a.w, a.h
            out.media_type = out.media_type or ("video_message" if a.round_message
                                                else "video_file")
        elif isinstance(a, types.DocumentAttributeAudio):
            out.duration = float(a.duration)
            out.performer, out.title = a.performer, a.title
            out.media_type = out.media_type or ("voice_message" if a.voice else "audio_file")
        elif isinstance(a, types.DocumentAttributeImageSize):
            out.width, out.height = a.w, a.h
    if sticker:
        out.media_type = "sticker"
    elif animated:
        out.media_type = "animation"
    return out


def _text(twe) -> str:
    return twe.text if isinstance(twe, types.TextWithEntities) else (twe or "")


def media(md) -> m.Media | None:
    if md is None or isinstance(md, types.MessageMediaEmpty):
        return None
    spoiler, ttl = getattr(md, "spoiler", None), getattr(md, "ttl_seconds", None)
    if isinstance(md, types.MessageMediaPhoto):
        return photo(md.photo, spoiler, ttl) or m.OtherMedia("photo_empty")
    if isinstance(md, types.MessageMediaDocument):
        return document(md.document, spoiler, ttl) or m.OtherMedia("document_empty")
    if isinstance(md, types.MessageMediaGeo | types.MessageMediaGeoLive):
        g = md.geo
        return m.Geo(getattr(g, "lat", 0.0), getattr(g, "long", 0.0),
                     getattr(md, "period", None))
    if isinstance(md, types.MessageMediaVenue):
        return m.Venue(getattr(md.geo, "lat", 0.0), getattr(md.geo, "long", 0.0), md.title,
                       md.address, md.provider, md.venue_id)
    if isinstance(md, types.MessageMediaContact):
        return m.Contact(md.phone_number, md.first_name, md.last_name, md.vcard, md.user_id)
    if isinstance(md, types.MessageMediaPoll):
        results = {r.option: r for r in (md.results.results or ())}
        answers = [m.PollAnswer(_text(a.text), a.option,
                                getattr(results.get(a.option), "voters", 0) or 0,
                                bool(getattr(results.get(a.option), "chosen", False)),
                                bool(getattr(results.get(a.option), "correct", False)))
                   for a in md.poll.answers]
        p = md.poll
        return m.Poll(p.id, _text(p.question), answers, bool(p.closed), bool(p.quiz),
                      bool(p.multiple_choice), bool(p.public_voters),
                      md.results.total_voters or 0)
    if isinstance(md, types.MessageMediaWebPage):
        w = md.webpage
        return m.WebPage(getattr(w, "url", ""), getattr(w, "display_url", ""),
                         getattr(w, "site_name", None), getattr(w, "title", None),
                         getattr(w, "description", None), getattr(w, "type", None))
    if isinstance(md, types.MessageMediaGame):
        return m.Game(md.game.title, md.game.description, md.game.short_name)
    if isinstance(md, types.MessageMediaInvoice):
        return m.Invoice(md.title, md.description, md.currency, md.total_amount,
                         md.receipt_msg_id)
    if isinstance(md, types.MessageMediaDice):
        return m.Dice(md.emoticon, md.value)
    return m.OtherMedia(snake(type(md).__name__, "MessageMedia"), plain(md))


def _reaction(r) -> tuple[str, str | None, int | None]:
    if isinstance(r, types.ReactionEmoji):
        return "emoji", r.emoticon, None
    if isinstance(r, types.ReactionCustomEmoji):
        return "custom_emoji", None, r.document_id
    return "paid", None, None


def reactions(rs) -> list[m.Reaction]:
    if rs is None:
        return []
    recent = [(_reaction(p.reaction), m.Reactor(peer_ref(p.peer_id), ts(p.date)))
              for p in rs.recent_reactions or ()]
    out = []
    for rc in rs.results:
        key = _reaction(rc.reaction)
        out.append(m.Reaction(key[0], rc.count, key[1], key[2],
                              [who for k, who in recent if k == key]))
    return out


def buttons(markup) -> list[list[m.Button]]:
    """Inline keyboard rows (layer 229: KeyboardInlineButton with an InlineButtonType)."""
    if not isinstance(markup, types.ReplyInlineMarkup):
        return []
    rows = []
    for row in markup.rows:
        out = []
        for b in row.buttons:
            kind = getattr(b, "type", None)
            out.append(m.Button(
                snake(type(kind).__name__, "InlineButtonType") if kind else "button", b.text,
                data=getattr(kind, "data", None), url=getattr(kind, "url", None),
                forward_text=getattr(kind, "fwd_text", None),
                button_id=getattr(kind, "button_id", None)))
        rows.append(out)
    return rows


def reply_to(r) -> m.ReplyTo | None:
    if isinstance(r, types.MessageReplyHeader):
        return m.ReplyTo(r.reply_to_msg_id, r.reply_to_top_id, peer_ref(r.reply_to_peer_id),
                         bool(r.forum_topic), r.quote_text, entities(r.quote_entities))
    if isinstance(r, types.MessageReplyStoryHeader):
        return m.ReplyTo(peer=peer_ref(r.peer), story_id=r.story_id)
    return None


def forward(f) -> m.Forward | None:
    if f is None:
        return None
    return m.Forward(ts(f.date), peer_ref(f.from_id), f.from_name, f.channel_post,
                     f.post_author, peer_ref(f.saved_from_peer), f.saved_from_msg_id,
                     bool(f.imported))


def message(msg, chat: m.PeerRef, raw: bytes | None = None) -> m.Message:
    """One TL message (Message, MessageService or MessageEmpty) as the model's Message."""
    if isinstance(msg, types.MessageEmpty):
        return m.Message(msg.id, chat, 0, type="empty")
    common = dict(from_peer=peer_ref(msg.from_id), out=bool(msg.out), post=bool(msg.post),
                  reply_to=reply_to(msg.reply_to), silent=bool(msg.silent),
                  ttl_period=msg.ttl_period, raw=raw)
    if isinstance(msg, types.MessageService):
        return m.Message(msg.id, chat, ts(msg.date), type="service",
                         action=m.Action(snake(type(msg.action).__name__, "MessageAction"),
                                         {k: v for k, v in plain(msg.action).items()
                                          if k != "_"}),
                         **common)
    replies = msg.replies
    topic = None
    if isinstance(msg.reply_to, types.MessageReplyHeader) and msg.reply_to.forum_topic:
        topic = msg.reply_to.reply_to_top_id or msg.reply_to.reply_to_msg_id
    return m.Message(
        msg.id, chat, ts(msg.date), text=msg.message or "", entities=entities(msg.entities),
        forward=forward(msg.fwd_from), media=media(msg.media),
        edit_date=ts(msg.edit_date) or None, views=msg.views, forwards=msg.forwards,
        replies=replies.replies if replies else None,
        comments_chat=replies.channel_id if replies and replies.comments else None,
        grouped_id=msg.grouped_id, post_author=msg.post_author, via_bot_id=msg.via_bot_id,
        topic_id=topic, reactions=reactions(msg.reactions), buttons=buttons(msg.reply_markup),
        pinned=bool(msg.pinned), noforwards=bool(msg.noforwards), **common)


def page(result, chat: m.PeerRef, seq: int) -> m.Batch:
    """A history page (messages.Messages / MessagesSlice / ChannelMessages) as a Batch,
    oldest message first."""
    peers = [p for p in map(peer_info, [*result.users, *result.chats]) if p is not None]
    msgs = [message(x, chat) for x in reversed(result.messages)]
    return m.Batch(seq, chat, msgs, peers)


def input_peer(ref: m.PeerRef) -> types.TypeInputPeer:
    """The InputPeer of a basic group (the only peer that needs no access hash)."""
    if ref.kind == "chat":
        return types.InputPeerChat(ref.id)
    raise ValueError(f"no input peer without an access hash for {ref.kind} {ref.id}")
