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

Newer versions from refresh segments replace the version of their id. Memory is
bounded by one day's messages plus two int arrays (id, date) for reply links.
The checkpoint's ``output`` state moves only after every output is durable, so a crash
here means the next run assembles again.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import fsync_dir, write_atomic
from engine.archive.store import ChatStore, Segment
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render import day_notes, fragments, renderer, result_json

_MARK = b"\x00tgarc-messages\x00"
FORMATS = ("json", "jsonl", "md")
ONE_DAY = dt.timedelta(days=1)


@dataclass
class Assembled:
    messages: int = 0
    days_written: int = 0
    jsonl: str = ""           # appended | rewritten | unchanged | off
    json: str = ""            # rewritten | unchanged | off


def _doc_parts(meta, info: m.PeerInfo) -> tuple[bytes, bytes, bytes]:
    """Head, separator and tail of result.json, taken from the renderer itself."""
    doc = result_json.document(info, meta.kind, [_MARK], meta.me)
    head, tail = doc.split(_MARK)
    empty = result_json.document(info, meta.kind, [], meta.me)
    return head, tail, empty


class _Out:
    """A file written beside its final name and renamed over it at the end."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.f = open(self.tmp, "wb")  # noqa: SIM115 - closed in commit/abort

    def commit(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def assemble(store: ChatStore, formats: list[str], tz_name: str, *,
             full: bool = False) -> Assembled:
    cp, meta = store.cp, store.cp.chat
    tz = ZoneInfo(tz_name)
    out_state = cp.output
    full = full or out_state.tz != tz_name or sorted(out_state.formats) != sorted(formats) \
        or out_state.assembled == 0
    new = cp.segments[out_state.assembled:]
    result = Assembled()
    if not new and not full:
        result.json = result.jsonl = "unchanged"
        return result
    history = history_segments(store)
    overrides, override_peers = refreshed(store)
    clock = result_json.LocalClock(tz)

    dirty: set[dt.date] | None = None
    if not full:
        dirty = set()
        for s in new:
            for msg in store.read_segment(s.name).messages:
                dirty.add(clock.date(overrides.get(msg.id, msg).date))

    jsonl_path = store.root / layout.MESSAGES_JSONL
    append_from = 0                       # jsonl: ids above this are appended; 0 = rewrite
    if "jsonl" in formats and not full and all(s.kind == "history" for s in new) \
            and min(s.lo for s in new) > out_state.jsonl_last_id \
            and _size(jsonl_path) == out_state.jsonl_bytes and out_state.jsonl_bytes:
        append_from = out_state.jsonl_last_id

    info = m.PeerInfo(meta.ref, meta.name, meta.username)
    head, tail, empty = _doc_parts(meta, info)
    td = _Out(store.root / layout.RESULT_JSON) if "json" in formats else None
    jl_out = jl_append = None
    if "jsonl" in formats:
        if append_from:
            jl_append = open(jsonl_path, "r+b")  # noqa: SIM115
            jl_append.truncate(out_state.jsonl_bytes)
            jl_append.seek(out_state.jsonl_bytes)
        else:
            jl_out = _Out(jsonl_path)
    md = "md" in formats
    vctx = day_notes.VaultContext(result_json.RenderContext(meta.ref, tz), store.vault,
                                  meta.name, meta.username)
    ids, dates = array("q"), array("q")

    def key(chat: m.PeerRef, msg_id: int) -> int | None:
        """The catalogue's id: a migrated basic group's messages come before id 1."""
        if chat == meta.ref:
            return msg_id
        return msg_id - MIGRATED_ID_SHIFT if chat.kind == "chat" else None

    def locate(chat: m.PeerRef, msg_id: int) -> int | None:
        msg_id = key(chat, msg_id)
        if msg_id is None:
            return None
        i = bisect.bisect_left(ids, msg_id)
        return dates[i] if i < len(ids) and ids[i] == msg_id else None

    vctx.locate = locate
    # A day is complete once no later segment can hold it: the oldest date of every
    # remaining segment is on a later day (Telegram's dates grow with ids, but imported
    # histories and clock skew make that a hope, not a rule).
    suffix_min: list[float] = [float("inf")] * (len(history) + 1)
    for i in range(len(history) - 1, -1, -1):
        suffix_min[i] = min(suffix_min[i + 1], history[i].date_lo or float("inf"))
    days: dict[dt.date, list[m.Message]] = {}
    written: set[Path] = set()
    last_id = 0
    try:
        first = True
        if td is not None:
            td.f.write(head)
        for k, seg in enumerate(history):
            batch, msgs, td_frags, jl_frags = rendered(store, seg, tz_name, tz, overrides,
                                                       override_peers)
            vctx.base.peers.update((p.ref, p) for p in batch.peers)
            if not msgs:
                continue
            if td is not None:
                if not first:
                    td.f.write(b",\n  ")
                td.f.write(b",\n  ".join(td_frags))
            first = False
            if jl_out is not None:
                jl_out.f.write(b"".join(jl_frags))
            elif jl_append is not None and msgs[-1].id > append_from:
                jl_append.write(b"".join(f for x, f in zip(msgs, jl_frags, strict=True)
                                         if x.id > append_from))
            ids.extend([x.id if x.chat == meta.ref else key(x.chat, x.id) or 0 for x in msgs])
            dates.extend([x.date for x in msgs])
            last_id = msgs[-1].id
            result.messages += len(msgs)
            if md:
                first_day, last_day = clock.date(seg.date_lo), clock.date(seg.date_hi)
                if first_day == last_day:          # the usual case: one lookup a segment
                    if dirty is None or first_day in dirty:
                        days.setdefault(first_day, []).extend(msgs)
                elif last_day == first_day + ONE_DAY:  # across one midnight: one cut
                    cut = int(dt.datetime.combine(last_day, dt.time(), tz).timestamp())
                    for day in (first_day, last_day):
                        if dirty is None or day in dirty:
                            days.setdefault(day, []).extend(
                                x for x in msgs if (x.date < cut) == (day == first_day))
                else:
                    for x in msgs:
                        day = clock.date(x.date)
                        if dirty is None or day in dirty:
                            days.setdefault(day, []).append(x)
            if md and days:
                horizon = suffix_min[k + 1]
                done_before = clock.date(int(horizon)) if horizon != float("inf") else None
                for day in sorted(days):
                    if done_before is not None and day >= done_before:
                        break
                    written.add(_write_day(store, vctx, day, days.pop(day)))
                    result.days_written += 1
        for day in sorted(days):
            written.add(_write_day(store, vctx, day, days.pop(day)))
            result.days_written += 1
        if md and dirty is None:
            prune_notes(store.root, written)
        if td is not None:
            if first:                 # no messages: the document has an empty list
                td.f.seek(0)
                td.f.truncate()
                td.f.write(empty)
            else:
                td.f.write(tail)
            td.commit()
            result.json = "rewritten"
        if jl_out is not None:
            jl_out.commit()
            result.jsonl = "rewritten"
        elif jl_append is not None:
            jl_append.flush()
            os.fsync(jl_append.fileno())
            jl_append.close()
            result.jsonl = "appended"
    except BaseException:
        for f in (td, jl_out):
            if f is not None:
                f.abort()
        if jl_append is not None:
            jl_append.close()
        raise
    fsync_dir(store.root)
    out_state.tz, out_state.formats = tz_name, sorted(formats)
    out_state.assembled = len(cp.segments)
    if "jsonl" in formats:
        out_state.jsonl_bytes, out_state.jsonl_last_id = _size(jsonl_path), last_id
    store.commit()
    return result


def history_segments(store: ChatStore) -> list[Segment]:
    return sorted((s for s in store.cp.segments if s.kind == "history" and s.count),
                  key=lambda s: s.lo)


def refreshed(store: ChatStore) -> tuple[dict[int, m.Message], dict[m.PeerRef, m.PeerInfo]]:
    """Newest versions from the refresh segments (by id) and the peers they mention."""
    overrides: dict[int, m.Message] = {}
    peers: dict[m.PeerRef, m.PeerInfo] = {}
    for s in store.cp.segments:
        if s.kind == "refresh":
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




__all__ = ["FORMATS", "Assembled", "Segment", "assemble"]
