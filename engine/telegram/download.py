"""A resumable, parallel download of one file through the middleware stack.

    got = await download(source.call, location_of(message.media), size, "out/photo.jpg")

Parts (engine/telegram/download_plan.py) are fetched ``parallel`` at a time with
``upload.getFile`` through the caller's middleware ``call``, so a flood wait, a dropped
connection or a lost reply costs a wait and a resend of that part only (the stack's
FloodWait / Reconnect / Timeout+Retry layers), never the file. Each part is ``pwrite``-n
at its offset into ``<dest>.part`` and fdatasynced, then recorded in ``<dest>.part.done``
(engine/telegram/download_journal.py); the next call for the same file fetches only the
parts the journal holds no record of, whatever stopped the last one (a crash, Ctrl-C, a
full disk, a refused request). Memory is ``parallel`` parts at most, whatever the size.

When every part is in: fsync, size check, then the SHA-256 in one pass over the finished
``.part``. One pass at the end, not while writing, because parts land out of order and a
resumed download holds parts an earlier process wrote: hashing as they come would need to
buffer the parts that arrive early or re-read the resumed ones anyway, while one sequential
read of a file the page cache mostly still holds runs at ~1.8 GB/s (shared/FACTS.md),
far above any download, and hashes the bytes actually on disk. Only then is ``.part``
renamed to ``<dest>``: a ``<dest>`` exists only complete and checked.

What goes wrong comes out as our exceptions, never Telethon's: ``ReferenceExpired``
(re-fetch the message for a fresh file reference and call again: the parts on disk are
kept), ``WrongDC`` (FILE_MIGRATE: the file lives on another DC; call again with that DC's call,
``Source.dc_call``, engine/telegram/download_dcs.py: the parts on disk are kept),
``SizeMismatch`` (a part came back shorter or longer than the size we were told implies:
the file is never reported done), ``DownloadFailed`` for any other refusal, the
middleware's ``TelegramFailure``s, and ``OSError`` from the disk (ENOSPC: free space, run
again; the durable parts stay).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from telethon import errors, functions, types

from engine import model as m
from engine.archive.atomic import fsync_dir
from engine.archive.manifest import sha256 as file_sha256
from engine.archive.naming import WRITING_SUFFIX
from engine.telegram.download_journal import Journal
from engine.telegram.download_plan import Part, plan
from engine.telegram.middleware import TelegramFailure

__all__ = ["PARALLEL", "PART", "DownloadFailed", "Downloaded", "ReferenceExpired", "SizeMismatch",
           "WrongDC", "download", "location_of"]

# Bytes in flight per file (PARALLEL × PART) are what a kill -9 can cost twice: fakedc
# logs a part as served when it starts sending it, and a part not yet durable is asked
# for again. The bar is 2 MiB; bench/test_media.py re-fetched 1.50 MiB with 4 × 512 KiB and
# 2.00 with 4 × 1 MiB, whose bound is 4 MiB (docs/benchmarks.md, "Media download").
# 4 × 512 KiB rather than 2 × 1 MiB: over 2 lanes (the fewest that beat the 3.5× bar under
# a per-connection cap: 5.3×, 4 lanes 9.9×) that is 2 parts per connection, so one part's
# transfer hides the other's round trip; a lone part leaves its lane idle every round
# trip. At the bench's 4 MB/s a 512 KiB part takes 131 ms against a 50 ms rtt, so two
# keep a lane busy (the bench's throughput runs used 1 MiB parts; 512 KiB ones were timed
# only in its kill run).
PARALLEL = 4
PART = 512 * 1024


class DownloadFailed(TelegramFailure):
    """Telegram refused a part of the file (exit 3, as any refusal)."""


class ReferenceExpired(DownloadFailed):
    def __init__(self, offset: int):
        super().__init__(f"the file reference expired (at offset {offset}); re-fetch the "
                         f"message for a fresh one and download again (the parts on disk "
                         f"are kept)")
        self.offset = offset


class WrongDC(DownloadFailed):
    def __init__(self, dc: int):
        super().__init__(f"the file is stored in DC {dc} (FILE_MIGRATE_{dc})")
        self.dc = dc


class SizeMismatch(DownloadFailed):
    def __init__(self, offset: int, expected: int, got: int):
        super().__init__(f"Telegram sent {got} bytes at offset {offset} where the file's "
                         f"size says {expected}: not the file we were told of")
        self.offset, self.expected, self.got = offset, expected, got


@dataclass(frozen=True)
class Downloaded:
    path: str
    size: int
    sha256: str            # hex
    parts: int             # in the whole file
    fetched: int           # parts this call fetched (the rest were on disk already)
    fetched_bytes: int


def location_of(media: m.Photo | m.Document, thumb: str = ""):
    """The ``InputFileLocation`` of a photo's largest size (or size ``thumb``) or of a
    document (or its thumbnail ``thumb``), from the model's plain fields."""
    if isinstance(media, m.Photo):
        return types.InputPhotoFileLocation(media.id, media.access_hash, media.file_reference,
                                            thumb or media.thumb_type)
    return types.InputDocumentFileLocation(media.id, media.access_hash, media.file_reference,
                                           thumb)


