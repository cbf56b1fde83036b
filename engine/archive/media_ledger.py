"""One chat's media ledger, ``state/media.ledger``: every Telegram file its messages carry.

An entry is keyed by the Telegram file (``kind`` + ``id``), not by the message: the same
file in several messages is one entry, downloaded once, and every message points at its
path, as Telegram Desktop's ``LoadedFileCache`` does. A contact's vCard has no file id; it
is keyed by its message id. An entry keeps its status (``pending``, ``done``, ``failed``,
``skipped`` with one of ``SKIP_REASONS``), the number N its generated name carries (taken
at first sight and never changed), its relative path and thumbnail path, size, sha256,
attempts and last error. The ledger also keeps the chat's name counters
(engine/media/names.py ``Counters``) and the message ids whose numbers were already
taken (``counted``), so that numbering a page twice (a crash before the checkpoint, a
re-run) takes no number twice.

The file is a journal, so a million entries cost an append each rather than a rewrite:

    b"TGARCML1"  then records: <len u32> <crc32 u32> <flags u8> <kind u8> <id i64> <msgpack>

The crc32 covers everything after itself. Records are written in groups; the last record
of a group carries ``COMMIT`` and a group counts only once it is whole, so numbering a
page (its new entries and the counters after it) is all-or-nothing. A group is durable
once ``fsync`` returns; a group that numbers nothing (a page without files: ids counted,
no entry) is written without one, since losing it costs only counting those ids again.
Opening cuts off a torn tail (a crash mid-append) like a journal replay; damage *before*
the tail (bit rot) also cuts there, but the whole file is first kept beside it as
``media.ledger.damaged-<stamp>``, because what follows is lost to this ledger and
``engine/media/ledger_rebuild.py`` rebuilds it from the files on disk.

Memory: the index maps each key to one int (the record's offset and length); an entry is
read back with ``pread`` when asked for. When the log grows past twice its live records,
opening compacts it (``write_atomic``: the old log or the new one, never half).

Every writer holds the chat's lock (``ChatLock``, as ChatStore does).
"""

from __future__ import annotations

import datetime as dt
import mmap
import os
import shutil
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
from msgspec import Struct

from engine.archive import layout
from engine.archive.atomic import write_atomic
from engine.archive.lock import ChatLock
from engine.archive.ranges import IdRanges

MAGIC = b"TGARCML1"
_HEAD = struct.Struct("<IIBBq")         # payload length, crc32, flags, kind code, id
ENTRY, STATE, COMMIT = 1, 2, 0x80
_LEN_BITS = 24                          # the index packs offset << 24 | record length
_LEN_MASK = (1 << _LEN_BITS) - 1
_SLACK = 1 << 20                        # a small log is never worth compacting
_ERROR_CHARS = 2000

PENDING, DONE, FAILED, SKIPPED = "pending", "done", "failed", "skipped"
#: why a file was not downloaded, by Telegram Desktop's skip strings (MEDIA_NOTES 3.4)
NOT_INCLUDED = "not_included"           # FileType: the --media filter leaves its kind out
TOO_LARGE = "too_large"                 # FileSize: larger than --max-media-size
UNAVAILABLE = "unavailable"             # Unavailable: no location (ttl media, errors)
SKIP_REASONS = (NOT_INCLUDED, TOO_LARGE, UNAVAILABLE)

KINDS = ("photo", "document", "contact")
_CODE = {k: i for i, k in enumerate(KINDS)}


class NotALedger(Exception):
    """``state/media.ledger`` does not even start as one (exit code 4 where it stops a
    command; the export sets it aside and begins a new one: engine/supervisor/media.py)."""

    def __init__(self, path: Path):
        super().__init__(f"{path} is not a tgarc media ledger; the next `tgarc export` of "
                         f"the chat sets it aside and rebuilds it from the files on disk")
        self.path = path


def file_key(kind: str, file_id: int) -> int:
    """An entry's key as one int (kind in the low bits): a tuple would cost 56 more
    bytes for each of a million entries."""
    return file_id * 4 + _CODE[kind]


