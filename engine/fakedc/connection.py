"""One client connection to the fake DC: MTProto 2.0 encryption both ways, sessions, salts,
clock checks, containers, gzip both ways, acks, pings, invoke wrappers, and each request
answered through the RPC registry (rpc.py) after the DC's fault rules, budget and latency
have had their say.  engine/fakedc/server.py accepts connections and makes one of these
for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import os
import struct
import time

from telethon.crypto import AES
from telethon.extensions import BinaryReader
from telethon.tl import TLRequest, functions, types
from telethon.tl.core import GzipPacked, MessageContainer

# the handler modules register their RPCs with rpc.py's registry when imported
from . import dcs, rpc_auth, rpc_history, rpc_members, rpc_search  # noqa: F401
from .accounts import HOME_DC, Account
from .faults import Call, Link
from .framing import Framing
from .handshake import on_plain_packet
from .keyuse import client_pid
from .rpc import RpcError, dispatch

log = logging.getLogger("engine.fakedc")

WRAPPERS = (functions.InvokeWithLayerRequest, functions.InitConnectionRequest,
            functions.InvokeWithoutUpdatesRequest, functions.InvokeWithTakeoutRequest,
            functions.InvokeAfterMsgRequest, functions.InvokeAfterMsgsRequest,
            functions.InvokeWithMessagesRangeRequest)
RPC_RESULT = 0xF35C6D01
RPC_ERROR = 0x2144CA19
GZIP_PACKED = 0x3072CFA1


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


class Connection:
    """A client's connection; ``dc`` is the FakeDC that accepted it (its accounts, rules,
    budget, network emulation and call log)."""

    def __init__(self, dc, reader, writer, conn_id: int, transport: str | None = None,
                 dc_id: int = HOME_DC):
        self.dc, self.reader, self.writer, self.id = dc, reader, writer, conn_id
        self.dc_id = dc_id                  # which of the server's DCs it reached
        self.framing = Framing(reader, writer, transport)
        self.account: Account | None = None
        self.session_id: int | None = None
        self._last_msg_id = 0
        self._seq = 0
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._link: Link | None = None      # made on first use: dc.bandwidth may change
        self.key_use = None                 # keyuse.KeyUse, from the first encrypted packet
        self._drop: asyncio.TimerHandle | None = None   # ping_delay_disconnect's deadline

    def close(self):
        if not self._closed:
            self._closed = True
            if self._drop is not None:
                self._drop.cancel()
            if self.key_use is not None:
                self.key_use.closed = time.monotonic()
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
        """Send with the emulated network: the connection's bandwidth, shared by every
        reply on it (round-trip delay is applied per request, before the handler runs)."""
        if self.dc.bandwidth:
            if self._link is None or self._link.rate != self.dc.bandwidth:
                self._link = Link(self.dc.bandwidth)
            wait = self._link.reserve(len(body))
            if wait:
                await asyncio.sleep(wait)
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
        if account is None or account.dc_id != self.dc_id:     # keys belong to one DC
            self._transport_error(-404)
            await self.writer.drain()
            return
        self.account = account
        if self.key_use is None and self.dc.keys is not None:
            self.key_use = self.dc.keys.opened(key_id, self.id, client_pid(self.writer))
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
            self._pinged(obj)
            self._send_now(types.Pong(msg_id=msg_id, ping_id=obj.ping_id)._bytes(),
                           content_related=False)
            return
        if isinstance(obj, TLRequest):
            task = asyncio.get_running_loop().create_task(self._answer(msg_id, obj))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _pinged(self, ping) -> None:
        """ping_delay_disconnect: close the connection ``disconnect_delay`` seconds from now
        unless another one comes first (a client that stops pinging, frozen say, loses its
        connection, as on Telegram). A plain ping changes nothing."""
        if not isinstance(ping, functions.PingDelayDisconnectRequest):
            return
        if self.key_use is not None and self.key_use.bounded is None:
            self.key_use.bounded = time.monotonic()
        if self._drop is not None:
            self._drop.cancel()
        self._drop = asyncio.get_running_loop().call_later(
            ping.disconnect_delay, self.close) if ping.disconnect_delay > 0 else None

    async def _answer(self, msg_id: int, request):
        while isinstance(request, WRAPPERS):
            if isinstance(request, functions.InvokeWithTakeoutRequest) \
                    and request.takeout_id not in self.dc.takeouts:
                await self._reply_error(msg_id, 400, "TAKEOUT_INVALID", type(request).__name__)
                return
            request = request.query
        if isinstance(request, (functions.PingRequest, functions.PingDelayDisconnectRequest)):
            # a ping sent as an RPC (inside invokeWithoutUpdates) still gets a plain pong
            self._pinged(request)
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
        if await self._faults(msg_id, request, method):
            return
        if self.dc.budget is not None:
            wait = self.dc.budget.take(method, account=self.account.user_id)
            if wait:
                await self._reply_error(msg_id, 420, f"FLOOD_WAIT_{wait}", method)
                return
        await self._reply(msg_id, request, method)

    async def _faults(self, msg_id: int, request, method: str) -> bool:
        """The DC's fault rules, in order; True when one of them answered the request (or
        dropped it, or the connection)."""
        location = getattr(request, "location", None)
        fid = getattr(location, "id", None)
        for rule in self.dc.rules:
            if not rule.matches(method, fid, self.account.user_id):
                continue
            if rule.kind == "expire_ref" and fid is not None:
                self.dc.corpus.expire_file_reference(fid)
            err = rule.rpc_error()
            if err:
                # a file request's log entry keeps its offset (which part was refused)
                await self._reply_error(msg_id, *err, method, request if fid else None)
                return True
            if rule.kind == "drop_before":
                self._log(method, request, "dropped before reply")
                self.close()
                return True
            if rule.kind == "no_reply":
                self._log(method, request, "no reply")
                return True
            if rule.kind in ("outage", "blackhole"):
                self._log(method, request, f"{rule.kind} {rule.seconds} s")
                self.dc.offline(rule.seconds, silent=rule.kind == "blackhole")
                return True
            if rule.kind == "bad_salt":
                self.dc.salt = struct.unpack("<q", os.urandom(8))[0]
            if rule.kind == "drop_after":
                await self._reply(msg_id, request, method)
                self.close()
                return True
        return False

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
                      "username", "id", "offset"):
                v = getattr(request, k, None)
                if v is not None and not isinstance(v, list):
                    args[k] = v
            fid = getattr(getattr(request, "location", None), "id", None)
            if fid is not None:
                args["file"] = fid
        self.dc.log(Call(method, args, time.monotonic(), outcome, self.id, self.dc_id))
