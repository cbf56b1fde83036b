"""One archive segment on disk: its name, its self-checking format, its catalogue entry.

    archive/<lo>-<hi>.<run>.<seq>.seg   one history page range (msgpack Batch)
    archive/refresh.<run>.<n>.seg       new versions found by --refresh-edits

A segment file is a 48-byte header (magic, payload length, sha256 of the payload) and the
msgpack Batch compressed with zstd (one frame, level 3: the TL bytes and texts shrink about
7× on the fakedc corpus, for about 2 CPU-seconds per million messages, spent in the
workers), so any copy of it can be checked on its own, before anything is decompressed:
``read_segment_file`` raises ``DamagedSegment`` for a file that is cut short, grown,
altered or missing. Segments written before compression (``TGARCSG1``: the same header over
the plain Batch) and before the header (a bare Batch) are still read. Its name gives
its id range and run, its content the count and dates (``describe``), which is all a
checkpoint needs to be rebuilt from the archive (engine/archive/store.py).
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import msgspec
import zstandard as zstd
from msgspec import Struct

from engine import model as m
from engine.archive.atomic import write_atomic

# A segment file: this header, then the msgpack Batch in one zstd frame. Segments written
# before compression carry PLAIN_MAGIC over the plain Batch; before the header existed they
# were a bare Batch (checked by decoding alone). Both are still read.
SEG_MAGIC = b"TGARCSZ1"
PLAIN_MAGIC = b"TGARCSG1"
_SEG_HEADER = struct.Struct("<8sQ32s")          # magic, payload length, sha256(payload)
ZSTD_LEVEL = 3
_HISTORY_NAME = re.compile(r"(-?\d+)-(-?\d+)\.(\d+)\.(\d+)\.seg")
_REFRESH_NAME = re.compile(r"refresh\.(\d+)\.(\d+)\.seg")


class Segment(Struct, array_like=True):
    name: str
    kind: str                 # history | refresh
    lo: int
    hi: int
    count: int
    date_lo: int = 0          # unix seconds of its oldest / newest message (0: none)
    date_hi: int = 0
    # messages with a file the media ledger numbers (media/numbering.py files_in); -1: not
    # known (listed before it was counted, or adopted after a crash)
    files: int = -1


class DamagedSegment(Exception):
    """An archive segment fails its own check (exit code 1): reported by name, never
    blessed into the manifest, never deleted."""

    def __init__(self, path: Path, why: str):
        self.path, self.why = Path(path), why
        chat = self.path.parent.parent
        super().__init__(f"archive segment {self.path} is damaged ({why}); run `tgarc repair "
                         f"{chat}` to set it aside, then the same export again to fetch its "
                         f"messages anew")


# ---- segment files ----------------------------------------------------------------------------
def seal(batch: bytes) -> bytes:
    """A segment file's bytes: the header (length, sha256 of what follows) and the Batch,
    compressed."""
    payload = zstd.ZstdCompressor(level=ZSTD_LEVEL).compress(batch)
    return _SEG_HEADER.pack(SEG_MAGIC, len(payload), hashlib.sha256(payload).digest()) + payload


def unseal(data: bytes, path: Path) -> memoryview | bytes:
    """The Batch bytes of a segment file, checked against its header (then decompressed)."""
    view = memoryview(data)
    magic = data[:len(SEG_MAGIC)]
    if magic not in (SEG_MAGIC, PLAIN_MAGIC):
        return view                      # written before segments carried a header
    if len(data) < _SEG_HEADER.size:
        raise DamagedSegment(path, f"cut short at {len(data)} bytes")
    _magic, size, digest = _SEG_HEADER.unpack_from(data)
    payload = view[_SEG_HEADER.size:]
    if len(payload) != size:
        raise DamagedSegment(path, f"{len(payload)} bytes of data where its header says {size}")
    if hashlib.sha256(payload).digest() != digest:
        raise DamagedSegment(path, "its sha256 does not match its content")
    if magic == PLAIN_MAGIC:
        return payload
    try:
        return zstd.ZstdDecompressor().decompress(payload)
    except zstd.ZstdError as exc:        # sealed damaged: only a writer's bug gets here
        raise DamagedSegment(path, f"its data does not decompress: {exc}") from None


def read_segment_file(path: Path, decoder: msgspec.msgpack.Decoder = m.BATCH_DECODER):
    """The segment's Batch (or what ``decoder`` takes of it), its file checked."""
    try:
        return decoder.decode(unseal(path.read_bytes(), path))
    except FileNotFoundError:
        raise DamagedSegment(path, "the file is missing") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DamagedSegment(path, f"not a readable batch: {exc}") from None


def batch_dates(batch: m.Batch) -> tuple[int, int]:
    dates = [x.date for x in batch.messages if x.date]
    return (min(dates), max(dates)) if dates else (0, 0)


def describe(path: Path) -> Segment:
    """The catalogue entry of a segment file, from its name and its checked content."""
    name = path.name
    batch = read_segment_file(path)
    msgs = batch.messages
    d_lo, d_hi = batch_dates(batch)
    if mt := _HISTORY_NAME.fullmatch(name):
        lo, hi = int(mt[1]), int(mt[2])
        if lo > hi:
            raise DamagedSegment(path, "its name gives an empty id range")
        return Segment(name, "history", lo, hi, len(msgs), d_lo, d_hi)
    if (mt := _REFRESH_NAME.fullmatch(name)) and msgs:
        return Segment(name, "refresh", msgs[0].id, msgs[-1].id, len(msgs), d_lo, d_hi)
    raise DamagedSegment(path, "not a segment tgarc writes")


def catalogue_order(name: str) -> tuple[int, int, int, str]:
    """Catalogue order: by run; a run's refresh segment before its history pages."""
    if mt := _HISTORY_NAME.fullmatch(name):
        return int(mt[3]), 1, int(mt[4]), name
    if mt := _REFRESH_NAME.fullmatch(name):
        return int(mt[1]), 0, int(mt[2]), name
    return 1 << 62, 2, 0, name


def run_of(name: str) -> int:
    run = catalogue_order(name)[0]
    return run if run < 1 << 62 else 0


def history_name(lo: int, hi: int, run: int, seq: int) -> str:
    return f"{lo:010d}-{hi:010d}.{run}.{seq}.seg"


def refresh_name(run: int, n: int) -> str:
    return f"refresh.{run}.{n}.seg"


def write_segment(folder: Path, name: str, payload: bytes) -> None:
    """Write the Batch ``payload`` as the segment ``folder/name`` (header, then the
    Batch): temp file, fsync, rename. The folder is fsynced later, once for many
    segments (ChatStore.commit)."""
    write_atomic(folder / name, seal(payload), sync_dir=False)
