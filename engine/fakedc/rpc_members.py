"""fakedc's RPCs for invite links and members: what an invite link opens
(messages.checkChatInvite) and who is in a chat (channels.getParticipants, and a basic
group's messages.getFullChat, with the roles of world.py).  Registered with the registry in rpc.py.
"""

from __future__ import annotations

import datetime as dt

from telethon.tl import functions, types

from .rpc import RpcError, channel_of, handles, utc_now
from .world import PEEK_SECONDS, Chat


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
        return types.ChatInvitePeek(chat=obj,
                                    expires=utc_now() + dt.timedelta(seconds=PEEK_SECONDS))
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
    chat = channel_of(dc, req.channel)
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