async def download(call, location, size: int, dest: str | os.PathLike, *, key: int | None = None,
                   part: int = PART, parallel: int = PARALLEL,
                   on_part: Callable[[int, int], None] | None = None) -> Downloaded:
    """Download ``size`` bytes at ``location`` to ``dest``, resuming ``<dest>.part``.

    ``key`` tells this file's leftovers from another's at the same ``dest`` (default: the
    location's id); ``on_part(offset, length)`` runs as each part becomes durable. A
    ``dest`` that already exists with ``size`` bytes and no ``.part`` beside it is taken
    as done: only the final rename ever creates it."""
    if parallel < 1:
        raise ValueError(f"parallel is at least 1, not {parallel}")
    parts = plan(size, part)
    dest = os.fspath(dest)
    tmp, jpath = dest + ".part", dest + WRITING_SUFFIX
    if not os.path.exists(tmp) and _size(dest) == size:
        _unlink(jpath)                # left by a crash between the rename and its removal
        return Downloaded(dest, size, await asyncio.to_thread(file_sha256, dest), len(parts), 0, 0)
    key = getattr(location, "id", 0) if key is None else key
    # no .part: whatever a journal says is on disk is not (it would seal a hole)
    journal, fresh = Journal.open(jpath, size, part, key, [p.length for p in parts],
                                  reset=not os.path.exists(tmp))
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fresh:
                os.ftruncate(fd, 0)
                fsync_dir(os.path.dirname(tmp))
            os.ftruncate(fd, size)    # sparse: parts land at their offsets in any order
            fetch = _Fetcher(call, location, fd, journal, on_part)
            await fetch.run([p for p in parts if p.index not in journal.done], parallel)
        finally:
            os.close(fd)
        if len(journal.done) != len(parts):       # no part failed, so this is a bug
            raise DownloadFailed(f"{len(parts) - len(journal.done)} parts of {dest} missing")
        digest = await asyncio.to_thread(_seal, tmp, dest, size)
    finally:
        journal.close()
    _unlink(jpath)
    return Downloaded(dest, size, digest, len(parts), fetch.fetched, fetch.fetched_bytes)


class _Fetcher:
    def __init__(self, call, location, fd: int, journal: Journal, on_part):
        self.call, self.location, self.fd = call, location, fd
        self.journal, self.on_part = journal, on_part
        self.fetched = self.fetched_bytes = 0
        self.writes: set[asyncio.Task] = set()

    async def run(self, todo: list[Part], parallel: int) -> None:
        queue = iter(todo)
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(parallel, len(todo))):
                    group.create_task(self._worker(queue))
        except BaseExceptionGroup as failed:   # the first reason, not a group, goes up
            raise _first(failed) from None
        finally:
            await self._settle()

    async def _worker(self, queue: Iterator[Part]) -> None:
        for p in queue:
            data = await self._get(p)
            write = asyncio.ensure_future(asyncio.to_thread(self._persist, p, data))
            self.writes.add(write)
            write.add_done_callback(self.writes.discard)
            del data                           # the write holds it; memory stays bounded
            await asyncio.shield(write)        # a cancelled worker leaves the write to end
            self.fetched += 1
            self.fetched_bytes += p.length
            if self.on_part is not None:
                self.on_part(p.offset, p.length)

    async def _get(self, p: Part) -> bytes:
        request = functions.upload.GetFileRequest(self.location, p.offset, p.limit)
        try:
            res = await self.call(request)
        except (errors.FileReferenceExpiredError, errors.FileReferenceInvalidError):
            raise ReferenceExpired(p.offset) from None
        except errors.FileMigrateError as exc:
            raise WrongDC(exc.new_dc) from None
        except errors.RPCError as exc:
            raise DownloadFailed(f"Telegram refused getFile at offset {p.offset}: "
                                 f"{_error_name(exc)}") from None
        if not isinstance(res, types.upload.File):   # a CDN redirect: we never allow one
            raise DownloadFailed(f"Telegram answered getFile with {type(res).__name__}")
        if len(res.bytes) != p.length:
            raise SizeMismatch(p.offset, p.length, len(res.bytes))
        return res.bytes

    def _persist(self, p: Part, data: bytes) -> None:
        """In a thread: the bytes durable first, then the record that says so."""
        view, pos = memoryview(data), 0
        while pos < len(view):
            n = os.pwrite(self.fd, view[pos:], p.offset + pos)
            if n <= 0:
                raise OSError(f"wrote nothing at offset {p.offset + pos}")
            pos += n
        os.fdatasync(self.fd)
        self.journal.add(p.index, p.length)

    async def _settle(self) -> None:
        """Wait for the writes still running in threads: the fd and the journal must
        outlive them (a closed fd's number may already name another file)."""
        cancelled = False
        while self.writes:
            try:
                await asyncio.wait(set(self.writes))
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError


def _error_name(exc: errors.RPCError) -> str:
    """Telegram's name for the error: Telethon's known errors keep only their base
    class's ``message`` (BAD_REQUEST), so FileIdInvalidError becomes FILE_ID_INVALID."""
    name = type(exc).__name__
    if type(exc).__module__.endswith("rpcerrorlist") and name.endswith("Error"):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Error")).upper()
    return exc.message


def _first(group: BaseExceptionGroup) -> BaseException:
    """The failure that stopped the download, not the siblings it cancelled."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]


def _seal(tmp: str, dest: str, size: int) -> str:
    """In a thread: fsync, size check, hash, rename (its own fd: the caller's may close)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
        got = os.fstat(fd).st_size
        if got != size:           # every part's length was checked: a bug if ever seen
            raise DownloadFailed(f"{tmp} holds {got} bytes, not {size}: not renamed")
        digest = file_sha256(tmp)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    fsync_dir(os.path.dirname(dest))
    return digest


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
