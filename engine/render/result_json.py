"""Telegram Desktop's single-chat ``result.json``, one message fragment at a time.

Pure functions: (model Message, RenderContext) -> bytes. Field names, order, types
and omissions follow ../shared/TD_JSON.md; the output is always valid JSON (orjson
escapes control characters, where Telegram Desktop writes ``\\xHH``). The document
is assembled by ``document()`` from the fragments, one message per line, so a
changed message shows up as one changed line.

This module is the pure-Python twin and the reference reading: ``fragment``/``fragments``
(``message_dict`` + orjson). Callers render through ``engine.render.renderer``
(``fragment``/``fragments``), which runs the native renderer (native/render_result_json.pxi)
when it loads and hands this module what the native one does not cover (inline buttons,
fields of unusual types); a service message's ``action_keys`` come from here either way.
"""

from __future__ import annotations

import base64

import orjson

from engine import model as m
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render.context import LocalClock, RenderContext, tz_named  # noqa: F401 - re-exported
from engine.render.entities import as_tuples
from engine.text import td_text

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
TOO_LARGE = "(File exceeds maximum size. Change data exporting settings to download.)"
UNAVAILABLE = "(File unavailable, please try again later)"


def peer_id(ref: m.PeerRef) -> str:
    return f"{ref.kind}{ref.id}"


def chat_type(info: m.PeerInfo, kind: str, me: int | None = None) -> str:
    """Telegram Desktop's dialog type for the root of result.json; ``kind`` is the
    corpus-level kind: channel, supergroup, group or user."""
    if kind == "channel":
        return "public_channel" if info.username else "private_channel"
    if kind == "supergroup":
        return "public_supergroup" if info.username else "private_supergroup"
    if kind == "group":
        return "private_group"
    if me is not None and info.ref.id == me:
        return "saved_messages"
    return "bot_chat" if info.bot else "personal_chat"


def document(info: m.PeerInfo, kind: str, fragments: list[bytes], me: int | None = None) -> bytes:
    kind_name = chat_type(info, kind, me)
    # Telegram Desktop names every chat but Saved Messages
    head = orjson.dumps({"type": kind_name, "id": info.ref.id}
                        if kind_name == "saved_messages" else
                        {"name": info.name or None, "type": kind_name, "id": info.ref.id})
    body = b",\n  ".join(fragments)
    return (head[:-1] + b',\n "messages": [\n  ' + body + b"\n ]\n}\n") if fragments else \
        head[:-1] + b',\n "messages": []\n}\n'


# ---- services ---------------------------------------------------------------------------------
def _members(ctx: RenderContext, ids) -> list:
    return [ctx.name(m.PeerRef("user", i)) for i in ids or ()]


TD_ACTIONS = {  # our action kind -> Telegram Desktop's "action"
    "chat_create": "create_group", "chat_edit_title": "edit_group_title",
    "chat_edit_photo": "edit_group_photo", "chat_delete_photo": "delete_group_photo",
    "chat_add_user": "invite_members", "chat_delete_user": "remove_members",
    "chat_joined_by_link": "join_group_by_link", "channel_create": "create_channel",
    "chat_migrate_to": "migrate_to_supergroup", "channel_migrate_from": "migrate_from_group",
    "pin_message": "pin_message", "history_clear": "clear_history",
    "phone_call": "phone_call", "group_call": "group_call",
    "set_messages_ttl": "set_messages_ttl", "set_chat_theme": "edit_chat_theme",
    "topic_create": "topic_created", "topic_edit": "topic_edit",
    "boost_apply": "boost_apply", "screenshot_taken": "take_screenshot",
    "contact_sign_up": "joined_telegram", "chat_joined_by_request": "join_group_by_request",
    "game_score": "score_in_game", "bot_allowed": "allow_sending_messages",
    "invite_to_group_call": "invite_to_group_call",
    "group_call_scheduled": "group_call_scheduled",
    "geo_proximity_reached": "proximity_reached", "gift_premium": "send_premium_gift",
    "requested_peer": "requested_peer", "suggest_profile_photo": "suggest_profile_photo",
    "set_chat_wall_paper": "set_chat_wallpaper", "gift_code": "gift_code_prize",
    "giveaway_launch": "giveaway_launch", "giveaway_results": "giveaway_results",
    "payment_sent": "send_payment",
}


