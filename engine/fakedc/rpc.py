"""The RPCs fakedc answers, one small function each; anything else is an rpc_error.

A handler gets the server, the connection (for its account) and the parsed
Telethon request, and returns a TL object (or raw TL bytes), or raises RpcError.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import struct

from telethon.tl import functions, types

from . import files
from .corpus import FORUM_TOPICS, PEEK_SECONDS, Chat, date_of

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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ts(value) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return int(value)


# ---- help / updates -----------------------------------------------------------------------
@handles(functions.help.GetConfigRequest)
def get_config(dc, conn, req):
    now = _now()
    return types.Config(
        date=now, expires=now + dt.timedelta(hours=1), test_mode=False, this_dc=2,
        dc_options=[types.DcOption(id=2, ip_address=dc.host, port=dc.port)],
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


@handles(functions.help.GetNearestDcRequest)
def get_nearest_dc(dc, conn, req):
    return types.NearestDc(country="ZZ", this_dc=2, nearest_dc=2)


@handles(functions.updates.GetStateRequest)
def get_state(dc, conn, req):
    return types.updates.State(pts=1, qts=0, date=_now(), seq=1, unread_count=0)


@handles(functions.updates.GetDifferenceRequest)
def get_difference(dc, conn, req):
    return types.updates.DifferenceEmpty(date=_now(), seq=1)


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


def _channel(dc, input_channel) -> Chat:
    chat = dc.corpus.channel(getattr(input_channel, "channel_id", None))
    if chat is None or getattr(input_channel, "access_hash", None) != chat.access_hash:
        raise RpcError(400, "CHANNEL_INVALID")
    return chat


def chat_of(dc, conn, peer) -> Chat:
    """The corpus chat an InputPeer names, checking its access hash like Telegram."""
    corpus = dc.corpus
    if isinstance(peer, types.InputPeerChannel):
        return _channel(dc, peer)
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
    return types.messages.Chats(chats=[dc.corpus.chat_object(_channel(dc, c)) for c in req.id])


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
    chat = _channel(dc, req.channel)
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


@handles(functions.messages.GetFullChatRequest)
def get_full_chat(dc, conn, req):
    chat = dc.corpus.chat_of_peer("chat", req.chat_id)
    if chat is None:
        raise RpcError(400, "CHAT_ID_INVALID")
    participants = types.ChatParticipants(
        chat_id=chat.id, version=1,
        participants=[_chat_participant(dc.corpus, chat, u) for u in chat.members])
    return types.messages.ChatFull(
        full_chat=types.ChatFull(id=chat.id, about=chat.about, participants=participants,
                                 notify_settings=types.PeerNotifySettings()),
        chats=[dc.corpus.chat_object(chat)], users=list(dc.corpus.users.values()))


@handles(functions.messages.GetDialogsRequest)
def get_dialogs(dc, conn, req):
    corpus = dc.corpus
    # a basic group that migrated is hidden from dialogs, as Telegram does
    # newest top message first; ties broken by chat id so the order is total
    # and a chat the account is not in (seen through an invite link's preview) is no dialog
    chats = sorted((c for c in corpus.chats.values() if not c.migrated_to and c.joined),
                   key=lambda c: (-date_of(c.top_id), -c.id))
    # offset by the last dialog of the previous page, like Telegram: its peer when given
    # (dialogs with the same top date are not skipped), else its top message's date
    offset = _ts(req.offset_date)
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
    return date_of(chat.top_id)


# ---- invite links and members --------------------------------------------------------------------
@handles(functions.messages.CheckChatInviteRequest)
def check_chat_invite(dc, conn, req):
    """What an invite link opens, without joining: chatInviteAlready for a chat the account
    is in, chatInvitePeek (a preview a non-member may read until ``expires``) or a plain
    chatInvite (title and size only; joining is the only way in)."""
    corpus = dc.corpus
    invite = corpus.invite(req.hash)
    if invite is None:
        raise RpcError(400, "INVITE_HASH_INVALID")
    if invite.expired:
        raise RpcError(400, "INVITE_HASH_EXPIRED")
    chat = corpus.chats[invite.chat_key] if invite.chat_key else None
    if chat is not None and conn.account.user_id in chat.members:
        return types.ChatInviteAlready(chat=corpus.chat_object(chat))
    if chat is not None and invite.peek:
        obj = corpus.chat_object(chat)
        obj.left = True                       # Telegram marks a chat one is not in
        return types.ChatInvitePeek(chat=obj, expires=_now() + dt.timedelta(seconds=PEEK_SECONDS))
    if chat is not None:
        return types.ChatInvite(
            title=chat.title, photo=types.PhotoEmpty(id=0), participants_count=len(chat.members),
            color=0, channel=chat.kind != "group" or None,
            broadcast=chat.kind == "channel" or None, megagroup=chat.kind == "supergroup" or None,
            about=chat.about)
    return types.ChatInvite(title=invite.title, photo=types.PhotoEmpty(id=0),
                            participants_count=invite.participants, color=0, channel=True,
                            megagroup=True, request_needed=True,
                            about="A private group outside the synthetic corpus.")


def _date(ts: int | None):
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)


def _chat_participant(corpus, chat: Chat, user_id: int):
    """A basic group's member as messages.getFullChat lists it."""
    role, date = corpus.role(chat, user_id), _date(corpus.joined_date(chat, user_id))
    inviter = corpus.creator(chat) or corpus.ME
    if role == "creator":
        return types.ChatParticipantCreator(user_id=user_id)
    if role == "admin":
        return types.ChatParticipantAdmin(user_id=user_id, inviter_id=inviter, date=date)
    return types.ChatParticipant(user_id=user_id, inviter_id=inviter, date=date)


