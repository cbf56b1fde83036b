"""`--proxy` end to end: the tgarc CLI as a subprocess and the real Telethon client, through
real loopback proxies (engine/fakedc/proxies.py: SOCKS5, HTTP CONNECT) and through the
fakedc itself acting as an MTProxy (obfuscated2 under a secret). Each proxy counts what it
carried, so a test proves the traffic went through it; the exported files must be the
same as without a proxy. Passwords and secrets must show up nowhere: not on stdout or
stderr, not in tgarc.log, not in any file under --out. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from telethon import TelegramClient
from telethon.network.connection import (
    ConnectionTcpMTProxyAbridged,
    ConnectionTcpMTProxyIntermediate,
    ConnectionTcpMTProxyRandomizedIntermediate,
)
from telethon.network.connection.tcpmtproxy import TcpMTProxy
from telethon.sessions import StringSession

from engine.config import ConfigError
from engine.fakedc.corpus import Corpus
from engine.fakedc.keys import PUBLIC_KEY_ENV
from engine.fakedc.proxies import HttpConnectProxy, Socks5Proxy
from engine.fakedc.server import FakeDC
from engine.logs import Redactor
from engine.telegram import proxy as px
from tests._export import env_for, outputs, served, tgarc

USER, PASSWORD = "archivist", "pr0xy-Pa55word"
SECRET = bytes.fromhex("0123456789abcdef0123456789abcdef")
DD_SECRET = "dd" + SECRET.hex()
BOT_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"   # what the fakedc accepts
FAKE_TLS_B64 = base64.urlsafe_b64encode(b"\xee" + SECRET + b"example.com").decode().rstrip("=")
LEAKS = (PASSWORD, SECRET.hex(), SECRET.hex().upper(), base64.b64encode(SECRET).decode()[:20])


# ---- the URL parser ---------------------------------------------------------------------------
def test_socks5_and_http_urls_become_python_socks_dicts():
    p = px.parse(f"socks5://{USER}:{PASSWORD}@127.0.0.1:1080", env={})
    assert p.telethon() == {"proxy": {"proxy_type": "socks5", "addr": "127.0.0.1", "port": 1080,
                                      "username": USER, "password": PASSWORD, "rdns": True}}
    assert px.parse("SOCKS5h://proxy.example:9050", env={}).telethon()["proxy"] == {
        "proxy_type": "socks5", "addr": "proxy.example", "port": 9050, "username": None,
        "password": None, "rdns": True}
    h = px.parse("http://me:p%40ss%2Fword@[::1]:3128/", env={})
    assert (h.kind, h.host, h.port, h.username, h.password) == ("http", "::1", 3128, "me",
                                                                 "p@ss/word")
    assert h.describe() == "HTTP proxy at [::1]:3128"
    assert PASSWORD not in repr(p) and "p@ss" not in repr(h)
    assert px.parse("", env={}) is None and px.parse(None) is None


@pytest.mark.parametrize("secret, padded", [
    (SECRET.hex(), False), (SECRET.hex().upper(), False), (DD_SECRET, True),
    (base64.b64encode(SECRET).decode(), False),
    (base64.urlsafe_b64encode(b"\xdd" + SECRET).decode().rstrip("="), True),
])
def test_mtproxy_secret_forms(secret, padded):
    p = px.parse(f"mtproxy://{secret}@127.0.0.1:443", env={})
    kw = p.telethon()
    assert kw["connection"] is (ConnectionTcpMTProxyRandomizedIntermediate if padded
                                else ConnectionTcpMTProxyIntermediate)
    assert kw["proxy"][:2] == ("127.0.0.1", 443)
    assert TcpMTProxy.normalize_secret(kw["proxy"][2]) == SECRET    # what Telethon will use
    assert p.describe() == "MTProxy at 127.0.0.1:443"


def test_a_plain_secret_starting_with_dd_keeps_its_first_byte():
    """Telethon strips a leading "dd" from the secret text; ours survives that."""
    plain = bytes.fromhex("dd" + "11" * 15)
    p = px.parse(f"mtproxy://{plain.hex()}@127.0.0.1:443", env={})
    assert not p.padded
    assert TcpMTProxy.normalize_secret(p.telethon()["proxy"][2]) == plain


@pytest.mark.parametrize("url, says", [
    ("ftp://127.0.0.1:21", "unknown scheme 'ftp'"),
    ("https://127.0.0.1:443", "HTTPS to the proxy itself is not supported"),
    (f"{USER}:{PASSWORD}@127.0.0.1:1080", "does not start with socks5://"),
    (f"socks5://{USER}:{PASSWORD}@127.0.0.1", "port is missing"),
    (f"socks5://{USER}:{PASSWORD}@127.0.0.1:", "port is missing"),
    (f"socks5://{USER}:{PASSWORD}@127.0.0.1:70000", "from 1 to 65535"),
    (f"http://{USER}:{PASSWORD}@127.0.0.1:x80", "from 1 to 65535"),
    (f"socks5://{USER}:{PASSWORD}@:1080", "host is missing"),
    (f"socks5://{USER}@127.0.0.1:1080", "both a user name and a password"),
    (f"http://{USER}:{PASSWORD}/x@127.0.0.1:8080", "percent-encode"),
    ("socks5://127.0.0.1:1080/path", "nothing after host:port"),
    ("socks5://::1:1080", "brackets"),
    ("mtproxy://127.0.0.1:443", "needs its secret"),
    (f"mtproxy://{SECRET.hex()[:30]}@127.0.0.1:443", "secret is not 32 hex digits"),
    (f"mtproxy://{SECRET.hex()}00@127.0.0.1:443", "secret is not 32 hex digits"),
    (f"mtproxy://{SECRET.hex()}:{PASSWORD}@127.0.0.1:443", "secret only"),
    (f"mtproxy://ee{SECRET.hex()}{b'example.com'.hex()}@127.0.0.1:443", "fake-TLS"),
    (f"mtproxy://{FAKE_TLS_B64}@127.0.0.1:443", "fake-TLS"),
])
def test_malformed_urls_are_one_config_error_without_the_secret(url, says):
    """(pytest's ids show the URLs; the error lines must not)"""
    with pytest.raises(ConfigError) as err:
        px.parse(url, env={})
    line = str(err.value)
    assert says in line and "\n" not in line
    for leak in (*LEAKS, SECRET.hex()[:30]):
        assert leak not in line
    for leak in px.secrets_of(url):       # whatever the URL hid stays hidden
        assert leak not in line


def test_with_the_test_dc_the_proxy_must_be_loopback():
    env = {"TGARC_DC_KEY": PUBLIC_KEY_ENV, "TGARC_DC": "127.0.0.1:4000"}
    with pytest.raises(ConfigError, match="must be on loopback too"):
        px.parse("socks5://203.0.113.7:1080", env=env)
    assert px.parse("socks5://localhost:1080", env=env).host == "localhost"
    assert px.parse("socks5://203.0.113.7:1080", env={}).host == "203.0.113.7"


def test_open_log_masks_the_proxy_secrets(tmp_path):
    import logging

    from engine import logs

    url = f"mtproxy://{DD_SECRET}@127.0.0.1:443"
    levels = [(lg, lg.level) for lg in (logging.getLogger(), logging.getLogger("telethon"))]
    handler = logs.open_log(tmp_path, secrets=px.secrets_of(url))
    try:
        logging.getLogger("tgarc.test").warning("proxy %s secret %s", url, SECRET.hex())
    finally:
        logs.close_log(handler)
        for lg, level in levels:
            lg.setLevel(level)
    text = (tmp_path / "tgarc.log").read_text()
    assert "127.0.0.1:443" in text and SECRET.hex() not in text


def test_secrets_reach_the_redactor_and_failure_lines_hide_them():
    url = f"socks5://{USER}:{PASSWORD}@127.0.0.1:1080"
    red = Redactor(px.secrets_of(url))
    assert PASSWORD not in red.scrub(f"dialing {url} with {PASSWORD}")
    assert PASSWORD in px.secrets_of(f"socks5://{USER}:{PASSWORD}@127.0.0.1:nope")
    mt = f"mtproxy://{DD_SECRET}@127.0.0.1:443"
    assert not {SECRET.hex(), DD_SECRET, DD_SECRET.upper()} - set(px.secrets_of(mt))
    p = px.parse(url, env={})
    line = p.unreachable(ConnectionError(f"auth {PASSWORD} failed"))
    assert PASSWORD not in line and "127.0.0.1:1080" in line


def test_failure_reasons_read_as_one_plain_clause():
    """What python-socks and Telethon raise, as the end of the exit-3 line."""
    from python_socks import ProxyError, ProxyTimeoutError

    anon = px.parse("http://127.0.0.1:3128", env={})
    auth = px.parse(f"http://{USER}:{PASSWORD}@127.0.0.1:3128", env={})
    mt = px.parse(f"mtproxy://{SECRET.hex()}@127.0.0.1:443", env={})
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 3128)")
    cases = [
        (anon, refused, "connection refused (is the proxy running on that port?)"),
        (anon, ProxyError("407 Proxy Authentication Required", error_code=407),
         "the proxy wants a user name and password"),
        (auth, ProxyError("407 Proxy Authentication Required", error_code=407),
         "the proxy refused the user name or password"),
        (auth, ProxyError("502 Bad Gateway", error_code=502),
         "the proxy refused to connect on to Telegram (502 Bad Gateway)"),
        (auth, ProxyTimeoutError("Proxy connection timed out: 10"),
         "the proxy did not answer in time"),
        (mt, ConnectionError("Proxy closed the connection after sending initial payload"),
         "the proxy closed the connection at once (a wrong secret?)"),
    ]
    for proxy, exc, why in cases:
        line = proxy.unreachable(ConnectionError("Connection to Telegram failed 5 time(s)"), exc)
        assert line == f"cannot reach Telegram through the {proxy.describe()}: {why}"


