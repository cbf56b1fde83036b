"""Big files (up to a TiB) whose bytes are never held: each 64 KiB block is made from
(file id, block number) when a request covers it, so serving a part costs memory of the
part's size, whatever the file's.

The bytes are SHAKE-128 of the 16 bytes ``struct.pack("<QQ", file id, block)``, 64 KiB long:
a counter-mode stream anyone can reproduce (a test, another language) without fakedc.  The id
carries the size, so the catalogue stays as stateless as files.py's:
``BIG_TAG << 56 | index << 40 | size``.  Its top byte keeps it apart from files.py's ids
(``(kind + 1) << 48 | seed``) and positive as a TL ``long``.

Big files are only in a corpus that asks for them (``Corpus.add_big_files``,
``FakeDC(big_files=...)``, ``serve --big-files N:SIZE``): the default corpus, its media bytes
and the golden files do not change.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator

BIG_TAG = 0x5B
BLOCK = 1 << 16
MAX_SIZE = (1 << 40) - 1
MAX_INDEX = (1 << 16) - 1


def big_id(index: int, size: int) -> int:
    """The id of big file number ``index`` of ``size`` bytes."""
    if not 0 <= index <= MAX_INDEX or not 0 < size <= MAX_SIZE:
        raise ValueError(f"a big file is 1 byte to 1 TiB and numbered below 65536, "
                         f"not #{index} of {size} bytes")
    return BIG_TAG << 56 | index << 40 | size


def decode(fid: int) -> tuple[int, int] | None:
    """``(index, size)`` of a big file's id; None for any other id."""
    if fid >> 56 != BIG_TAG:
        return None
    return (fid >> 40) & MAX_INDEX, fid & MAX_SIZE


def size_of(fid: int) -> int:
    return decode(fid)[1]


def _block(fid: int, number: int) -> bytes:
    return hashlib.shake_128(struct.pack("<QQ", fid, number)).digest(BLOCK)


def read(fid: int, offset: int, length: int) -> bytes:
    """The file's bytes ``[offset, offset + length)`` (cut at its end): only the blocks
    they touch are made."""
    end = min(size_of(fid), offset + length)
    if offset >= end:
        return b""
    first, last = offset // BLOCK, (end - 1) // BLOCK
    data = b"".join(_block(fid, k) for k in range(first, last + 1))
    return data[offset - first * BLOCK : end - first * BLOCK]


def chunks(fid: int, size: int = 1 << 20) -> Iterator[bytes]:
    """The whole file, ``size`` bytes at a time."""
    for offset in range(0, size_of(fid), size):
        yield read(fid, offset, size)


def sha256(fid: int) -> str:
    """Hex SHA-256 of the whole file (what a test compares a download with)."""
    h = hashlib.sha256()
    for chunk in chunks(fid):
        h.update(chunk)
    return h.hexdigest()


def file_name(fid: int) -> str:
    return f"big{decode(fid)[0]}.bin"


def parse_spec(spec: str) -> tuple[int, ...]:
    """``N:SIZE[@DC]`` (SIZE in bytes, or with a K, M, G or T suffix, powers of 1024) ->
    ``(N, bytes)``, or ``(N, bytes, DC)`` for files that live on another DC."""
    count, _, rest = spec.partition(":")
    size, at, dc = rest.partition("@")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    size = size.strip().upper().removesuffix("B").removesuffix("I")
    scale = units.get(size[-1:], 1)
    try:
        n, nbytes = int(count), int(float(size[:-1] if scale > 1 else size) * scale)
        where = (int(dc),) if at else ()
    except ValueError:
        raise ValueError(f"big files are N:SIZE[@DC] (e.g. 2:200M), not {spec!r}") from None
    if n < 1 or (where and where[0] < 1):
        raise ValueError(f"big files are N:SIZE[@DC] with N >= 1, DC >= 1, not {spec!r}")
    big_id(0, nbytes)                     # the size check
    return (n, nbytes, *where)