CREATOR_RIGHTS = types.ChatAdminRights(
    change_info=True, post_messages=True, edit_messages=True, delete_messages=True,
    ban_users=True, invite_users=True, pin_messages=True, add_admins=True, manage_call=True,
    other=True)
ADMIN_RIGHTS = types.ChatAdminRights(
    post_messages=True, edit_messages=True, delete_messages=True, ban_users=True,
    invite_users=True, pin_messages=True)
PARTICIPANTS_LIMIT = 200      # channels.getParticipants: at most this many a call
PARTICIPANTS_CAP = 10_000     # and no further than this offset (count still says how many)


def _channel_participant(corpus, chat: Chat, user_id: int, me: int):
    role, date = corpus.role(chat, user_id), _date(corpus.joined_date(chat, user_id))
    creator = corpus.creator(chat) or corpus.ME
    if role == "creator":
        return types.ChannelParticipantCreator(user_id=user_id, admin_rights=CREATOR_RIGHTS)
    if role == "admin":
        return types.ChannelParticipantAdmin(
            user_id=user_id, promoted_by=creator, date=date, admin_rights=ADMIN_RIGHTS,
            can_edit=corpus.role(chat, me) == "creator" or None, is_self=user_id == me or None)
    if user_id == me:
        return types.ChannelParticipantSelf(user_id=user_id, inviter_id=creator, date=date)
    return types.ChannelParticipant(user_id=user_id, date=date)