# ---- end to end: the CLI ----------------------------------------------------------------------
def one_line(r) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def no_leaks(r, *folders: Path) -> None:
    texts = [r.stdout, r.stderr]
    for folder in folders:
        texts += [p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*")
                  if p.is_file()]
    for text in texts:
        for leak in LEAKS:
            assert leak not in text


def cli(env, *args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dc():
    with served(messages=60) as server:
        yield server


@pytest.fixture(scope="module")
def reference(dc, tmp_path_factory):
    out = tmp_path_factory.mktemp("direct")
    r = tgarc(dc, out, "--quiet")
    assert r.returncode == 0, r.stderr
    return outputs(out)


@pytest.fixture(scope="module")
def socks():
    with Socks5Proxy(username=USER, password=PASSWORD).run_in_thread() as proxy:
        yield proxy


@pytest.fixture(scope="module")
def http_proxy():
    with HttpConnectProxy(username=USER, password=PASSWORD).run_in_thread() as proxy:
        yield proxy


def test_export_through_socks5_matches_a_direct_export(dc, reference, socks, tmp_path):
    before = (socks.tunnels, socks.bytes_up, socks.bytes_down)
    r = tgarc(dc, tmp_path, "--quiet", "--debug", "--proxy",
              f"socks5://{USER}:{PASSWORD}@{socks.address}")
    assert r.returncode == 0, r.stderr
    assert outputs(tmp_path) == reference
    assert socks.tunnels > before[0]
    assert socks.bytes_up > before[1] and socks.bytes_down > before[2] + 10_000
    assert set(socks.targets) == {("127.0.0.1", dc.port)}     # on to the DC of TGARC_DC
    log = (tmp_path / "tgarc.log").read_text()
    assert f"connecting through the SOCKS5 proxy at {socks.address}" in log
    no_leaks(r, tmp_path)


def test_export_through_http_connect_matches_a_direct_export(dc, reference, http_proxy,
                                                             tmp_path):
    before = http_proxy.tunnels
    env = env_for(dc, TGARC_PROXY=f"http://{USER}:{PASSWORD}@{http_proxy.address}")
    r = tgarc(dc, tmp_path, "--quiet", env=env)          # from the environment this time
    assert r.returncode == 0, r.stderr
    assert outputs(tmp_path) == reference
    assert http_proxy.tunnels > before and http_proxy.bytes_down > 10_000
    no_leaks(r, tmp_path)


def test_export_through_the_fakedc_as_mtproxy_matches_a_direct_export(reference, tmp_path):
    with served(messages=60, mtproxy_secret=bytes.fromhex(DD_SECRET)) as mt:
        r = tgarc(mt, tmp_path, "--quiet", "--proxy", f"mtproxy://{DD_SECRET}@{mt.address}")
        assert r.returncode == 0, r.stderr
        assert mt.mtproxy_accepted and {t for t, _ in mt.mtproxy_accepted} == {"padded"}
        assert {dc_id for _, dc_id in mt.mtproxy_accepted} == {2}   # the DC asked for
    assert outputs(tmp_path) == reference
    no_leaks(r, tmp_path)


def test_chats_through_a_socks5_proxy_without_auth(dc):
    with Socks5Proxy().run_in_thread() as proxy:
        r = cli(env_for(dc), "chats", "--json", "--proxy", f"socks5://{proxy.address}")
        assert r.returncode == 0, r.stderr
        assert '"username": "tgarc_demo"' in r.stdout
        assert proxy.tunnels == 1 and proxy.bytes_down > 0


def test_login_and_logout_through_an_http_proxy(dc, http_proxy, tmp_path):
    env = env_for(dc)
    del env["TGARC_SESSION"]
    url = f"http://{USER}:{PASSWORD}@{http_proxy.address}"
    before = http_proxy.tunnels
    session = tmp_path / "bot.session"
    r = cli(env, "login", "--session", str(session), "--bot-token", BOT_TOKEN, "--proxy", url)
    assert r.returncode == 0, r.stderr           # a fresh key: the DH exchange via the proxy
    assert "logged in as bot" in r.stderr and session.exists()
    r2 = cli(env, "logout", "--session", str(session), "--proxy", url)
    assert r2.returncode == 0 and not session.exists(), r2.stderr
    assert http_proxy.tunnels >= before + 2
    no_leaks(r, tmp_path)
    no_leaks(r2)


def test_a_wrong_socks5_password_is_exit_3_in_one_line(dc, socks, tmp_path):
    before = socks.auth_failures
    wrong = PASSWORD + "-typo"
    r = tgarc(dc, tmp_path, "--quiet", "--proxy", f"socks5://{USER}:{wrong}@{socks.address}")
    assert r.returncode == 3
    assert one_line(r) == (f"tgarc: cannot reach Telegram through the SOCKS5 proxy at "
                           f"{socks.address}: the proxy refused the user name or password")
    assert socks.auth_failures > before
    assert not any(tmp_path.glob("channel*"))
    assert wrong not in (tmp_path / "tgarc.log").read_text()
    no_leaks(r, tmp_path)


def test_a_proxy_that_is_not_there_is_exit_3_in_one_line(dc, tmp_path):
    port = dead_port()
    r = tgarc(dc, tmp_path, "--quiet", "--proxy", f"socks5://{USER}:{PASSWORD}@127.0.0.1:{port}")
    assert r.returncode == 3
    assert one_line(r) == (f"tgarc: cannot reach Telegram through the SOCKS5 proxy at "
                           f"127.0.0.1:{port}: connection refused (is the proxy running on "
                           f"that port?)")
    no_leaks(r, tmp_path)
    # login's own client (fewer attempts) says the same
    env = env_for(dc)
    del env["TGARC_SESSION"]
    r = cli(env, "login", "--bot-token", BOT_TOKEN, "--proxy",
            f"mtproxy://{DD_SECRET}@127.0.0.1:{port}")
    assert r.returncode == 3
    assert one_line(r) == (f"tgarc: cannot reach Telegram through the MTProxy at "
                           f"127.0.0.1:{port}: connection refused (is the proxy running on "
                           f"that port?)")
    no_leaks(r)


@pytest.mark.parametrize("command, url, says", [
    ("export", f"socks5://{USER}:{PASSWORD}@127.0.0.1", "port is missing"),
    ("chats", f"smtp://{USER}:{PASSWORD}@127.0.0.1:25", "unknown scheme 'smtp'"),
    ("login", f"mtproxy://ee{SECRET.hex()}{b'example.com'.hex()}@127.0.0.1:443", "fake-TLS"),
    ("logout", f"mtproxy://{SECRET.hex()[:-2]}@127.0.0.1:443", "secret is not"),
    ("chats", f"socks5://{USER}:{PASSWORD}@203.0.113.9:1080", "must be on loopback too"),
])
def test_malformed_proxy_urls_are_exit_2_in_one_line(dc, tmp_path, command, url, says):
    if command == "export":
        r = tgarc(dc, tmp_path, "--quiet", "--proxy", url)
    else:
        r = cli(env_for(dc), command, "--proxy", url,
                *(("--session", str(tmp_path / "none")) if command == "logout" else ()),
                *(("--bot-token", BOT_TOKEN) if command == "login" else ()))
    assert r.returncode == 2, r.stderr
    line = one_line(r)
    assert line.startswith("tgarc: ") and says in line
    no_leaks(r, tmp_path)


# ---- the fakedc as MTProxy, with the real Telethon client in this process ----------------------
async def _me_through_mtproxy(secret: bytes, connection, client_secret: str):
    async with FakeDC(Corpus(messages=5, text_only=True), mtproxy_secret=secret) as mt:
        client = TelegramClient(StringSession(mt.new_session()), 1, "x", connection=connection,
                                proxy=("127.0.0.1", mt.port, client_secret),
                                connection_retries=0, receive_updates=False)
        try:
            await client.connect()
            me = await client.get_me()
            return me.username, list(mt.mtproxy_accepted), mt.mtproxy_refused
        except ConnectionError:
            return None, list(mt.mtproxy_accepted), mt.mtproxy_refused
        finally:
            await client.disconnect()


def test_mtproxy_abridged_transport_and_a_secure_only_secret():
    got = asyncio.run(_me_through_mtproxy(SECRET, ConnectionTcpMTProxyAbridged, SECRET.hex()))
    assert got == ("archivist", [("abridged", 2)], 0)
    # a dd secret on the server: the padded transport only, as MTProxy's secure mode
    got = asyncio.run(_me_through_mtproxy(bytes.fromhex(DD_SECRET),
                                          ConnectionTcpMTProxyIntermediate, SECRET.hex()))
    assert got == (None, [], 1)
