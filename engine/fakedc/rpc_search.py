"""fakedc's RPCs for search (messages.search with its filters), comment threads and
replies, and forum topics.  Registered with the registry in rpc.py.
"""

from __future__ import annotations

import datetime as dt

from telethon.tl import functions, types

from . import files
from .rpc import HANDLERS, RpcError, channel_of, chat_of, handles, ts_of
from .rpc_history import messages_result
from .world import FORUM_TOPICS, Chat


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
                            offset_date=0 if req.offset_id else ts_of(getattr(req, "offset_date",
                                                                            None)),
                            add_offset=req.add_offset, limit=req.limit, max_id=req.max_id,
                            min_id=req.min_id, keep=keep)
    msgs = [m for m in (dc.corpus.message(chat, i) for i in ids) if m is not None]
    return messages_result(dc, chat, msgs, dc.corpus.count_where(chat, keep))


@handles(functions.messages.SearchRequest)
def search(dc, conn, req):
    chat = chat_of(dc, conn, req.peer)
    test = FILTERS.get(type(req.filter))
    if test is None:
        raise RpcError(400, "FILTER_NOT_SUPPORTED")
    q = (req.q or "").lower()
    lo, hi = ts_of(req.min_date), ts_of(req.max_date)
    topic = req.top_msg_id

    def keep(i):
        if (lo and chat.date_of(i) < lo) or (hi and chat.date_of(i) > hi):
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
    chat = chat_of(dc, conn, req.peer) if hasattr(req, "peer") else channel_of(dc, req.channel)
    if not chat.forum:
        raise RpcError(400, "CHANNEL_FORUM_MISSING")
    corpus = dc.corpus
    topics = []
    for tid in (1, *FORUM_TOPICS):
        top = corpus.history(chat, limit=1, keep=lambda i, t=tid: corpus.topic_of(chat, i) == t)
        topics.append(types.ForumTopic(
            id=tid, date=dt.datetime.fromtimestamp(chat.date_of(tid), dt.UTC), peer=chat.peer(),
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