def action_keys(ctx: RenderContext, msg: m.Message, out: dict) -> None:
    """A service message's keys from "action" on, as Telegram Desktop names them (the
    native renderer splices these in too: the façade hands them over)."""
    a = msg.action
    f = a.fields
    k = a.kind
    if k == "custom_action":
        out["information_text"] = f.get("message", "")
        return
    out["action"] = TD_ACTIONS.get(k, k)
    if k in ("chat_create", "channel_create", "chat_edit_title", "topic_create",
             "channel_migrate_from"):
        out["title"] = f.get("title", "")
    if k == "chat_create":
        out["members"] = _members(ctx, f.get("users"))
    elif k in ("chat_add_user", "chat_delete_user"):
        out["members"] = _members(ctx, f.get("users") or [f.get("user_id")])
    elif k == "chat_joined_by_link":
        out["inviter"] = ctx.name(m.PeerRef("user", f.get("inviter_id", 0)))
    elif k == "chat_edit_photo":
        out["photo"] = NOT_INCLUDED
    elif k == "pin_message" and msg.reply_to and msg.reply_to.msg_id:
        out["message_id"] = msg.reply_to.msg_id
    elif k == "phone_call":
        if f.get("duration"):
            out["duration_seconds"] = f["duration"]
        reason = (f.get("reason") or {}).get("_", "")
        if reason:
            out["discard_reason"] = reason.removeprefix("PhoneCallDiscardReason").lower()
    elif k == "group_call" and f.get("duration"):
        out["duration"] = f["duration"]
    elif k == "set_messages_ttl":
        out["period"] = f.get("period", 0)
    elif k == "set_chat_theme" and f.get("emoticon"):
        out["emoticon"] = f["emoticon"]
    elif k == "topic_edit":
        if f.get("title"):
            out["new_title"] = f["title"]
        if f.get("icon_emoji_id"):
            out["new_icon_emoji_id"] = f["icon_emoji_id"]
    elif k == "boost_apply":
        out["boosts"] = f.get("boosts", 1)


# ---- media ------------------------------------------------------------------------------------
def _spoiler_ttl(media: m.Photo | m.Document, out: dict) -> None:
    """The two keys photos and documents end with, in Telegram Desktop's order."""
    if media.spoiler:
        out["media_spoiler"] = True
    if media.ttl_seconds:
        out["self_destruct_period_seconds"] = media.ttl_seconds


def gone(msg: m.Message) -> bool:
    """A self-destructing photo or file of an incoming message: Telegram Desktop resets its
    file (export_data_types.cpp), so it is "unavailable" with size 0, whatever was asked."""
    media = msg.media
    return isinstance(media, m.Photo | m.Document) and bool(media.ttl_seconds) \
        and not msg.out


def _media(ctx: RenderContext, media, out: dict, unavailable: bool = False) -> None:
    """``unavailable``: the file is gone() -- "unavailable", its sizes 0."""
    def path(key: int) -> str:
        return UNAVAILABLE if unavailable else ctx.files.get(key, NOT_INCLUDED)

    if isinstance(media, m.Photo):
        out["photo"] = path(media.id)
        if media.size or unavailable:
            out["photo_file_size"] = 0 if unavailable else media.size
        if media.width:
            out["width"], out["height"] = media.width, media.height
        _spoiler_ttl(media, out)
    elif isinstance(media, m.Document):
        out["file"] = path(media.id)
        if media.file_name:
            out["file_name"] = media.file_name
        if media.size or unavailable:
            out["file_size"] = 0 if unavailable else media.size
        if media.has_thumb:
            out["thumbnail"] = path(-media.id)
            if media.thumb_size or unavailable:
                out["thumbnail_file_size"] = 0 if unavailable else media.thumb_size
        if media.media_type:
            out["media_type"] = media.media_type
        if media.sticker_emoji:
            out["sticker_emoji"] = media.sticker_emoji
        if media.performer:
            out["performer"] = media.performer
        if media.title:
            out["title"] = media.title
        if media.mime_type:
            out["mime_type"] = media.mime_type
        if int(media.duration or 0):    # whole seconds, as Telegram Desktop: 0.4 s is none
            out["duration_seconds"] = int(media.duration)
        if media.width and media.media_type != "voice_message":
            out["width"], out["height"] = media.width, media.height
        _spoiler_ttl(media, out)
    elif isinstance(media, m.Contact):
        out["contact_information"] = {"first_name": media.first_name,
                                      "last_name": media.last_name,
                                      "phone_number": media.phone_number}
        if media.vcard:
            out["contact_vcard"] = NOT_INCLUDED
    elif isinstance(media, m.Geo):
        out["location_information"] = {"latitude": media.latitude,
                                       "longitude": media.longitude}
        if media.live_period:
            out["live_location_period_seconds"] = media.live_period
    elif isinstance(media, m.Venue):
        out["place_name"] = media.title
        out["address"] = media.address
        out["location_information"] = {"latitude": media.latitude,
                                       "longitude": media.longitude}
    elif isinstance(media, m.Game):
        out["game_title"] = media.title
        out["game_description"] = media.description
    elif isinstance(media, m.Invoice):
        info = {"title": media.title, "description": media.description,
                "amount": media.total_amount, "currency": media.currency}
        if media.receipt_msg_id:
            info["receipt_message_id"] = media.receipt_msg_id
        out["invoice_information"] = info
    elif isinstance(media, m.Poll):
        out["poll"] = {"question": media.question, "closed": media.closed,
                       "total_voters": media.total_voters,
                       "answers": [{"text": a.text, "voters": a.voters, "chosen": a.chosen}
                                   for a in media.answers]}
    # web page previews, dice, stories and the rest are not exported by Telegram Desktop


