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

from telethon import errors, functions, types, utils
from telethon.tl.alltlobjects import LAYER

from engine import model as m
from engine.archive.store import ChatMeta
from engine.telegram import convert, rawpage, targets
from engine.telegram.client import ConfigError
from engine.telegram.middleware import TelegramFailure

PAGE = 100
BOT_SESSION = ("this is a bot session: Telegram does not give bots chat history; log in as a "
               "user with `tgarc login`")


class NotFound(ConfigError):
    """The target does not name a chat this account can read (exit code 2)."""


class Source:
    api_layer = LAYER                       # the Telegram API layer Telethon speaks

    def __init__(self, client, call, peers=None):
        self.client, self.call = client, call
        self.peers = peers                  # engine.telegram.peers.PeerCache or None
        self.peer = None                    # InputPeer of the chat being exported
        self.takeout_id: int | None = None
        self.warnings: list[str] = []
        self._dialogs: dict[int, object] | None = None

    async def _invoke(self, request):
        if self.takeout_id is not None:
            request = functions.InvokeWithTakeoutRequest(self.takeout_id, request)
        return await self.call(request)

    # ---- who --------------------------------------------------------------------------------
    async def me(self) -> int | None:
        me = await self.call(functions.users.GetUsersRequest([types.InputUserSelf()]))
        return me[0].id if me else None

    async def resolve(self, target: str) -> ChatMeta:
        """Any TARGET engine/telegram/targets.py understands, as the chat to export."""
        key = ("target", target)
        cached = self.peers.get(key) if self.peers is not None else None
        if cached is not None:
            self.peer, meta = cached
            return meta
        t = targets.parse(target)
        if t.kind == "me":
            me = await self.call(functions.users.GetUsersRequest([types.InputUserSelf()]))
            meta = self._meta(me[0])
            meta.name = "Saved Messages"
            self.peer = types.InputPeerSelf()
            return meta
        if t.kind == "invite":
            raise NotFound(f"{target}: invite links are not supported yet; join the chat in "
                           f"Telegram and export it by the id `tgarc chats` shows")
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
        self.peer = utils.get_input_peer(entity)
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
        peer = self.peer
        if isinstance(peer, types.InputPeerChannel):
            full = await self.call(functions.channels.GetFullChannelRequest(
                types.InputChannel(peer.channel_id, peer.access_hash)))
        elif isinstance(peer, types.InputPeerChat):
            full = await self.call(functions.messages.GetFullChatRequest(peer.chat_id))
        else:
            return ""
        return getattr(full.full_chat, "about", "") or ""

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
        return ChatMeta(info.ref, kind, info.name or "", info.username)

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

    # ---- history ----------------------------------------------------------------------------
    def _history(self, **kw):
        args = dict(peer=self.peer, offset_id=0, offset_date=None, add_offset=0, limit=PAGE,
                    max_id=0, min_id=0, hash=0)
        args.update(kw)
        return functions.messages.GetHistoryRequest(**args)

    async def newest(self) -> tuple[int, int]:
        """(id of the newest message, messages in the chat) — (0, 0) when empty."""
        try:
            res = await self._invoke(self._history(limit=1))
        except errors.BotMethodInvalidError:
            raise ConfigError(BOT_SESSION) from None
        top = res.messages[0].id if res.messages else 0
        return top, getattr(res, "count", len(res.messages))

    async def last_before(self, ts: int) -> int:
        """Id of the newest message dated before ``ts`` (0 if none)."""
        import datetime as dt

        when = dt.datetime.fromtimestamp(ts, dt.UTC)
        res = await self._invoke(self._history(offset_date=when, limit=1))
        return res.messages[0].id if res.messages else 0

    async def raw_page(self, cursor: int, hi: int) -> tuple[bytes, int, int, float]:
        """The oldest ≤ 100 messages with ids in cursor..hi as the page's undecoded bytes
        (engine/telegram/rawpage.py), how many it holds, the last id it covers and the
        seconds the request took."""
        t0 = time.perf_counter()
        data = await self._invoke_raw(self._history(
            offset_id=cursor, add_offset=-PAGE, limit=PAGE, max_id=hi + 1,
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
