"""Which chat a TARGET names, and the account's dialogs (``Source``'s first job).

``Resolver`` is mixed into ``engine.telegram.source.Source``: it resolves a target
(engine/telegram/targets.py) to a ``ChatMeta`` and keeps the chat's InputPeer in
``self.peer`` for the history requests; ``--all`` lists the dialogs. It uses the
source's ``call`` (the middleware stack), ``peers`` (the InputPeer cache) and
``warnings``.
"""

from __future__ import annotations

import asyncio

from telethon import errors, functions, types, utils

from engine.config import CHAT_KINDS
from engine.model.chat import ChatMeta
from engine.telegram import convert, targets
from engine.telegram.client import ConfigError


class NotFound(ConfigError):
    """The target does not name a chat this account can read (exit code 2)."""


class Resolver:
    async def me(self) -> int | None:
        user = await self.me_user()
        return user.id if user is not None else None

    async def me_user(self):
        """The account's own User, asked once a run (every chat of it needs the id)."""
        shared = self._shared
        if shared.me is None:
            if shared.me_asked is None:           # chats at once: the first asks for all
                shared.me_asked = asyncio.ensure_future(self.call(
                    functions.users.GetUsersRequest([types.InputUserSelf()])))
            asked = shared.me_asked
            try:
                got = await asyncio.shield(asked)
            except asyncio.CancelledError:
                raise                             # this caller stopped; the request goes on
            except BaseException:
                if shared.me_asked is asked:      # it failed: the next caller asks again
                    shared.me_asked = None
                raise
            shared.me = got[0] if got else None
        return shared.me

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
                        self._tops.setdefault(pid, d.top_message)
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

    async def dialogs(self) -> list[tuple[str, str, int | None]]:
        """(kind for --kinds: channel|group|user|bot, target, id of its newest message) of
        every exportable dialog."""
        out = []
        for marked, entity in (await self.dialog_entities()).items():
            try:
                meta = self._meta(entity)
            except NotFound:
                continue
            kind = CHAT_KINDS.get(meta.kind, "bot" if getattr(entity, "bot", False) else "user")
            out.append((kind, str(marked), self._tops.get(marked)))
        return out

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
