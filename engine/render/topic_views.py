"""A forum's topics as folders of their own, rendered from the chat's archive of record.

    <chat folder>/topics/<topic-id>-<slug>/  result.json  messages.jsonl  markdown/  topic.json

A whole-forum export fetches the history once, into the chat's own archive; each
topic's folder is a *view* of it: one streaming pass over the archive routes every
message to its topic (``topic_of``) and writes each topic's result.json and JSONL
(temp file + rename) and its day notes. Reply links in a topic's notes point into the
chat's own notes, which hold every message. A note is rewritten only when its text
changed, so unchanged notes keep their mtime (and manifest.json its hashes).

``tgarc export --topic ID`` fetches one topic alone into a store of its own in the
same folder (engine/supervisor/export.py); a later whole-forum export renders a
superset over its outputs.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import write_atomic
from engine.archive.naming import slug
from engine.archive.store import ChatStore
from engine.render import assemble as asm
from engine.render import day_notes, renderer, result_json

GENERAL = 1          # a forum's General topic: messages without a topic header


def topic_of(msg: m.Message) -> int:
    """The forum topic a message belongs to."""
    if msg.topic_id:
        return msg.topic_id
    if msg.action is not None and msg.action.kind == "topic_create":
        return msg.id
    return GENERAL


def topic_folder(topic_id: int, title: str) -> str:
    return f"{topic_id}-{slug(title)}"


def find_topic_folder(chat_root: Path, topic_id: int, title: str) -> Path:
    """The topic's folder, found by its id whatever its slug (a renamed topic keeps it)."""
    topics = chat_root / layout.TOPICS
    if topics.is_dir():
        for entry in sorted(os.scandir(topics), key=lambda e: e.name):
            if entry.is_dir() and entry.name.split("-", 1)[0] == str(topic_id):
                return Path(entry.path)
    return topics / topic_folder(topic_id, title)


@dataclass
class _View:
    tid: int
    root: Path
    title: str
    vctx: day_notes.VaultContext
    head: bytes
    tail: bytes
    empty: bytes
    td: asm._Out | None = None
    jl: asm._Out | None = None
    first: bool = True
    messages: int = 0
    first_id: int | None = None
    last_id: int | None = None
    days: dict[dt.date, list[m.Message]] = field(default_factory=dict)
    notes: set[Path] = field(default_factory=set)       # written or unchanged this render


def render_topics(store: ChatStore, topics: dict[int, str], formats: list[str],
                  tz_name: str) -> dict[int, int]:
    """Write every topic's folder from the chat's archive; messages per topic."""
    meta, tz = store.cp.chat, ZoneInfo(tz_name)
    clock = result_json.LocalClock(tz)
    overrides, override_peers = asm.refreshed(store)
    history = asm.history_segments(store)
    views: dict[int, _View] = {}
    for tid, title in topics.items():
        root = find_topic_folder(store.root, tid, title)
        root.mkdir(parents=True, exist_ok=True)
        info = m.PeerInfo(meta.ref, f"{meta.name} / {title}", meta.username)
        head, tail, empty = asm._doc_parts(meta, info)
        vctx = day_notes.VaultContext(result_json.RenderContext(meta.ref, tz), store.vault,
                                      f"{meta.name} / {title}", meta.username)
        v = views[tid] = _View(tid, root, title, vctx, head, tail, empty)
        if "json" in formats:
            v.td = asm._Out(root / layout.RESULT_JSON)
            v.td.f.write(head)
        if "jsonl" in formats:
            v.jl = asm._Out(root / layout.MESSAGES_JSONL)
    ids, dates = array("q"), array("q")     # the chat's own messages, ids ascending

    def locate(chat: m.PeerRef, msg_id: int) -> int | None:
        if chat != meta.ref:
            return None
        i = bisect.bisect_left(ids, msg_id)
        return dates[i] if i < len(ids) and ids[i] == msg_id else None

    for v in views.values():
        v.vctx.locate = locate
    suffix_min: list[float] = [float("inf")] * (len(history) + 1)
    for i in range(len(history) - 1, -1, -1):
        suffix_min[i] = min(suffix_min[i + 1], history[i].date_lo or float("inf"))
    md = "md" in formats
    try:
        for k, seg in enumerate(history):
            batch, msgs, td_frags, jl_frags = asm.rendered(store, seg, tz_name, tz, overrides,
                                                           override_peers)
            for v in views.values():
                v.vctx.base.peers.update((p.ref, p) for p in batch.peers)
            for x, td_frag, jl_frag in zip(msgs, td_frags, jl_frags, strict=True):
                if x.chat == meta.ref:
                    ids.append(x.id)
                    dates.append(x.date)
                v = views.get(topic_of(x))
                if v is None:
                    continue
                if v.td is not None:
                    v.td.f.write(td_frag if v.first else b",\n  " + td_frag)
                if v.jl is not None:
                    v.jl.f.write(jl_frag)
                v.first = False
                v.messages += 1
                v.first_id = v.first_id or x.id
                v.last_id = x.id
                if md:
                    v.days.setdefault(clock.date(x.date), []).append(x)
            horizon = suffix_min[k + 1]
            if md and horizon != float("inf"):
                done_before = clock.date(int(horizon))
                for v in views.values():
                    for day in sorted(v.days):
                        if day >= done_before:
                            break
                        _write_note(v, day, v.days.pop(day))
        for v in views.values():
            for day in sorted(v.days):
                _write_note(v, day, v.days.pop(day))
            if v.td is not None:
                if v.first:
                    v.td.f.seek(0)
                    v.td.f.truncate()
                    v.td.f.write(v.empty)
                else:
                    v.td.f.write(v.tail)
                v.td.commit()
            if v.jl is not None:
                v.jl.commit()
            if md:
                asm.prune_notes(v.root, v.notes)
            write_atomic(v.root / layout.TOPIC_JSON, orjson.dumps({
                "id": v.tid, "title": v.title,
                "chat": meta.name, "chat_folder": store.root.name, "messages": v.messages,
                "first_id": v.first_id, "last_id": v.last_id}, option=orjson.OPT_INDENT_2))
    except BaseException:
        for v in views.values():
            for f in (v.td, v.jl):
                if f is not None and not f.f.closed:
                    f.abort()
        raise
    write_atomic(store.state / "topics.json", orjson.dumps(
        {str(k): v for k, v in topics.items()}))
    return {tid: v.messages for tid, v in views.items()}


def saved_topics(store: ChatStore) -> dict[int, str]:
    """The topics the last export rendered (``tgarc render`` has no network)."""
    try:
        data = orjson.loads((store.state / "topics.json").read_bytes())
    except FileNotFoundError:
        return {}
    return {int(k): v for k, v in data.items()}


def _write_note(v: _View, day: dt.date, messages: list[m.Message]) -> None:
    path = v.root / day_notes.note_path(day)
    v.notes.add(path)
    data = renderer.day_note(v.vctx, day, messages)
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
