"""One chat's folder: the archive of record, the checkpoint, the render cache.

    <out>/<kind><id>-<slug>/
      archive/<lo>-<hi>.<run>.<seq>.seg   one history page (msgpack Batch), append-only
      archive/refresh.<run>.<n>.seg       new versions found by --refresh-edits
      state/checkpoint.json               the catalogue of durable segments + output state
      state/render/<segment>.frag         fragments a worker rendered (a cache: rebuildable)

The catalogue in the checkpoint is the truth: a segment file exists on disk before it
is listed (the worker fsyncs it, the supervisor fsyncs ``archive/`` and only then
writes the checkpoint), and a file that is not listed is the leftover of a crash and
is removed when the folder is opened. The catalogue only grows, so "which segments
are already reflected in the user-facing outputs" is one number, ``assembled``.
A history segment covers the id range ``lo..hi`` it was fetched for (gaps included:
an id with no message there is covered too); refresh segments hold newer versions of
messages already covered and win over older versions, in catalogue order.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec
from msgspec import Struct

from engine import model as m
from engine.archive.atomic import fsync_dir, write_atomic
from engine.archive.naming import chat_folder
from engine.archive.ranges import IdRanges

CHECKPOINT_VERSION = 1


class Segment(Struct, array_like=True):
    name: str
    kind: str                 # history | refresh
    lo: int
    hi: int
    count: int
    date_lo: int = 0          # unix seconds of its oldest / newest message (0: none)
    date_hi: int = 0


class ChatMeta(Struct, omit_defaults=True):
    ref: m.PeerRef
    kind: str                 # channel | supergroup | group | user
    name: str = ""
    username: str | None = None
    me: int | None = None     # the exporting account (Saved Messages detection)
    forum: bool = False       # a supergroup with topics


class OutputState(Struct, omit_defaults=True):
    tz: str = ""
    formats: list[str] = []
    assembled: int = 0        # catalogue entries reflected in the outputs
    jsonl_bytes: int = 0      # messages.jsonl length when last committed
    jsonl_last_id: int = 0


class RunRecord(Struct, omit_defaults=True):
    started: str
    finished: str = ""
    status: str = ""
    messages: int = 0


class Checkpoint(Struct, omit_defaults=True):
    version: int
    chat: ChatMeta
    segments: list[Segment] = []
    output: OutputState = msgspec.field(default_factory=OutputState)
    runs: list[RunRecord] = []

    def covered(self) -> IdRanges:
        return IdRanges((s.lo, s.hi) for s in self.segments if s.kind == "history")


_CP_ENC = msgspec.json.Encoder()
_CP_DEC = msgspec.json.Decoder(Checkpoint)


class CorruptState(Exception):
    """The checkpoint cannot be read (exit code 4: local state)."""


class ChatStore:
    def __init__(self, root: Path, checkpoint: Checkpoint, vault: str | None = None):
        self.root = root
        self.vault = vault or root.name   # the folder's path inside --out (note links)
        self.archive = root / "archive"
        self.state = root / "state"
        self.render_cache = self.state / "render"
        self.cp = checkpoint

    # ---- opening ------------------------------------------------------------------------------
    @staticmethod
    def find(out: Path, kind: str, chat_id: int) -> Path | None:
        """The existing folder of this chat: found by kind and id, whatever its slug."""
        prefix = f"{kind}{chat_id}"
        with contextlib.suppress(FileNotFoundError):
            for entry in sorted(os.scandir(out), key=lambda e: e.name):
                if entry.is_dir() and (entry.name == prefix or entry.name.startswith(prefix + "-")):
                    return Path(entry.path)
        return None

    @classmethod
    def open(cls, out: Path, meta: ChatMeta) -> ChatStore:
        folder_kind = meta.ref.kind
        root = cls.find(out, folder_kind, meta.ref.id)
        if root is None:
            root = out / chat_folder(folder_kind, meta.ref.id, meta.name)
        cp = cls.read_checkpoint(root)
        if cp is None:
            cp = Checkpoint(CHECKPOINT_VERSION, meta)
        else:
            cp.chat = meta                      # newest title / username
        store = cls(root, cp)
        store._prepare()
        return store

    @classmethod
    def open_at(cls, root: Path, meta: ChatMeta, vault: str) -> ChatStore:
        """A store nested in a chat's folder (one forum topic, one post's comments)."""
        cp = cls.read_checkpoint(root)
        if cp is None:
            cp = Checkpoint(CHECKPOINT_VERSION, meta)
        else:
            cp.chat = meta
        store = cls(root, cp, vault)
        store._prepare()
        return store

    @classmethod
    def load(cls, root: Path) -> ChatStore:
        """An existing chat folder (``tgarc render``)."""
        cp = cls.read_checkpoint(root)
        if cp is None:
            raise CorruptState(f"{root} holds no tgarc archive (no state/checkpoint.json)")
        nested = root.parent.name in ("topics", "comments")
        store = cls(root, cp, "/".join((root.parent.parent.name, root.parent.name, root.name))
                    if nested else None)
        store._prepare()
        return store

    @staticmethod
    def read_checkpoint(root: Path) -> Checkpoint | None:
        path = root / "state" / "checkpoint.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            cp = _CP_DEC.decode(data)
        except msgspec.DecodeError as exc:
            raise CorruptState(f"{path} is damaged ({exc}); move it away to start over") from None
        if cp.version != CHECKPOINT_VERSION:
            raise CorruptState(f"{path} has version {cp.version}; this tgarc reads "
                               f"{CHECKPOINT_VERSION}")
        return cp

    def _prepare(self) -> None:
        for d in (self.archive, self.render_cache):
            d.mkdir(parents=True, exist_ok=True)
        listed = {s.name for s in self.cp.segments}
        # Leftovers of a crash: segments written but never made part of the checkpoint,
        # temporaries, and cached fragments of either.
        for entry in os.scandir(self.archive):
            if entry.name not in listed:
                os.unlink(entry.path)
        for entry in os.scandir(self.render_cache):
            if entry.name.removesuffix(".frag") not in listed:
                os.unlink(entry.path)
        # Temporaries of outputs an interrupted assembly was writing.
        for folder in (self.state, self.root):
            for entry in os.scandir(folder):
                if entry.is_file() and entry.name.startswith(".") \
                        and entry.name.endswith(".tmp"):
                    os.unlink(entry.path)
        markdown = self.root / "markdown"
        if markdown.is_dir():
            for tmp in markdown.rglob(".*.tmp"):
                tmp.unlink()

    # ---- the checkpoint -----------------------------------------------------------------------
    def commit(self) -> None:
        """Make the catalogue durable. Every listed segment was fsynced by its writer;
        fsyncing ``archive/`` makes their renames durable before the list moves on."""
        fsync_dir(self.archive)
        write_atomic(self.state / "checkpoint.json", _CP_ENC.encode(self.cp))

    def add(self, seg: Segment) -> None:
        self.cp.segments.append(seg)

    # ---- segments -----------------------------------------------------------------------------
    def segment_path(self, name: str) -> Path:
        return self.archive / name

    def read_segment(self, name: str) -> m.Batch:
        return m.BATCH_DECODER.decode(self.segment_path(name).read_bytes())

    def write_segment(self, name: str, payload: bytes) -> None:
        """Durable (fsynced) but not yet listed; see ``commit``."""
        write_segment(self.archive, name, payload)

    def next_run(self) -> int:
        return len(self.cp.runs) + 1


def history_name(lo: int, hi: int, run: int, seq: int) -> str:
    return f"{lo:010d}-{hi:010d}.{run}.{seq}.seg"


def refresh_name(run: int, n: int) -> str:
    return f"refresh.{run}.{n}.seg"


def write_segment(folder: Path, name: str, payload: bytes) -> None:
    """Write ``payload`` as ``folder/name``: temp file, fsync, rename. The folder is
    fsynced later, once for many segments (ChatStore.commit)."""
    write_atomic(folder / name, payload, sync_dir=False)
