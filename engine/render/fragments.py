"""Per-message fragments of the two stream formats, rendered once per batch and cached.

A worker renders each message of a batch as its ``result.json`` object and its
``messages.jsonl`` line and stores them beside the segment
(``state/render/<segment>.frag``); the final assembly only concatenates them. The
cache is keyed by the render settings (time zone) and the renderer's version
(``RENDER_VERSION``) and checked on read: a missing,
damaged or stale file is simply rendered again from the segment, so it needs no
fsync of its own. It is kept zstd-compressed (fast mode, about 5-6× smaller: JSON text
shrinks well), so the cache costs a fraction of the outputs it serves; a plain one from
before is read.

Beside them: the day-note blocks (blocks.py) and what the assembly needs to use the cache
without decoding the segment again: each message's date, the batch's chat, and which
messages carry media whose file the assembly may know.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import zstandard as zstd
from msgspec import Struct

from engine import model as m
from engine.archive.atomic import write_atomic
from engine.archive.segment import Segment
from engine.render import blocks, renderer
from engine.render.context import RenderContext

# The outputs' rendering, as bytes: raised whenever a renderer (either twin) writes any
# output differently. A cache of another version is stale, and an archive whose outputs were
# rendered by another version is assembled again in full (engine/render/assemble.py): an
# archive's outputs never mix two renderings. 0: before the version was kept.
# 1: forum messages keep their topic in result.json (reply_to_message_id, as Telegram Desktop)
# 2: no duration_seconds under a whole second; Saved Messages' result.json has no "name"
# 3: the vault's notes named "YYYY-MM-DD <key>" and linked by name (or [[#^m<id>]] within a
#    note), embeds by their path in the chat folder, each message a quote with its block id
#    after it (the notes of before are removed by the full assembly this version causes)
# 4: an incoming message's self-destructing photo or file is "unavailable", size 0 (as
#    Telegram Desktop writes it)
# 5: the vault links replies and pins inside a migrated group's history (labels and front
#    matter number it as the blocks and result.json do: id - 10^9)
RENDER_VERSION = 5


class Fragments(Struct, array_like=True):
    tz: str
    ids: list[int]
    td: list[bytes]
    jsonl: list[bytes]
    # since day-note blocks (a cache without them is read; the assembly renders the rest)
    dates: list[int] = []
    chat: m.PeerRef | None = None             # the messages' chat (a migrated group's own)
    media: list[int] = []                     # messages with a photo, document or contact
    md: blocks.MdBlocks | None = None
    peers: list[m.PeerInfo] = []
    version: int = 0                          # RENDER_VERSION of the renderer that wrote it


_ENC = msgspec.msgpack.Encoder()
_DEC = msgspec.msgpack.Decoder(Fragments)


def context(batch: m.Batch, tz_name: str, tz) -> RenderContext:
    return RenderContext(batch.chat, tz, {p.ref: p for p in batch.peers})


_FILES = (m.Photo, m.Document, m.Contact)


def render(batch: m.Batch, tz_name: str, tz, *, md: bool = True,
           payload: bytes | None = None) -> Fragments:
    """``md``: the day-note blocks too; ``payload``: the batch's msgpack, when at hand."""
    ctx = context(batch, tz_name, tz)
    msgs = batch.messages
    return Fragments(tz_name, [x.id for x in msgs], renderer.fragments(msgs, ctx),
                     renderer.jsonl_lines(msgs), [x.date for x in msgs], messages_chat(batch),
                     [i for i, x in enumerate(msgs) if isinstance(x.media, _FILES)],
                     blocks.render(msgs, ctx) if md and blocks.clean(batch, payload) else None,
                     batch.peers, RENDER_VERSION)


_ZSTD_FRAME = b"\x28\xb5\x2f\xfd"     # every zstd frame starts so; msgpack arrays never do
# zstd's fast mode: a cache is rebuildable, and its compression was the workers' largest
# single cost (fragments of the text corpus: level 3 took 3.3 µs a message for 7.0x, level -3
# 1.85 µs for 5.6x; bench figures in docs/benchmarks.md)
ZSTD_LEVEL = -3


def messages_chat(batch: m.Batch) -> m.PeerRef | None:
    """The chat every message of the batch is of (None: they differ)."""
    chats = {x.chat for x in batch.messages}
    return chats.pop() if len(chats) == 1 else (batch.chat if not chats else None)


def write(path: Path, frags: Fragments) -> None:
    data = zstd.ZstdCompressor(level=ZSTD_LEVEL).compress(_ENC.encode(frags))
    write_atomic(path, data, durable=False)     # a cache: rebuildable


def read(path: Path, batch: m.Batch, tz_name: str) -> Fragments | None:
    """The cached fragments of ``batch``, or None if there are none that fit."""
    frags = _load(path, tz_name)
    if frags is None or frags.ids != [x.id for x in batch.messages]:
        return None
    return frags


def load(path: Path, seg: Segment, tz_name: str) -> Fragments | None:
    """The cached fragments of archive segment ``seg``, with everything the assembly needs
    to use them without the segment, or None. A segment's name is never reused and its
    cache file is written whole or not at all (a damaged one does not decode), so the
    message count is check enough (ids are the chat's, or a migrated group's raw ones,
    while the segment's range is the catalogue's)."""
    frags = _load(path, tz_name)
    if frags is None or frags.chat is None \
            or len(frags.ids) != seg.count or len(frags.dates) != seg.count:
        return None
    return frags


def loads(folder: Path, segs: list[Segment], tz_name: str, wait=None,
          ahead: int = 4) -> Iterator[Fragments | None]:
    """``load`` of each segment of ``segs`` in turn, read ``ahead`` segments early in a
    thread of its own: reading and decompressing a cache file release the GIL, so at the
    assembly's serial tail (the workers done, a core free) the next segments come off the
    disk while this one is written out. ``wait(segment name)`` runs before each read."""

    def one(seg: Segment) -> Fragments | None:
        if wait is not None:
            wait(seg.name)
        return load(folder / (seg.name + ".frag"), seg, tz_name)

    with ThreadPoolExecutor(1, thread_name_prefix="tgarc-frags") as pool:
        queued: deque = deque()
        try:
            for seg in segs:
                queued.append(pool.submit(one, seg))
                if len(queued) > ahead:
                    yield queued.popleft().result()
            while queued:
                yield queued.popleft().result()
        finally:
            for f in queued:
                f.cancel()


def _load(path: Path, tz_name: str) -> Fragments | None:
    try:
        data = path.read_bytes()
        if data.startswith(_ZSTD_FRAME):
            data = zstd.ZstdDecompressor().decompress(data)
        frags = _DEC.decode(data)
    except (FileNotFoundError, msgspec.DecodeError, zstd.ZstdError):
        return None
    n = len(frags.ids)
    if frags.version != RENDER_VERSION or frags.tz != tz_name or len(frags.td) != n \
            or len(frags.jsonl) != n or (frags.dates and len(frags.dates) != n):
        return None
    return frags
