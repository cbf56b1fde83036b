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

import asyncio
import contextlib
import logging
import os
import socket
import sys
from pathlib import Path

from telethon import errors

from engine.archive.lock import fenced
from engine.telegram import rawpage
from engine.telegram.client import ConfigError, credentials, make_client, open_session
from engine.telegram.download_dcs import OtherDCs
from engine.telegram.download_lanes import Lanes
from engine.telegram.governor import DEFAULT_MAX_IN_FLIGHT, Governor
from engine.telegram.keybound import KeyBound
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

log = logging.getLogger("tgarc.telegram")

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
        log.info("connecting through the %s", proxy.describe())
    stats = TelegramStats()
    lease = await _take_lease(cfg, session)
    if lease is not None:
        lease.keep()
    try:
        with fenced(lease.fence) if lease is not None else contextlib.nullcontext():
            async with _session(client, cfg, stats, on_flood, proxy, lease) as got:
                yield got
    finally:
        if lease is not None:            # after the last connection closed
            await asyncio.to_thread(lease.release)


async def _take_lease(cfg, session):
    """With ``--lease DIR``: the lease on this session's key, waited for while another run
    holds it (engine/archive/lease.py), before any connection is made."""
    if not getattr(cfg, "lease", None):
        return None
    from engine.archive.lease import Lease

    if session.auth_key is None:
        raise ConfigError("--lease needs a logged-in session (log in with `tgarc login`)")
    lease = Lease(Path(cfg.lease), f"key-{session.auth_key.key_id:016x}",
                  f"{socket.gethostname()}/{os.getpid()}", ttl=cfg.lease_ttl,
                  skew=min(2.0, cfg.lease_ttl / 8))
    if not await asyncio.to_thread(lease.try_acquire):
        held = lease.read() or {}
        line = (f"this account's key is in use by {held.get('holder')}: waiting for its "
                f"lease ({lease.path})")
        log.warning("%s", line)
        sys.stderr.write(f"tgarc: {line}\n")
        while not await asyncio.to_thread(lease.try_acquire):    # Ctrl-C stops the wait
            await asyncio.sleep(0.2)
    return lease


@contextlib.asynccontextmanager
async def _session(client, cfg, stats, on_flood, proxy=None, lease=None):
    link = Link(client, stats, getattr(cfg, "reconnect_timeout", RECONNECT_TIMEOUT),
                timeout=cfg.timeout)
    bound = None
    if lease is not None:            # every connection within the lease's term, from the first
        bound = KeyBound(lease.check, int(lease.ttl / 2))
        link.guard = lease.check
        link.connected = lambda: bound.ping(client)
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
        pinger = None
        if bound is not None:
            gov.guard = lease.check
            lanes = source.lane_factory
            source.lane_factory = lambda n: bound.lanes(lanes(n))
            pinger = asyncio.create_task(bound.run(client, source.dcs))
        try:
            yield source, stats, cache
        except errors.RPCError as exc:       # whatever no layer or caller handled
            raise TelegramFailure(f"Telegram refused {method_name(exc.request)}: "
                                  f"{exc.message}") from exc
        finally:
            if pinger is not None:
                pinger.cancel()
            await source.close_dcs()
    finally:
        await client.disconnect()
