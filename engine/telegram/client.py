"""Building the Telethon client: credentials, session, the loopback test-DC override.

Credentials come from ``TGARC_API_ID`` / ``TGARC_API_HASH``; the session is a Telethon
session file (``--session``, written 0600) or a StringSession in ``TGARC_SESSION``.
``TGARC_DC=127.0.0.1:PORT`` points every connection, login included, at a loopback
fakedc; any non-loopback value is refused, so no test can reach Telegram by mistake.
That server's RSA public key comes with it in ``TGARC_DC_KEY`` (one line: the base64
of the key's PKCS#1 DER, which is the PEM body without its header, footer and line
breaks; ``python -m engine.fakedc serve`` prints it) and is registered with Telethon,
which knows only Telegram's own keys.  The key travels in the environment so that this
production module never imports the test server: whoever starts the DC hands its key
over, as a real deployment of another DC would.

``proxy`` (``--proxy``, engine/telegram/proxy.py) is what the client connects to; with
TGARC_DC the proxy connects on to that loopback DC.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from pathlib import Path

import rsa  # Telethon's own dependency: telethon.crypto.rsa parses keys with it
from telethon import TelegramClient
from telethon.crypto import rsa as telethon_rsa
from telethon.sessions import SQLiteSession, StringSession

from engine.config import ConfigError  # a bad credential, session or override: exit 2
from engine.telegram.proxy import parse as parse_proxy

__all__ = ["ConfigError", "credentials", "dc_key", "loopback_dc", "make_client", "open_session"]

TEST_DC_ID = 2


def loopback_dc(value: str) -> tuple[str, int]:
    """Parse ``TGARC_DC``; refuse anything but a loopback address."""
    host, sep, port = value.rpartition(":")
    try:
        if not sep or not ipaddress.ip_address(host.strip("[]")).is_loopback:
            raise ValueError
        port_no = int(port)
        if not 0 < port_no < 65536:
            raise ValueError
    except ValueError:
        raise ConfigError(f"TGARC_DC must be a loopback address like 127.0.0.1:PORT, "
                          f"not {value!r}") from None
    return host.strip("[]"), port_no


def dc_key(value: str | None) -> str:
    """Parse ``TGARC_DC_KEY`` into the PEM Telethon takes; refuse a missing or broken key
    here, in one line, rather than as a failed key exchange later."""
    if not value:
        raise ConfigError("TGARC_DC needs TGARC_DC_KEY, the test DC's public key "
                          "(python -m engine.fakedc serve prints both)")
    body = "".join(value.split())
    try:
        der = base64.b64decode(body, validate=True)
        key = rsa.PublicKey.load_pkcs1(der, format="DER")
    except Exception:   # binascii.Error, ValueError, and the pyasn1 errors rsa lets through
        key = None
    # MTProto's key exchange encrypts exactly 256 bytes: only a 2048-bit key can work
    if key is None or key.n.bit_length() != 2048:
        raise ConfigError("TGARC_DC_KEY is not a 2048-bit RSA public key (base64 of its "
                          "PKCS#1 DER, as python -m engine.fakedc serve prints it)")
    return ("-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der).decode()
            + "-----END RSA PUBLIC KEY-----\n")


def credentials(env=os.environ) -> tuple[int, str]:
    api_id, api_hash = env.get("TGARC_API_ID"), env.get("TGARC_API_HASH")
    if env.get("TGARC_DC") and not (api_id and api_hash):
        return 1, "fakedc"                 # the loopback server checks neither
    if not api_id or not api_hash:
        raise ConfigError("set TGARC_API_ID and TGARC_API_HASH (from my.telegram.org)")
    try:
        return int(api_id), api_hash
    except ValueError:
        raise ConfigError(f"TGARC_API_ID must be a number, not {api_id!r}") from None


def open_session(path: str | None, env=os.environ):
    """The session: a file (created 0600) or TGARC_SESSION's StringSession."""
    if path:
        p = Path(path if path.endswith(".session") else path + ".session")   # Telethon's name
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():
            p.touch(mode=0o600)
        os.chmod(p, 0o600)
        session = SQLiteSession(str(p))
    elif env.get("TGARC_SESSION"):
        try:
            session = StringSession(env["TGARC_SESSION"])
        except Exception:
            raise ConfigError("TGARC_SESSION is not a valid Telethon session string") from None
    else:
        session = StringSession()
    dc = env.get("TGARC_DC")
    if dc:
        host, port = loopback_dc(dc)
        pem = dc_key(env.get("TGARC_DC_KEY"))
        if (session.server_address, session.port) != (host, port):
            session.set_dc(TEST_DC_ID, host, port)
        # Telethon's public way to trust another server key; keyed by fingerprint, so
        # registering it again on every session is a no-op
        telethon_rsa.add_key(pem, old=False)
    return session


def make_client(session, api_id: int, api_hash: str, *, proxy=None) -> TelegramClient:
    """A client whose failures surface to our middleware instead of being slept on
    or retried silently inside Telethon: no flood sleeps, no request retries, and no
    reconnecting by itself (``connection_retries=0``: a dropped connection fails the
    calls on it at once, and ``middleware.Link`` reconnects with backoff, shown in the
    progress, for as long as ``--reconnect-timeout`` allows; Telethon's own attempts
    took 35 s, silently). ``proxy``: a URL or a ``proxy.Proxy``."""
    how = parse_proxy(proxy)
    return TelegramClient(
        session, api_id, api_hash, **(how.telethon() if how else {}), receive_updates=False,
        flood_sleep_threshold=0, request_retries=0, raise_last_call_error=True,
        connection_retries=0, retry_delay=0,
        device_model="tgarc", app_version="tgarc", system_version="tgarc")
