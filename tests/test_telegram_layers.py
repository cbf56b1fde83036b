"""The layers around every Telegram call, the peer cache and the client factory, through
the real Telethon client against fakedc's fault rules."""

from __future__ import annotations

import asyncio
import base64
import os
import stat

import pytest
import rsa
from telethon.sessions import StringSession
from telethon.tl import functions

from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Rule
from engine.fakedc.keys import PUBLIC_KEY_ENV, PUBLIC_PEM
from engine.fakedc.server import FakeDC
from engine.telegram import client as tgclient
from engine.telegram.middleware import (
    AuthRevoked,
    FloodCeiling,
    GaveUp,
    TelegramStats,
    stack,
)
from engine.telegram.peers import PeerCache


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def layered(rules, session=None, **kw):
    """A fakedc with `rules`, a tgarc-built client on it, and the standard stack."""
    dc = await FakeDC(Corpus(messages=200), rules=rules).start()
    env = dc.env(session or dc.new_session())
    client = tgclient.make_client(tgclient.open_session(None, env), *tgclient.credentials(env))
    await client.connect()
    stats = TelegramStats()
    floods = []
    kw.setdefault("backoff", 0.01)
    call = stack(client, stats, on_flood=lambda m, s: floods.append((m, s)), **kw)
    return dc, client, call, stats, floods


def history(dc):
    ch = dc.corpus.chats["channel"]
    from telethon.tl import types
    return functions.messages.GetHistoryRequest(
        peer=types.InputPeerChannel(ch.id, ch.access_hash), offset_id=0, offset_date=None,
        add_offset=0, limit=3, max_id=0, min_id=0, hash=0)


def test_flood_waits_under_the_ceiling_are_slept_and_counted():
    async def body():
        dc, client, call, stats, floods = await layered(
            [Rule("GetHistoryRequest", "flood_wait", every=1, times=2, seconds=1)])
        try:
            r = await call(history(dc))
            assert len(r.messages) == 3
            assert (stats.flood_waits, stats.flood_wait_seconds) == (2, 2.0)
            assert floods == [("GetHistory", 1), ("GetHistory", 1)]
            assert stats.requests == 3
        finally:
            await client.disconnect()
            await dc.stop()
    run(body())


def test_a_flood_wait_beyond_the_ceiling_gives_up_with_a_clear_message():
    async def body():
        dc, client, call, _, _ = await layered(
            [Rule("GetHistoryRequest", "flood_wait", nth=1, seconds=4000)], flood_ceiling=600)
        try:
            with pytest.raises(FloodCeiling, match=r"4000 s .* 600 s ceiling"):
                await call(history(dc))
        finally:
            await client.disconnect()
            await dc.stop()
    run(body())


def test_a_reply_that_never_comes_times_out_and_is_retried():
    async def body():
        dc, client, call, stats, _ = await layered(
            [Rule("GetHistoryRequest", "no_reply", nth=1)], timeout=0.5)
        try:
            assert len((await call(history(dc))).messages) == 3
            assert (stats.timeouts, stats.retries) == (1, 1)
        finally:
            await client.disconnect()
            await dc.stop()
    run(body())


def test_server_errors_are_retried_then_given_up():
    async def body():
        dc, client, call, stats, _ = await layered(
            [Rule("GetHistoryRequest", "server_error", every=1, times=2)], attempts=3)
        try:
            assert len((await call(history(dc))).messages) == 3
            assert stats.retries == 2
        finally:
            await client.disconnect()
            await dc.stop()
        dc, client, call, stats, _ = await layered(
            [Rule("GetHistoryRequest", "server_error", every=1)], attempts=3)
        try:
            with pytest.raises(GaveUp, match="GetHistory failed 3 times"):
                await call(history(dc))
        finally:
            await client.disconnect()
            await dc.stop()
    run(body())


