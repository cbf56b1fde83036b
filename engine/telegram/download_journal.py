"""The durable record of which parts of a download are on disk: ``<dest>.part.done``.

A header names what is being downloaded (size, part size, the caller's key for the file)
and then one 16-byte record per part that is on disk, appended and fsynced only after the
part's bytes were fdatasynced into ``<dest>.part``. So a record never promises bytes the
disk does not hold, whatever moment a crash, Ctrl-C or full disk strikes. Each record
carries a CRC of itself: a record torn by a crash mid-append is cut off on the next open
instead of being believed. A header that names another file (other size, part size or key)
means the old ``.part`` is worthless: the journal is reset *before* the ``.part`` is
truncated, so the reverse order can never leave records pointing at zeroed bytes.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib

from engine.archive.atomic import fsync_dir

MAGIC = b"TGDLv1\0\0"
HEADER = struct.Struct("<8sQQq")         # magic, file size, part size, key
RECORD = struct.Struct("<QII")           # part index, its length, crc32 of the first 12 bytes


def _record(index: int, length: int) -> bytes:
    head = struct.pack("<QI", index, length)
    return head + struct.pack("<I", zlib.crc32(head))


class Journal:
    """Open with ``Journal.open(path, size, part, key, lengths)``; ``done`` is the set of
    part indexes on disk (their lengths checked against ``lengths``, the plan's)."""

    def __init__(self, fd: int, done: set[int]):
        self.fd, self.done = fd, done
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str, size: int, part: int, key: int, lengths: list[int],
             reset: bool = False) -> tuple[Journal, bool]:
        """The journal and whether it starts empty (the ``.part`` must then be reset);
        ``reset``: start empty whatever it holds."""
        header = HEADER.pack(MAGIC, size, part, key)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            data = os.pread(fd, os.fstat(fd).st_size, 0)
            if reset or data[:HEADER.size] != header:
                os.ftruncate(fd, 0)
                os.write(fd, header)
                os.fsync(fd)
                fsync_dir(os.path.dirname(path))
                return cls(fd, set()), True
            done, end = cls._read(data, lengths)
            if end != len(data):
                os.ftruncate(fd, end)          # a torn tail: later appends go after `end`
                os.fsync(fd)
            return cls(fd, done), False
        except BaseException:
            os.close(fd)
            raise

    @staticmethod
    def _read(data: bytes, lengths: list[int]) -> tuple[set[int], int]:
        done, pos = set(), HEADER.size
        while pos + RECORD.size <= len(data):
            index, length, crc = RECORD.unpack_from(data, pos)
            if crc != zlib.crc32(data[pos:pos + 12]):
                break
            if index < len(lengths) and lengths[index] == length:
                done.add(index)
            pos += RECORD.size
        return done, pos

    def add(self, index: int, length: int) -> None:
        """Record a part whose bytes are already durable (blocking: call from a thread)."""
        with self._lock:                       # parts finish in several threads at once
            os.write(self.fd, _record(index, length))      # O_APPEND: after the last one
            os.fsync(self.fd)
            self.done.add(index)

    def close(self) -> None:
        os.close(self.fd)
