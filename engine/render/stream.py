"""The streaming core under a chat's assembly (assemble.py) and its forum topic views
(topic_views.py): one pass over the archive of record, in id order, with one render context.

- ``Stream``: the history segments sorted by id, each with its messages in their newest
  version (refresh segments override by id) and their result.json and JSONL fragments
  (from the render cache a worker filled, else rendered here); the run's one
  ``RenderContext`` (one clock, the peers every segment adds) and the (id, date) catalogue
  that reply links in day notes look targets up in.
- The outputs it feeds, written whole or extended in place, are outfiles.py's.
- ``PendingDays``: messages waiting for their day note; a day is complete once no later
  segment can still hold it. Days are the clock's (context.py), the one rule every output
  uses.

Memory is bounded by the pending days' messages plus two int arrays (id, date).
"""

from __future__ import annotations

import bisect
import datetime as dt
from array import array
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import msgspec
from msgspec import Struct

from engine import model as m
from engine.archive import layout
from engine.archive.store import ChatStore, Segment
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render import blocks, day_notes, fragments, renderer
from engine.render.context import LocalClock, RenderContext
from engine.render.media_files import MediaFiles


class PendingDays:
    """Messages waiting for their day note, by the clock's local day; with ``dirty``, only
    the days in it are kept (an incremental assembly writes only what changed)."""

    def __init__(self, clock: LocalClock, dirty: set[dt.date] | None = None):
        self.clock, self.dirty = clock, dirty
        self.days: dict[dt.date, list[m.Message]] = {}

    def add(self, msgs: list[m.Message], lo: int | None = None, hi: int | None = None) -> None:
        """Add messages in id order; ``lo``/``hi``: their oldest and newest dates, when known
        (one look-up then places a whole segment that lies within one day)."""
        if lo is not None and hi is not None and self.clock.day(lo) == self.clock.day(hi):
            parts = {self.clock.date(lo): msgs}
        else:
            parts = renderer.days(msgs, self.clock.tz)
        for day, part in parts.items():
            if self.dirty is None or day in self.dirty:
                self.days.setdefault(day, []).extend(part)

    def complete(self, before: dt.date | None) -> Iterator[tuple[dt.date, list[m.Message]]]:
        """The days before ``before`` (None: every day), oldest first, taken out."""
        for day in sorted(self.days):
            if before is not None and day >= before:
                break
            yield day, self.days.pop(day)


