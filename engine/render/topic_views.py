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

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import Output, write_atomic
from engine.archive.naming import slug
from engine.archive.store import ChatStore
from engine.render import day_notes, renderer
from engine.render.assemble import prune_notes
from engine.render.outfiles import Appending, ResultDoc, ResultTail
from engine.render.stream import PendingDays, Stream

GENERAL = 1          # a forum's General topic: messages without a topic header
VIEWS = "topic_views.json"  # in the chat's state/: what each view held after its last render


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
    """One topic's folder while the stream runs."""
    tid: int
    root: Path
    title: str
    vctx: day_notes.VaultContext
    days: PendingDays
    td: ResultDoc | None = None
    jl: Output | None = None
    messages: int = 0
    first_id: int | None = None
    last_id: int | None = None
    notes: set[Path] = field(default_factory=set)       # written or unchanged this render

    def add(self, msgs: list[m.Message], td: list[bytes], jl: list[bytes]) -> None:
        """This topic's messages of one segment, in id order."""
        if self.td is not None:
            self.td.add(td)
        if self.jl is not None:
            self.jl.f.write(b"".join(jl))
        self.messages += len(msgs)
        self.first_id = self.first_id or msgs[0].id
        self.last_id = msgs[-1].id


def render_topics(store: ChatStore, topics: dict[int, str], formats: list[str],
                  tz_name: str, resume=None) -> dict[int, int]:
    """Write every topic's folder from the chat's archive; messages per topic.
    ``resume``: the chat's assembly just resumed (``Assembled.resume``); the views resume
    from the same segment when every one of them is as their last render left it."""
    views = None
    if resume is not None:
        stream = Stream(store, tz_name, media_prefix="../../", start=resume.start,
                        known=resume.known)
        views = _reopen(stream, topics, formats, tz_name, resume)
        if views is None:
            stream.close()
    if views is None:
        resume = None
        stream = Stream(store, tz_name, media_prefix="../../")      # topics/<id>-<slug>/
        views = {tid: _open(stream, tid, title, formats) for tid, title in topics.items()}
    upto = resume.upto if resume is not None else float("-inf")
    md = "md" in formats
    try:
        for seg, msgs, td_frags, jl_frags in stream.segments():
            routed: dict[int, tuple[list, list, list]] = {}
            fresh = seg.hi > upto                 # not yet in the views
            for x, td, jl in zip(msgs, td_frags, jl_frags, strict=True):
                tid = topic_of(x)
                if tid in views:
                    parts = routed.setdefault(tid, ([], [], []))
                    parts[0].append(x)
                    parts[1].append(td)
                    parts[2].append(jl)
            for tid, (tmsgs, tds, jls) in routed.items():
                if fresh:
                    views[tid].add(tmsgs, tds, jls)
                if md:
                    views[tid].days.add(tmsgs)
            before = stream.complete_before()
            if md and before is not None:
                for v in views.values():
                    for day, day_msgs in v.days.complete(before):
                        _write_note(v, day, day_msgs)
        for v in views.values():
            _close(stream, v, md, prune=resume is None)
    except BaseException:
        for v in views.values():
            for f in (v.td, v.jl):
                if f is not None:
                    f.abort()
        raise
    finally:
        stream.close()
    write_atomic(store.state / "topics.json", orjson.dumps(
        {str(k): v for k, v in topics.items()}))
    write_atomic(store.state / VIEWS, orjson.dumps({
        "assembled": store.cp.output.assembled, "tz": tz_name, "formats": sorted(formats),
        "views": {str(v.tid): {"title": v.title, "json_bytes": _size(v.root, layout.RESULT_JSON),
                               "jsonl_bytes": _size(v.root, layout.MESSAGES_JSONL),
                               "messages": v.messages, "first_id": v.first_id,
                               "last_id": v.last_id} for v in views.values()}}))
    return {tid: v.messages for tid, v in views.items()}


def _size(root: Path, name: str) -> int:
    try:
        return (root / name).stat().st_size
    except FileNotFoundError:
        return 0


