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
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import ipaddress
import itertools
import logging
import os
import struct
import threading
import time
from zlib import crc32

from telethon.crypto import AES, AuthKey
from telethon.extensions import BinaryReader
from telethon.sessions import StringSession
from telethon.tl import TLRequest, functions, types
from telethon.tl.core import GzipPacked, MessageContainer

from . import keys, rpc_auth  # rpc_auth also registers the login RPCs
from .accounts import Account
from .corpus import Corpus
from .faults import Budget, Call, Rule
from .handshake import on_plain_packet
from .proxies import MTProxyRefused, accept_obfuscated2
from .rpc import RpcError, dispatch
from .serving import Served

log = logging.getLogger("engine.fakedc")

DC_ID = 2
WRAPPERS = (functions.InvokeWithLayerRequest, functions.InitConnectionRequest,
            functions.InvokeWithoutUpdatesRequest, functions.InvokeWithTakeoutRequest,
            functions.InvokeAfterMsgRequest, functions.InvokeAfterMsgsRequest,
            functions.InvokeWithMessagesRangeRequest)
RPC_RESULT = 0xF35C6D01
RPC_ERROR = 0x2144CA19
GZIP_PACKED = 0x3072CFA1


def require_loopback(host: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"fakedc only listens on loopback, not {host}")
    return host


def _calc_key(auth_key: bytes, msg_key: bytes, client: bool):
    x = 0 if client else 8
    a = hashlib.sha256(msg_key + auth_key[x : x + 36]).digest()
    b = hashlib.sha256(auth_key[x + 40 : x + 76] + msg_key).digest()
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


def _tl_bytes(data: bytes) -> bytes:
    """TL serialization of a `bytes` value."""
    n = len(data)
    head = bytes([n]) if n < 254 else b"\xfe" + n.to_bytes(3, "little")
    return head + data + b"\0" * (-(len(head) + n) % 4)


def _serialize(result) -> bytes:
    if isinstance(result, bytes):
        return result
    if isinstance(result, list):   # Vector<T>
        return struct.pack("<Ii", 0x1CB5C415, len(result)) + b"".join(
            _serialize(x) for x in result)
    return result._bytes()


class FakeDC(Served):
    """The server.  ``start()``/``stop()`` inside a loop, or ``async with``,
    or ``run_in_thread()`` for synchronous callers (CLI tests, the demo)."""

    def __init__(self, corpus: Corpus | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 rules: list[Rule] | None = None, budget: Budget | None = None,
                 rtt_ms: float = 0.0, bandwidth: float | None = None,
                 gzip_min_bytes: int | None = None, mtproxy_secret: bytes | None = None):
        self.corpus = corpus or Corpus()
        self.host = require_loopback(host)
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
        self.takeouts: set[int] = set()
        self.pages: dict[tuple, tuple[bytes, int]] = {}   # prefetched history pages
        self.prefetch_hits = 0
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[_Connection] = set()
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
        return await super().start()

    async def stop(self) -> None:
        self._stopped = True
        if self._back is not None:
            self._back.cancel()
        if self._relisten is not None:
            with contextlib.suppress(Exception):
                await self._relisten
        await super().stop()

    def _drop_connections(self) -> None:
        for conn in list(self._conns):
            conn.close()

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

    def new_session(self, user_id: int | None = None, bot: bool = False) -> str:
        """A Telethon StringSession already authorized as ``user_id`` (default:
        the corpus's own account) — the fast way in, no key exchange."""
        key = os.urandom(256)
        account = Account(key, user_id or self.corpus.ME, bot=bot)
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
        conn = _Connection(self, reader, writer, next(self._conn_ids), transport)
        self._conns.add(conn)
        try:
            await conn.run()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            conn.close()


class _Framing:
    """Transport framing, chosen by the client's first bytes (or given: MTProxy's tag)."""

    def __init__(self, reader, writer, mode: str | None = None):
        self.reader, self.writer = reader, writer
        self.mode = mode
        self._send_seq = 0
        self._recv_seq = 0
        self._pending = b""

    async def detect(self):
        if self.mode is not None:
            return
        first = await self.reader.readexactly(1)
        if first == b"\xef":
            self.mode = "abridged"
            return
        rest = await self.reader.readexactly(3)
        four = first + rest
        if four == b"\xee" * 4:
            self.mode = "intermediate"
        elif four == b"\xdd" * 4:
            self.mode = "padded"
        else:
            self.mode = "full"
            self._pending = four

    async def read(self) -> bytes:
        r = self.reader
        if self.mode == "full":
            head = self._pending or await r.readexactly(4)
            self._pending = b""
            length = struct.unpack("<i", head)[0]
            rest = await r.readexactly(length - 4)
            seq = struct.unpack("<i", rest[:4])[0]
            body, crc = rest[4:-4], struct.unpack("<I", rest[-4:])[0]
            if crc != crc32(head + rest[:-4]) or seq != self._recv_seq:
                raise ConnectionError("bad crc or seq in full transport")
            self._recv_seq += 1
            return body
        if self.mode == "abridged":
            n = (await r.readexactly(1))[0]
            if n >= 127:
                n = int.from_bytes(await r.readexactly(3), "little")
            return await r.readexactly(n * 4)
        n = struct.unpack("<i", await r.readexactly(4))[0]
        data = await r.readexactly(n)
        return data[: len(data) - len(data) % 4] if self.mode == "padded" else data

    def frame(self, data: bytes) -> bytes:
        if self.mode == "full":
            head = struct.pack("<ii", len(data) + 12, self._send_seq)
            self._send_seq += 1
            return head + data + struct.pack("<I", crc32(head + data))
        if self.mode == "abridged":
            n = len(data) // 4
            return (bytes([n]) if n < 127 else b"\x7f" + n.to_bytes(3, "little")) + data
        return struct.pack("<i", len(data)) + data


