"""One chat's folder: the archive of record (``archive/``, segment.py), the checkpoint
(``state/checkpoint.json``: the catalogue of durable segments and the output state) and
the render cache (``state/render/``); every name in layout.py.

The catalogue in the checkpoint is the truth: a segment file exists on disk before it
is listed (the worker fsyncs it, the supervisor fsyncs ``archive/`` and only then
writes the checkpoint). Nothing in ``archive/`` is ever deleted on a guess: each segment
carries its own length and sha256 (a 48-byte header before the msgpack Batch), so a
segment the checkpoint does not list yet (a crash between the worker's fsync and the
checkpoint) is checked when the folder is opened and *adopted* if whole, or moved to
``quarantine/`` (and reported) if not. A missing or damaged checkpoint is rebuilt from
the segments themselves (``ChatStore._open``; ``tgarc repair``): a lost ``state/`` costs a scan,
never the archive. The catalogue only grows, so "which segments are already reflected
in the user-facing outputs" is one number, ``assembled``.

Every writer of a chat folder (export, render, repair) holds the chat's lock,
``state/.lock`` (``ChatLock``), which covers the stores nested in it (topics, threads).
A history segment covers the id range ``lo..hi`` it was fetched for (gaps included: an
id with no message is covered too); refresh segments hold newer versions of messages
already covered and win over older versions, in catalogue order.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec
import orjson
from msgspec import Struct

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import fsync_dir, move_aside, write_atomic
from engine.archive.layout import NESTED, QUARANTINE
from engine.archive.lock import ChatLock, fence
from engine.archive.naming import chat_folder
from engine.archive.ranges import IdRanges
from engine.archive.segment import (  # noqa: F401  (re-exported: the archive's API)
    SEG_MAGIC,
    DamagedSegment,
    Segment,
    batch_dates,
    catalogue_order,
    describe,
    history_name,
    read_segment_file,
    refresh_name,
    run_of,
    seal,
    unseal,
    write_segment,
)
from engine.model.chat import ChatMeta

CHECKPOINT_VERSION = 1

class OutputState(Struct, omit_defaults=True):
    tz: str = ""              # the chat's time zone: kept until a run names another
    formats: list[str] = []
    assembled: int = 0        # catalogue entries reflected in the outputs
    jsonl_bytes: int = 0      # messages.jsonl length when last committed
    jsonl_last_id: int = 0
    json_bytes: int = 0       # result.json's length when last committed
    catalogue: int = 0        # valid (id, date) pairs in state/catalogue.q (render/resume.py)
    settled: str = ""         # the settings of the last run, if it left nothing to retry
    render: int = 0           # the renderer's version the outputs were assembled with


class RunRecord(Struct, omit_defaults=True):
    started: str
    finished: str = ""
    status: str = ""
    messages: int = 0
    tz: str = ""              # the zone the outputs were rendered in (rebuilds recover it)


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
    """Local state tgarc cannot use (exit code 4)."""


class DamagedCheckpoint(CorruptState):
    """``state/checkpoint.json`` cannot be read: it is rebuilt from the archive."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path} is damaged ({why}); `tgarc repair` rebuilds it from the "
                         f"archive")
        self.path, self.why = path, why


