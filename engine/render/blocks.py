"""Day-note blocks rendered where the batch is (a worker), finished where the day is (assembly).

A day note is its front matter and its blocks (one per message, one per album) joined by
``day_notes.SEPARATOR``. A block depends on its messages, the peers of the batch they came
in (as their result.json objects do), the time zone, and two things only the assembly
knows: the chat's public username (t.me links) and the day of every message a reply or pin
links to. ``render`` writes those as placeholders; ``Filler`` puts them in, with no Python
call per block on the common path:

- ``USERNAME`` where the t.me link's ``<username>`` or ``c/<chat id>`` goes: one
  ``bytes.replace`` per note;
- a link to message N of the chat is ``[[NOTE#^mN|label]]``: the assembly finds its day in
  the catalogue (what was streamed so far, as ever) and writes ``[[#^mN|label]]`` when that
  is the note's own day, else the name of the target's note, or the bare label when the
  message is not there.

A batch whose text holds the placeholders' lead (a NUL and ``tg``) gets no blocks, so
text can never pose as one; nor does a batch whose rendering raised: the assembly renders
those from the messages (``PendingBlocks``, ``note``) and raises what it raises. A worker
knows no downloaded file, so a segment with media in a chat that has files is rendered at
the assembly too (render/stream.py ``Stream.pieces``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import msgspec
from msgspec import Struct

from engine import model as m
from engine.archive import layout
from engine.render import day_notes, renderer
from engine.render.context import EPOCH, RenderContext

LEAD = b"\x00tg"
USERNAME, NOTE = "\x00tgU\x00", "\x00tgN\x00"
_USERNAME = USERNAME.encode()
HOLE = f"[[{NOTE}#^m".encode()


class MdBlocks(Struct, array_like=True):
    """A batch's blocks by day, days in order of first appearance: chunk c is day ``day[c]``
    with blocks ``data[end[c - 1]:end[c]]``, messages ``n[c]``, ids ``first[c]..last[c]``,
    ``head[c]`` the grouped_id its first message would join an album by (0: none) and
    ``tail[c]`` the grouped_id of its last block (an album the next batch may continue)."""
    day: list[int]
    end: list[int]
    n: list[int]
    first: list[int]
    last: list[int]
    head: list[int]
    tail: list[int]
    data: list[bytes]


_ENC = msgspec.msgpack.Encoder()
_JSON_LEAD = b"\\u0000tg"


def clean(batch, payload: bytes | None = None) -> bool:
    """True when no text of the batch (or message) could pose as a placeholder. The fast
    look is at its msgpack, where a message's TL bytes hold the lead by chance in about
    one batch in a hundred; then its JSON decides, where only a string can hold it (TL
    bytes are base64 there, a NUL in a string is ``\\u0000``)."""
    if LEAD not in (payload if payload is not None else _ENC.encode(batch)):
        return True
    return _JSON_LEAD not in msgspec.json.encode(batch)


def render(msgs: list[m.Message], ctx: RenderContext) -> MdBlocks | None:
    """The blocks of ``msgs`` (one batch, id order) in ``ctx``'s zone, names from its peers,
    files from its ``files``; None when this batch's blocks must be rendered by the
    assembly (see the module's docstring)."""
    vctx = day_notes.VaultContext(ctx, "", "", USERNAME, locate=_here(ctx.chat),
                                  note_of=_note)
    out = MdBlocks([], [], [], [], [], [], [], [])
    try:
        for day, part in renderer.days(msgs, ctx.tz).items():
            made = renderer.blocks(vctx, part)
            out.data += [b for _, b in made]
            out.day.append((day - EPOCH).days)
            out.end.append(len(out.data))
            out.n.append(len(part))
            out.first.append(part[0].id)
            out.last.append(part[-1].id)
            out.head.append(_gid(part[0]))
            out.tail.append(part[-made[-1][0]].grouped_id or 0)
    except Exception:                 # the assembly renders them, and says what is wrong
        return None
    return out


def _gid(msg: m.Message) -> int:
    return msg.grouped_id or 0 if msg.type == "message" else 0


def _here(chat: m.PeerRef) -> Callable[[m.PeerRef, int], int | None]:
    """Every message of the chat (a migrated group's history too: day_notes.vault_id) "is"
    at time 0: a link placeholder the assembly fills."""
    return lambda target, msg_id: 0 if target == chat or target.kind == "chat" else None


def _note(days: int) -> str:
    return NOTE


class Filler:
    """Puts the chat's username and link targets into blocks."""

    def __init__(self, folder: str, username: str | None, chat: m.PeerRef,
                 locate: Callable[[m.PeerRef, int], int | None], clock):
        """``folder``: the chat folder's path in --out (its notes' key)."""
        self.key = layout.note_key(folder)
        self.username = (username or f"c/{chat.id}").encode()
        self.chat, self.locate, self.clock = chat, locate, clock

    def links(self, data: bytes, day: dt.date | None = None) -> bytes:
        """Link placeholders filled for the note of ``day``: the target's note, or the bare
        label when it is not in the catalogue. A placeholder holds the vault's number
        (``day_notes.vault_id``), the catalogue's id too."""
        if HOLE not in data:
            return data
        pieces = data.split(HOLE)
        out = [pieces[0]]
        for piece in pieces[1:]:
            bar = piece.index(b"|")
            end = piece.index(b"]]", bar)
            label = piece[bar + 1:end]
            ts = self.locate(self.chat, int(piece[:bar]))
            if ts is None:
                out.append(label)
            else:
                target = self.clock.date(ts)
                note = b"" if target == day else \
                    layout.note_name(target, self.key).encode()
                out += [b"[[", note, b"#^m", piece[:bar], b"|", label, b"]]"]
            out.append(piece[end + 2:])
        return b"".join(out)

    def names(self, data: bytes) -> bytes:
        """The username placeholder filled."""
        if LEAD not in data:
            return data
        return data.replace(_USERNAME, self.username)


class _Chunk:
    """One batch's share of a day: its blocks (placeholders in them), or its messages when
    the assembly renders them (``data`` None)."""
    __slots__ = ("ctx", "data", "first", "head", "last", "msgs", "n", "seg", "shift", "tail")

    def __init__(self, data, n, first, last, head, tail, seg, shift, msgs=None, ctx=None):
        self.data, self.n, self.first, self.last = data, n, first, last   # ids
        self.head, self.tail, self.seg, self.msgs, self.ctx = head, tail, seg, msgs, ctx
        self.shift = shift          # the vault numbers message ``id`` as id - shift


class PendingBlocks:
    """Day notes waiting for their day to complete, kept as blocks (the assembly's side of
    this module); with ``dirty``, only the days in it."""

    def __init__(self, clock, dirty: set[dt.date] | None, load):
        """``load(segment)``: (its messages, newest versions; a RenderContext of the chat
        with the batch's peers), for an album that runs on from one batch into the next."""
        self.clock, self.load = clock, load
        self.dirty = None if dirty is None else {(d - EPOCH).days for d in dirty}
        self.days: dict[int, list[_Chunk]] = {}

    def add(self, piece) -> None:
        md = piece.md
        if md is not None:
            start = 0
            for c, d in enumerate(md.day):
                end = md.end[c]
                if self.dirty is None or d in self.dirty:
                    self._put(d, _Chunk(md.data[start:end], md.n[c], md.first[c], md.last[c],
                                        md.head[c], md.tail[c], piece.seg, piece.shift))
                start = end
            return
        for day, part in renderer.days(piece.msgs, self.clock.tz).items():
            d = (day - EPOCH).days
            if self.dirty is None or d in self.dirty:
                last = day_notes._groups(part)[-1][0]
                self._put(d, _Chunk(None, len(part), part[0].id, part[-1].id, _gid(part[0]),
                                    last.grouped_id or 0, piece.seg, piece.shift, part,
                                    piece.ctx))

    def _put(self, d: int, chunk: _Chunk) -> None:
        chunks = self.days.setdefault(d, [])
        prev = chunks[-1] if chunks else None
        if prev is None or not chunk.head or chunk.head != prev.tail:
            chunks.append(chunk)
            return
        # an album split between two batches: one block, rendered here from both
        for x in (prev, chunk):
            if x.msgs is None:
                msgs, ctx = self.load(x.seg)
                part = renderer.days(msgs, self.clock.tz)[EPOCH + dt.timedelta(d)]
                x.msgs = [y for y in part if x.first <= y.id <= x.last]
                x.ctx, x.data = ctx, None
        # a context of its own: other days of prev's batch share its ctx
        prev.ctx = RenderContext(prev.ctx.chat, prev.ctx.tz,
                                 {**chunk.ctx.peers, **prev.ctx.peers}, prev.ctx.files)
        prev.msgs = prev.msgs + chunk.msgs
        prev.n += chunk.n
        prev.last, prev.tail = chunk.last, chunk.tail

    def complete(self, before: dt.date | None):
        """(day, its chunks) of the days before ``before`` (None: every day), oldest first,
        taken out."""
        limit = None if before is None else (before - EPOCH).days
        for d in sorted(self.days):
            if limit is not None and d >= limit:
                break
            yield EPOCH + dt.timedelta(d), self.days.pop(d)


def note(vctx: day_notes.VaultContext, day: dt.date, chunks: list[_Chunk],
         filler: Filler) -> bytes:
    """The day note: front matter, the blocks (placeholders filled; the messages of chunks
    without blocks rendered here, in ``vctx`` with each chunk's peers), the end."""
    front = day_notes.front_of(vctx, day, sum(c.n for c in chunks),
                               chunks[0].first - chunks[0].shift,
                               chunks[-1].last - chunks[-1].shift).encode()
    if all(c.data is not None for c in chunks):
        body = filler.names(filler.links(day_notes.SEPARATOR.join(
            [b for c in chunks for b in c.data]), day))
    else:
        parts = []
        for c in chunks:
            if c.data is not None:
                parts.append(filler.names(filler.links(day_notes.SEPARATOR.join(c.data),
                                                       day)))
            else:
                v = day_notes.VaultContext(c.ctx, vctx.chat_dir, vctx.chat_title,
                                           vctx.username, locate=vctx.locate,
                                           own_key=vctx.own_key)
                parts += [b for _, b in renderer.blocks(v, c.msgs)]
        body = day_notes.SEPARATOR.join(parts)
    return front + body + b"\n"
