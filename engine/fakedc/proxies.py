"""Loopback proxies for tests: real servers over real sockets, so a test proves that
tgarc's traffic went through a proxy by counting what the proxy carried.

    with Socks5Proxy(username="u", password="p").run_in_thread() as proxy:
        ...  # tgarc --proxy socks5://u:p@127.0.0.1:{proxy.port}
        assert proxy.tunnels >= 1 and proxy.bytes_up > 0

- ``Socks5Proxy``: RFC 1928 CONNECT only, no auth or RFC 1929 user/password.
- ``HttpConnectProxy``: an HTTP proxy's CONNECT, optional Basic auth (407 without it).
- MTProxy is not here as a forwarder: ``FakeDC(mtproxy_secret=...)`` is itself the
  MTProxy (obfuscated2 with a secret); ``accept_obfuscated2`` below is its server side.

Both proxies listen on 127.0.0.1 only and connect on to loopback addresses only (an IP
literal: they resolve no names); anything else is refused with the protocol's own "not
allowed" answer and counted in ``refused``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import ipaddress
import struct

from telethon.crypto import AESModeCTR

from .serving import Served


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Proxy(Served):
    """What both proxies share: the listener, the relay and the counters (ints written
    by the proxy's loop, read by the test's thread)."""

    label = "proxy"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 username: str | None = None, password: str | None = None):
        if not _loopback(host):
            raise ValueError(f"test proxies only listen on loopback, not {host}")
        self.host, self._port = host, port
        self.username, self.password = username, password
        self.connections = 0         # TCP connections accepted
        self.tunnels = 0             # CONNECTs relayed to their target
        self.auth_failures = 0       # wrong or missing credentials
        self.refused = 0             # a target that is not loopback, or a bad request
        self.bytes_up = 0            # client -> target, relayed
        self.bytes_down = 0          # target -> client, relayed
        self.targets: list[tuple[str, int]] = []
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    def _drop_connections(self) -> None:
        for t in list(self._tasks):
            t.cancel()

    async def _on_connection(self, reader, writer):
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError,
                ValueError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, reader, writer) -> None:
        raise NotImplementedError

    async def _open(self, host: str, port: int):
        """The onward connection (None: refused or failed; the caller answers)."""
        if not _loopback(host):
            self.refused += 1
            return None
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError):
            return None

    async def _relay(self, client, target, host: str, port: int) -> None:
        self.tunnels += 1
        self.targets.append((host, port))
        (c_reader, c_writer), (t_reader, t_writer) = client, target

        async def pump(reader, writer, up: bool):
            try:
                while data := await reader.read(65536):
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        try:
            await asyncio.gather(pump(c_reader, t_writer, True), pump(t_reader, c_writer, False))
        finally:
            t_writer.close()


class Socks5Proxy(_Proxy):
    """SOCKS5 CONNECT; with ``username``/``password`` only RFC 1929 auth is accepted."""

    label = "socks5-proxy"

    async def _handle(self, reader, writer) -> None:
        ver, n = await reader.readexactly(2)
        methods = await reader.readexactly(n)
        if ver != 5:
            self.refused += 1
            return
        want = 2 if self.username is not None else 0
        if want not in methods:
            if want == 2:
                self.auth_failures += 1
            writer.write(b"\x05\xff")                 # no acceptable method
            await writer.drain()
            return
        writer.write(bytes([5, want]))
        if want == 2:
            _v, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            plen = (await reader.readexactly(1))[0]
            password = await reader.readexactly(plen)
            if (user, password) != (self.username.encode(), self.password.encode()):
                self.auth_failures += 1
                writer.write(b"\x01\x01")
                await writer.drain()
                return
            writer.write(b"\x01\x00")
        ver, cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode(
                "ascii", "replace")
        else:
            self.refused += 1
            await self._reply(writer, 8)              # address type not supported
            return
        port = struct.unpack(">H", await reader.readexactly(2))[0]
        if cmd != 1:
            self.refused += 1
            await self._reply(writer, 7)              # command not supported
            return
        if not _loopback(host):
            self.refused += 1
            await self._reply(writer, 2)              # not allowed by ruleset
            return
        target = await self._open(host, port)
        if target is None:
            await self._reply(writer, 5)              # connection refused
            return
        await self._reply(writer, 0)
        await self._relay((reader, writer), target, host, port)

    @staticmethod
    async def _reply(writer, code: int) -> None:
        writer.write(bytes([5, code, 0, 1]) + bytes(4) + b"\0\0")
        await writer.drain()


class HttpConnectProxy(_Proxy):
    """``CONNECT host:port HTTP/1.1``; with ``username``/``password`` it wants
    ``Proxy-Authorization: Basic ...`` (407 without it or with a wrong one)."""

    label = "http-proxy"

    async def _handle(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > 16384:
            self.refused += 1
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            self.refused += 1
            await self._status(writer, 405, "Method Not Allowed")
            return
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if self.username is not None and not self._authorized(
                headers.get("proxy-authorization", "")):
            self.auth_failures += 1
            await self._status(writer, 407, "Proxy Authentication Required",
                               'Proxy-Authenticate: Basic realm="fakedc"\r\n')
            return
        host, _, port_text = parts[1].rpartition(":")
        host = host.strip("[]")
        if not port_text.isdigit() or not _loopback(host):
            self.refused += 1
            await self._status(writer, 403, "Forbidden")
            return
        target = await self._open(host, int(port_text))
        if target is None:
            await self._status(writer, 502, "Bad Gateway")
            return
        await self._status(writer, 200, "Connection established")
        await self._relay((reader, writer), target, host, int(port_text))

    def _authorized(self, value: str) -> bool:
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            got = base64.b64decode(token.strip(), validate=True).decode("latin-1")
        except (binascii.Error, ValueError):
            return False
        return got == f"{self.username}:{self.password}"

    @staticmethod
    async def _status(writer, code: int, reason: str, extra: str = "") -> None:
        writer.write(f"HTTP/1.1 {code} {reason}\r\n{extra}Content-Length: 0\r\n\r\n"
                     .encode("latin-1"))
        await writer.drain()


# ---- MTProxy: obfuscated2 with a secret, the server side ---------------------------------------
TAGS = {b"\xef" * 4: "abridged", b"\xee" * 4: "intermediate", b"\xdd" * 4: "padded"}


class MTProxyRefused(Exception):
    """The first 64 bytes are not an obfuscated2 header under this secret."""


def mtproxy_ciphers(header: bytes, secret: bytes) -> tuple[AESModeCTR, AESModeCTR]:
    """(decrypts what the client sends, encrypts what goes back) for a client's 64-byte
    header: the client encrypts with key sha256(header[8:40] + secret), iv header[40:56];
    the way back uses the same from the header's bytes 8..55 reversed."""
    back = header[8:56][::-1]
    incoming = AESModeCTR(hashlib.sha256(header[8:40] + secret).digest(), header[40:56])
    outgoing = AESModeCTR(hashlib.sha256(back[:32] + secret).digest(), back[32:48])
    return incoming, outgoing