def _reopen(stream: Stream, topics: dict[int, str], formats: list[str], tz_name: str,
            resume) -> dict[int, _View] | None:
    """Every view opened to take messages at its end, or None when one cannot (the views
    were rendered for another state of the archive, zone or formats, a topic is new or
    renamed, a file is not what the last render left)."""
    try:
        state = orjson.loads((stream.store.state / VIEWS).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    known = state.get("views", {})
    if state.get("assembled") != resume.assembled or state.get("tz") != tz_name \
            or state.get("formats") != sorted(formats) \
            or sorted(known) != sorted(str(t) for t in topics):
        return None
    views: dict[int, _View] = {}
    meta = stream.meta
    for tid, title in topics.items():
        had = known[str(tid)]
        root = find_topic_folder(stream.store.root, tid, title)
        name = f"{meta.name} / {title}"
        v = _View(tid, root, title, stream.vault(name, _vault_of(stream, root)),
                  PendingDays(stream.clock, resume.dirty),
                  messages=had["messages"], first_id=had["first_id"], last_id=had["last_id"])
        views[tid] = v
        ok = had["title"] == title
        if ok and "json" in formats:
            v.td = ResultTail.open(root / layout.RESULT_JSON, meta,
                                   m.PeerInfo(meta.ref, name, meta.username), had["json_bytes"])
            ok = v.td is not None
        if ok and "jsonl" in formats:
            v.jl = Appending.open(root / layout.MESSAGES_JSONL, had["jsonl_bytes"])
            ok = v.jl is not None
        if not ok:
            for x in views.values():
                for f in (x.td, x.jl):
                    if f is not None:
                        f.abort()
            return None
    return views


def _open(stream: Stream, tid: int, title: str, formats: list[str]) -> _View:
    meta = stream.meta
    root = find_topic_folder(stream.store.root, tid, title)
    root.mkdir(parents=True, exist_ok=True)
    name = f"{meta.name} / {title}"
    v = _View(tid, root, title, stream.vault(name, _vault_of(stream, root)),
              PendingDays(stream.clock))
    if "json" in formats:
        v.td = ResultDoc(root / layout.RESULT_JSON, meta,
                         m.PeerInfo(meta.ref, name, meta.username))
    if "jsonl" in formats:
        v.jl = Output(root / layout.MESSAGES_JSONL)
    return v


def _vault_of(stream: Stream, root: Path) -> str:
    """A topic folder's path inside --out (its notes' names)."""
    return f"{stream.store.vault}/{layout.TOPICS}/{root.name}"


def _close(stream: Stream, v: _View, md: bool, prune: bool = True) -> None:
    """A topic's last notes, its files renamed into place (or extended), its topic.json
    (rewritten only when it changed)."""
    for day, day_msgs in v.days.complete(None):
        _write_note(v, day, day_msgs)
    for f in (v.td, v.jl):
        if f is not None:
            f.commit()
    if md and prune:
        prune_notes(v.root, v.notes)
    _write_if_changed(v.root / layout.TOPIC_JSON, orjson.dumps({
        "id": v.tid, "title": v.title, "chat": stream.meta.name,
        "chat_folder": stream.store.root.name, "messages": v.messages,
        "first_id": v.first_id, "last_id": v.last_id}, option=orjson.OPT_INDENT_2))


def saved_topics(store: ChatStore) -> dict[int, str]:
    """The topics the last export rendered (``tgarc render`` has no network)."""
    try:
        data = orjson.loads((store.state / "topics.json").read_bytes())
    except FileNotFoundError:
        return {}
    return {int(k): v for k, v in data.items()}


def _write_note(v: _View, day: dt.date, messages: list[m.Message]) -> None:
    path = v.root / day_notes.note_path(day, v.vctx.note_key)
    v.notes.add(path)
    _write_if_changed(path, renderer.day_note(v.vctx, day, messages))


def _write_if_changed(path: Path, data: bytes) -> None:
    """Unchanged files keep their mtime (and manifest.json its hashes)."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
