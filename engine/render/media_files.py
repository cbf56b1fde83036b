"""Where each message's media went, as the outputs say it: read from the chat's media ledger.

Workers render result.json fragments without knowing about files (every file "not
included"); at assembly, the messages whose file has another answer -- downloaded (its
path), too large, unavailable -- are rendered again with it, and their messages.jsonl
line gains ``"file": {"path", "size", "sha256", "thumbnail", "probe" | "corrupt",
"transcoded"}``; the day notes embed a video's compact copy (``--transcode``) where it
has one that is not known to be broken, result.json keeps the original's path; a
document whose attributes lack a duration or dimensions gets the probe's in result.json
(``fill``). A chat without a ledger (never exported with media) keeps exactly the
fragments the workers wrote.

The ledger is opened read-only for the assembly (no compaction) and each message's
entry read with one ``pread`` (engine/archive/media_ledger.py), so memory holds only the
answers given so far, which the day notes read through the render context.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson

from engine import model as m
from engine.archive import layout
from engine.archive.media_ledger import (
    DONE,
    FAILED,
    SKIPPED,
    TOO_LARGE,
    UNAVAILABLE,
    Entry,
    Ledger,
    file_key,
)
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render import result_json

_VCARD_NOT_INCLUDED = b'"contact_vcard":' + orjson.dumps(result_json.NOT_INCLUDED)


class MediaFiles:
    """``prefix``: how result.json and messages.jsonl beside a view reach the chat folder
    (``../../`` from a forum topic's folder); the day notes' answers never take it (their
    links start at the vault's root)."""

    def __init__(self, root: Path, chat: m.PeerRef, prefix: str = ""):
        self.root, self.chat, self.prefix = root, chat, prefix
        self._ledger: Ledger | None = None      # opened at the first message (apply)
        self.td_files: dict[int, str] = {}      # the answers as result.json writes them

    @classmethod
    def open(cls, root: Path, chat: m.PeerRef, prefix: str = "") -> MediaFiles | None:
        """None when the chat has no ledger (never exported with media)."""
        if not (root / layout.STATE / layout.MEDIA_LEDGER).exists():
            return None
        return cls(root, chat, prefix)

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.open(self.root, compact=False)
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def entry(self, media) -> Entry | None:
        if isinstance(media, m.Photo):
            return self.ledger.get(file_key("photo", media.id))
        if isinstance(media, m.Document):
            return self.ledger.get(file_key("document", media.id))
        return None

    def apply(self, msgs: list[m.Message], td: list[bytes], jl: list[bytes], ctx,
              files: dict[int, str]) -> tuple[list[bytes], list[bytes]]:
        """The fragments with every message's media answer in them (copies when changed);
        ``files`` (the stream's: day notes read it) gets each answer given, ``ctx`` (the
        batch's) renders result.json with ``td_files``."""
        from engine.render import renderer

        changed = False
        for j, x in enumerate(msgs):
            if x.media is None:
                continue
            if isinstance(x.media, m.Contact):
                e = self.ledger.get(file_key("contact", self._ident(x)))
                if e is not None and e.status == DONE:
                    if not changed:
                        td, jl, changed = list(td), list(jl), True
                    # the vCard's path where the renderer wrote "not included"
                    td[j] = td[j].replace(_VCARD_NOT_INCLUDED, b'"contact_vcard":'
                                          + orjson.dumps(self.prefix + e.path))
                    jl[j] = self._record(jl[j], e)
                continue
            e = self.entry(x.media)
            answer = _answer(e)
            if answer is None:
                continue
            if not changed:
                td, jl, changed = list(td), list(jl), True
            self._give(files, x.media.id, answer)
            if e.copy and e.status == DONE:
                copy = msgspec.msgpack.decode(e.copy)
                if "path" in copy and copy.get("verified", True) and not copy.get("replaced"):
                    files[x.media.id] = copy["path"]    # the vault embeds the compact copy
            if getattr(x.media, "has_thumb", False):
                self._give(files, -x.media.id, e.thumb or result_json.UNAVAILABLE
                             if e.status == DONE else answer)
            ctx.files = self.td_files
            if e.status == DONE and e.probe and isinstance(x.media, m.Document):
                filled = fill(x.media, msgspec.msgpack.decode(e.probe))
                if filled is not x.media:
                    x = msgspec.structs.replace(x, media=filled)
            td[j] = renderer.fragment(x, ctx)
            if e.status == DONE:
                jl[j] = self._record(jl[j], e)
        return td, jl

    def _ident(self, x: m.Message) -> int:
        """The archive's id (a migrated group's messages sit below 1), as the ledger keys a
        contact."""
        return x.id if x.chat == self.chat else x.id - MIGRATED_ID_SHIFT

    def _record(self, line: bytes, e: Entry) -> bytes:
        """The JSONL line with its file's record."""
        record = {"path": self.prefix + e.path, "size": e.size, "sha256": e.sha256}
        if e.thumb:
            record["thumbnail"] = self.prefix + e.thumb
        if e.probe:
            record["probe"] = msgspec.msgpack.decode(e.probe)
        elif e.error:
            record["corrupt"] = e.error
        if e.copy:
            copy = msgspec.msgpack.decode(e.copy)
            if "path" in copy:
                copy["path"] = self.prefix + copy["path"]
            record["transcoded"] = copy
        return line[:-2] + b',"file":' + orjson.dumps(record) + b"}\n"

    def _give(self, files: dict[int, str], key: int, answer: str) -> None:
        """``answer`` for ``key``: as the day notes link it, and as result.json writes it."""
        files[key] = answer
        self.td_files[key] = answer if answer.startswith("(") else self.prefix + answer


def fill(doc: m.Document, probe: dict) -> m.Document:
    """``doc`` with what the probe found where Telegram's attributes say nothing (no
    duration, no dimensions), as result.json's ``duration_seconds``/``width``/``height``
    then show; ``doc`` itself when nothing is missing."""
    changes = {}
    if not doc.duration and probe.get("duration"):
        changes["duration"] = float(probe["duration"])
    if not doc.width and probe.get("width") and probe.get("height"):
        changes["width"], changes["height"] = probe["width"], probe["height"]
    return msgspec.structs.replace(doc, **changes) if changes else doc


def _answer(e: Entry | None) -> str | None:
    """What result.json says for the file instead of "not included", or None."""
    if e is None:
        return None
    if e.status == DONE:
        return e.path
    if e.status == FAILED or (e.status == SKIPPED and e.reason == UNAVAILABLE):
        return result_json.UNAVAILABLE
    if e.status == SKIPPED and e.reason == TOO_LARGE:
        return result_json.TOO_LARGE
    return None
