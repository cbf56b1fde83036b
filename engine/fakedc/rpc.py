"""The RPCs fakedc answers, one small function each; anything else is an rpc_error.

A handler gets the server, the connection (for its account) and the parsed
Telethon request, and returns a TL object (or raw TL bytes), or raises RpcError.

This module is the registry (``handles``, ``dispatch``) and the handlers for config,
updates, users, chats and dialogs; the others register theirs from rpc_members.py
(invite links, members), rpc_history.py (history, messages by id, takeout, files),
rpc_search.py (search, threads, forum topics) and rpc_auth.py (logins).  Whoever
dispatches imports them all (engine/fakedc/connection.py).
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib

from telethon.tl import functions, types

from .world import Chat

BOOL_TRUE = struct.pack("<I", 0x997275B5)


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code, self.message = code, message


HANDLERS: dict[type, callable] = {}


def handles(*request_types):
    def register(fn):
        for t in request_types:
            HANDLERS[t] = fn
        return fn
    return register


def dispatch(dc, conn, request):
    handler = HANDLERS.get(type(request))
    if handler is None:
        raise RpcError(400, f"METHOD_NOT_SUPPORTED_{type(request).__name__.upper()}")
    return handler(dc, conn, request)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ts_of(value) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return int(value)


# ---- help / updates -----------------------------------------------------------------------
@handles(functions.help.GetConfigRequest)
def get_config(dc, conn, req):
    now = utc_now()
    return types.Config(
        date=now, expires=now + dt.timedelta(hours=1), test_mode=False, this_dc=conn.dc_id,
        dc_options=[types.DcOption(id=d, ip_address=dc.host, port=port)
                    for d, port in dc.dc_ports().items()],
        dc_txt_domain_name="fakedc.invalid", chat_size_max=200, megagroup_size_max=200000,
        forwarded_count_max=100, online_update_period_ms=210000, offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000, online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000, notify_default_delay_ms=1500, push_chat_period_ms=60000,
        push_chat_limit=2, edit_time_limit=172800, revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647, rating_e_decay=2419200, stickers_recent_limit=200,
        channels_read_media_period=604800, call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000, call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000, me_url_prefix="https://t.me/", caption_length_max=1024,
        message_length_max=4096, webfile_dc_id=2)


# What clients read from appConfig before downloading (core.telegram.org/api/config): how
# many files to fetch at once per DC, below and above 20 MB, and the Premium speed-up.
APP_CONFIG = {
    "small_queue_max_active_operations_count": 5,
    "large_queue_max_active_operations_count": 2,
    "upload_premium_speedup_download": 10,
    "upload_max_fileparts_default": 4000,
    "upload_max_fileparts_premium": 8000,
}
APP_CONFIG_HASH = zlib.crc32(repr(sorted(APP_CONFIG.items())).encode()) >> 1


@handles(functions.help.GetAppConfigRequest)
def get_app_config(dc, conn, req):
    if req.hash == APP_CONFIG_HASH:
        return types.help.AppConfigNotModified()
    return types.help.AppConfig(hash=APP_CONFIG_HASH, config=types.JsonObject([
        types.JsonObjectValue(key, types.JsonNumber(float(value)))
        for key, value in APP_CONFIG.items()]))


@handles(functions.help.GetNearestDcRequest)
def get_nearest_dc(dc, conn, req):
    return types.NearestDc(country="ZZ", this_dc=conn.dc_id, nearest_dc=dc.home_dc)


@handles(functions.updates.GetStateRequest)
def get_state(dc, conn, req):
    return types.updates.State(pts=1, qts=0, date=utc_now(), seq=1, unread_count=0)


@handles(functions.updates.GetDifferenceRequest)
def get_difference(dc, conn, req):
    return types.updates.DifferenceEmpty(date=utc_now(), seq=1)


@handles(functions.updates.GetChannelDifferenceRequest)
def get_channel_difference(dc, conn, req):
    return types.updates.ChannelDifferenceEmpty(pts=1, final=True)


# ---- users ---------------------------------------------------------------------------------
def _user(dc, conn, input_user):
    corpus = dc.corpus
    if isinstance(input_user, (types.InputUserSelf, types.InputPeerSelf)):
        return corpus.users[conn.account.user_id]
    uid = getattr(input_user, "user_id", None)
    user = corpus.users.get(uid)
    if user is None or getattr(input_user, "access_hash", user.access_hash) != user.access_hash:
        raise RpcError(400, "USER_ID_INVALID")
    return user


@handles(functions.users.GetUsersRequest)
def get_users(dc, conn, req):
    return [_user(dc, conn, u) for u in req.id]


@handles(functions.users.GetFullUserRequest)
def get_full_user(dc, conn, req):
    user = _user(dc, conn, req.id)
    return types.users.UserFull(
        full_user=types.UserFull(id=user.id, settings=types.PeerSettings(),
                                 notify_settings=types.PeerNotifySettings(),
                                 common_chats_count=0, about=f"About {user.first_name}"),
        chats=[], users=[user])


# ---- peers and chats -------------------------------------------------------------------------
@handles(functions.contacts.ResolveUsernameRequest)
def resolve_username(dc, conn, req):
    found = dc.corpus.by_username(req.username)
    if found is None:
        raise RpcError(400, "USERNAME_NOT_OCCUPIED")
    if isinstance(found, Chat):
        obj = dc.corpus.chat_object(found)
        if found.kind == "user":
            return types.contacts.ResolvedPeer(peer=types.PeerUser(found.id), chats=[], users=[obj])
        return types.contacts.ResolvedPeer(peer=found.peer(), chats=[obj], users=[])
    return types.contacts.ResolvedPeer(peer=types.PeerUser(found.id), chats=[], users=[found])


def channel_of(dc, input_channel) -> Chat:
    chat = dc.corpus.channel(getattr(input_channel, "channel_id", None))
    if chat is None or getattr(input_channel, "access_hash", None) != chat.access_hash:
        raise RpcError(400, "CHANNEL_INVALID")
    return chat


def chat_of(dc, conn, peer) -> Chat:
    """The corpus chat an InputPeer names, checking its access hash like Telegram."""
    corpus = dc.corpus
    if isinstance(peer, types.InputPeerChannel):
        return channel_of(dc, peer)
    if isinstance(peer, types.InputPeerChat):
        chat = corpus.chat_of_peer("chat", peer.chat_id)
        if chat is None:
            raise RpcError(400, "CHAT_ID_INVALID")
        return chat
    if isinstance(peer, types.InputPeerSelf):
        return corpus.chat_of_peer("user", conn.account.user_id)
    if isinstance(peer, types.InputPeerUser):
        user = _user(dc, conn, peer)
        chat = corpus.chat_of_peer("user", user.id)
        if chat is None:
            raise RpcError(400, "PEER_ID_INVALID")
        return chat
    raise RpcError(400, "PEER_ID_INVALID")


@handles(functions.channels.GetChannelsRequest)
def get_channels(dc, conn, req):
    return types.messages.Chats(chats=[dc.corpus.chat_object(channel_of(dc, c)) for c in req.id])


@handles(functions.messages.GetChatsRequest)
def get_chats(dc, conn, req):
    out = []
    for cid in req.id:
        chat = dc.corpus.chat_of_peer("chat", cid)
        if chat is None:
            raise RpcError(400, "CHAT_ID_INVALID")
        out.append(dc.corpus.chat_object(chat))
    return types.messages.Chats(chats=out)


@handles(functions.channels.GetFullChannelRequest)
def get_full_channel(dc, conn, req):
    chat = channel_of(dc, req.channel)
    # a text-only corpus has no discussion group or old basic group to point at
    linked = next((c for c in dc.corpus.chats.values() if c.id == chat.linked), None)
    old = next((c for c in dc.corpus.chats.values() if c.id == chat.migrated_from), None)
    return types.messages.ChatFull(
        full_chat=types.ChannelFull(
            id=chat.id, about=chat.about, read_inbox_max_id=chat.top_id,
            read_outbox_max_id=chat.top_id, unread_count=0, chat_photo=types.PhotoEmpty(id=0),
            notify_settings=types.PeerNotifySettings(), bot_info=[], pts=1,
            participants_count=len(chat.members), linked_chat_id=linked and linked.id,
            migrated_from_chat_id=old and old.id,
            migrated_from_max_id=old and old.top_id),
        chats=[dc.corpus.chat_object(c) for c in (chat, *([linked] if linked else []))],
        users=[])


@handles(functions.messages.GetDialogsRequest)
def get_dialogs(dc, conn, req):
    corpus = dc.corpus
    # a basic group that migrated is hidden from dialogs, as Telegram does
    # newest top message first; ties broken by chat id so the order is total
    # and a chat the account is not in (seen through an invite link's preview) is no dialog
    chats = sorted((c for c in corpus.chats.values() if not c.migrated_to and c.joined
                    and conn.account.can_see(c)),
                   key=lambda c: (-c.date_of(c.top_id), -c.id))
    # offset by the last dialog of the previous page, like Telegram: its peer when given
    # (dialogs with the same top date are not skipped), else its top message's date
    offset = ts_of(req.offset_date)
    after = None
    if not isinstance(req.offset_peer, types.InputPeerEmpty | None):
        try:
            after = chat_of(dc, conn, req.offset_peer)
        except RpcError:
            after = None
    if after is not None and after in chats:
        chats = chats[chats.index(after) + 1:]
    elif offset:
        chats = [c for c in chats if corpus_date(c) < offset]
    page = chats[: max(0, min(req.limit or 100, 100))]
    dialogs, messages = [], []
    for chat in page:
        top = corpus.history(chat, limit=1)
        msg = corpus.message(chat, top[0]) if top else None
        dialogs.append(types.Dialog(peer=chat.peer(), top_message=top[0] if top else 0,
                                    read_inbox_max_id=chat.top_id,
                                    read_outbox_max_id=chat.top_id, unread_count=0,
                                    unread_mentions_count=0, unread_reactions_count=0,
                                    unread_poll_votes_count=0,
                                    notify_settings=types.PeerNotifySettings()))
        if msg is not None:
            messages.append(msg)
    chat_objs = [corpus.chat_object(c) for c in page if c.kind != "user"]
    users = corpus.users_of(messages) + [corpus.chat_object(c) for c in page if c.kind == "user"]
    users = list({u.id: u for u in users}.values())
    if len(page) == len(chats) and not offset:
        return types.messages.Dialogs(dialogs=dialogs, messages=messages, chats=chat_objs,
                                      users=users)
    return types.messages.DialogsSlice(count=len(chats) + (len(page) if offset else 0),
                                       dialogs=dialogs,
                                       messages=messages, chats=chat_objs, users=users)


def corpus_date(chat: Chat) -> int:
    return chat.date_of(chat.top_id)