@handles(functions.channels.GetParticipantsRequest)
def get_participants(dc, conn, req):
    """A channel's or supergroup's members, ``offset``/``limit`` paged (limit ≤ 200, nothing
    past offset 10,000 — Telegram's cap on plain listing). A broadcast channel's subscribers
    are for its admins only (CHAT_ADMIN_REQUIRED); a supergroup's for its members."""
    corpus, me = dc.corpus, conn.account.user_id
    chat = _channel(dc, req.channel)
    if corpus.role(chat, me) == "member":
        if chat.kind == "channel":
            raise RpcError(400, "CHAT_ADMIN_REQUIRED")
        if me not in chat.members:
            raise RpcError(400, "CHANNEL_PRIVATE")
    f = req.filter
    ids = list(chat.members)
    if isinstance(f, types.ChannelParticipantsSearch) and f.q:
        q = f.q.lower()
        ids = [u for u in ids if any(q in (x or "").lower() for x in (
            corpus.users[u].first_name, corpus.users[u].last_name, corpus.users[u].username))]
    elif isinstance(f, types.ChannelParticipantsAdmins):
        ids = [u for u in ids if corpus.role(chat, u) != "member"]
    elif isinstance(f, types.ChannelParticipantsBots):
        ids = [u for u in ids if corpus.users[u].bot]
    elif isinstance(f, types.ChannelParticipantsKicked | types.ChannelParticipantsBanned):
        ids = []
    elif not isinstance(f, types.ChannelParticipantsRecent | types.ChannelParticipantsSearch):
        raise RpcError(400, "FILTER_NOT_SUPPORTED")
    # recent first: the creator, then by join date, newest first (ties by id)
    ids.sort(key=lambda u: (corpus.role(chat, u) != "creator",
                            -(corpus.joined_date(chat, u) or 0), u))
    offset = max(0, req.offset)
    end = min(offset + max(0, min(req.limit, PARTICIPANTS_LIMIT)), PARTICIPANTS_CAP)
    page = ids[offset:end] if offset < end else []
    return types.channels.ChannelParticipants(
        count=len(ids), participants=[_channel_participant(corpus, chat, u, me) for u in page],
        chats=[], users=[corpus.users[u] for u in page])


# ---- history -------------------------------------------------------------------------------------
def _messages_result(dc, chat: Chat, msgs: list, count: int):
    corpus = dc.corpus
    if chat.kind in ("channel", "supergroup"):
        return types.messages.ChannelMessages(
            pts=1, count=count, messages=msgs, topics=[], chats=[corpus.chat_object(chat)],
            users=corpus.users_of(msgs))
    users = corpus.users_of(msgs)
    chats = [] if chat.kind == "user" else [corpus.chat_object(chat)]
    if chat.kind == "user" and all(u.id != chat.id for u in users):
        users.append(corpus.users[chat.id])
    return types.messages.MessagesSlice(count=count, messages=msgs, topics=[], chats=chats,
                                        users=users)


@handles(functions.messages.GetHistoryRequest)
def get_history(dc, conn, req):
    chat = chat_of(dc, conn, req.peer)
    if conn.account.bot:
        raise RpcError(400, "BOT_METHOD_INVALID")
    offset_date = 0 if req.offset_id > 0 else _ts(req.offset_date)   # offset_id wins
    key = (chat.id, req.offset_id, offset_date, req.add_offset, req.limit, req.max_id,
           req.min_id, dc.corpus.version)
    page = dc.pages.pop(key, None)
    if page is None:
        page, ids = _history_page(dc, chat, key)
    else:
        dc.prefetch_hits += 1
        page, ids = page
    nxt = None
    if ids and req.add_offset == 0 and req.max_id == 0 and req.min_id == 0:
        # The client will most likely ask for the page below next (that is how every
        # pager walks history): make it now, while the client parses this one, so the
        # server's work overlaps the client's instead of adding to it.
        nxt = (chat.id, ids[-1], 0, 0, req.limit, 0, 0, dc.corpus.version)
    elif req.limit > 0 and req.add_offset == -req.limit and len(ids) == req.limit:
        # An oldest-first pager (offset_id = cursor, add_offset = -limit) asks for the
        # page above next.
        # page above next: a min_id that trails the cursor (min_id = offset_id - 1)
        # moves with it.
        cursor = ids[0] + 1
        min_id = cursor - 1 if req.min_id == req.offset_id - 1 else req.min_id
        nxt = (chat.id, cursor, 0, req.add_offset, req.limit, req.max_id, min_id,
               dc.corpus.version)
    if nxt is not None:
        asyncio.get_running_loop().call_soon(_prefetch, dc, chat, nxt)
    return page


