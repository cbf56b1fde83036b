"""Listing dialogs: the Telegram side of ``tgarc chats``, and what a chat or user is called
(``describe``, ``username``; login's "logged in as" uses the latter too).

The dialogs are walked page by page through the same middleware stack an export uses
(engine/telegram/session.py), so flood waits and lost connections behave as they do there.
A bot session is refused with one line (exit 2): Telegram lets bots list no dialogs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from telethon import errors, functions, types, utils

from engine.telegram.client import ConfigError, credentials
from engine.telegram.proxy import Proxy
from engine.telegram.proxy import parse as parse_proxy
from engine.telegram.session_files import existing_session_file


@dataclass(frozen=True)
class Dialog:
    id: int                   # Telethon's marked id (-100… channels, -… basic groups)
    kind: str                 # channel, supergroup, group, user, bot
    title: str
    username: str | None
    top_message: int = 0      # its newest message's id: about its size (a cluster's plan)

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "title": self.title,
                "username": self.username, "top_message": self.top_message}


@dataclass(frozen=True)
class _Settings:
    """What ``session.connected`` reads from an ExportConfig."""
    session: str | None
    proxy: Proxy | None = None
    timeout: float = 30.0
    flood_ceiling: float = 300.0
    lease: str | None = None          # --lease DIR, as export's
    lease_ttl: float = 30.0


async def dialogs(path: str | None, page: int = 100, proxy: str | None = None,
                  env=os.environ, lease: str | None = None) -> list[Dialog]:
    """Every dialog, walking messages.getDialogs pages through the middleware stack."""
    from engine.telegram.session import connected

    via = parse_proxy(proxy, env)
    credentials(env)
    if path:
        existing_session_file(path)
    async with connected(_Settings(path, via, lease=lease)) as (source, _stats, _cache):
        me = await source.call(functions.users.GetUsersRequest([types.InputUserSelf()]))
        if me and getattr(me[0], "bot", False):
            raise ConfigError("a bot session cannot list dialogs or read chat histories "
                              "(Telegram refuses bots that); log in as a user")
        try:
            return await walk_dialogs(source.call, page)
        except errors.BotMethodInvalidError:
            raise ConfigError("a bot session cannot list dialogs; log in as a user") from None


async def walk_dialogs(call, page: int = 100) -> list[Dialog]:
    """messages.getDialogs page after page, offset by the last dialog's top message."""
    out: list[Dialog] = []
    seen: set[int] = set()
    offset_date, offset_id, offset_peer = None, 0, types.InputPeerEmpty()
    last_offset = None
    while True:
        res = await call(functions.messages.GetDialogsRequest(
            offset_date=offset_date, offset_id=offset_id, offset_peer=offset_peer,
            limit=max(1, min(page, 100)), hash=0))
        if isinstance(res, types.messages.DialogsNotModified):
            break
        entities = {utils.get_peer_id(e): e for e in [*res.users, *res.chats]}
        messages = {(utils.get_peer_id(m.peer_id), m.id): m for m in res.messages
                    if getattr(m, "peer_id", None) is not None}
        for d in res.dialogs:
            pid = utils.get_peer_id(d.peer)
            if pid in seen or pid not in entities:
                continue
            seen.add(pid)
            out.append(dataclasses.replace(describe(entities[pid]),
                                           top_message=d.top_message or 0))
        if not isinstance(res, types.messages.DialogsSlice) or not res.dialogs \
                or len(seen) >= res.count:
            break
        # the next page starts after the last dialog of this one that has a top message
        nxt = None
        for d in reversed(res.dialogs):
            pid = utils.get_peer_id(d.peer)
            msg = messages.get((pid, d.top_message))
            if msg is not None and pid in entities:
                nxt = (msg.date, msg.id, utils.get_input_peer(entities[pid]))
                break
        if nxt is None or nxt[:2] == last_offset:
            break
        offset_date, offset_id, offset_peer = nxt
        last_offset = nxt[:2]
    return out


def describe(entity) -> Dialog:
    pid = utils.get_peer_id(entity)
    if isinstance(entity, types.User):
        kind = "bot" if entity.bot else "user"
        if entity.is_self:
            title = "Saved Messages"
        elif entity.deleted:
            title = "Deleted Account"
        else:
            title = " ".join(x for x in (entity.first_name, entity.last_name) if x)
    elif isinstance(entity, types.Channel | types.ChannelForbidden):
        kind = "supergroup" if (entity.megagroup or getattr(entity, "gigagroup", False)) \
            else "channel"
        title = entity.title
    else:                                   # Chat, ChatForbidden, ChatEmpty
        kind, title = "group", getattr(entity, "title", "") or ""
    return Dialog(pid, kind, title or "", username(entity))


def username(entity) -> str | None:
    """The @username of a user or chat: its own, else the first active one of several."""
    if getattr(entity, "username", None):
        return entity.username
    for u in getattr(entity, "usernames", None) or ():
        if u.active:
            return u.username
    return None