class Stream:
    """One pass over a chat's history segments in id order (see the module's docstring)."""

    def __init__(self, store: ChatStore, tz_name: str, media_prefix: str = "", wait=None,
                 start: int = 0, known=None):
        """``start``, ``known``: resume at history segment ``start`` with the catalogue and
        peers (resume.py) of every segment the last assembly streamed; segments already in
        the catalogue join it no second time."""
        self.store, self.meta, self.tz_name = store, store.cp.chat, tz_name
        self.wait = wait              # segment name -> None once its cache may be read
        self.ctx = RenderContext(self.meta.ref, ZoneInfo(tz_name))
        self.clock = self.ctx.clock
        self.history = history_segments(store)[start:]
        self.overrides, self.override_peers = refreshed(
            store, self.history[0].lo if start and self.history else None)
        # A day is complete once no later segment can hold it: the oldest date of every
        # remaining segment is on a later day (Telegram's dates grow with ids, but imported
        # histories and clock skew make that a hope, not a rule).
        self._after: list[float] = [float("inf")] * (len(self.history) + 1)
        for i in range(len(self.history) - 1, -1, -1):
            self._after[i] = min(self._after[i + 1], self.history[i].date_lo or float("inf"))
        self._next = 0
        self.ids, self.dates = array("q"), array("q")
        self.limit = float("-inf")    # the newest id streamed: locate finds nothing past it
        self.known_upto = float("-inf")     # the catalogue holds every id up to this
        if known is not None:
            self.ids, self.dates, peers, self.known_upto = known
            self.ctx.peers.update(peers)
        # None: no file was ever downloaded; the prefix reaches the chat folder from a view's
        self.media = MediaFiles.open(store.root, self.meta.ref, media_prefix)

    def close(self) -> None:
        if self.media is not None:
            self.media.close()
            self.media = None

    def vault(self, title: str, notes_in: str | None = None) -> day_notes.VaultContext:
        """The day notes' context: this run's render context, reply links looked up here;
        ``notes_in``: the vault path of the folder the notes go to, when not this chat's
        own (a topic view's, whose links still name the chat's notes)."""
        return day_notes.VaultContext(
            self.ctx, self.store.vault, title, self.meta.username, locate=self.locate,
            own_key=None if notes_in is None else layout.note_key(notes_in))

    def segments(self) -> Iterator[tuple[Segment, list[m.Message], list[bytes], list[bytes]]]:
        """(segment, messages, result.json fragments, JSONL lines) of each history segment;
        its peers join the context and its messages the catalogue before it is yielded."""
        for k, seg in enumerate(self.history):
            if self.wait is not None:
                self.wait(seg.name)
            batch, msgs, td, jl = rendered(self.store, seg, self.tz_name, self.ctx.tz,
                                           self.overrides, self.override_peers)
            if self.media is not None:
                ctx = fragments.context(batch, self.tz_name, self.ctx.tz)
                ctx.peers.update(self.override_peers)
                td, jl = self.media.apply(msgs, td, jl, ctx, self.ctx.files)
            self.ctx.peers.update((p.ref, p) for p in batch.peers)
            if seg.hi > self.known_upto:
                self.ids.extend([x.id if x.chat == self.meta.ref
                                 else self._key(x.chat, x.id) or 0 for x in msgs])
                self.dates.extend([x.date for x in msgs])
            self.limit = seg.hi
            self._next = k + 1
            yield seg, msgs, td, jl

    def pieces(self, md: bool) -> Iterator[Piece]:
        """What ``segments`` gives, for the chat's own outputs, from the render cache alone
        where it can (no segment decoded): ids and dates instead of messages, and with
        ``md`` the day-note blocks (blocks.py). A segment is decoded when the cache lacks
        it (or its blocks), when a refresh overrides one of its messages, or when it
        carries media and files were downloaded; its blocks are then rendered here, or
        handed over as messages (``Piece.msgs``) where they cannot be (blocks.py)."""
        loads = fragments.loads(self.store.render_cache, self.history, self.tz_name, self.wait)
        for (k, seg), frags in zip(enumerate(self.history), loads, strict=True):
            if frags is not None and (frags.md is not None or not md) \
                    and not (self.overrides and any(i in self.overrides for i in frags.ids)) \
                    and not (self.media is not None and frags.media):
                piece = Piece(seg, frags.ids, frags.dates, frags.td, frags.jsonl,
                              frags.md if md else None, self._shift(frags.chat))
                peers = frags.peers
                keys = piece.ids if frags.chat == self.meta.ref else \
                    [self._key(frags.chat, i) or 0 for i in piece.ids]
            else:
                batch, msgs, td, jl = rendered(self.store, seg, self.tz_name, self.ctx.tz,
                                               self.overrides, self.override_peers)
                ctx = fragments.context(batch, self.tz_name, self.ctx.tz)
                ctx.peers.update(self.override_peers)
                if self.media is not None:
                    td, jl = self.media.apply(msgs, td, jl, ctx, self.ctx.files)
                piece = Piece(seg, [x.id for x in msgs], [x.date for x in msgs], td, jl, None,
                              self._shift(fragments.messages_chat(batch)))
                if md:
                    ctx.files = self.ctx.files
                    if blocks.clean(batch) and all(blocks.clean(x) for x in msgs
                                                   if x.id in self.overrides):
                        piece.md = blocks.render(msgs, ctx)
                    if piece.md is None:        # the assembly renders them, as they are
                        piece.msgs = msgs
                        piece.ctx = RenderContext(self.meta.ref, self.ctx.tz, ctx.peers,
                                                  self.ctx.files)
                peers = batch.peers
                keys = [x.id if x.chat == self.meta.ref else self._key(x.chat, x.id) or 0
                        for x in msgs]
            self.ctx.peers.update((p.ref, p) for p in peers)
            if seg.hi > self.known_upto:
                self.ids.extend(keys)
                self.dates.extend(piece.dates)
            self.limit = seg.hi
            self._next = k + 1
            yield piece

    def decoded(self, seg: Segment) -> tuple[list[m.Message], RenderContext]:
        """A segment's messages (newest versions) and a context of the chat with its
        batch's peers and the run's files (blocks.PendingBlocks renders from these)."""
        batch = self.store.read_segment(seg.name)
        msgs = [self.overrides.get(x.id, x) for x in batch.messages]
        msgs = [o if o.chat == x.chat else x for o, x in zip(msgs, batch.messages, strict=True)]
        peers = {p.ref: p for p in batch.peers}
        peers.update(self.override_peers)
        return msgs, RenderContext(self.meta.ref, self.ctx.tz, peers, self.ctx.files)

    def complete_before(self) -> dt.date | None:
        """After the segment just yielded: the first day a later segment may still hold
        (None: none can, every day is complete)."""
        horizon = self._after[self._next]
        return self.clock.date(int(horizon)) if horizon != float("inf") else None

    def _key(self, chat: m.PeerRef, msg_id: int) -> int | None:
        """The catalogue's id: a migrated basic group's messages come before id 1."""
        if chat == self.meta.ref:
            return msg_id
        return msg_id - MIGRATED_ID_SHIFT if chat.kind == "chat" else None

    def _shift(self, chat: m.PeerRef | None) -> int:
        """What the vault takes off the ids of a segment whose messages are ``chat``'s
        (None: of several chats, the chat's own among them)."""
        return 0 if chat is None else day_notes.vault_shift(self.ctx, chat)

    def locate(self, chat: m.PeerRef, msg_id: int) -> int | None:
        """The date of a message streamed so far, or None."""
        msg_id = self._key(chat, msg_id)
        if msg_id is None or msg_id > self.limit:
            return None
        i = bisect.bisect_left(self.ids, msg_id)
        return self.dates[i] if i < len(self.ids) and self.ids[i] == msg_id else None