class _DecryptingReader:
    def __init__(self, reader, cipher: AESModeCTR):
        self._reader, self._cipher = reader, cipher

    async def readexactly(self, n: int) -> bytes:
        return self._cipher.decrypt(await self._reader.readexactly(n))


class _EncryptingWriter:
    """A StreamWriter whose writes are encrypted, in order (CTR keeps a position)."""

    def __init__(self, writer, cipher: AESModeCTR):
        self._writer, self._cipher = writer, cipher

    def write(self, data: bytes) -> None:
        self._writer.write(self._cipher.encrypt(bytes(data)))

    def __getattr__(self, name):            # drain, close, is_closing, get_extra_info...
        return getattr(self._writer, name)


async def accept_obfuscated2(reader, writer, secret: bytes):
    """Read a client's 64-byte obfuscated2 header under ``secret`` (16 bytes; 17 with a
    leading 0xdd: the padded transport only, like MTProxy's secure mode). Returns
    (reader, writer, transport, dc_id) that decrypt and encrypt the rest of the stream,
    or raises MTProxyRefused (a wrong secret decrypts to a tag that is none of ours)."""
    padded_only = len(secret) == 17 and secret[0] == 0xDD
    key = secret[1:] if padded_only else secret
    if len(key) != 16:
        raise ValueError("an MTProxy secret is 16 bytes (17 with a leading 0xdd)")
    header = await reader.readexactly(64)
    incoming, outgoing = mtproxy_ciphers(header, key)
    plain = incoming.decrypt(header)          # also moves the stream's CTR past the header
    transport = TAGS.get(plain[56:60])
    if transport is None:
        raise MTProxyRefused("unknown transport tag (a wrong secret?)")
    if padded_only and transport != "padded":
        raise MTProxyRefused(f"a dd secret takes the padded transport only, not {transport}")
    dc_id = int.from_bytes(plain[60:62], "little", signed=True)
    return (_DecryptingReader(reader, incoming), _EncryptingWriter(writer, outgoing),
            transport, dc_id)
