"""Compact copies of a chat's downloaded videos (``--transcode``), made by the worker pool.

A file is a candidate when it is ``done`` in the ledger, its probe found a video stream
with a duration (a video, round video or GIF; an audio file's cover art is not one:
engine/media/probe.py), it is at least ``--transcode-min-size``, and the ledger holds no
copy of it under this run's settings (codec, quality, height). A file replaced by its
copy (``--transcode-replace``) is never a candidate again: a copy of a copy only loses.
Candidates come from the files this run downloads, as each is probed (media_fetch.py
``on_done``), and from those earlier runs downloaded (``scan``: ``--transcode`` given to
an archive that has its videos already).

Copies wait until the chat's history is in (``start``): a transcode holds a worker for
seconds to minutes, and history batches must not queue behind it. Then at most one per
worker is in flight (``Dispatch.transcode``: the pool gives a heavy job to the worker
with the fewest jobs). The encoder is the run's detection (engine/media/hwaccel.py):
a hardware one is tried first and any failure of it falls back to the CPU for that file
(engine/media/transcode.py ``transcode_auto``).

Originals with identical bytes (a re-upload, linked by the downloader) are copied once:
the others' copies are hard links to it (``linked`` in the tally).

Each copy goes to ``transcoded/<the original's path>`` (``.mp4`` appended unless that is
its suffix already), written whole or not at all, and the ledger entry's ``copy`` records
it (a msgpack map: ``settings``, ``path``, ``size``, ``sha256``, ``encoder``,
``hwaccel``, ``fallback``, ``width``, ``height``, ``duration``, ``seconds``, ``fps``), or
``settings`` and ``error`` when no copy could be made (the next run tries again).

``--transcode-replace``: the worker decodes the copy back (duration within 0.1 s, the
height asked for, audio when the source had it: ``transcode.verify``). Only a copy that
verified and is smaller than the original takes the original's place, in three durable
steps: the ledger records the intent (``replacing``), the copy is renamed over the
original, the ledger entry takes the copy's size and SHA-256 (``replaced`` with the
original's ``original_size``/``original_sha256``). ``scan`` finishes or undoes a swap a
crash interrupted. An original whose copy did not verify is never touched: the copy
stays in ``transcoded/`` and the entry says why (``not_replaced``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import msgspec

from engine.archive import layout
from engine.archive.media_ledger import DONE, Entry, Ledger
from engine.config import ExportConfig
from engine.model import events as ev

log = logging.getLogger("tgarc.media")

_MAP = msgspec.msgpack.Decoder(dict)
_ENC = msgspec.msgpack.Encoder()


@dataclass
class TranscodeTally:
    """What the copies cost and saved, for the summary and export_metrics.json."""
    files: int = 0            # copies made this run
    failed: int = 0           # no copy could be made
    replaced: int = 0         # originals swapped for their verified copy
    not_replaced: int = 0     # --transcode-replace refused (did not verify, not smaller)
    fallbacks: int = 0        # a hardware encoder failed: the CPU made the copy
    linked: int = 0           # copies of identical originals: a hard link to the one made
    seconds: float = 0.0      # worker seconds spent on copies (verification included)
    frames: int = 0
    video_seconds: float = 0.0   # of the copies' video
    bytes_in: int = 0
    bytes_out: int = 0
    busy: int = 0             # copies in flight now
    wanted: int = 0           # candidates offered this run (the progress line's total)
    encoders: dict | None = None   # encoder -> copies made with it

    def made(self, record: dict) -> None:
        self.files += 1
        self.frames += round(record.get("fps", 0.0) * record.get("seconds", 0.0))
        self.video_seconds += record.get("duration", 0.0)
        self.bytes_in += record.get("bytes_in", 0)
        self.bytes_out += record.get("size", 0)
        if record.get("fallback"):
            self.fallbacks += 1
        self.encoders = self.encoders or {}
        name = record.get("encoder", "")
        self.encoders[name] = self.encoders.get(name, 0) + 1


def copy_path(path: str) -> str:
    """Where the copy of the file at ``path`` (relative to the chat folder) goes."""
    return f"{layout.TRANSCODED}/{path if path.lower().endswith('.mp4') else path + '.mp4'}"


def settings_of(cfg: ExportConfig) -> str:
    """What makes two copies the same copy (the encoder, a machine's matter, does not)."""
    from engine.media.transcode import DEFAULT_CRF

    crf = DEFAULT_CRF[cfg.transcode] if cfg.crf is None else cfg.crf
    return f"{cfg.transcode} crf={crf} max_height={cfg.max_height or 'source'}"


def record_of(e: Entry) -> dict:
    return _MAP.decode(e.copy) if e.copy else {}


def is_video(e: Entry) -> bool:
    """A probed file with a video stream that lasts (not a still, not cover art)."""
    if not e.probe:
        return False
    p = _MAP.decode(e.probe)
    return bool(p.get("video_codec") and p.get("width") and p.get("duration"))


@dataclass
class _Twin:
    """A copy made this run, for the originals with the same bytes: where its bytes are."""
    where: str
    rec: dict
    verified: bool
    verify_error: str


class Transcoder:
    """``folder``: the store's place under the pool's root (a comment thread's)."""

    def __init__(self, cfg: ExportConfig, root: Path, ledger: Ledger, tally: TranscodeTally,
                 stop: asyncio.Event, hw: tuple[str, str, str | None] | None):
        self.cfg, self.root, self.ledger, self.tally, self.stop = cfg, root, ledger, tally, stop
        self.hw = hw
        self.settings = settings_of(cfg)
        self.dispatch = None
        self.folder = ""
        self.on_replaced = None     # (old size, old sha256) -> None: the dedup index forgets it
        self._waiting: list[int] = []
        self._seen: set[int] = set()
        self._tasks: set[asyncio.Task] = set()
        self._slots: asyncio.Semaphore | None = None
        self._extra = False
        self._told = False           # the Ctrl-C notice given
        self._made: dict[tuple[int, str], _Twin] = {}       # original's (size, sha) -> copy
        self._making: dict[tuple[int, str], asyncio.Future] = {}
        self.changed_old = False    # a rendered message's file changed: render everything
        self._old: set[int] = set()  # files earlier runs downloaded (their messages rendered)

    # ---- candidates -----------------------------------------------------------------------
    def wants(self, e: Entry) -> bool:
        if e.status != DONE or e.size < self.cfg.transcode_min_size or not is_video(e):
            return False
        rec = record_of(e)
        if rec.get("replaced") or rec.get("replacing"):
            return False
        if rec.get("settings") != self.settings or "error" in rec:
            return True
        if self.cfg.transcode_replace and "not_replaced" not in rec:
            return True         # copied before without --transcode-replace: verify, swap
        return not (self.root / rec["path"]).is_file()

    def scan(self) -> list[str]:
        """In a thread, at open: swaps a crash interrupted finished or undone, and the files
        earlier runs downloaded queued. One line per swap mended."""
        said = []
        for e in self.ledger.entries():
            if record_of(e).get("replacing"):
                said.append(self._mend(e))
                e = self.ledger.get(e.key)
            if self.wants(e):
                self._old.add(e.key)
                self.offer(e)
        self.changed_old = bool(said)
        return said

    def offer(self, e: Entry) -> None:
        """A done file (on the loop or before ``start``): copied if it is a candidate."""
        if e.key in self._seen or not self.wants(e):
            return
        self._seen.add(e.key)
        self.tally.wanted += 1
        if self._slots is None:
            self._waiting.append(e.key)
        else:
            self._launch(e.key)

    # ---- the copies ---------------------------------------------------------------------------
    def start(self, dispatch, workers: int, folder: str = "") -> None:
        """The history is in: copies may take the workers, one each at most, and one worker
        fewer while files are still downloading (``downloaded``): their probes, which the
        downloads await, find a worker free."""
        self.dispatch, self.folder = dispatch, folder
        self._slots = asyncio.Semaphore(max(1, workers - 1))
        self._extra = workers > 1
        waiting, self._waiting = self._waiting, []
        for key in waiting:
            self._launch(key)

    def _launch(self, key: int) -> None:
        task = asyncio.create_task(self._one(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def downloaded(self) -> None:
        """Every file is in: the copies may take every worker."""
        if self._slots is not None and self._extra:
            self._extra = False
            self._slots.release()

    async def finish(self) -> None:
        """Every copy offered made (or failed); on a stop, those not begun are left to the
        next run (the ledger has no copy of them)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _one(self, key: int) -> None:
        async with self._slots:
            e = self.ledger.get(key)
            if self.stop.is_set() or e is None or not self.wants(e):
                return
            self.tally.busy += 1
            try:
                await self._copy(e)
            finally:
                self.tally.busy -= 1

    async def _copy(self, e: Entry) -> None:
        if e.key in self._old:      # what it says of the file changes, whatever comes
            self.changed_old = True
        content = (e.size, e.sha256)
        while content in self._making:          # its twin is being copied: wait for it
            await asyncio.shield(self._making[content])
        twin = self._made.get(content)
        dest = copy_path(e.path)
        if twin is not None and await asyncio.to_thread(self._link, twin.where, dest):
            rec, verified, verify_error = {**twin.rec, "path": dest}, twin.verified, \
                twin.verify_error
            self.tally.linked += 1
        else:
            self._making[content] = asyncio.get_running_loop().create_future()
            try:
                answer = await self._transcode(e, dest)
            finally:
                self._making.pop(content).set_result(None)
            if answer is None:
                return
            rec, verified, verify_error = answer
            self._made[content] = _Twin(dest, {k: v for k, v in rec.items() if k != "path"},
                                        verified, verify_error)
        await self._record(e, rec, verified, verify_error)

    async def _transcode(self, e: Entry, dest: str) -> tuple[dict, bool, str] | None:
        """A worker's copy: (record, verified, why not), or None when there is none (the
        failure recorded; a stop records nothing and the next run copies it)."""
        probe = _MAP.decode(e.probe)
        prefix = f"{self.folder}/" if self.folder else ""
        job = ev.TranscodeJob(0, prefix + e.path, prefix + dest, self.cfg.transcode,
                              self.cfg.max_height, self.cfg.crf, self.hw,
                              verify=self.cfg.transcode_replace,
                              audio=bool(probe.get("audio_codec")))
        asked = self.dispatch.transcode(job)
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait((asked, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not asked.done():          # Ctrl-C: nothing recorded, the next run copies it
            if not self._told:
                self._told = True
                print(f"tgarc: {self.root.name}: waiting for the video copies in flight "
                      f"(one per worker) to end; Ctrl-C again to abort them", file=sys.stderr)
            return None
        got = asked.result()
        if isinstance(got, str) or got.error:
            why = got if isinstance(got, str) else got.error
            self.tally.failed += 1
            log.warning("media: %s: no compact copy: %s", e.path, why)
            await asyncio.to_thread(self.ledger.update, e.key, copy=_ENC.encode(
                {"settings": self.settings, "error": why[:2000]}))
            return None
        self.tally.seconds += got.seconds
        made = _MAP.decode(got.result)
        rec = {"settings": self.settings, "path": dest, "size": made["bytes_out"],
               "sha256": made["sha256"], "bytes_in": made["bytes_in"]}
        rec.update({k: made[k] for k in ("encoder", "hwaccel", "fallback", "width", "height",
                                         "duration", "seconds", "fps") if k in made})
        self.tally.made(rec)
        if made.get("fallback"):
            log.warning("media: %s: %s; copied on the CPU", e.path, made["fallback"])
        return rec, got.verified, got.verify_error

    def _link(self, where: str, dest: str) -> bool:
        """In a thread: the copy of identical bytes made already, linked as ``dest``."""
        tmp = self.root / (dest + ".link")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        try:
            os.link(self.root / where, tmp)
        except OSError:
            return False            # gone (replaced), or no hard links here: copy it anew
        os.replace(tmp, self.root / dest)
        return True

    async def _record(self, e: Entry, rec: dict, verified: bool, verify_error: str) -> None:
        if not self.cfg.transcode_replace:
            await asyncio.to_thread(self.ledger.update, e.key, copy=_ENC.encode(rec))
            return
        why = verify_error if not verified else (
            "" if rec["size"] < e.size else
            f"the copy ({rec['size']} bytes) is not smaller than the original ({e.size} bytes)")
        if why:
            rec["not_replaced"] = why
            if not verified:
                rec["verified"] = False       # the vault keeps embedding the original
            self.tally.not_replaced += 1
            log.warning("media: %s kept (not replaced by its copy): %s", e.path, why)
            await asyncio.to_thread(self.ledger.update, e.key, copy=_ENC.encode(rec))
            return
        await asyncio.to_thread(self._swap, e, rec)
        self.tally.replaced += 1
        twin = self._made.get((e.size, e.sha256))
        if twin is not None and twin.where == rec["path"]:
            twin.where = e.path               # its bytes live at the original's path now
        if self.on_replaced is not None:
            self.on_replaced(e.size, e.sha256)

    # ---- --transcode-replace ------------------------------------------------------------------
    def _swap(self, e: Entry, rec: dict) -> None:
        """In a thread: the verified copy takes the original's place, crash-safe (see the
        module's docstring)."""
        self.ledger.update(e.key, copy=_ENC.encode({**rec, "replacing": True}))
        os.replace(self.root / rec["path"], self.root / e.path)
        _sync_dir(self.root / e.path)
        _sync_dir(self.root / rec["path"])
        self._replaced(e, rec)

    def _replaced(self, e: Entry, rec: dict) -> None:
        done = {k: v for k, v in rec.items() if k not in ("replacing", "path")}
        done.update(replaced=True, original_size=e.size, original_sha256=e.sha256)
        self.ledger.update(e.key, size=rec["size"], sha256=rec["sha256"],
                           copy=_ENC.encode(done))

    def _mend(self, e: Entry) -> str:
        """A swap a crash interrupted: finished when the copy is there or in place already,
        else forgotten (the original is untouched: it is copied again)."""
        rec = record_of(e)
        copy, original = self.root / rec["path"], self.root / e.path
        if copy.is_file():
            os.replace(copy, original)
            _sync_dir(original)
            self._replaced(e, rec)
            return f"{e.path}: replaced by its verified copy (a crash had interrupted it)"
        if original.is_file() and original.stat().st_size == rec["size"] \
                and _sha256(original) == rec["sha256"]:
            self._replaced(e, rec)
            return f"{e.path}: its replacement by its verified copy recorded"
        self.ledger.update(e.key, copy=b"")
        return f"{e.path}: an interrupted replacement undone; it is copied again"


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _sync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
