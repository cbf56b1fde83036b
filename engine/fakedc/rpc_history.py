"""fakedc's RPCs for history (messages.getHistory, with the next page made ahead while the
client reads this one), messages by id, takeout sessions and file downloads.  Registered
with the registry in rpc.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct

from telethon.tl import functions, types

from . import files
from .rpc import BOOL_TRUE, RpcError, channel_of, chat_of, handles, ts_of
from .warm import splice
from .world import Chat


def messages_result(dc, chat: Chat, msgs: list, count: int):
    corpus = dc.corpus
    users, chats = corpus.peers_of(msgs, chat)
    if chat.kind in ("channel", "supergroup"):
        return types.messages.ChannelMessages(
            pts=1, count=count, messages=msgs, topics=[], chats=chats, users=users)
    if chat.kind == "user" and all(u.id != chat.id for u in users):
        users.append(corpus.users[chat.id])
    return types.messages.MessagesSlice(count=count, messages=msgs, topics=[], chats=chats,
                                        users=users)


@handles(functions.messages.GetHistoryRequest)
def get_history(dc, conn, req):
    chat = chat_of(dc, conn, req.peer)
    if not conn.account.can_see(chat):       # another account's chat: as Telegram says it
        raise RpcError(400, "CHANNEL_PRIVATE" if chat.kind in ("channel", "supergroup")
                       else "PEER_ID_INVALID")
    if conn.account.bot:
        raise RpcError(400, "BOT_METHOD_INVALID")
    offset_date = 0 if req.offset_id > 0 else ts_of(req.offset_date)   # offset_id wins
    key = (chat.id, req.offset_id, offset_date, req.add_offset, req.limit, req.max_id,
           req.min_id, dc.corpus.version)
    page = dc.pages.pop(key, None)
    if page is None:
        page, ids = history_page(dc, chat, key)
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


def history_page(dc, chat: Chat, key) -> tuple[bytes, list[int]]:
    _, offset_id, offset_date, add_offset, limit, max_id, min_id, _ = key
    ids = dc.corpus.history(chat, offset_id=offset_id, offset_date=offset_date,
                            add_offset=add_offset, limit=limit, max_id=max_id, min_id=min_id)
    warm = dc.warm.get(chat.id)
    parts = warm.messages(ids, dc.corpus.version) if warm is not None else None
    if parts is not None:       # serialized before the timed runs (warm.py)
        return splice(messages_result(dc, chat, [], chat.count())._bytes(), parts), ids
    msgs = [m for m in (dc.corpus.message(chat, i) for i in ids) if m is not None]
    return messages_result(dc, chat, msgs, chat.count())._bytes(), ids


def _prefetch(dc, chat: Chat, key) -> None:
    if key not in dc.pages and key[-1] == dc.corpus.version:
        dc.pages[key] = history_page(dc, chat, key)
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
        chat = channel_of(dc, req.channel)
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
    result = messages_result(dc, chat, real, len(found))
    if len(real) == len(found):
        return result
    # Missing ids come back as messageEmpty, in the asked order. The messages vector
    # is the first vector in every result type, so serialize with it empty and splice.
    parts = [m._bytes() if not isinstance(m, int) else _message_empty(m) for m in found]
    result.messages = []
    return splice(result._bytes(), parts)


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
def _file_of(dc, conn, loc) -> int:
    if not isinstance(loc, (types.InputPhotoFileLocation, types.InputDocumentFileLocation)):
        raise RpcError(400, "LOCATION_INVALID")
    if not files.known(loc.id) or loc.access_hash != files.access_hash(loc.id):
        raise RpcError(400, "FILE_ID_INVALID")
    home = dc.corpus.file_dc(loc.id)
    if home != conn.dc_id:                 # only the DC a file lives on serves it
        raise RpcError(303, f"FILE_MIGRATE_{home}")
    if loc.file_reference != dc.corpus.file_reference(loc.id):
        raise RpcError(400, "FILE_REFERENCE_EXPIRED")
    return loc.id


@handles(functions.upload.GetFileRequest)
def get_file(dc, conn, req):
    fid = _file_of(dc, conn, req.location)
    err = files.check_range(req.offset, req.limit, bool(req.precise))
    if err:
        raise RpcError(400, err)
    which = getattr(req.location, "thumb_size", "")
    if isinstance(req.location, types.InputDocumentFileLocation) and which:
        small = files.thumb(fid) if which == files.THUMB else None
        if small is None:
            raise RpcError(400, "LOCATION_INVALID")
        data = small[req.offset:req.offset + req.limit]
    else:
        data = files.read(fid, req.offset, req.limit)
    return types.upload.File(type=types.storage.FileUnknown(), mtime=0, bytes=data)


@handles(functions.upload.GetFileHashesRequest)
def get_file_hashes(dc, conn, req):
    fid = _file_of(dc, conn, req.location)
    part = 128 * 1024
    start = req.offset - req.offset % part
    return [types.FileHash(offset=o, limit=part,
                           hash=hashlib.sha256(files.read(fid, o, part)).digest())
            for o in range(start, min(files.size(fid), start + 10 * part), part)]
