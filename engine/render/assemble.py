"""User-facing outputs assembled, in id order, from the archive of record.

One streaming pass over the history segments (sorted by id) writes every format:

- ``result.json``: the cached result.json fragments concatenated into Telegram
  Desktop's document, written to a temporary file and renamed over the old one;
- ``messages.jsonl``: appended when the run only added messages newer than the file's
  last line, rewritten (temp + rename) otherwise (edits, deletions, a damaged tail);
- ``markdown/``: a day note is rendered once all of that day's messages are known
  (segments carry their oldest date, so "no later segment can still hold this day" is
  known while streaming) and only for days that changed since the last assembly; a
  full assembly (another zone, say) also removes the notes of days that no longer
  hold a message.

The pass itself -- segments in id order, newer versions from refresh segments, the one
render context, days completing as it goes -- is the streaming core in stream.py, which the
forum topic views (topic_views.py) share. The checkpoint's ``output`` state moves only after
every output is durable, so a crash here means the next run assembles again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import fsync_dir, write_atomic
from engine.archive.store import ChatStore, Segment
from engine.render import day_notes, renderer
from engine.render.stream import (
    Output,
    PendingDays,
    ResultDoc,
    Stream,
    history_segments,
    refreshed,
    rendered,
)

FORMATS = ("json", "jsonl", "md")


@dataclass
class Assembled:
    messages: int = 0
    days_written: int = 0
    jsonl: str = ""           # appended | rewritten | unchanged | off
    json: str = ""            # rewritten | unchanged | off


def assemble(store: ChatStore, formats: list[str], tz_name: str, *,
             full: bool = False, wait=None) -> Assembled:
    """``wait(segment name)``, when given, returns once a worker has put that segment's
    fragments in the cache (or given up on it): `tgarc render`'s workers render ahead."""
    out_state = store.cp.output
    full = full or out_state.tz != tz_name or sorted(out_state.formats) != sorted(formats) \
        or out_state.assembled == 0
    new = store.cp.segments[out_state.assembled:]
    result = Assembled()
    if not new and not full:
        result.json = result.jsonl = "unchanged"
        return result
    stream = Stream(store, tz_name, wait=wait)
    pending = PendingDays(stream.clock, None if full else _dirty(stream, new))
    meta = store.cp.chat
    td = ResultDoc(store.root / layout.RESULT_JSON, meta,
                   m.PeerInfo(meta.ref, meta.name, meta.username)) if "json" in formats else None
    jl = _Jsonl(store, formats, new, full)
    vctx = stream.vault(meta.name) if "md" in formats else None
    written: set[Path] = set()
    try:
        for seg, msgs, td_frags, jl_frags in stream.segments():
            if not msgs:
                continue
            if td is not None:
                td.add(td_frags)
            jl.add(msgs, jl_frags)
            result.messages += len(msgs)
            if vctx is not None:
                pending.add(msgs, seg.date_lo, seg.date_hi)
                for day, day_msgs in pending.complete(stream.complete_before()):
                    written.add(_write_day(store, vctx, day, day_msgs))
                    result.days_written += 1
        for day, day_msgs in pending.complete(None):
            written.add(_write_day(store, vctx, day, day_msgs))
            result.days_written += 1
        if vctx is not None and full:
            prune_notes(store.root, written)
        if td is not None:
            td.commit()
            result.json = "rewritten"
        result.jsonl = jl.commit()
    except BaseException:
        if td is not None:
            td.abort()
        jl.abort()
        raise
    finally:
        stream.close()
    fsync_dir(store.root)
    out_state.tz, out_state.formats = tz_name, sorted(formats)
    out_state.assembled = len(store.cp.segments)
    if "jsonl" in formats:
        out_state.jsonl_bytes, out_state.jsonl_last_id = _size(jl.path), jl.last_id
    store.commit()
    return result


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
        self.append = None
        if "jsonl" not in formats:
            return
        if not full and all(s.kind == "history" for s in new) \
                and min(s.lo for s in new) > state.jsonl_last_id \
                and _size(self.path) == state.jsonl_bytes and state.jsonl_bytes:
            self.append_from = state.jsonl_last_id
            self.append = open(self.path, "r+b")  # noqa: SIM115 - closed in commit/abort
            self.append.truncate(state.jsonl_bytes)
            self.append.seek(state.jsonl_bytes)
        else:
            self.out = Output(self.path)

    def add(self, msgs: list[m.Message], lines: list[bytes]) -> None:
        if self.out is not None:
            self.out.f.write(b"".join(lines))
        elif self.append is not None and msgs[-1].id > self.append_from:
            self.append.write(b"".join(f for x, f in zip(msgs, lines, strict=True)
                                       if x.id > self.append_from))
        self.last_id = msgs[-1].id

    def commit(self) -> str:
        if self.out is not None:
            self.out.commit()
            return "rewritten"
        if self.append is not None:
            self.append.flush()
            os.fsync(self.append.fileno())
            self.append.close()
            return "appended"
        return ""

    def abort(self) -> None:
        if self.out is not None:
            self.out.abort()
        if self.append is not None:
            self.append.close()


def _write_day(store: ChatStore, vctx, day: dt.date, messages: list[m.Message]) -> Path:
    path = store.root / day_notes.note_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, renderer.day_note(vctx, day, messages))
    return path


def prune_notes(root: Path, kept: set[Path]) -> int:
    """Remove the day notes under ``root/markdown`` that a full render did not write
    (days that no longer hold a message, as after a change of zone), and year folders
    left empty. Only names tgarc gives notes are touched."""
    removed = 0
    for path in layout.notes(root):
        stem = path.stem
        if path not in kept and len(stem) == 10 and stem[:4] == path.parent.name \
                and stem[4] == "-" and stem[7] == "-":
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