class ChatStore:
    def __init__(self, root: Path, checkpoint: Checkpoint, vault: str | None = None):
        self.root = root
        self.vault = vault or root.name   # the folder's path inside --out (note links)
        self.archive = root / layout.ARCHIVE
        self.state = root / layout.STATE
        self.render_cache = self.state / layout.RENDER_CACHE
        self.cp = checkpoint
        self.notices: list[str] = []      # what opening the folder found and did (one line each)
        self._lock: ChatLock | None = None

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
        return cls._open(root, meta, None)

    @classmethod
    def open_at(cls, root: Path, meta: ChatMeta, vault: str) -> ChatStore:
        """A store nested in a chat's folder (one forum topic, one post's comments)."""
        return cls._open(root, meta, vault)

    @classmethod
    def load(cls, root: Path) -> ChatStore:
        """An existing chat folder (``tgarc render``, ``tgarc repair``)."""
        nested = root.parent.name in NESTED
        vault = "/".join((root.parent.parent.name, root.parent.name, root.name)) \
            if nested else None
        return cls._open(root, None, vault)

    @classmethod
    def _open(cls, root: Path, meta: ChatMeta | None, vault: str | None) -> ChatStore:
        """Lock the chat, read (or rebuild) the checkpoint, take in what a crash left."""
        lock = ChatLock.acquire(root)
        try:
            notices, rebuilt = [], False
            try:
                cp = cls.read_checkpoint(root)
            except DamagedCheckpoint as exc:
                aside = move_aside(exc.path, exc.path.parent)
                notices.append(f"{root.name}: state/checkpoint.json was damaged ({exc.why}); "
                               f"kept as state/{aside.name}, rebuilt from the archive")
                cp, rebuilt = None, True
            else:
                if cp is None and _segment_files(root / layout.ARCHIVE):
                    notices.append(f"{root.name}: state/checkpoint.json is missing; rebuilt "
                                   f"from the archive")
                    rebuilt = True
            if cp is None:
                if meta is None:
                    meta = _recover_meta(root) if rebuilt else None
                    if meta is None:
                        raise CorruptState(f"{root} holds no tgarc archive (no "
                                           f"state/checkpoint.json)")
                cp = Checkpoint(CHECKPOINT_VERSION, meta)
                if rebuilt:
                    cp.runs = _recover_runs(root)
                    cp.output.tz = _recover_zone(root) or next(
                        (r.tz for r in reversed(cp.runs) if r.tz), "")
            elif meta is not None:
                cp.chat = meta                      # newest title / username
            store = cls(root, cp, vault)
            store._lock = lock
            store.notices += notices
            store._prepare(quiet=rebuilt)
            if rebuilt:
                store.commit()
        except BaseException:
            lock.release()
            raise
        return store                  # the caller reports store.notices

    def close(self) -> None:
        """Let other runs write this chat again."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> ChatStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def read_checkpoint(root: Path) -> Checkpoint | None:
        path = layout.checkpoint(root)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            raw = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise DamagedCheckpoint(path, str(exc)) from None
        version = raw.get("version") if isinstance(raw, dict) else None
        if isinstance(version, int) and version != CHECKPOINT_VERSION:
            raise CorruptState(f"{path} has version {version}; this tgarc reads "
                               f"{CHECKPOINT_VERSION}")
        try:
            cp = _CP_DEC.decode(data)
        except msgspec.ValidationError as exc:
            raise DamagedCheckpoint(path, str(exc)) from None
        return cp

    def _prepare(self, quiet: bool = False) -> None:
        """``quiet``: a rebuild adopts every segment; its own notice says so."""
        for d in (self.archive, self.render_cache):
            d.mkdir(parents=True, exist_ok=True)
        # Temporaries: a write that never reached its rename (never a whole file).
        for folder in (self.archive, self.state, self.root):
            for entry in os.scandir(folder):
                if entry.is_file() and entry.name.startswith(".") \
                        and entry.name.endswith(".tmp"):
                    os.unlink(entry.path)
        for nested in (layout.MARKDOWN, layout.TOPICS):   # notes; topic views and stores
            if (self.root / nested).is_dir():
                for tmp in (self.root / nested).rglob(".*.tmp"):
                    tmp.unlink()
        listed = {s.name for s in self.cp.segments}
        strays = sorted((n for n in _segment_files(self.archive) if n not in listed),
                        key=catalogue_order)
        if strays:
            self._adopt(strays, quiet)
            listed = {s.name for s in self.cp.segments}
        for entry in os.scandir(self.render_cache):     # a cache: rebuilt from the archive
            if entry.name.removesuffix(".frag") not in listed:
                os.unlink(entry.path)

    def _adopt(self, names: list[str], quiet: bool = False) -> None:
        """Segments on disk the checkpoint does not list (written, then a crash before
        the checkpoint; or the checkpoint was lost): kept if whole, set aside if not."""
        covered = self.cp.covered()
        kept = 0
        for name in names:
            path = self.archive / name
            try:
                seg = describe(path)
            except DamagedSegment as exc:
                self.set_aside(name, exc.why)
                continue
            if seg.kind == "history":
                if covered.missing(seg.lo, seg.hi) != [(seg.lo, seg.hi)]:
                    # a late writer's (a stale run's worker, docs/cluster.md): kept
                    # aside, so that no message is in the archive twice
                    self.set_aside(name, "repeats ids already in the archive",
                                   damaged=False)
                    continue
                covered.add(seg.lo, seg.hi)
            self.cp.segments.append(seg)
            kept += 1
        if kept and not quiet:
            self.notices.append(f"{self.root.name}: {kept} archive segment(s) the checkpoint "
                                f"did not list were checked and kept")

    def set_aside(self, name: str, why: str, damaged: bool = True) -> Path:
        """Move a segment out of ``archive/`` into ``quarantine/`` (never delete it)."""
        dest = move_aside(self.archive / name, self.root / QUARANTINE)
        with contextlib.suppress(FileNotFoundError):
            (self.render_cache / (name + ".frag")).unlink()
        what = f"is damaged ({why})" if damaged else why
        self.notices.append(f"{self.root.name}: archive/{name} {what}; moved to "
                            f"{QUARANTINE}/{dest.name}")
        return dest

    def check(self) -> list[Segment]:
        """Every listed segment read back and checked; the damaged ones are set aside and
        leave the catalogue (their ids are fetched again by the next export). Returns them."""
        bad = []
        for seg in list(self.cp.segments):
            path = self.segment_path(seg.name)
            try:
                read_segment_file(path)
            except DamagedSegment as exc:
                if path.exists():
                    self.set_aside(seg.name, exc.why)
                else:
                    self.notices.append(f"{self.root.name}: archive/{seg.name} is missing")
                self.cp.segments.remove(seg)
                bad.append(seg)
        if bad:
            self.cp.output.assembled = 0          # the outputs are rendered anew
        return bad

    # ---- the checkpoint -----------------------------------------------------------------------
    def commit(self) -> None:
        """Make the catalogue durable. Every listed segment was fsynced by its writer;
        fsyncing ``archive/`` makes their renames durable before the list moves on."""
        fsync_dir(self.archive)
        fence()                      # a run whose lease moved on writes no checkpoint
        write_atomic(self.state / layout.CHECKPOINT, _CP_ENC.encode(self.cp))

    def add(self, seg: Segment) -> None:
        self.cp.segments.append(seg)

    # ---- segments -----------------------------------------------------------------------------
    def segment_path(self, name: str) -> Path:
        return self.archive / name

    def read_segment(self, name: str, decoder=m.BATCH_DECODER) -> m.Batch:
        return read_segment_file(self.segment_path(name), decoder)

    def write_segment(self, name: str, payload: bytes) -> None:
        """Durable (fsynced) but not yet listed; see ``commit``."""
        write_segment(self.archive, name, payload)

    def next_run(self) -> int:
        """Never a run number a segment on disk already carries (names stay unique)."""
        seen = max((run_of(s.name) for s in self.cp.segments), default=0)
        return max(len(self.cp.runs), seen) + 1


# ---- recovery -----------------------------------------------------------------------------------
def _segment_files(archive: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(archive) if e.is_file()
                and e.name.endswith(layout.SEGMENT_SUFFIX) and not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def _recover_runs(root: Path) -> list[RunRecord]:
    """The run history, from chat.json / topic.json / thread.json or manifest.json."""
    best: list[RunRecord] = []
    for name, key in (*((n, "exports") for n in layout.RUN_RECORDS),
                      (layout.MANIFEST, "runs")):
        try:
            runs = msgspec.convert(orjson.loads((root / name).read_bytes()).get(key) or [],
                                   list[RunRecord])
        except (OSError, orjson.JSONDecodeError, msgspec.ValidationError, AttributeError):
            continue
        if len(runs) > len(best):
            best = runs
    return best


def _recover_zone(root: Path) -> str:
    try:
        tz = orjson.loads((root / layout.MANIFEST).read_bytes()).get("tz")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return ""
    return tz if isinstance(tz, str) else ""


_KIND = {"channel": "channel", "chat": "group", "user": "user"}


def _recover_meta(root: Path) -> ChatMeta | None:
    """Who the chat is, without Telegram: the first readable segment names it, chat.json
    (if any) adds its kind, title and username. The next export replaces all of it."""
    ref = None
    for name in sorted(_segment_files(root / layout.ARCHIVE), key=catalogue_order):
        try:
            batch = read_segment_file(root / layout.ARCHIVE / name)
        except (DamagedSegment, OSError):
            continue
        ref = batch.chat
        title = next((p.name for p in batch.peers if p.ref == ref), "")
        username = next((p.username for p in batch.peers if p.ref == ref), None)
        break
    if ref is None:
        return None
    meta = ChatMeta(ref, _KIND[ref.kind], title or "", username)
    try:
        info = orjson.loads((root / layout.CHAT_JSON).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return meta
    if isinstance(info, dict) and info.get("id") == ref.id:
        meta.kind = info.get("kind") or meta.kind
        meta.name = info.get("title") or meta.name
        meta.username = info.get("username") or meta.username
        meta.forum = bool(info.get("topics"))
    return meta
