"""A connected, authorized client with the middleware stack: what a command needs.

    async with connected(cfg) as (source, stats, cache):
        meta = await source.resolve("@channel")

Connection failures and an unauthorized session become one readable error: ``ConfigError``
(exit 2) when there is no usable session, ``TelegramFailure`` (exit 3) when Telegram
cannot be reached or refuses the session. ``cfg.proxy`` (if any) is what we connect
through; a proxy that is down or refuses us names itself (never its password). A
connection lost later is brought back by the middleware's ``Link`` for up to
``cfg.reconnect_timeout`` seconds (then ``NetworkLost``, exit 3).
"""

from __future__ import annotations

import contextlib
import logging
import os

from telethon import errors

from engine.telegram import rawpage
from engine.telegram.client import ConfigError, credentials, make_client, open_session
from engine.telegram.download_dcs import OtherDCs
from engine.telegram.download_lanes import Lanes
from engine.telegram.governor import DEFAULT_MAX_IN_FLIGHT, Governor
from engine.telegram.middleware import (
    AuthRevoked,
    Link,
    Retry,
    TelegramFailure,
    TelegramStats,
    method_name,
    stack,
)
from engine.telegram.peers import PeerCache
from engine.telegram.proxy import connect_errors, watch_attempts
from engine.telegram.proxy import parse as parse_proxy
from engine.telegram.source import BOT_SESSION, Source

# How long a command whose settings name no ``reconnect_timeout`` (``tgarc chats``) waits
# for a lost connection; an export's is ``--reconnect-timeout`` (ExportConfig).
RECONNECT_TIMEOUT = 60.0


@contextlib.asynccontextmanager
async def connected(cfg, on_flood=None):
    api_id, api_hash = credentials()
    if not cfg.session and not os.environ.get("TGARC_SESSION"):
        raise ConfigError("no session: log in with `tgarc login` and pass --session PATH, "
                          "or set TGARC_SESSION")
    proxy = parse_proxy(getattr(cfg, "proxy", None))
    session = open_session(cfg.session)
    client = make_client(session, api_id, api_hash, proxy=proxy)
    if proxy is not None:
        logging.getLogger("tgarc.telegram").info("connecting through the %s",
                                                 proxy.describe())
    stats = TelegramStats()
    async with _session(client, cfg, stats, on_flood, proxy) as got:
        yield got


@contextlib.asynccontextmanager
async def _session(client, cfg, stats, on_flood, proxy=None):
    link = Link(client, stats, getattr(cfg, "reconnect_timeout", RECONNECT_TIMEOUT),
                timeout=cfg.timeout)
    with watch_attempts() as attempts:
        try:
            await link.open()
        except Retry.REVOKED as exc:
            raise AuthRevoked(exc) from None
        except (*connect_errors(), EOFError) as exc:
            if proxy is not None:
                raise TelegramFailure(proxy.unreachable(exc, attempts.last)) from None
            why = attempts.last or exc
            raise TelegramFailure(f"cannot reach Telegram ({why})") from None
    try:
        try:
            authorized = await client.is_user_authorized()
        except Retry.REVOKED as exc:
            raise AuthRevoked(exc) from None
        if not authorized:
            raise TelegramFailure("this session is not logged in (or was logged out); log in "
                                  "again with `tgarc login`")
        if getattr(cfg, "require_user", False) and await client.is_bot():
            raise ConfigError(BOT_SESSION)
        cache = PeerCache.from_env()
        # one governor for the account: every stack of the run (history, lanes, other DCs)
        gov = stats.governor = Governor(getattr(cfg, "max_in_flight", DEFAULT_MAX_IN_FLIGHT))
        call = stack(rawpage.send_via(client), stats, timeout=cfg.timeout,
                     flood_ceiling=cfg.flood_ceiling, on_flood=on_flood, link=link,
                     governor=gov)
        source = Source(client, call, cache)
        source.lane_factory = lambda n: Lanes(client, call, n, stats, link=link,
                                              timeout=cfg.timeout,
                                              flood_ceiling=cfg.flood_ceiling,
                                              on_flood=on_flood, governor=gov)
        # files on other DCs: one connection each, authorized once, kept for the run
        source.dcs = OtherDCs(client, call, stats, link=link, timeout=cfg.timeout,
                              flood_ceiling=cfg.flood_ceiling, on_flood=on_flood,
                              governor=gov)
        try:
            yield source, stats, cache
        except errors.RPCError as exc:       # whatever no layer or caller handled
            raise TelegramFailure(f"Telegram refused {method_name(exc.request)}: "
                                  f"{exc.message}") from exc
        finally:
            await source.close_dcs()
    finally:
        await client.disconnect()
