"""Where an export's messages come from: one chat's history through the layered client.

``Source`` hides Telethon from the supervisor: it resolves a target to a chat
(``ChatMeta`` + an InputPeer kept here: engine/telegram/resolve.py), finds the id bounds
of a date window, walks id ranges oldest first one page (≤ 100 messages) at a time,
re-reads given ids for ``--refresh-edits``, lists members (engine/telegram/members.py)
and opens a takeout session when asked. Pages are requested with
explicit windows (offset_id = cursor, add_offset = −limit, min_id/max_id = the range),
so several ranges can be in flight at once and nothing sleeps between pages (Telethon's
``iter_messages`` waits a hidden second every few pages); flood waits, retries and
timeouts are the middleware's job (engine/telegram/middleware.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from dataclasses import dataclass

from telethon import errors, functions, types
from telethon.tl.alltlobjects import LAYER

from engine import model as m
from engine.telegram import convert, rawpage
from engine.telegram.client import ConfigError
from engine.telegram.members import Members
from engine.telegram.middleware import TelegramFailure
from engine.telegram.resolve import NotFound, Resolver

__all__ = ["BOT_SESSION", "PAGE", "HistoryOf", "NotFound", "Source", "ThreadGone"]

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


class ThreadGone(Exception):
    """The post a comment thread hangs on is gone (``MSG_ID_INVALID``)."""


class _Shared:
    """What every chat of a run shares: its takeout session (asked once: a run's chats
    share the session or the refusal), the account's dialogs (listed once) and its own
    user."""

    def __init__(self):
        self.takeout_id: int | None = None
        self.takeout_asked = False
        self.takeout_lock: asyncio.Lock | None = None
        self.dialogs: dict[int, object] | None = None
        self.me = None                      # the account's own User, asked once
        self.me_asked: asyncio.Future | None = None


class Source(Resolver, Members):
    api_layer = LAYER                       # the Telegram API layer Telethon speaks

    def __init__(self, client, call, peers=None):
        self.client, self.call = client, call
        self.peers = peers                  # engine.telegram.peers.PeerCache or None
        self.peer = None                    # InputPeer of the chat being exported
        self._shared = _Shared()
        self.warnings: list[str] = []
        self._tops: dict[int, int] = {}          # marked id -> its dialog's newest message
        self._full: tuple[object, object] | None = None     # (peer, its full info)
        self.lane_factory = None            # n -> Lanes (engine/telegram/session.py)
        self.dcs = None                     # OtherDCs (engine/telegram/download_dcs.py)

    def for_chat(self) -> Source:
        """A view for one chat of a run (chats run at once): a peer and full info of its
        own; the connection, the caches, the dialogs, the takeout session and the
        warnings shared."""
        twin = copy.copy(self)
        twin.peer, twin._full = None, None
        return twin

    @property
    def takeout_id(self) -> int | None:
        return self._shared.takeout_id

    @takeout_id.setter
    def takeout_id(self, value: int | None) -> None:
        self._shared.takeout_id = value

    @property
    def _dialogs(self) -> dict[int, object] | None:
        return self._shared.dialogs

    @_dialogs.setter
    def _dialogs(self, value: dict[int, object] | None) -> None:
        self._shared.dialogs = value

    @property
    def home_dc(self) -> int:
        return self.client.session.dc_id

    def lanes(self, n: int):
        """``n`` connections to the home DC for file parts (the first is the session's own);
        ``close()`` them after."""
        if self.lane_factory is None:
            from engine.telegram.download_lanes import Lanes

            return Lanes(self.client, self.call, n, None)
        return self.lane_factory(n)

    async def dc_call(self, dc_id: int):
        """A call on DC ``dc_id`` for file parts: the home stack for the home DC, else a
        connection to that DC authorized from home, opened once for the run (its first
        request exports the authorization) and closed by ``close_dcs()``."""
        if dc_id == self.home_dc:
            return self.call
        if self.dcs is None:
            from engine.telegram.download_dcs import OtherDCs
            from engine.telegram.middleware import TelegramStats

            self.dcs = OtherDCs(self.client, self.call, TelegramStats())
        return await self.dcs.call(dc_id)

    async def close_dcs(self) -> None:
        """Close the connections ``dc_call`` opened (the end of the run)."""
        if self.dcs is not None:
            await self.dcs.close()

    def wrap(self, call):
        """``call`` with this run's takeout session around each request (as history's)."""
        if self.takeout_id is None:
            return call
        takeout = self.takeout_id

        async def in_takeout(request):
            return await call(functions.InvokeWithTakeoutRequest(takeout, request))
        return in_takeout

    async def _invoke(self, request):
        if self.takeout_id is not None:
            request = functions.InvokeWithTakeoutRequest(self.takeout_id, request)
        return await self.call(request)

    async def about(self) -> str:
        """The chat's description (channels and groups), '' when there is none."""
        full = await self.full()
        return (getattr(full.full_chat, "about", "") or "") if full is not None else ""

    # ---- takeout ----------------------------------------------------------------------------
    async def start_takeout(self, mode: str) -> None:
        """``auto``: use a takeout session if Telegram grants one now, else warn and go on
        with the normal API; ``require``: fail instead (exit 3); ``off``: never. Asked once
        a run: the chats after the first share the session (or the refusal)."""
        shared = self._shared
        if mode == "off" or shared.takeout_asked:
            return
        if shared.takeout_lock is None:
            shared.takeout_lock = asyncio.Lock()
        async with shared.takeout_lock:      # chats at once: the first asks, the others wait
            if not shared.takeout_asked:
                await self._ask_takeout(mode)

    async def _ask_takeout(self, mode: str) -> None:
        shared = self._shared
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
            shared.takeout_asked = True
            return
        shared.takeout_id, shared.takeout_asked = res.id, True

    async def finish_takeout(self, success: bool) -> None:
        """At the run's end (commands/export.py), after its last chat."""
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

    async def reread(self, chat: m.PeerRef, ids: list[int], of: HistoryOf) -> m.Batch:
        """Messages ``ids`` (≤ 100 apart) of another history than the chat's own -- a comment
        thread, a migrated basic group -- read again through an id window of that history
        (``getMessages`` would ask the chat): current versions, fresh file references."""
        lo, hi = min(ids), max(ids)
        res = await self._invoke(self._history(of, offset_id=hi + 1, limit=min(PAGE, hi - lo + 1),
                                               min_id=lo - 1, max_id=hi + 1))
        batch = convert.page(res, chat, 0)
        wanted = set(ids)
        batch.messages = sorted((x for x in batch.messages if x.id in wanted),
                                key=lambda x: x.id)
        return batch

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
