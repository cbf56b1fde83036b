"""MTProto transport framing on one TCP connection: full (length, seq, CRC32), intermediate,
padded intermediate and abridged, told apart by the client's first bytes (or given: an
MTProxy header's tag names it).  engine/fakedc/connection.py reads and writes through it.
"""

from __future__ import annotations

import struct
from zlib import crc32


class Framing:
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
