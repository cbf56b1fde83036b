"""A loopback MTProto 2.0 server that the real Telethon client talks to over TCP.

It speaks the installed Telethon's TL layer by using Telethon's own generated
classes both ways (``obj._bytes()`` out, ``BinaryReader.tgread_object()`` in).
Facts it relies on are in ../shared/MTPROTO_NOTES.md.

    async with FakeDC(Corpus(messages=1000)) as dc:
        client = TelegramClient(StringSession(dc.new_session()), 1, "x")

Only 127.0.0.1 is ever bound.  Every handler failure is answered with an
rpc_error (a dropped connection would make Telethon resend the request forever).

Transports: abridged, intermediate, padded intermediate and full, told apart by the
client's first bytes. With ``mtproxy_secret`` the server is an MTProxy instead: every
connection must open with an obfuscated2 header under that secret (proxies.py
``accept_obfuscated2``), whose tag picks abridged, intermediate or padded framing; the
rest of the stream is AES-256-CTR both ways. A header that does not decrypt to a known
tag (a wrong secret) is dropped at once, as MTProxy does.

This module is the server itself (lifecycle, outages, authorizations, the call log);
connection.py serves one connection (MTProto encryption, the fault rules, answers),
framing.py frames its packets, rpc.py and rpc_auth.py answer the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import os
import struct
import threading

from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from . import keys, rpc_auth
from .accounts import HOME_DC, Account
from .connection import Connection
from .corpus import Corpus
from .dcs import OtherDC
from .faults import Budget, Call, Rule
from .keyuse import KeyLog
from .proxies import MTProxyRefused, accept_obfuscated2
from .serving import Served
from .warm import Warm

log = logging.getLogger("engine.fakedc")

DC_ID = HOME_DC


def require_loopback(host: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"fakedc only listens on loopback, not {host}")
    return host


class FakeDC(Served):
    """The server.  ``start()``/``stop()`` inside a loop, or ``async with``,
    or ``run_in_thread()`` for synchronous callers (CLI tests, the demo)."""

    def __init__(self, corpus: Corpus | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 rules: list[Rule] | None = None, budget: Budget | None = None,
                 rtt_ms: float = 0.0, bandwidth: float | None = None,
                 gzip_min_bytes: int | None = None, mtproxy_secret: bytes | None = None,
                 big_files: tuple[tuple[int, ...], ...] = (), other_dcs: tuple[int, ...] = ()):
        self.corpus = corpus or Corpus()
        self.host = require_loopback(host)
        self.home_dc = DC_ID
        if any(d <= 0 or d == DC_ID for d in other_dcs):
            raise ValueError(f"other DCs are positive ids other than {DC_ID}: {other_dcs}")
        self.other_dcs = {d: OtherDC(self, d) for d in other_dcs}      # dcs.py
        self.exported: dict[int, tuple[bytes, int, int]] = {}   # auth.exportAuthorization's
        # (count, size[, dc[, said]]) each: messages at the top of @tgarc_demo carrying big
        # files (bigfiles.py) that live on DC dc (home) while their messages name DC said
        # (dc; another: a file moved since, which that DC answers with FILE_MIGRATE); only
        # when asked, so the default corpus stays as it is
        self.big_messages = []
        for count, size, *where in big_files:
            dc_id = where[0] if where else DC_ID
            said = where[1] if len(where) > 1 else None
            if dc_id != DC_ID and dc_id not in self.other_dcs:
                raise ValueError(f"big files on DC {dc_id}, which this server does not run")
            self.big_messages += self.corpus.add_big_files(count, size, dc=dc_id,
                                                             said=said)
        self._port = port
        self.rules = list(rules or [])
        self.budget = budget
        self.rtt = rtt_ms / 1000.0
        self.bandwidth = bandwidth          # bytes/s per connection, None = unlimited
        self.gzip_min_bytes = gzip_min_bytes
        # MTProxy mode: 16 bytes, or 17 with a leading 0xdd (padded transport only)
        if mtproxy_secret is not None and not (
                len(mtproxy_secret) == 16
                or (len(mtproxy_secret) == 17 and mtproxy_secret[0] == 0xDD)):
            raise ValueError("mtproxy_secret is 16 bytes, or 17 with a leading 0xdd")
        self.mtproxy_secret = mtproxy_secret
        self.mtproxy_accepted: list[tuple[str, int]] = []   # (transport, dc id) per connection
        self.mtproxy_refused = 0
        self.accounts: dict[int, Account] = {}
        self.salt = struct.unpack("<q", os.urandom(8))[0]
        self.calls: list[Call] = []
        self.keys: KeyLog | None = None         # KeyLog(): record who used which key when
        self.takeouts: set[int] = set()
        self.pages: dict[tuple, tuple[bytes, int]] = {}   # prefetched history pages
        self.prefetch_hits = 0
        self.warm: dict[int, Warm] = {}         # chat id -> its pages' bytes made ahead
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[Connection] = set()
        self._conn_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.login_code = "12345"                 # the code auth.sendCode "sends"
        self.password: str | None = "hunter2"     # 2FA password; None: no 2FA
        self.login = rpc_auth.LoginState()
        self.outages = 0                          # how often the network went away
        self.silent = False                       # an outage that answers nothing (below)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._back: asyncio.TimerHandle | None = None
        self._relisten: asyncio.Task | None = None
        self._stopped = False

    # ---- lifecycle ----------------------------------------------------------------
    async def start(self):
        self._loop, self._stopped = asyncio.get_running_loop(), False
        await super().start()
        for other in self.other_dcs.values():
            await other.start()
        return self

    async def stop(self) -> None:
        self._stopped = True
        for other in self.other_dcs.values():
            await other.stop()
        if self._back is not None:
            self._back.cancel()
        if self._relisten is not None:
            with contextlib.suppress(Exception):
                await self._relisten
        await super().stop()

    def _drop_connections(self) -> None:
        self.drop_connections()

    def drop_connections(self, dc_id: int | None = None) -> None:
        """Close the open connections (to DC ``dc_id`` only, given one)."""
        for conn in list(self._conns):
            if dc_id is None or conn.dc_id == dc_id:
                conn.close()

    def dc_ports(self) -> dict[int, int]:
        """Each DC this server runs -> its port."""
        return {DC_ID: self.port, **{d: o.port for d, o in self.other_dcs.items()}}

    # ---- network outage (test hook) -------------------------------------------------
    @property
    def is_offline(self) -> bool:
        return self.silent or (self._loop is not None and self._server is None
                               and not self._stopped)

    def offline(self, seconds: float | None = None, silent: bool = False) -> None:
        """Test hook: the network to the DC goes away for ``seconds`` (None: until
        ``online()``): every open connection is dropped and new ones are refused (nothing
        listens on the port). ``silent``: it goes quiet instead, as a link that died
        without a reset: connections stay open and new ones are accepted, but nothing
        that arrives is read and nothing is answered. Safe to call from any thread."""
        self._in_loop(self._go_offline, seconds, silent)

    def online(self) -> None:
        """Test hook: the outage ends; the DC listens on its port again."""
        self._in_loop(self._go_online)

    def _in_loop(self, fn, *args) -> None:
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            fn(*args)
            return

        async def call():
            fn(*args)
            if self._relisten is not None:        # listening again when we return
                await self._relisten
        asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def _go_offline(self, seconds: float | None, silent: bool = False) -> None:
        if self._back is not None:
            self._back.cancel()
            self._back = None
        self.outages += not self.is_offline
        if silent:
            self.silent = True
        else:
            if self._server is not None:
                self._server.close()
                self._server = None
            self._drop_connections()
        if seconds is not None:
            self._back = self._loop.call_later(seconds, self._go_online)

    def _go_online(self) -> None:
        if self._back is not None:
            self._back.cancel()
            self._back = None
        self.silent = False
        if self._server is None and self._relisten is None and not self._stopped:
            self._relisten = self._loop.create_task(self._listen())

    async def _listen(self) -> None:
        try:
            server = await asyncio.start_server(self._on_connection, self.host, self._port)
            if self._stopped:                     # stop() came first
                server.close()
            else:
                self._server = server
        finally:
            self._relisten = None

    # ---- authorizations -----------------------------------------------------------------
    # TGARC_DC_KEY: this server's public key, which the client is handed in its
    # environment (it never imports fakedc's key module)
    key_env = keys.PUBLIC_KEY_ENV

    def env(self, session: str | None = None) -> dict[str, str]:
        """The environment that points tgarc at this DC: ``TGARC_DC_KEY``, ``TGARC_DC``
        and, given one, ``TGARC_SESSION``."""
        env = {"TGARC_DC_KEY": self.key_env, "TGARC_DC": self.address}
        if session is not None:
            env["TGARC_SESSION"] = session
        return env

    def new_session(self, user_id: int | None = None, bot: bool = False,
                    sees: list[str] | None = None) -> str:
        """A Telethon StringSession already authorized as ``user_id`` (default:
        the corpus's own account) — the fast way in, no key exchange. ``sees``: the corpus
        chats (keys) in its dialogs and whose history it may read (default: all)."""
        key = os.urandom(256)
        account = Account(key, user_id or self.corpus.ME, bot=bot)
        if sees is not None:
            account.sees = frozenset(self.corpus.chats[k].id for k in sees)
        self.accounts[account.key_id] = account
        session = StringSession()
        session.set_dc(DC_ID, self.host, self.port)
        session.auth_key = AuthKey(key)
        return session.save()

    def revoke(self, session_string: str) -> None:
        """Terminate that authorization: its next request gets 401 AUTH_KEY_UNREGISTERED."""
        key_id = StringSession(session_string).auth_key.key_id
        self.accounts[key_id].revoked = True

    def scan_qr(self, token: bytes, user_id: int | None = None) -> None:
        """Test hook: a logged-in phone scans the QR login ``token`` (default user: the
        corpus account); the waiting client gets updateLoginToken."""
        rpc_auth.scan_qr(self, token, user_id)

    def log(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # ---- connections ----------------------------------------------------------------
    async def _on_connection(self, reader, writer):
        transport = None
        if self.mtproxy_secret is not None:
            try:
                reader, writer, transport, dc_id = await asyncio.wait_for(
                    accept_obfuscated2(reader, writer, self.mtproxy_secret), 30)
            except (MTProxyRefused, asyncio.IncompleteReadError, ConnectionError,
                    TimeoutError) as exc:
                self.mtproxy_refused += 1
                log.info("fakedc: MTProxy connection refused: %s", exc)
                writer.close()
                return
            self.mtproxy_accepted.append((transport, dc_id))
        await self.serve_connection(reader, writer, transport, DC_ID)

    async def serve_connection(self, reader, writer, transport: str | None, dc_id: int):
        """Serve one accepted connection to DC ``dc_id`` until it closes."""
        conn = Connection(self, reader, writer, next(self._conn_ids), transport, dc_id)
        self._conns.add(conn)
        try:
            await conn.run()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            conn.close()
