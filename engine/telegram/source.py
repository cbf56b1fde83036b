"""Where an export's messages come from: one chat's history through the layered client.

``Source`` hides Telethon from the supervisor: it resolves a target to a chat
(``ChatMeta`` + an InputPeer kept here), finds the id bounds of a date window, walks
id ranges oldest first one page (≤ 100 messages) at a time, re-reads given ids for
``--refresh-edits``, and opens a takeout session when asked. Pages are requested with
explicit windows (offset_id = cursor, add_offset = −limit, min_id/max_id = the range),
so several ranges can be in flight at once and nothing sleeps between pages (Telethon's
``iter_messages`` waits a hidden second every few pages); flood waits, retries and
timeouts are the middleware's job (engine/telegram/middleware.py).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from telethon import errors, functions, types, utils
from telethon.tl.alltlobjects import LAYER

from engine import model as m
from engine.model.chat import ChatMeta
from engine.telegram import convert, rawpage, targets
from engine.telegram.client import ConfigError
from engine.telegram.middleware import TelegramFailure

PAGE = 100
BOT_SESSION = ("this is a bot session: Telegram does not give bots chat history; log in as a "
               "user with `tgarc login`")


@dataclass(frozen=True)
class HistoryOf:
    """Whose pages to read when it is not the chat's own history: another peer's (the
    basic group a supergroup migrated from: a ``PeerRef``) or one thread's (a forum topic,
    a post's comments: ``messages.getReplies``)."""
    peer: m.PeerRef | None = None
    thread: int | None = None


class NotFound(ConfigError):
    """The target does not name a chat this account can read (exit code 2)."""


class ThreadGone(Exception):
    """The post a comment thread hangs on is gone (``MSG_ID_INVALID``)."""