class _Connection:
    def __init__(self, dc: FakeDC, reader, writer, conn_id: int, transport: str | None = None):
        self.dc, self.reader, self.writer, self.id = dc, reader, writer, conn_id
        self.framing = _Framing(reader, writer, transport)
        self.account: Account | None = None
        self.session_id: int | None = None
        self._last_msg_id = 0
        self._seq = 0
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    def close(self):
        if not self._closed:
            self._closed = True
            for t in self._tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                self.writer.close()

    async def run(self):
        await self.framing.detect()
        while not self._closed:
            packet = await self.framing.read()
            if not self.dc.silent:              # a silent outage: lost on the way
                await self._on_packet(packet)

    # ---- sending ----------------------------------------------------------------------
    def _msg_id(self, response: bool) -> int:
        now = time.time()
        mid = (int(now) << 32) | ((int((now % 1) * 2**32)) & ~3)
        mid = max(mid, self._last_msg_id + 4) & ~3
        mid |= 1 if response else 3
        self._last_msg_id = mid
        return mid

    def _send_now(self, body: bytes, content_related: bool = True, response: bool = True):
        if self._closed or self.account is None or self.dc.silent:
            return
        seq = self._seq * 2 + 1 if content_related else self._seq * 2
        if content_related:
            self._seq += 1
        data = struct.pack("<qqqii", self.dc.salt, self.session_id or 0,
                           self._msg_id(response), seq, len(body)) + body
        data += os.urandom(-(len(data) + 12) % 16 + 12)
        key = self.account.key
        msg_key = hashlib.sha256(key[96:128] + data).digest()[8:24]
        aes_key, aes_iv = _calc_key(key, msg_key, client=False)
        packet = (struct.pack("<Q", self.account.key_id) + msg_key
                  + AES.encrypt_ige(data, aes_key, aes_iv))
        self.writer.write(self.framing.frame(packet))

    async def _send(self, body: bytes, content_related: bool = True):
        """Send with the emulated network: bandwidth cap (round-trip delay is
        applied per request, before the handler runs)."""
        if self.dc.bandwidth:
            await asyncio.sleep(len(body) / self.dc.bandwidth)
        self._send_now(body, content_related)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def _transport_error(self, code: int):
        self.writer.write(self.framing.frame(struct.pack("<i", code)))

    # ---- receiving ---------------------------------------------------------------------
    async def _on_packet(self, packet: bytes):
        key_id = struct.unpack("<Q", packet[:8])[0]
        if key_id == 0:
            on_plain_packet(self, packet)      # unencrypted: only the key exchange
            return
        account = self.dc.accounts.get(key_id)
        if account is None:
            self._transport_error(-404)
            await self.writer.drain()
            return
        self.account = account
        msg_key = packet[8:24]
        aes_key, aes_iv = _calc_key(account.key, msg_key, client=True)
        plain = AES.decrypt_ige(packet[24:], aes_key, aes_iv)
        if hashlib.sha256(account.key[88:120] + plain).digest()[8:24] != msg_key:
            raise ConnectionError("msg_key mismatch")
        salt, session_id, msg_id, seq_no, length = struct.unpack("<qqqii", plain[:32])
        body = plain[32 : 32 + length]
        if session_id != self.session_id:
            self.session_id = session_id
            self._seq = 0
            self._send_now(types.NewSessionCreated(
                first_msg_id=msg_id, unique_id=struct.unpack("<q", os.urandom(8))[0],
                server_salt=self.dc.salt)._bytes(), content_related=False, response=False)
        skew = (msg_id >> 32) - time.time()
        if skew > 30 or skew < -300:
            self._send_now(types.BadMsgNotification(
                bad_msg_id=msg_id, bad_msg_seqno=seq_no, error_code=17 if skew > 0 else 16,
            )._bytes(), content_related=False)
            return
        if salt != self.dc.salt:
            self._send_now(types.BadServerSalt(
                bad_msg_id=msg_id, bad_msg_seqno=seq_no, error_code=48,
                new_server_salt=self.dc.salt)._bytes(), content_related=False)
            return
        obj = BinaryReader(body).tgread_object()
        await self._on_message(msg_id, obj)

    async def _on_message(self, msg_id: int, obj):
        if isinstance(obj, MessageContainer):
            for inner in obj.messages:
                await self._on_message(inner.msg_id, inner.obj)
            return
        if isinstance(obj, GzipPacked):
            await self._on_message(msg_id, BinaryReader(obj.data).tgread_object())
            return
        if isinstance(obj, types.MsgsAck):
            return
        if isinstance(obj, (functions.PingRequest, functions.PingDelayDisconnectRequest)):
            self._send_now(types.Pong(msg_id=msg_id, ping_id=obj.ping_id)._bytes(),
                           content_related=False)
            return
        if isinstance(obj, TLRequest):
            task = asyncio.get_running_loop().create_task(self._answer(msg_id, obj))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg_id: int, request):
        while isinstance(request, WRAPPERS):
            if isinstance(request, functions.InvokeWithTakeoutRequest) \
                    and request.takeout_id not in self.dc.takeouts:
                await self._reply_error(msg_id, 400, "TAKEOUT_INVALID", type(request).__name__)
                return
            request = request.query
        if isinstance(request, (functions.PingRequest, functions.PingDelayDisconnectRequest)):
            # a ping sent as an RPC (inside invokeWithoutUpdates) still gets a plain pong
            self._send_now(types.Pong(msg_id=msg_id, ping_id=request.ping_id)._bytes(),
                           content_related=False)
            return
        method = type(request).__name__
        if self.dc.rtt:
            await asyncio.sleep(self.dc.rtt)
        if self.account.revoked:
            await self._reply_error(msg_id, 401, "AUTH_KEY_UNREGISTERED", method)
            return
        if self.account.user_id is None and not rpc_auth.allowed_without_login(request):
            await self._reply_error(msg_id, 401, "AUTH_KEY_UNREGISTERED", method)
            return
        for rule in self.dc.rules:
            if not rule.matches(method):
                continue
            err = rule.rpc_error()
            if err:
                await self._reply_error(msg_id, *err, method)
                return
            if rule.kind == "drop_before":
                self._log(method, request, "dropped before reply")
                self.close()
                return
            if rule.kind == "no_reply":
                self._log(method, request, "no reply")
                return
            if rule.kind in ("outage", "blackhole"):
                self._log(method, request, f"{rule.kind} {rule.seconds} s")
                self.dc.offline(rule.seconds, silent=rule.kind == "blackhole")
                return
            if rule.kind == "bad_salt":
                self.dc.salt = struct.unpack("<q", os.urandom(8))[0]
            if rule.kind == "drop_after":
                await self._reply(msg_id, request, method)
                self.close()
                return
        if self.dc.budget is not None:
            wait = self.dc.budget.take(method)
            if wait:
                await self._reply_error(msg_id, 420, f"FLOOD_WAIT_{wait}", method)
                return
        await self._reply(msg_id, request, method)

    async def _reply(self, msg_id: int, request, method: str):
        try:
            body = _serialize(dispatch(self.dc, self, request))
        except RpcError as exc:
            await self._reply_error(msg_id, exc.code, exc.message, method, request)
            return
        except Exception as exc:     # a handler bug must still answer, or Telethon resends forever
            log.exception("fakedc: %s failed", method)
            await self._reply_error(msg_id, 500, f"FAKEDC_{type(exc).__name__.upper()}",
                                    method, request)
            return
        if self.dc.gzip_min_bytes is not None and len(body) >= self.dc.gzip_min_bytes:
            body = struct.pack("<I", GZIP_PACKED) + _tl_bytes(gzip.compress(body, 1))
        self._log(method, request, "ok")
        await self._send(struct.pack("<Iq", RPC_RESULT, msg_id) + body)

    async def _reply_error(self, msg_id: int, code: int, message: str, method: str,
                           request=None):
        self._log(method, request, f"rpc_error {code} {message}")
        await self._send(struct.pack("<IqIi", RPC_RESULT, msg_id, RPC_ERROR, code)
                         + _tl_bytes(message.encode()))

    def _log(self, method: str, request, outcome: str):
        args = {}
        if request is not None:
            for k in ("offset_id", "add_offset", "limit", "min_id", "max_id", "offset_date",
                      "username", "id"):
                v = getattr(request, k, None)
                if v is not None and not isinstance(v, list):
                    args[k] = v
        self.dc.log(Call(method, args, time.monotonic(), outcome, self.id))