class Piece:
    """One history segment as ``Stream.pieces`` gives it."""
    __slots__ = ("ctx", "dates", "ids", "jl", "md", "msgs", "seg", "shift", "td")

    def __init__(self, seg: Segment, ids: list[int], dates: list[int], td: list[bytes],
                 jl: list[bytes], md: blocks.MdBlocks | None, shift: int):
        self.seg, self.ids, self.dates, self.td, self.jl = seg, ids, dates, td, jl
        self.md = md
        self.shift = shift       # the vault's number of a message is its id - shift
        self.msgs: list[m.Message] | None = None    # blocks to render at the assembly
        self.ctx: RenderContext | None = None


def history_segments(store: ChatStore) -> list[Segment]:
    return sorted((s for s in store.cp.segments if s.kind == "history" and s.count),
                  key=lambda s: s.lo)


class _Peers(Struct, gc=False):
    """A segment's peers alone: its messages are skipped, not decoded."""
    peers: list[m.PeerInfo] = []


_PEERS = msgspec.msgpack.Decoder(_Peers)


def refreshed(store: ChatStore, since: int | None = None
              ) -> tuple[dict[int, m.Message], dict[m.PeerRef, m.PeerInfo]]:
    """Newest versions from the refresh segments (by id) and the peers they mention.
    ``since``: only versions of ids from there on are wanted (a resumed assembly streams
    nothing older), so a refresh segment wholly below it gives its peers alone: every
    ``--refresh-edits`` run adds one, and a plain re-run would decode them all. The peers
    are read from every one, as a full pass applies them."""
    overrides: dict[int, m.Message] = {}
    peers: dict[m.PeerRef, m.PeerInfo] = {}
    for s in store.cp.segments:
        if s.kind == "refresh":
            if since is not None and s.hi < since:
                peers.update((p.ref, p) for p in store.read_segment(s.name, _PEERS).peers)
                continue
            b = store.read_segment(s.name)
            peers.update((p.ref, p) for p in b.peers)
            for msg in b.messages:
                overrides[msg.id] = msg
    return overrides, peers


def rendered(store: ChatStore, seg: Segment, tz_name: str, tz, overrides, override_peers):
    """A history segment's batch, its messages (newest versions) and their result.json
    and JSONL fragments (from the render cache when a worker left them there)."""
    batch = store.read_segment(seg.name)
    frags = fragments.read(store.render_cache / (seg.name + ".frag"), batch, tz_name) \
        or fragments.render(batch, tz_name, tz)
    msgs = batch.messages
    td_frags, jl_frags = frags.td, frags.jsonl
    if overrides and any(x.id in overrides for x in msgs):
        ctx = fragments.context(batch, tz_name, tz)
        ctx.peers.update(override_peers)
        msgs, td_frags, jl_frags = list(msgs), list(td_frags), list(jl_frags)
        for j, x in enumerate(msgs):
            o = overrides.get(x.id)
            if o is not None and o.chat == x.chat:
                msgs[j] = o
                td_frags[j], jl_frags[j] = renderer.fragment(o, ctx), renderer.jsonl_line(o)
    return batch, msgs, td_frags, jl_frags
