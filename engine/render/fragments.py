"""Per-message fragments of the two stream formats, rendered once per batch and cached.

A worker renders each message of a batch as its ``result.json`` object and its
``messages.jsonl`` line and stores them beside the segment
(``state/render/<segment>.frag``); the final assembly only concatenates them. The
cache is keyed by the render settings (time zone) and checked on read: a missing,
damaged or stale file is simply rendered again from the segment, so it needs no
fsync of its own. It is kept zstd-compressed (about 8× smaller: JSON text shrinks well),
so the cache costs a fraction of the outputs it serves; a plain one from before is read.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import zstandard as zstd
from msgspec import Struct

from engine import model as m
from engine.archive.atomic import write_atomic
from engine.render import renderer
from engine.render.context import RenderContext


class Fragments(Struct, array_like=True):
    tz: str
    ids: list[int]
    td: list[bytes]
    jsonl: list[bytes]


_ENC = msgspec.msgpack.Encoder()
_DEC = msgspec.msgpack.Decoder(Fragments)


def context(batch: m.Batch, tz_name: str, tz) -> RenderContext:
    return RenderContext(batch.chat, tz, {p.ref: p for p in batch.peers})


def render(batch: m.Batch, tz_name: str, tz) -> Fragments:
    ctx = context(batch, tz_name, tz)
    msgs = batch.messages
    return Fragments(tz_name, [x.id for x in msgs], renderer.fragments(msgs, ctx),
                     renderer.jsonl_lines(msgs))


_ZSTD_FRAME = b"\x28\xb5\x2f\xfd"     # every zstd frame starts so; msgpack arrays never do
ZSTD_LEVEL = 3


def write(path: Path, frags: Fragments) -> None:
    data = zstd.ZstdCompressor(level=ZSTD_LEVEL).compress(_ENC.encode(frags))
    write_atomic(path, data, durable=False)     # a cache: rebuildable


def read(path: Path, batch: m.Batch, tz_name: str) -> Fragments | None:
    """The cached fragments of ``batch``, or None if there are none that fit."""
    try:
        data = path.read_bytes()
        if data.startswith(_ZSTD_FRAME):
            data = zstd.ZstdDecompressor().decompress(data)
        frags = _DEC.decode(data)
    except (FileNotFoundError, msgspec.DecodeError, zstd.ZstdError):
        return None
    if frags.tz != tz_name or frags.ids != [x.id for x in batch.messages] \
            or len(frags.td) != len(frags.ids) or len(frags.jsonl) != len(frags.ids):
        return None
    return frags