class Source:
    api_layer = LAYER                       # the Telegram API layer Telethon speaks

    def __init__(self, client, call, peers=None):
        self.client, self.call = client, call
        self.peers = peers                  # engine.telegram.peers.PeerCache or None
        self.peer = None                    # InputPeer of the chat being exported
        self.takeout_id: int | None = None
        self.warnings: list[str] = []
        self._dialogs: dict[int, object] | None = None
        self._full: tuple[object, object] | None = None     # (peer, its full info)

    async def _invoke(self, request):
        if self.takeout_id is not None:
            request = functions.InvokeWithTakeoutRequest(self.takeout_id, request)
        return await self.call(request)

    # ---- who --------------------------------------------------------------------------------
    async def me(self) -> int | None:
        me = await self.call(functions.users.GetUsersRequest([types.InputUserSelf()]))
        return me[0].id if me else None

    async def resolve(self, target: str) -> ChatMeta:
        """Any TARGET engine/telegram/targets.py understands, as the chat to export.

        An invite link is looked at with messages.checkChatInvite, never joined: a chat
        the account is in is exported; a preview (chatInvitePeek: Telegram lets a
        non-member read the history until it expires) is exported with a warning; a chat
        it would have to join first is an input error (exit 2), as is a dead link."""
        key = ("target", target)
        cached = self.peers.get(key) if self.peers is not None else None
        if cached is not None:
            self.peer, meta = cached
            self.chat_meta = meta
            return meta
        t = targets.parse(target)
        if t.kind == "me":
            me = await self.call(functions.users.GetUsersRequest([types.InputUserSelf()]))
            meta = self._meta(me[0])
            meta.name = "Saved Messages"
            self.peer, self.chat_meta = types.InputPeerSelf(), meta
            return meta
        if t.kind == "invite":
            entity, peek_until = await self._invite(target, t.value)
            meta = self._meta(entity)
            self.peer, self.chat_meta = utils.get_input_peer(entity), meta
            if peek_until is None and self.peers is not None:
                self.peers.put(key, (self.peer, meta))
            elif peek_until is not None:           # a preview: never cached, always said
                self.warnings.append(
                    f"{target}: this account is not a member of \"{meta.name}\"; Telegram lets "
                    f"it read the history as a preview that expires at "
                    f"{peek_until:%Y-%m-%d %H:%M} UTC (join it to export it after that)")
            return meta
        if t.kind == "id":
            entity = (await self.dialog_entities()).get(t.value)
            if entity is None and t.value > 0:          # a bare id: any kind of peer
                entity = next((e for e in self._dialogs.values() if e.id == t.value), None)
            if entity is None:
                raise NotFound(f"no chat with id {t.value} among this account's dialogs "
                               f"(`tgarc chats` lists them)")
        else:
            try:
                res = await self.call(functions.contacts.ResolveUsernameRequest(t.value))
            except (errors.UsernameNotOccupiedError, errors.UsernameInvalidError):
                raise NotFound(f"no chat or user is called @{t.value}") from None
            entity = next(iter([*res.chats, *res.users]), None)
            if entity is None:
                raise NotFound(f"no chat or user is called @{t.value}")
        meta = self._meta(entity)
        self.peer, self.chat_meta = utils.get_input_peer(entity), meta
        if self.peers is not None:
            self.peers.put(key, (self.peer, meta))
        return meta

    async def dialog_entities(self) -> dict[int, object]:
        """Every dialog's chat or user by Telethon's marked id, in dialog order (walked
        once per run: getDialogs pages offset by the last dialog's top message)."""
        if self._dialogs is None:
            out: dict[int, object] = {}
            offset_date, offset_id, offset_peer = None, 0, types.InputPeerEmpty()
            seen_offsets = set()
            while True:
                res = await self.call(functions.messages.GetDialogsRequest(
                    offset_date=offset_date, offset_id=offset_id, offset_peer=offset_peer,
                    limit=100, hash=0))
                if isinstance(res, types.messages.DialogsNotModified):
                    break
                entities = {utils.get_peer_id(e): e for e in [*res.users, *res.chats]}
                tops = {(utils.get_peer_id(x.peer_id), x.id): x for x in res.messages
                        if getattr(x, "peer_id", None) is not None}
                nxt = None
                for d in res.dialogs:
                    pid = utils.get_peer_id(d.peer)
                    if pid in entities:
                        out.setdefault(pid, entities[pid])
                        top = tops.get((pid, d.top_message))
                        if top is not None:
                            nxt = (top.date, top.id, utils.get_input_peer(entities[pid]))
                if not isinstance(res, types.messages.DialogsSlice) or not res.dialogs \
                        or len(out) >= res.count or nxt is None or nxt[:2] in seen_offsets:
                    break
                seen_offsets.add(nxt[:2])
                offset_date, offset_id, offset_peer = nxt
            self._dialogs = out
        return self._dialogs

    async def dialogs(self) -> list[tuple[str, str]]:
        """(kind for --kinds: channel|group|user|bot, target) of every exportable dialog."""
        out = []
        for marked, entity in (await self.dialog_entities()).items():
            try:
                meta = self._meta(entity)
            except NotFound:
                continue
            kind = {"channel": "channel", "supergroup": "group", "group": "group"}.get(
                meta.kind, "bot" if getattr(entity, "bot", False) else "user")
            out.append((kind, str(marked)))
        return out

    async def about(self) -> str:
        """The chat's description (channels and groups), '' when there is none."""
        full = await self.full()
        return (getattr(full.full_chat, "about", "") or "") if full is not None else ""

    @staticmethod
    def _meta(entity) -> ChatMeta:
        info = convert.peer_info(entity)
        if isinstance(entity, types.Channel):
            kind = "supergroup" if entity.megagroup else "channel"
        elif isinstance(entity, types.Chat):
            kind = "group"
        elif isinstance(entity, types.User):
            kind = "user"
        else:
            raise NotFound(f"{type(entity).__name__} cannot be exported")
        return ChatMeta(info.ref, kind, info.name or "", info.username,
                        forum=bool(getattr(entity, "forum", False)))

    # ---- members -----------------------------------------------------------------------------
    async def _invite(self, target: str, invite_hash: str):
        """(chat, None) for a chat the account is in, (chat, expiry) for a preview."""
        import datetime as dt

        try:
            res = await self.call(functions.messages.CheckChatInviteRequest(invite_hash))
        except (errors.InviteHashExpiredError, errors.InviteHashInvalidError,
                errors.InviteHashEmptyError):
            raise NotFound(f"the invite link {target} has expired or is not valid") from None
        if isinstance(res, types.ChatInviteAlready):
            return res.chat, None
        if isinstance(res, types.ChatInvitePeek):
            expires = res.expires
            if not isinstance(expires, dt.datetime):
                expires = dt.datetime.fromtimestamp(expires or 0, dt.UTC)
            return res.chat, expires.astimezone(dt.UTC)
        title = getattr(res, "title", "") or "a chat"
        raise NotFound(f"the invite link {target} is for \"{title}\", which this account has "
                       f"not joined; tgarc does not join chats on its own: join it in Telegram, "
                       f"then export it by the link or its id")

    async def members(self) -> dict:
        """``--members``: what chat.json gets — ``members`` (each: id, name, username, bot,
        role creator|admin|member, joined ISO UTC or None; sorted by id) and
        ``members_count`` (how many Telegram says the chat has). Where the account may not
        read the list (a broadcast channel's subscribers are for its admins:
        CHAT_ADMIN_REQUIRED; a hidden member list; a group it was removed from) the export
        goes on: ``members`` is null, ``members_error`` says why, and one warning goes to
        stderr. A revoked session still fails the run."""
        import logging
        import sys

        from engine.telegram.middleware import AuthRevoked, method_name

        peer = self.peer
        try:
            if isinstance(peer, types.InputPeerChannel):
                found = await self._channel_members(peer)
            elif isinstance(peer, types.InputPeerChat):
                found = await self._group_members(peer)
            else:
                found = await self._private_members(peer)
        except AuthRevoked:
            raise
        except (errors.RPCError, TelegramFailure) as exc:
            if isinstance(exc, errors.ChatAdminRequiredError):
                why = ("only a channel's admins may list its subscribers (CHAT_ADMIN_REQUIRED)"
                       if self.chat_meta.kind == "channel" else "only its admins may see this "
                       "group's members: the list is hidden (CHAT_ADMIN_REQUIRED)")
            elif isinstance(exc, errors.ChannelPrivateError):
                why = "this account is not in the chat (or was removed from it)"
            elif isinstance(exc, errors.RPCError):
                why = f"Telegram refused {method_name(exc.request)}: {exc.message}"
            else:
                why = str(exc)
            found = {"members": None, "members_count": await self._members_count(),
                     "members_error": why}
        if found["members"] is None:
            line = (f"--members: cannot list the members of \"{self.chat_meta.name}\": "
                    f"{found['members_error']}; chat.json has \"members\": null")
            logging.getLogger("tgarc.export").warning(line)
            print(f"tgarc: warning: {line}", file=sys.stderr)
        elif found["members_count"] is not None and len(found["members"]) < \
                found["members_count"]:
            line = (f"--members: Telegram listed {len(found['members'])} of the "
                    f"{found['members_count']} members of \"{self.chat_meta.name}\" "
                    f"(it stops plain listing near 10,000)")
            logging.getLogger("tgarc.export").warning(line)
            print(f"tgarc: warning: {line}", file=sys.stderr)
        return found

    participants_page = 200        # channels.getParticipants: Telegram's most per call

    @staticmethod
    def _member(user, role: str, joined) -> dict:
        import datetime as dt

        info = convert.peer_info(user)
        return {"id": user.id,
                "name": info.name or ("Deleted Account" if info.deleted else ""),
                "username": info.username, "bot": info.bot, "role": role,
                "joined": joined.astimezone(dt.UTC).isoformat(timespec="seconds")
                if joined is not None else None}

    async def _channel_members(self, peer) -> dict:
        """channels.getParticipants (recent), ``participants_page`` at a time until a page comes
        back empty or ``count`` are read. Telegram stops plain listing around 10,000 members
        (later pages are empty while ``count`` stays true): past that, a list is partial —
        searching by name (ChannelParticipantsSearch per letter) could reach more; not done."""
        channel = types.InputChannel(peer.channel_id, peer.access_hash)
        out: dict[int, dict] = {}
        offset, count = 0, 0
        while True:
            res = await self.call(functions.channels.GetParticipantsRequest(
                channel, types.ChannelParticipantsRecent(), offset, self.participants_page,
                hash=0))
            if not isinstance(res, types.channels.ChannelParticipants):
                break                                    # NotModified: only with a hash
            users = {u.id: u for u in res.users}
            count = res.count
            for p in res.participants:
                user = users.get(getattr(p, "user_id", None))
                if user is None:                         # banned / left, or not a user
                    continue
                role = ("creator" if isinstance(p, types.ChannelParticipantCreator) else
                        "admin" if isinstance(p, types.ChannelParticipantAdmin) else "member")
                out.setdefault(user.id, self._member(user, role, getattr(p, "date", None)))
            offset += len(res.participants)
            if not res.participants or offset >= res.count:
                break
        return {"members": [out[k] for k in sorted(out)], "members_count": max(count, len(out))}

    async def _group_members(self, peer) -> dict:
        full = await self.full()
        parts = full.full_chat.participants
        if isinstance(parts, types.ChatParticipantsForbidden):
            return {"members": None, "members_count": None,
                    "members_error": "this account is no longer in the group"}
        users = {u.id: u for u in full.users}
        out = {}
        for p in parts.participants:
            user = users.get(p.user_id)
            if user is not None:
                role = ("creator" if isinstance(p, types.ChatParticipantCreator) else
                        "admin" if isinstance(p, types.ChatParticipantAdmin) else "member")
                out[user.id] = self._member(user, role, getattr(p, "date", None))
        return {"members": [out[k] for k in sorted(out)], "members_count": len(out)}

    async def _private_members(self, peer) -> dict:
        """A private chat: the account and the other user (Saved Messages: the account)."""
        wanted = [types.InputUserSelf()]
        if isinstance(peer, types.InputPeerUser):
            wanted.append(types.InputUser(peer.user_id, peer.access_hash))
        users = await self.call(functions.users.GetUsersRequest(wanted))
        out = {u.id: self._member(u, "member", None) for u in users
               if isinstance(u, types.User)}
        return {"members": [out[k] for k in sorted(out)], "members_count": len(out)}

    async def _members_count(self) -> int | None:
        """How many members Telegram says the chat has (channels: visible to subscribers
        too), None where it will not say."""
        peer = self.peer
        if not isinstance(peer, types.InputPeerChannel):
            return None
        with contextlib.suppress(errors.RPCError, TelegramFailure):
            full = await self.full()
            return getattr(full.full_chat, "participants_count", None)
        return None

    # ---- takeout ----------------------------------------------------------------------------
    async def start_takeout(self, mode: str) -> None:
        """``auto``: use a takeout session if Telegram grants one now, else warn and go on
        with the normal API; ``require``: fail instead (exit 3); ``off``: never."""
        if mode == "off":
            return
        try:
            res = await self.call(functions.account.InitTakeoutSessionRequest(
                contacts=False, message_users=True, message_chats=True,
                message_megagroups=True, message_channels=True, files=True,
                file_max_size=4 << 30))
        except errors.TakeoutInitDelayError as exc:
            why = (f"Telegram delays the takeout session by {exc.seconds} s (confirm it in "
                   f"another Telegram app)")
            if mode == "require":
                raise TelegramFailure(why + "; re-run then, or use --takeout auto") from None
            self.warnings.append(why + "; exporting with the normal API instead")
            return
        self.takeout_id = res.id

    async def finish_takeout(self, success: bool) -> None:
        if self.takeout_id is not None:
            tid, self.takeout_id = self.takeout_id, None
            with contextlib.suppress(TelegramFailure):     # it expires by itself
                await self.call(functions.InvokeWithTakeoutRequest(
                    tid, functions.account.FinishTakeoutSessionRequest(success=success)))

    # ---- parts of a history: the group a supergroup migrated from, topics, threads -------
    async def full(self):
        """The chat's full info (channels and groups; None for users), asked once."""
        peer = self.peer
        if self._full is not None and self._full[0] is peer:
            return self._full[1]
        if isinstance(peer, types.InputPeerChannel):
            full = await self.call(functions.channels.GetFullChannelRequest(
                types.InputChannel(peer.channel_id, peer.access_hash)))
        elif isinstance(peer, types.InputPeerChat):
            full = await self.call(functions.messages.GetFullChatRequest(peer.chat_id))
        else:
            full = None
        self._full = (peer, full)
        return full

    async def migrated_from(self) -> tuple[int, int] | None:
        """(basic group id, its newest message id) when the supergroup being exported
        was that basic group once; None otherwise."""
        if not isinstance(self.peer, types.InputPeerChannel):
            return None
        full = (await self.full()).full_chat
        old = getattr(full, "migrated_from_chat_id", None)
        return (old, full.migrated_from_max_id or 0) if old else None

    async def topics(self) -> dict[int, str]:
        """A forum's topics: id -> title, by id (ask only a chat whose meta says forum)."""
        out: dict[int, str] = {}
        offset = (None, 0, 0)
        while True:
            res = await self._invoke(functions.messages.GetForumTopicsRequest(
                peer=self.peer, offset_date=offset[0], offset_id=offset[1],
                offset_topic=offset[2], limit=100))
            fresh = [t for t in res.topics if isinstance(t, types.ForumTopic)
                     and t.id not in out]
            for t in fresh:
                out[t.id] = t.title
            if not fresh or len(out) >= res.count:
                return dict(sorted(out.items()))
            last = fresh[-1]
            offset = (last.date, last.top_message, last.id)

    # ---- history ----------------------------------------------------------------------------
    def _history(self, of: HistoryOf | None = None, **kw):
        peer = self.peer
        if of is not None and of.peer is not None:
            peer = convert.input_peer(of.peer)
        args = dict(peer=peer, offset_id=0, offset_date=None,
                    add_offset=0, limit=PAGE, max_id=0, min_id=0, hash=0)
        args.update(kw)
        if of is not None and of.thread:
            return functions.messages.GetRepliesRequest(msg_id=of.thread, **args)
        return functions.messages.GetHistoryRequest(**args)

    async def newest(self, of: HistoryOf | None = None) -> tuple[int, int]:
        """(id of the newest message, messages in the chat) — (0, 0) when empty."""
        try:
            res = await self._invoke(self._history(of, limit=1))
        except errors.BotMethodInvalidError:
            raise ConfigError(BOT_SESSION) from None
        except errors.MsgIdInvalidError as exc:
            if of is None or not of.thread:
                raise
            raise ThreadGone(f"message {of.thread}: {exc.message}") from None
        top = res.messages[0].id if res.messages else 0
        return top, getattr(res, "count", len(res.messages))

    async def last_before(self, ts: int, of: HistoryOf | None = None) -> int:
        """Id of the newest message dated before ``ts`` (0 if none)."""
        import datetime as dt

        when = dt.datetime.fromtimestamp(ts, dt.UTC)
        res = await self._invoke(self._history(of, offset_date=when, limit=1))
        return res.messages[0].id if res.messages else 0

    async def raw_page(self, cursor: int, hi: int,
                       of: HistoryOf | None = None) -> tuple[bytes, int, int, float]:
        """The oldest ≤ 100 messages with ids in cursor..hi as the page's undecoded bytes
        (engine/telegram/rawpage.py), how many it holds, the last id it covers and the
        seconds the request took."""
        t0 = time.perf_counter()
        data = await self._invoke_raw(self._history(
            of, offset_id=cursor, add_offset=-PAGE, limit=PAGE, max_id=hi + 1,
            min_id=max(0, cursor - 1)))
        took = time.perf_counter() - t0
        n, newest = rawpage.peek(data)
        return data, n, (hi if n < PAGE or not newest else min(hi, newest)), took

    async def _invoke_raw(self, request) -> bytes:
        if self.takeout_id is not None:
            request = functions.InvokeWithTakeoutRequest(self.takeout_id, request)
        return await self.call(rawpage.raw(request))

    async def page(self, chat: m.PeerRef, cursor: int, hi: int) -> tuple[m.Batch, int, float]:
        """The oldest ≤ 100 messages with ids in cursor..hi, as a Batch (seq 0), the last id
        the page covers and the seconds the request took."""
        t0 = time.perf_counter()
        res = await self._invoke(self._history(offset_id=cursor, add_offset=-PAGE, limit=PAGE,
                                               max_id=hi + 1, min_id=max(0, cursor - 1)))
        took = time.perf_counter() - t0
        batch = convert.page(res, chat, 0)
        msgs = [x for x in batch.messages if cursor <= x.id <= hi]
        batch.messages = msgs
        covered = hi if len(res.messages) < PAGE or not msgs else msgs[-1].id
        return batch, covered, took

    async def messages(self, chat: m.PeerRef, ids: list[int]) -> tuple[m.Batch, set[int]]:
        """Current versions of ``ids`` (≤ 100) and the ids Telegram no longer has."""
        wanted = [types.InputMessageID(i) for i in ids]
        if isinstance(self.peer, types.InputPeerChannel):
            req = functions.channels.GetMessagesRequest(
                types.InputChannel(self.peer.channel_id, self.peer.access_hash), wanted)
        else:
            req = functions.messages.GetMessagesRequest(wanted)
        res = await self._invoke(req)
        batch = convert.page(res, chat, 0)
        present = {x.id for x in batch.messages if x.type != "empty"}
        batch.messages = sorted((x for x in batch.messages if x.id in present),
                                key=lambda x: x.id)
        return batch, set(ids) - present
