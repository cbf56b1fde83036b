"""Per-message fragments of the two stream formats, rendered once per batch and cached.

A worker renders each message of a batch as its ``result.json`` object and its
``messages.jsonl`` line and stores them beside the segment
(``state/render/<segment>.frag``); the final assembly only concatenates them. The
cache is keyed by the render settings (time zone) and checked on read: a missing,
damaged or stale file is simply rendered again from the segment, so it needs no
fsync of its own.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
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


def write(path: Path, frags: Fragments) -> None:
    write_atomic(path, _ENC.encode(frags), durable=False)     # a cache: rebuildable


def read(path: Path, batch: m.Batch, tz_name: str) -> Fragments | None:
    """The cached fragments of ``batch``, or None if there are none that fit."""
    try:
        frags = _DEC.decode(path.read_bytes())
    except (FileNotFoundError, msgspec.DecodeError):
        return None
    if frags.tz != tz_name or frags.ids != [x.id for x in batch.messages] \
            or len(frags.td) != len(frags.ids) or len(frags.jsonl) != len(frags.ids):
        return None
    return frags
