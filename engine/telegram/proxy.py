"""``--proxy`` (or ``TGARC_PROXY``, or the config file's ``proxy``) as Telethon takes it.

    socks5://[user:password@]host:port    SOCKS5, CONNECT (python-socks; socks5h:// too)
    http://[user:password@]host:port      an HTTP proxy's CONNECT, Basic auth
    mtproxy://SECRET@host:port            MTProxy; SECRET: 32 hex digits, or dd + 32 hex
                                          digits (padded transport), or either in base64(url)

``parse`` turns the URL into a ``Proxy``; ``Proxy.telethon()`` is what TelegramClient takes
(``proxy=`` a python-socks dict, or ``connection=`` an MTProxy connection class and
``proxy=(host, port, secret)``). Fake-TLS secrets (``ee…``) are refused: Telethon 1.45
cannot speak that transport. Special characters of a user name or password go
percent-encoded (``%40`` for ``@``, ``%2F`` for ``/``).

Every problem is one ``ConfigError`` line (exit 2) that never repeats the URL, so never a
password or secret; ``Proxy.hidden`` / ``secrets_of`` are the strings logs.Redactor masks.
A proxy that cannot be reached or refuses us is ``Proxy.unreachable``'s line (exit 3).

With ``TGARC_DC`` (the loopback test DC) the proxy must be on loopback too: a test never
reaches another host. Telethon connects to the proxy; the proxy connects on to the DC
address of the session (TGARC_DC's); an MTProxy is told only the DC number.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from engine.config import ConfigError

FORMS = ("socks5://[user:password@]host:port, http://[user:password@]host:port or "
         "mtproxy://SECRET@host:port")
KINDS = {"socks5": "socks5", "socks5h": "socks5", "http": "http", "mtproxy": "mtproxy"}
LABELS = {"socks5": "SOCKS5", "http": "HTTP", "mtproxy": "MTProxy"}
_HEX = re.compile(r"[0-9a-fA-F]+")
_B64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def _bad(why: str) -> ConfigError:
    return ConfigError(f"bad proxy URL: {why} (the forms: {FORMS})")


@dataclass(frozen=True)
class Proxy:
    kind: str                                   # socks5, http, mtproxy
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    secret: bytes | None = field(default=None, repr=False)     # MTProxy: the 16-byte key
    padded: bool = False                        # MTProxy dd secret: padded intermediate
    hidden: tuple[str, ...] = field(default=(), repr=False)    # what logs must not show

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def describe(self) -> str:
        label = LABELS[self.kind]
        return f"{label} at {self.where}" if self.kind == "mtproxy" else \
            f"{label} proxy at {self.where}"

    def telethon(self) -> dict:
        """Keyword arguments for TelegramClient."""
        if self.kind == "mtproxy":
            from telethon.network.connection import (
                ConnectionTcpMTProxyIntermediate,
                ConnectionTcpMTProxyRandomizedIntermediate,
            )

            # Telethon cuts a leading "dd"/"ee" off the secret text before decoding it
            # (tcpmtproxy.normalize_secret), so a plain secret whose first byte is 0xdd
            # would lose it: always prefix. The transport (padded or not) is the
            # connection class's, not the prefix's.
            connection = (ConnectionTcpMTProxyRandomizedIntermediate if self.padded
                          else ConnectionTcpMTProxyIntermediate)
            return {"connection": connection,
                    "proxy": (self.host, self.port, "dd" + self.secret.hex())}
        return {"proxy": {"proxy_type": self.kind, "addr": self.host, "port": self.port,
                          "username": self.username, "password": self.password,
                          "rdns": True}}

    def scrub(self, text: str) -> str:
        """``text`` without the hidden strings (4 characters and more, as logs.Redactor:
        a shorter one would blank out ordinary words)."""
        for s in sorted(self.hidden, key=len, reverse=True):
            if len(s) >= 4:
                text = text.replace(s, "[redacted]")
        return text

    def unreachable(self, exc: BaseException, attempt: BaseException | None = None) -> str:
        """The line for a connection that failed through this proxy: ``exc`` is what
        connect() raised, ``attempt`` the reason Telethon logged for its last try."""
        return (f"cannot reach Telegram through the {self.describe()}: "
                f"{self.scrub(self._why(attempt or exc))}")

    def _why(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        low = text.lower()
        code = getattr(exc, "error_code", None)
        if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == \
                errno.ECONNREFUSED or "could not connect to proxy" in low \
                or "connect call failed" in low:
            return "connection refused (is the proxy running on that port?)"
        if code == 407 and not self.password:
            return "the proxy wants a user name and password"
        if code == 407 or "authentication failure" in low or "authentication failed" in low:
            return "the proxy refused the user name or password"
        if "no acceptable authentication methods" in low:
            return ("the proxy wants a user name and password"
                    if not self.password else "the proxy accepts no method we offer")
        if self.kind == "mtproxy" and "closed the connection" in low:
            return "the proxy closed the connection at once (a wrong secret?)"
        if isinstance(exc, TimeoutError) or "timed out" in low:
            return "the proxy did not answer in time"
        if code is not None:
            return f"the proxy refused to connect on to Telegram ({text})"
        return text


def parse(url, env=os.environ) -> Proxy | None:
    """A proxy URL (or a ``Proxy``, or None/empty: no proxy) as a ``Proxy``."""
    if url is None or isinstance(url, Proxy):
        return _loopback_guard(url, env) if url is not None else None
    url = url.strip()
    if not url:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise _bad("it does not start with socks5://, http:// or mtproxy://")
    scheme = scheme.lower()
    if scheme not in KINDS:
        shown = f"{scheme!r} " if scheme.isascii() and scheme.isalnum() \
            and len(scheme) <= 10 else ""
        extra = ("; HTTPS to the proxy itself is not supported, use http://"
                 if scheme == "https" else "")
        raise _bad(f"unknown scheme {shown}(use socks5, http or mtproxy){extra}")
    kind = KINDS[scheme]
    netloc, _, tail = _split(rest)
    if tail not in ("", "/"):
        hint = " (percent-encode @ / ? # in a user name or password)" if "@" in tail else ""
        raise _bad(f"a proxy URL has nothing after host:port{hint}")
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = _host_port(hostport)
    if kind == "mtproxy":
        if not at or not userinfo:
            raise _bad("an MTProxy needs its secret: mtproxy://SECRET@host:port")
        if ":" in userinfo:
            raise _bad("an MTProxy takes a secret only, not user:password")
        text = unquote(userinfo)
        secret, padded = _secret(text)
        hidden = _variants(userinfo, text, secret.hex(), "dd" + secret.hex(),
                           base64.b64encode(secret).decode(),
                           base64.urlsafe_b64encode(secret).decode().rstrip("="))
        return _loopback_guard(Proxy(kind, host, port, secret=secret, padded=padded,
                                     hidden=hidden), env)
    username = password = None
    hidden: tuple[str, ...] = ()
    if at:
        raw_user, colon, raw_pw = userinfo.partition(":")
        username, password = unquote(raw_user), unquote(raw_pw)
        if not colon or not username or not password:
            raise _bad(f"give a {LABELS[kind]} proxy both a user name and a password "
                       f"(user:password@host:port), or neither")
        _check_credentials(kind, username, password)
        basic = base64.b64encode(f"{username}:{password}".encode("latin-1", "replace"))
        hidden = _variants(raw_pw, password, quote(password, safe=""), userinfo,
                           f"{username}:{password}", basic.decode())
    return _loopback_guard(Proxy(kind, host, port, username, password, hidden=hidden), env)


def _split(rest: str) -> tuple[str, str, str]:
    """netloc, separator, what follows (path, query or fragment)."""
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=-1)
    return (rest, "", "") if cut < 0 else (rest[:cut], rest[cut], rest[cut:])


def _host_port(hostport: str) -> tuple[str, int]:
    if hostport.startswith("["):
        host, close, after = hostport[1:].partition("]")
        port_text = after[1:] if close and after.startswith(":") else None
        if not close:
            raise _bad("an IPv6 address goes in brackets: [::1]:1080")
    else:
        host, colon, port_text = hostport.rpartition(":")
        if not colon:
            host, port_text = hostport, None
        elif ":" in host:
            raise _bad("an IPv6 address goes in brackets: [::1]:1080")
    if not host:
        raise _bad("the proxy's host is missing")
    if port_text is None or port_text == "":
        raise _bad("the proxy's port is missing (host:port)")
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _bad("the proxy's port must be a number from 1 to 65535")
    if not re.fullmatch(r"[A-Za-z0-9.\-_:%]+", host):
        raise _bad("the proxy's host is not a host name or an IP address")
    return host.lower(), int(port_text)


def _check_credentials(kind: str, username: str, password: str) -> None:
    if kind == "socks5":
        # RFC 1929: 1-255 bytes each; python-socks sends them as ASCII
        if not (username.isascii() and password.isascii()):
            raise _bad("a SOCKS5 user name and password must be ASCII")
        if len(username) > 255 or len(password) > 255:
            raise _bad("a SOCKS5 user name or password is at most 255 characters")
    else:
        if ":" in username:
            raise _bad("an HTTP proxy user name cannot hold ':' (Basic auth)")
        try:
            f"{username}:{password}".encode("latin-1")
        except UnicodeEncodeError:
            raise _bad("an HTTP proxy user name and password must be Latin-1 "
                       "(Basic auth)") from None


def _secret(text: str) -> tuple[bytes, bool]:
    """(the 16-byte key, padded) of an MTProxy secret in hex or base64(url)."""
    forms = "32 hex digits, or dd + 32 hex digits, or the same in base64"
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        raw = bytes.fromhex(text)
    elif _B64.fullmatch(text):
        try:
            norm = text.rstrip("=").replace("+", "-").replace("/", "_")
            raw = base64.urlsafe_b64decode(norm + "=" * (-len(norm) % 4))
        except (binascii.Error, ValueError):
            raise _bad(f"the MTProxy secret is not {forms}") from None
    else:
        raise _bad(f"the MTProxy secret is not {forms}")
    if len(raw) >= 17 and raw[0] == 0xEE:
        raise _bad("fake-TLS MTProxy secrets (ee…) are not supported: Telethon cannot "
                   "speak that transport; ask the proxy's owner for a dd secret")
    if len(raw) == 16:
        return raw, False
    if len(raw) == 17 and raw[0] == 0xDD:
        return raw[1:], True
    raise _bad(f"the MTProxy secret is not {forms}")


def _variants(*texts: str) -> tuple[str, ...]:
    out: list[str] = []
    for t in texts:
        for v in (t, t.lower(), t.upper()) if _HEX.fullmatch(t or "") else (t,):
            if v and v not in out:
                out.append(v)
    return tuple(out)


def secrets_of(url) -> list[str]:
    """The strings of ``url`` to keep out of logs; never raises (a URL that does not
    parse still has its user-info part masked)."""
    if not url:
        return []
    if isinstance(url, Proxy):
        return list(url.hidden)
    try:
        parsed = parse(url, env={})
        if parsed is not None:
            return list(parsed.hidden)
    except ConfigError:
        pass
    rest = str(url).partition("://")[2] or str(url)
    userinfo = rest.rpartition("@")[0]
    if not userinfo:
        return []
    pw = userinfo.partition(":")[2]
    return [s for s in _variants(userinfo, unquote(userinfo), pw, unquote(pw)) if s]


def _loopback_guard(proxy: Proxy, env) -> Proxy:
    """With TGARC_DC (tests, the demo) nothing but loopback may be contacted."""
    if env.get("TGARC_DC"):
        try:
            loopback = ipaddress.ip_address(proxy.host).is_loopback
        except ValueError:
            loopback = proxy.host == "localhost"
        if not loopback:
            raise ConfigError("with TGARC_DC (the loopback test DC) the proxy must be on "
                              "loopback too, like 127.0.0.1:PORT")
    return proxy


# ---- why a connection failed ------------------------------------------------------------------
class _LastAttempt(logging.Handler):
    """Telethon logs why each connection attempt failed, then raises a bare
    'Connection to Telegram failed N time(s)': keep the last reason."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.last: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(("Attempt %d at connecting failed",
                                       "Connection error %d during auth_key gen")) \
                and len(record.args or ()) >= 3 and isinstance(record.args[2], BaseException):
            self.last = record.args[2]


@contextlib.contextmanager
def watch_attempts():
    """Around ``client.connect()``: yields a handler whose ``last`` is the reason of
    Telethon's last failed connection attempt (None: none failed)."""
    log = logging.getLogger("telethon.network.mtprotosender")
    handler, level = _LastAttempt(), log.level
    log.addHandler(handler)
    if not log.isEnabledFor(logging.WARNING):
        log.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def connect_errors() -> tuple[type[BaseException], ...]:
    """What ``client.connect()`` raises when the network or a proxy fails: python-socks'
    own errors are not OSErrors (Telethon rebinds them once it first connects through a
    proxy, but only in python-socks' private module)."""
    errors: tuple[type[BaseException], ...] = (OSError, ConnectionError, TimeoutError)
    with contextlib.suppress(ImportError):
        import python_socks

        errors += (python_socks.ProxyError, python_socks.ProxyTimeoutError)
    return errors