class Entry(Struct, array_like=True, gc=False, omit_defaults=True):
    kind: str                 # photo | document | contact (the key, with id)
    id: int                   # the file's id; a contact's message id
    counter: str = ""         # names.Counters kind numbering its name; "" for none
    n: int = 0                # its number in that counter (0: its name has none)
    msg_id: int = 0           # the first message it was seen in
    status: str = PENDING
    reason: str = ""          # one of SKIP_REASONS when skipped
    path: str = ""            # relative to the chat folder
    thumb: str = ""
    size: int = 0
    sha256: str = ""          # hex
    attempts: int = 0
    error: str = ""           # the last failure; for a done file, why it does not probe
    probe: bytes = b""        # msgpack map of its engine.media.probe.Probe (probed kinds)
    copy: bytes = b""         # msgpack map: its compact copy (supervisor/media_transcode.py)

    @property
    def key(self) -> int:
        return file_key(self.kind, self.id)


class _State(Struct, array_like=True, gc=False):
    counters: dict[str, int]          # the counters after this group
    counted: list[tuple[int, int]]    # ids numbered by this group (compaction: all of them)


_ENC = msgspec.msgpack.Encoder()
_ENTRY = msgspec.msgpack.Decoder(Entry)
_STATE_DEC = msgspec.msgpack.Decoder(_State)


def _frame(flags: int, code: int, ident: int, payload: bytes) -> bytes:
    rest = _HEAD.pack(len(payload), 0, flags, code, ident)[8:]
    crc = zlib.crc32(payload, zlib.crc32(rest))
    return _HEAD.pack(len(payload), crc, flags, code, ident) + payload


def _entry_frame(e: Entry) -> bytes:
    return _frame(ENTRY, _CODE[e.kind], e.id, _ENC.encode(e))