def _history_page(dc, chat: Chat, key) -> tuple[bytes, list[int]]:
    _, offset_id, offset_date, add_offset, limit, max_id, min_id, _ = key
    ids = dc.corpus.history(chat, offset_id=offset_id, offset_date=offset_date,
                            add_offset=add_offset, limit=limit, max_id=max_id, min_id=min_id)
    msgs = [m for m in (dc.corpus.message(chat, i) for i in ids) if m is not None]
    return _messages_result(dc, chat, msgs, chat.count())._bytes(), ids


def _prefetch(dc, chat: Chat, key) -> None:
    if key not in dc.pages and key[-1] == dc.corpus.version:
        dc.pages[key] = _history_page(dc, chat, key)
        while len(dc.pages) > 16:
            dc.pages.pop(next(iter(dc.pages)))


def _by_ids(dc, chat: Chat, ids):
    out = []
    for item in ids:
        mid = getattr(item, "id", item)
        msg = dc.corpus.message(chat, mid) if isinstance(mid, int) else None
        out.append(msg if msg is not None else mid)
    return out


def _message_empty(msg_id: int) -> bytes:
    # Telethon patches MessageEmpty; write messageEmpty#90a6ca84 flags:0 id by hand.
    return struct.pack("<IIi", 0x90A6CA84, 0, msg_id)


@handles(functions.channels.GetMessagesRequest, functions.messages.GetMessagesRequest)
def get_messages(dc, conn, req):
    if isinstance(req, functions.channels.GetMessagesRequest):
        chat = _channel(dc, req.channel)
        found = _by_ids(dc, chat, req.id)
    else:   # private chats and basic groups share the account's id sequence
        found = []
        for item in req.id:
            mid = getattr(item, "id", item)
            owner = dc.corpus.chat_by_message_id(mid) if isinstance(mid, int) else None
            found.extend(_by_ids(dc, owner, [mid]) if owner else [mid])
        chat = next((dc.corpus.chat_by_message_id(m.id) for m in found
                     if not isinstance(m, int)), dc.corpus.chats["private"])
    real = [m for m in found if not isinstance(m, int)]
    result = _messages_result(dc, chat, real, len(found))
    if len(real) == len(found):
        return result
    # Missing ids come back as messageEmpty, in the asked order. The messages vector
    # is the first vector in every result type, so serialize with it empty and splice.
    parts = [m._bytes() if not isinstance(m, int) else _message_empty(m) for m in found]
    result.messages = []
    return _replace_messages_vector(result._bytes(), parts)


def _replace_messages_vector(head: bytes, parts: list[bytes]) -> bytes:
    empty_vec = struct.pack("<Ii", 0x1CB5C415, 0)
    i = head.index(empty_vec)
    return head[:i] + struct.pack("<Ii", 0x1CB5C415, len(parts)) + b"".join(parts) + \
        head[i + len(empty_vec):]


# ---- takeout --------------------------------------------------------------------------------
@handles(functions.account.InitTakeoutSessionRequest)
def init_takeout(dc, conn, req):
    takeout_id = 7_000_000 + len(dc.takeouts) + 1
    dc.takeouts.add(takeout_id)
    return types.account.Takeout(id=takeout_id)


@handles(functions.account.FinishTakeoutSessionRequest)
def finish_takeout(dc, conn, req):
    return BOOL_TRUE


# ---- files -------------------------------------------------------------------------------------
def _file_of(dc, loc) -> int:
    if not isinstance(loc, (types.InputPhotoFileLocation, types.InputDocumentFileLocation)):
        raise RpcError(400, "LOCATION_INVALID")
    if files.decode_id(loc.id) is None or loc.access_hash != files.access_hash(loc.id):
        raise RpcError(400, "FILE_ID_INVALID")
    if loc.file_reference != dc.corpus.file_reference():
        raise RpcError(400, "FILE_REFERENCE_EXPIRED")
    return loc.id


