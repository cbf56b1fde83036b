"""Cutting a file into ``upload.getFile`` parts that Telegram accepts (a pure function).

Telegram's rules without ``precise`` (shared/MEDIA_NOTES.md 4.1): the offset is a multiple
of 4 KiB, the limit a multiple of 4 KiB that divides 1 MiB, and no request crosses a 1 MiB
boundary. Parts of one size ``part`` (512 KiB or 1 MiB) laid end to end from offset 0 obey
all three at once: every offset is a multiple of ``part``, and a ``part`` dividing 1 MiB
never straddles a multiple of 1 MiB. The last part asks for the whole ``part`` and gets
the file's tail; ``Part.length`` is how many bytes it must bring back (the check that a
short or long reply is a wrong file, not a finished one).
"""

from __future__ import annotations

from typing import NamedTuple

ONE_MB = 1 << 20
KB4 = 4096
PART_SIZES = (512 * 1024, ONE_MB)      # the brief's 512 KiB–1 MiB band, both legal limits
PART = ONE_MB                          # tdl's choice: the fewest requests Telegram allows


class Part(NamedTuple):
    index: int
    offset: int          # what getFile is asked for ...
    limit: int           # ... and how much
    length: int          # the bytes that must come back (the tail part: fewer)


def legal(offset: int, limit: int) -> bool:
    """Would Telegram accept ``upload.getFile(offset, limit)`` without ``precise``?"""
    return (0 < limit <= ONE_MB and limit % KB4 == 0 and ONE_MB % limit == 0
            and offset >= 0 and offset % KB4 == 0
            and offset // ONE_MB == (offset + limit - 1) // ONE_MB)


def plan(size: int, part: int = PART) -> list[Part]:
    """The parts of a ``size``-byte file, in order, covering it exactly once."""
    if part not in PART_SIZES:
        raise ValueError(f"a part is one of {PART_SIZES} bytes, not {part}")
    if size < 0:
        raise ValueError(f"a file has no negative size ({size})")
    return [Part(i, off, part, min(part, size - off))
            for i, off in enumerate(range(0, size, part))]