def test_a_revoked_session_is_not_retried():
    async def body():
        dc2, client, call, stats, _ = await layered([])
        dc2.revoke(client.session.save())
        try:
            with pytest.raises(AuthRevoked, match="tgarc login"):
                await call(history(dc2))
            assert stats.retries == 0
        finally:
            await client.disconnect()
            await dc2.stop()
    run(body())


def test_tgarc_dc_accepts_only_loopback():
    assert tgclient.loopback_dc("127.0.0.1:4000") == ("127.0.0.1", 4000)
    assert tgclient.loopback_dc("[::1]:80") == ("::1", 80)
    for bad in ("149.154.167.50:443", "10.0.0.1:1", "localhost", "127.0.0.1:0", "x:1"):
        with pytest.raises(tgclient.ConfigError, match="loopback"):
            tgclient.loopback_dc(bad)


def test_credentials_and_session_errors_are_config_errors(tmp_path):
    with pytest.raises(tgclient.ConfigError, match="TGARC_API_ID"):
        tgclient.credentials({})
    with pytest.raises(tgclient.ConfigError, match="number"):
        tgclient.credentials({"TGARC_API_ID": "abc", "TGARC_API_HASH": "h"})
    assert tgclient.credentials({"TGARC_API_ID": "5", "TGARC_API_HASH": "h"}) == (5, "h")
    with pytest.raises(tgclient.ConfigError, match="TGARC_SESSION"):
        tgclient.open_session(None, {"TGARC_SESSION": "not a session"})
    path = tmp_path / "acct"
    session = tgclient.open_session(str(path), {})
    session.close()
    assert stat.S_IMODE(os.stat(str(path) + ".session").st_mode) == 0o600


def test_the_override_points_a_string_session_at_the_loopback_server():
    s = StringSession()
    s.set_dc(2, "149.154.167.50", 443)
    session = tgclient.open_session(None, {"TGARC_SESSION": s.save(), "TGARC_DC": "127.0.0.1:5555",
                                           "TGARC_DC_KEY": PUBLIC_KEY_ENV})
    assert (session.server_address, session.port) == ("127.0.0.1", 5555)


def test_the_test_dc_comes_with_its_key():
    """The client is handed the loopback DC's key in TGARC_DC_KEY (it never imports the
    test server); without one, or with one that is no RSA key, it stops before connecting."""
    dc = {"TGARC_DC": "127.0.0.1:5555"}
    with pytest.raises(tgclient.ConfigError, match="TGARC_DC needs TGARC_DC_KEY"):
        tgclient.open_session(None, dc)
    short = base64.b64encode(rsa.newkeys(512)[0].save_pkcs1("DER")).decode()
    for bad in ("not base64!", "AAAA", PUBLIC_KEY_ENV[:-40], short):
        with pytest.raises(tgclient.ConfigError, match="not a 2048-bit RSA public key"):
            tgclient.open_session(None, dict(dc, TGARC_DC_KEY=bad))
    wrapped = "\n".join(PUBLIC_KEY_ENV[i:i + 64] for i in range(0, len(PUBLIC_KEY_ENV), 64))
    assert tgclient.dc_key(wrapped) == tgclient.dc_key(PUBLIC_KEY_ENV)   # PEM's own lines
    assert rsa.PublicKey.load_pkcs1(tgclient.dc_key(PUBLIC_KEY_ENV)) == \
        rsa.PublicKey.load_pkcs1(PUBLIC_PEM)


def test_peer_cache_is_lru_with_ttl_and_counts():
    now = [0.0]
    cache = PeerCache(size=2, ttl=10, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1          # a is now most recent
    cache.put("c", 3)                   # evicts b
    assert cache.get("b") is None and len(cache) == 2
    now[0] = 11
    assert cache.get("a") is None       # expired
    assert cache.stats() == {"hits": 1, "misses": 2, "hit_rate": 0.3333, "evictions": 1,
                             "expirations": 1}
    off = PeerCache.from_env({"INPUT_PEER_CACHE_SIZE": "0"})
    off.put("x", 1)
    assert off.get("x") is None and len(off) == 0
