"""User-facing outputs assembled, in id order, from the archive of record.

One streaming pass over the history segments (sorted by id) writes every format:

- ``result.json``: the cached result.json fragments concatenated into Telegram
  Desktop's document, written to a temporary file and renamed over the old one;
- ``messages.jsonl``: appended when the run only added messages newer than the file's
  last line, rewritten (temp + rename) otherwise (edits, deletions, a damaged tail);
- ``markdown/``: a day note is written once all of that day's messages are known
  (segments carry their oldest date, so "no later segment can still hold this day" is
  known while streaming), from the blocks the workers rendered (blocks.py), and only for
  days that changed since the last assembly; a full assembly (another zone, say) also
  removes the notes of days that no longer hold a message.

The pass itself -- segments in id order, newer versions from refresh segments, the one
render context, days completing as it goes -- is the streaming core in stream.py, which the
forum topic views (topic_views.py) share. The checkpoint's ``output`` state moves only after
every output is durable, so a crash here means the next run assembles again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import Output, fsync_dir, write_atomic
from engine.archive.store import ChatStore, Segment
from engine.render import blocks, day_notes
from engine.render import resume as resume_state
from engine.render.context import clock_for
from engine.render.fragments import RENDER_VERSION
from engine.render.outfiles import Appending, ResultDoc, ResultTail
from engine.render.stream import Stream, history_segments, refreshed, rendered

FORMATS = ("json", "jsonl", "md")


@dataclass
class Assembled:
    messages: int = 0
    days_written: int = 0
    jsonl: str = ""           # appended | rewritten | unchanged | off
    json: str = ""            # extended | rewritten | unchanged | off
    segments_read: int = 0    # history segments streamed (a resumed assembly: the tail only)
    # output -> (size, mtime_ns, bytes kept): files extended in place, whose first bytes the
    # manifest need not hash again (manifest.update's ``kept``)
    kept: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # resumed: where it started, for the forum topic views (topic_views.render_topics)
    resume: _Resume | None = None


@dataclass
class _Resume:
    """Where a resumed assembly starts: history segment ``start`` (the first that may hold
    a message of a day the new messages touch), what the catalogue knows (ids up to
    ``upto``), result.json to extend."""
    start: int
    upto: int
    known: tuple | None
    dirty: set[dt.date]
    td: ResultTail | None
    assembled: int = 0            # the checkpoint's segments the outputs reflected before

    def again(self) -> _Resume:
        """The same start for another pass (a copy of what the catalogue knew then)."""
        known = None if self.known is None else \
            (array("q", self.known[0]), array("q", self.known[1]), dict(self.known[2]),
             self.known[3])
        return _Resume(self.start, self.upto, known, self.dirty, None, self.assembled)


def assemble(store: ChatStore, formats: list[str], tz_name: str, *,
             full: bool = False, wait=None) -> Assembled:
    """``wait(segment name)``, when given, returns once a worker has put that segment's
    fragments in the cache (or given up on it): `tgarc render`'s workers render ahead.

    Three ways, the cheapest that gives a fresh export's bytes: *resumed* when the run only
    added messages newer than every assembled one (result.json extended in place,
    messages.jsonl appended, the touched days' notes written; only the new segments and
    those holding a touched day are read); *incremental* (every segment streamed, only
    the touched days' notes written) after edits or deletions; *full* otherwise."""
    out_state = store.cp.output
    full = full or out_state.tz != tz_name or sorted(out_state.formats) != sorted(formats) \
        or out_state.assembled == 0 or out_state.render != RENDER_VERSION
    new = store.cp.segments[out_state.assembled:]
    result = Assembled()
    if not new and not full:
        result.json = result.jsonl = "unchanged"
        return result
    meta = store.cp.chat
    info = m.PeerInfo(meta.ref, meta.name, meta.username)
    jl = _Jsonl(store, formats, new, full)
    resume = None if full else _resumable(store, formats, new, tz_name, jl, info)
    known_n = 0                               # catalogue pairs already in state/
    if resume is not None:
        result.resume = resume.again()
        known_n = len(resume.known[0]) if resume.known is not None else 0
        stream = Stream(store, tz_name, wait=wait, start=resume.start, known=resume.known)
        dirty = resume.dirty
        td = resume.td
    else:
        stream = Stream(store, tz_name, wait=wait)
        dirty = None if full else _dirty(stream, new)
        td = ResultDoc(store.root / layout.RESULT_JSON, meta, info) \
            if "json" in formats else None
    md = "md" in formats
    vctx = stream.vault(meta.name) if md else None
    # day notes from blocks the workers rendered (blocks.py): placeholders filled here
    filler = blocks.Filler(store.vault, meta.username, meta.ref, stream.locate, stream.clock)
    pending = blocks.PendingBlocks(stream.clock, dirty, stream.decoded)
    written: set[Path] = set()
    upto = resume.upto if resume is not None else float("-inf")
    try:
        for piece in stream.pieces(md):
            result.segments_read += 1
            if not piece.ids:
                continue
            if piece.seg.hi > upto:           # not yet in the outputs
                if td is not None:
                    td.add(piece.td)
                jl.add(piece.ids, piece.jl)
                result.messages += len(piece.ids)
            if md:
                pending.add(piece)
                result.days_written += _write_days(store, vctx, filler, written,
                                                   pending.complete(stream.complete_before()))
        result.days_written += _write_days(store, vctx, filler, written, pending.complete(None))
        if vctx is not None and full:
            prune_notes(store.root, written)
        if td is not None:
            td.commit()
            result.json = "extended" if resume is not None else "rewritten"
            result.kept.update({layout.RESULT_JSON: td.kept} if resume is not None else {})
        result.jsonl = jl.commit()
        if jl.kept is not None:
            result.kept[layout.MESSAGES_JSONL] = jl.kept
        if vctx is not None:
            resume_state.save(store.state, stream.ids, stream.dates, known_n, stream.ctx.peers,
                              len(store.cp.segments))
    except BaseException:
        if td is not None:
            td.abort()
        jl.abort()
        raise
    finally:
        stream.close()
    _commit(store, formats, tz_name, len(stream.ids) if vctx is not None else 0,
            td is not None, jl)
    return result


def _commit(store: ChatStore, formats: list[str], tz_name: str, catalogue: int, json: bool,
            jl: _Jsonl) -> None:
    """Every output is durable: the checkpoint's output state moves (see docs/export.md)."""
    fsync_dir(store.root)
    out_state = store.cp.output
    out_state.tz, out_state.formats = tz_name, sorted(formats)
    out_state.render = RENDER_VERSION
    out_state.assembled = len(store.cp.segments)
    out_state.catalogue = catalogue
    out_state.json_bytes = _size(store.root / layout.RESULT_JSON) if json else 0
    if "jsonl" in formats:
        out_state.jsonl_bytes, out_state.jsonl_last_id = _size(jl.path), jl.last_id
    store.commit()


def _resumable(store: ChatStore, formats: list[str], new: list[Segment], tz_name: str,
               jl: _Jsonl, info: m.PeerInfo) -> _Resume | None:
    """A resumed assembly's start, when the run only added messages newer than every one
    in the outputs and every output can take them at its end; else None."""
    state = store.cp.output
    done = {s.name for s in store.cp.segments[:state.assembled]}
    history = history_segments(store)
    old = [s for s in history if s.name in done]
    fresh = [s for s in history if s.name not in done]
    if not old or any(s.kind != "history" for s in new) \
            or (fresh and min(s.lo for s in fresh) <= old[-1].hi) \
            or ("jsonl" in formats and jl.append is None):
        return None
    start = len(old)
    known, dirty = None, set()
    if "md" in formats:
        known = resume_state.load(store.state, state.catalogue, state.assembled)
        if known is None:
            return None
        clock = clock_for(ZoneInfo(tz_name))
        # the days the new segments span, from their dates in the catalogue: the stream
        # reads them once (a day with no new message is written again, unchanged)
        dirty = {d for s in fresh for d in _days(clock.date(s.date_lo), clock.date(s.date_hi))}
        if dirty:
            # the first older segment that may hold a touched day (dates need not follow ids)
            first, last = min(dirty), max(dirty)
            start = next((i for i, s in enumerate(old) if clock.date(s.date_hi) >= first
                          and clock.date(s.date_lo) <= last), start)
        known = (*known, old[-1].hi)
    td = None
    if "json" in formats:
        td = ResultTail.open(store.root / layout.RESULT_JSON, store.cp.chat, info,
                             state.json_bytes)
        if td is None:
            return None
    return _Resume(start, old[-1].hi, known, dirty, td, state.assembled)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(n) for n in range((last - first).days + 1)]