class Ledger:
    """``Ledger.open(chat folder)``; ``close()`` (or ``with``) lets other runs write it."""

    def __init__(self, path: Path, lock: ChatLock | None):
        self.path = path
        self.counters: dict[str, int] = {}
        self.counted = IdRanges()
        self.notices: list[str] = []      # what opening found and did (one line each)
        self.damaged = False              # opening cut damaged records off
        self._index: dict[int, int] = {}
        self._live = 0                    # bytes of the live entry records
        self._size = 0                    # bytes of the log
        self._fd = -1
        self._lock = lock
        self._mutex = threading.Lock()    # put() from the planner's thread and the loop's

    # ---- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, compact: bool = True) -> Ledger:
        lock = ChatLock.acquire(root)
        try:
            ledger = cls(root / layout.STATE / layout.MEDIA_LEDGER, lock)
            ledger._load()
            if compact and ledger._size > 2 * ledger._live + _SLACK:
                ledger.compact()
        except BaseException:
            lock.release()
            raise
        return ledger

    def _load(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            head = self.path.read_bytes()[:len(MAGIC)] if self.path.stat().st_size \
                < len(MAGIC) else MAGIC
        except FileNotFoundError:
            head = b""
        if len(head) < len(MAGIC) and MAGIC.startswith(head):   # new, or torn at birth
            write_atomic(self.path, MAGIC)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        size = os.fstat(self._fd).st_size
        with mmap.mmap(self._fd, size, access=mmap.ACCESS_READ) as mm:
            if mm[:len(MAGIC)] != MAGIC:
                os.close(self._fd)
                self._fd = -1
                raise NotALedger(self.path)
            good, why = self._replay(mm, size)
        self._size = good
        if good < size:
            self._cut(good, size, why)

    def _replay(self, mm: mmap.mmap, size: int) -> tuple[int, str]:
        """Rebuild the index from the log; returns the end of the last whole group and,
        if it is not the end of the file, why not."""
        view = memoryview(mm)
        try:
            pos = good = len(MAGIC)
            group: list[tuple[int, int]] = []
            states: list[int] = []
            while pos < size:
                if pos + _HEAD.size > size:
                    return good, "torn"
                length, crc, flags, code, ident = _HEAD.unpack_from(mm, pos)
                end = pos + _HEAD.size + length
                if end > size:      # a crash mid-append, unless no record is that long
                    return good, "torn" if end - pos <= _LEN_MASK else "damaged"
                if zlib.crc32(view[pos + 8:end]) != crc or code >= len(KINDS):
                    return good, "torn" if end == size else "damaged"
                kind = flags & ~COMMIT
                if kind == ENTRY:
                    group.append((ident * 4 + code, pos << _LEN_BITS | (end - pos)))
                elif kind == STATE:
                    states.append(pos)
                if flags & COMMIT:
                    self._apply(group, states, view)
                    group, states, good = [], [], end
                pos = end
            return good, ("torn" if good < size else "")
        finally:
            view.release()

    def _apply(self, group: list[tuple[int, int]], states: list[int], view) -> None:
        index = self._index
        for key, packed in group:
            old = index.get(key)
            if old is not None:
                self._live -= old & _LEN_MASK
            index[key] = packed
            self._live += packed & _LEN_MASK
        for pos in states:
            length = _HEAD.unpack_from(view, pos)[0]
            st = _STATE_DEC.decode(view[pos + _HEAD.size:pos + _HEAD.size + length])
            self.counters = dict(st.counters)
            for lo, hi in st.counted:
                self.counted.add(lo, hi)

    def _cut(self, good: int, size: int, why: str) -> None:
        name = self.path.name
        if why == "damaged":
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = self.path.with_name(f"{name}.damaged-{stamp}")
            shutil.copyfile(self.path, aside)
            self.damaged = True
            self.notices.append(f"state/{name} is damaged at byte {good}; kept as "
                                f"state/{aside.name}, cut to the {len(self)} entries before it "
                                f"(the media files on disk rebuild the rest)")
        else:
            self.notices.append(f"state/{name}: an unfinished write of {size - good} bytes "
                                f"was cut off")
        os.ftruncate(self._fd, good)
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: int) -> bool:
        return key in self._index

    def get(self, key: int) -> Entry | None:
        packed = self._index.get(key)
        if packed is None:
            return None
        data = os.pread(self._fd, packed & _LEN_MASK, packed >> _LEN_BITS)
        return _ENTRY.decode(memoryview(data)[_HEAD.size:])

    def entries(self) -> Iterator[Entry]:
        """Every entry, in the log's order (one pread each: fine for a report, not a loop
        inside a loop)."""
        for packed in sorted(self._index.values()):
            data = os.pread(self._fd, packed & _LEN_MASK, packed >> _LEN_BITS)
            yield _ENTRY.decode(memoryview(data)[_HEAD.size:])

    def tally(self) -> dict[str, int]:
        """How many entries have each status."""
        out: dict[str, int] = {}
        for e in self.entries():
            out[e.status] = out.get(e.status, 0) + 1
        return out

    @property
    def log_bytes(self) -> int:
        return self._size

    # ---- writing ------------------------------------------------------------------------------
    def put(self, entries: Iterable[Entry], counters: dict[str, int] | None = None,
            counted: tuple[int, int] | None = None, durable: bool = True) -> None:
        """Append ``entries`` (each replaces the entry with its key) and, if given, the
        counters after them and the ids they number, as one group: durable when this
        returns (unless ``durable`` is False: not fsynced, for a group that only counts
        ids without files, which a crash may lose and the next run counts again), all or
        nothing after a crash."""
        records = [(ENTRY, _CODE[e.kind], e.id, _ENC.encode(e)) for e in entries]
        if counters is not None or counted is not None:
            state = _State(dict(self.counters if counters is None else counters),
                           [counted] if counted else [])
            records.append((STATE, 0, 0, _ENC.encode(state)))
        if not records:
            return
        last = len(records) - 1
        frames = [_frame(flags | (COMMIT if i == last else 0), code, ident, payload)
                  for i, (flags, code, ident, payload) in enumerate(records)]
        if any(len(f) > _LEN_MASK for f in frames):
            raise ValueError("a ledger record over 16 MiB (a path or error that long is a bug)")
        with self._mutex:
            self._append(frames, durable)
            if counters is not None:
                self.counters = dict(counters)
            if counted:
                self.counted.add(*counted)

    def _append(self, frames: list[bytes], durable: bool = True) -> None:
        data = b"".join(frames)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        if durable:         # a later group's fsync makes this one durable too
            os.fsync(self._fd)
        pos, group = self._size, []
        for f in frames:
            if f[8] & ~COMMIT == ENTRY:
                _, _, _, code, ident = _HEAD.unpack_from(f)
                group.append((ident * 4 + code, pos << _LEN_BITS | len(f)))
            pos += len(f)
        self._size = pos
        self._apply(group, [], None)

    def update(self, key: int, **changes) -> Entry:
        """The entry with ``changes``, made durable."""
        entry = self.get(key)
        if entry is None:
            raise KeyError(key)
        entry = msgspec.structs.replace(entry, **changes)
        self.put([entry])
        return entry

    def done(self, key: int, path: str, size: int, sha256: str, thumb: str = "",
             probe: bytes = b"", error: str = "") -> Entry:
        """Downloaded: call it only once the file is durable at ``path`` (the downloader
        fsyncs and renames it), so a ``done`` entry always has its file behind it.
        ``error``: why the file, although whole, does not probe (corrupt media)."""
        e = self.get(key)
        attempts = e.attempts + 1 if e is not None else 1
        return self.update(key, status=DONE, reason="", path=path, size=size, sha256=sha256,
                           thumb=thumb, attempts=attempts, error=error[:_ERROR_CHARS],
                           probe=probe, copy=b"")

    def failed(self, key: int, error: str) -> Entry:
        e = self.get(key)
        attempts = e.attempts + 1 if e is not None else 1
        # an error is a line for a report; a huge one must not outgrow the index's 24-bit length
        return self.update(key, status=FAILED, attempts=attempts, error=error[:_ERROR_CHARS])

    def skipped(self, key: int, reason: str) -> Entry:
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}; one of {SKIP_REASONS}")
        return self.update(key, status=SKIPPED, reason=reason)

    # ---- compaction ---------------------------------------------------------------------------
    def compact(self) -> None:
        """Rewrite the log as its live entries and one state record (``write_atomic``)."""
        state = _State(dict(self.counters), self.counted.ranges)
        parts = [MAGIC]
        index: dict[int, int] = {}
        pos = len(MAGIC)
        for key, packed in sorted(self._index.items(), key=lambda kv: kv[1]):
            rec = os.pread(self._fd, packed & _LEN_MASK, packed >> _LEN_BITS)
            if rec[8] & COMMIT:             # only the new log's last record commits it
                _, _, _, code, ident = _HEAD.unpack_from(rec)
                rec = _frame(ENTRY, code, ident, rec[_HEAD.size:])
            parts.append(rec)
            index[key] = pos << _LEN_BITS | len(rec)
            pos += len(rec)
        parts.append(_frame(STATE | COMMIT, 0, 0, _ENC.encode(state)))
        write_atomic(self.path, b"".join(parts))
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        self._index = index
        self._size = os.fstat(self._fd).st_size
        self.notices.append(f"state/{self.path.name}: compacted to {len(index)} entries")

    @classmethod
    def write_fresh(cls, root: Path, entries: Iterable[Entry], counters: dict[str, int],
                    counted: Iterable[tuple[int, int]] = ()) -> None:
        """Replace the chat's ledger with these entries (a rebuild): whole or not at all.
        The caller holds the chat's lock."""
        parts = [MAGIC, *(_entry_frame(e) for e in entries)]
        state = _State(dict(counters), IdRanges(counted).ranges)
        parts.append(_frame(STATE | COMMIT, 0, 0, _ENC.encode(state)))
        path = root / layout.STATE / layout.MEDIA_LEDGER
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, b"".join(parts))