@handles(functions.upload.GetFileRequest)
def get_file(dc, conn, req):
    fid = _file_of(dc, req.location)
    err = files.check_range(req.offset, req.limit, bool(req.precise))
    if err:
        raise RpcError(400, err)
    data = files.content(fid)
    return types.upload.File(type=types.storage.FileUnknown(), mtime=0,
                             bytes=data[req.offset : req.offset + req.limit])


@handles(functions.upload.GetFileHashesRequest)
def get_file_hashes(dc, conn, req):
    data = files.content(_file_of(dc, req.location))
    part = 128 * 1024
    start = req.offset - req.offset % part
    return [types.FileHash(offset=o, limit=part, hash=hashlib.sha256(data[o : o + part]).digest())
            for o in range(start, min(len(data), start + 10 * part), part)]


# ---- search, threads, topics ------------------------------------------------------------------
def _media_kind(msg) -> str | None:
    media = getattr(msg, "media", None)
    if isinstance(media, types.MessageMediaPhoto):
        return "photo"
    if isinstance(media, types.MessageMediaDocument):
        decoded = files.decode_id(media.document.id)
        return decoded[0] if decoded else "file"
    if media is not None:
        return type(media).__name__
    return None


FILTERS = {
    types.InputMessagesFilterEmpty: lambda m: True,
    types.InputMessagesFilterPhotos: lambda m: _media_kind(m) == "photo",
    types.InputMessagesFilterVideo: lambda m: _media_kind(m) == "video",
    types.InputMessagesFilterPhotoVideo: lambda m: _media_kind(m) in ("photo", "video"),
    types.InputMessagesFilterDocument: lambda m: _media_kind(m) in ("file", "big", "audio"),
    types.InputMessagesFilterMusic: lambda m: _media_kind(m) == "audio",
    types.InputMessagesFilterVoice: lambda m: _media_kind(m) == "voice",
    types.InputMessagesFilterRoundVideo: lambda m: _media_kind(m) == "round",
    types.InputMessagesFilterRoundVoice: lambda m: _media_kind(m) in ("round", "voice"),
    types.InputMessagesFilterGif: lambda m: _media_kind(m) == "animation",
    types.InputMessagesFilterGeo: lambda m: _media_kind(m) in ("MessageMediaGeo",
                                                                "MessageMediaVenue"),
    types.InputMessagesFilterContacts: lambda m: _media_kind(m) == "MessageMediaContact",
    types.InputMessagesFilterPoll: lambda m: _media_kind(m) == "MessageMediaPoll",
    types.InputMessagesFilterUrl: lambda m: any(
        isinstance(e, (types.MessageEntityUrl, types.MessageEntityTextUrl))
        for e in getattr(m, "entities", None) or ()),
    types.InputMessagesFilterPinned: lambda m: False,
}


def _paged(dc, chat: Chat, req, keep):
    ids = dc.corpus.history(chat, offset_id=req.offset_id,
                            offset_date=0 if req.offset_id else _ts(getattr(req, "offset_date",
                                                                            None)),
                            add_offset=req.add_offset, limit=req.limit, max_id=req.max_id,
                            min_id=req.min_id, keep=keep)
    msgs = [m for m in (dc.corpus.message(chat, i) for i in ids) if m is not None]
    return _messages_result(dc, chat, msgs, dc.corpus.count_where(chat, keep))


@handles(functions.messages.SearchRequest)
def search(dc, conn, req):
    chat = chat_of(dc, conn, req.peer)
    test = FILTERS.get(type(req.filter))
    if test is None:
        raise RpcError(400, "FILTER_NOT_SUPPORTED")
    q = (req.q or "").lower()
    lo, hi = _ts(req.min_date), _ts(req.max_date)
    topic = req.top_msg_id

    def keep(i):
        if (lo and date_of(i) < lo) or (hi and date_of(i) > hi):
            return False
        if topic and chat.forum and dc.corpus.topic_of(chat, i) != topic:
            return False
        m = dc.corpus.message(chat, i)
        return test(m) and (not q or q in (getattr(m, "message", "") or "").lower())

    return _paged(dc, chat, req, keep)