def _dirty(stream: Stream, new: list[Segment]) -> set[dt.date]:
    """The days the new segments touch: the only notes an incremental assembly writes."""
    return {stream.clock.date(stream.overrides.get(msg.id, msg).date)
            for s in new for msg in stream.store.read_segment(s.name).messages}


class _Jsonl:
    """messages.jsonl: appended when the run only added messages newer than the file's last
    line, rewritten (temp + rename) otherwise (edits, deletions, a damaged tail)."""

    def __init__(self, store: ChatStore, formats: list[str], new: list[Segment], full: bool):
        state = store.cp.output
        self.path = store.root / layout.MESSAGES_JSONL
        self.last_id = 0
        self.append_from = 0                # ids above this are appended; 0: rewrite
        self.out: Output | None = None
        self.append: Appending | None = None
        self.kept: tuple[int, int, int] | None = None   # appended: see Assembled.kept
        if "jsonl" not in formats:
            return
        if not full and all(s.kind == "history" for s in new) \
                and min(s.lo for s in new) > state.jsonl_last_id:
            self.append = Appending.open(self.path, state.jsonl_bytes)
        if self.append is not None:
            self.append_from = state.jsonl_last_id
            self.kept = self.append.kept
        else:
            self.out = Output(self.path)

    def add(self, ids: list[int], lines: list[bytes]) -> None:
        if self.out is not None:
            self.out.f.write(b"".join(lines))
        elif self.append is not None and ids[-1] > self.append_from:
            self.append.f.write(b"".join(f for i, f in zip(ids, lines, strict=True)
                                         if i > self.append_from))
        self.last_id = ids[-1]

    def commit(self) -> str:
        if self.out is not None:
            self.out.commit()
            return "rewritten"
        if self.append is not None:
            self.append.commit()
            return "appended"
        return ""

    def abort(self) -> None:
        for f in (self.out, self.append):
            if f is not None:
                f.abort()


def _write_days(store: ChatStore, vctx, filler, written: set[Path], days) -> int:
    """The completed days' notes written (their paths added to ``written``); how many."""
    n = 0
    for day, chunks in days:
        path = store.root / day_notes.note_path(day, vctx.note_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, blocks.note(vctx, day, chunks, filler))
        written.add(path)
        n += 1
    return n


def prune_notes(root: Path, kept: set[Path]) -> int:
    """Remove the day notes under ``root/markdown`` that a full render did not write
    (days that no longer hold a message, as after a change of zone), and year folders
    left empty. Only names tgarc gives notes are touched (those of before render version 3
    too)."""
    removed = 0
    for path in layout.notes(root):
        if path not in kept and layout.is_note(path):
            path.unlink()
            removed += 1
    for year in (root / layout.MARKDOWN).glob("[0-9][0-9][0-9][0-9]"):
        with contextlib.suppress(OSError):
            year.rmdir()                 # only when empty
    return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


# the shared core's names, as the supervisor has always found them here
__all__ = ["FORMATS", "Assembled", "Segment", "assemble", "history_segments", "prune_notes",
           "refreshed", "rendered"]