def _buttons(rows: list[list[m.Button]]) -> list:
    out = []
    for row in rows:
        items = []
        for b in row:
            item = {"type": b.kind, "text": b.text}
            if b.data is not None:
                try:
                    item["data"] = b.data.decode()
                except UnicodeDecodeError:
                    item["dataBase64"] = base64.b64encode(b.data).decode()
            if b.url:
                item["data"] = b.url
            if b.forward_text:
                item["forward_text"] = b.forward_text
            if b.button_id is not None:
                item["button_id"] = b.button_id
            items.append(item)
        out.append(items)
    return out


def _reactions(ctx: RenderContext, reactions: list[m.Reaction]) -> list:
    out = []
    for r in reactions:
        item: dict = {"type": r.kind, "count": r.count}
        if r.kind == "emoji":
            item["emoji"] = r.emoji
        elif r.kind == "custom_emoji":
            item["document_id"] = str(r.document_id)
        if r.recent:
            item["recent"] = [{"from": ctx.name(x.peer), "from_id": peer_id(x.peer),
                               "date": ctx.local(x.date)} for x in r.recent]
        out.append(item)
    return out


# ---- messages ---------------------------------------------------------------------------------
def message_dict(msg: m.Message, ctx: RenderContext) -> dict:
    mid = msg.id
    if msg.chat != ctx.chat and msg.chat.kind == "chat":
        mid -= MIGRATED_ID_SHIFT          # history of the basic group this one migrated from
    if msg.type == "empty":
        return {"id": mid, "type": "unsupported"}
    out: dict = {"id": mid, "type": msg.type, "date": ctx.local(msg.date),
                 "date_unixtime": str(msg.date)}
    if msg.edit_date:
        out["edited"] = ctx.local(msg.edit_date)
        out["edited_unixtime"] = str(msg.edit_date)
    sender = msg.from_peer or (msg.chat if msg.post or msg.chat.kind == "channel" else None)
    if msg.type == "service":
        out["actor"] = ctx.name(sender)
        if sender is not None:
            out["actor_id"] = peer_id(sender)
        action_keys(ctx, msg, out)
    else:
        out["from"] = ctx.name(sender)
        if sender is not None:
            out["from_id"] = peer_id(sender)
        if msg.post_author:
            out["author"] = msg.post_author
        if msg.forward is not None:
            fwd = msg.forward
            out["forwarded_from"] = fwd.from_name or ctx.name(fwd.from_peer)
            if fwd.saved_from_peer is not None:
                out["saved_from"] = ctx.name(fwd.saved_from_peer)
        # a forum message's implicit reply to its topic's first message too: readers
        # rebuild topics from it, as from Telegram Desktop's files
        if msg.reply_to is not None and msg.reply_to.msg_id:
            out["reply_to_message_id"] = msg.reply_to.msg_id
            if msg.reply_to.peer is None and msg.chat != ctx.chat and msg.chat.kind == "chat":
                out["reply_to_message_id"] -= MIGRATED_ID_SHIFT   # within the migrated history
            if msg.reply_to.peer is not None and msg.reply_to.peer != msg.chat:
                out["reply_to_peer_id"] = peer_id(msg.reply_to.peer)
        if msg.via_bot_id:
            via = ctx.peers.get(m.PeerRef("user", msg.via_bot_id))
            if via and via.username:
                out["via_bot"] = "@" + via.username
        if msg.media is not None:
            _media(ctx, msg.media, out, gone(msg))
    value, entities = td_text(msg.text, as_tuples(msg.entities))
    out["text"] = value
    out["text_entities"] = entities
    if msg.buttons:
        out["inline_bot_buttons"] = _buttons(msg.buttons)
    if msg.reactions:
        out["reactions"] = _reactions(ctx, msg.reactions)
    return out


# ---- the pure-Python twin of engine._native.render (the choice: engine/render/renderer.py) ----
IMPLEMENTATION = "pure"      # what this module's own fragment()/fragments() are


def fragment(msg: m.Message, ctx: RenderContext) -> bytes:
    """One message as its result.json fragment (a JSON object, no newline)."""
    return orjson.dumps(message_dict(msg, ctx))


def fragments(msgs: list[m.Message], ctx: RenderContext) -> list[bytes]:
    """``[fragment(msg, ctx) for msg in msgs]``."""
    return [orjson.dumps(message_dict(x, ctx)) for x in msgs]