@handles(functions.messages.GetRepliesRequest)
def get_replies(dc, conn, req):
    chat = chat_of(dc, conn, req.peer)
    root = req.msg_id
    if not chat.exists(root):
        raise RpcError(400, "MSG_ID_INVALID")
    if chat.kind == "channel":       # comments live in the linked discussion group
        thread = dc.corpus.thread_root(chat, root)
        if thread is None:
            raise RpcError(400, "MSG_ID_INVALID")
        disc = dc.corpus.chat_by_id(chat.linked)
        return _paged(dc, disc, req, lambda i: thread < i <= thread + 3)
    if chat.forum:
        def keep(i):
            return i != root and dc.corpus.topic_of(chat, i) == root
    else:
        def keep(i):
            reply = getattr(dc.corpus.message(chat, i), "reply_to", None)
            return root in (getattr(reply, "reply_to_msg_id", None),
                            getattr(reply, "reply_to_top_id", None))
    return _paged(dc, chat, req, keep)


@handles(functions.messages.GetDiscussionMessageRequest)
def get_discussion_message(dc, conn, req):
    chat = chat_of(dc, conn, req.peer)
    thread = dc.corpus.thread_root(chat, req.msg_id) if chat.exists(req.msg_id) else None
    if thread is None:
        raise RpcError(400, "MSG_ID_INVALID")
    disc = dc.corpus.chat_by_id(chat.linked)
    root = dc.corpus.message(disc, thread)
    return types.messages.DiscussionMessage(
        messages=[root], unread_count=0, chats=[dc.corpus.chat_object(disc),
                                                dc.corpus.chat_object(chat)],
        users=dc.corpus.users_of([root]), max_id=thread + 3)


def _forum_topics(dc, conn, req):
    chat = chat_of(dc, conn, req.peer) if hasattr(req, "peer") else _channel(dc, req.channel)
    if not chat.forum:
        raise RpcError(400, "CHANNEL_FORUM_MISSING")
    corpus = dc.corpus
    topics = []
    for tid in (1, *FORUM_TOPICS):
        top = corpus.history(chat, limit=1, keep=lambda i, t=tid: corpus.topic_of(chat, i) == t)
        topics.append(types.ForumTopic(
            id=tid, date=dt.datetime.fromtimestamp(date_of(tid), dt.UTC), peer=chat.peer(),
            title="General" if tid == 1 else f"Topic {tid}", icon_color=0x6FB9F0 + tid,
            top_message=top[0] if top else tid, read_inbox_max_id=0, read_outbox_max_id=0,
            unread_count=0, unread_mentions_count=0, unread_reactions_count=0,
            unread_poll_votes_count=0, from_id=types.PeerUser(corpus.ME),
            notify_settings=types.PeerNotifySettings()))
    q = (getattr(req, "q", None) or "").lower()
    topics = [t for t in topics if q in t.title.lower() and
              (not req.offset_topic or t.id > req.offset_topic)][: max(0, req.limit)]
    msgs = [m for m in (corpus.message(chat, t.top_message) for t in topics) if m is not None]
    return types.messages.ForumTopics(count=1 + len(FORUM_TOPICS), topics=topics, messages=msgs,
                                      chats=[corpus.chat_object(chat)],
                                      users=corpus.users_of(msgs), pts=1)


for _request in (getattr(functions.messages, "GetForumTopicsRequest", None),
                 getattr(functions.channels, "GetForumTopicsRequest", None)):
    if _request is not None:
        HANDLERS[_request] = _forum_topics
