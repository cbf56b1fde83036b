"""The aggregator process body: read events off the ring, sample, display, write the metrics.

Runs in a ``spawn`` child, so keep imports light: the transport, the event records,
psutil, orjson (rich only inside the terminal display).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import orjson

from engine.archive.atomic import write_atomic
from engine.model.events import AGG_DECODER, ChatDone, Proc, Tasks
from engine.transport import Closed, Empty, PeerDied, Ring, RingError

from . import display as display_mod
from .fold import Fold
from .metrics import VERSION, recommend
from .sampler import Sampler

TICK = 1.0       # seconds between psutil samples and progress updates
MAX_WAIT = 0.25  # longest read wait, so a SIGTERM is acted on promptly


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class Run:
    def __init__(self, rx, cfg: dict, display):
        self.rx = rx
        self.path = Path(cfg["metrics_path"])
        self.interval = max(0.05, float(cfg["interval"]))
        self.started_wall = cfg["started_wall"]
        self.started_mono = cfg["started_mono"]
        self.fold = Fold(started_mono=self.started_mono)
        self.sampler = Sampler()
        self.display = display
        self.stop_reason: str | None = None
        self._write_failed = False

    # ---- the document -------------------------------------------------------------------------
    def metrics(self, status: str, end_mono: float, final: bool) -> dict:
        f = self.fold
        wall = max(0.0, end_mono - self.started_mono)
        sections = f.sections(end_mono)
        m = {
            "version": VERSION,
            "status": status,
            "chat": f.chat,
            "chats_total": max(f.chats_total, len(f.chats)),
            # by folder, not in the order they ended (which varies from run to run)
            "chats": [{"chat": c.chat, "folder": c.folder, "status": c.status,
                       "messages": c.messages, "seconds": round(c.seconds, 3),
                       "error": c.error} for c in sorted(f.chats, key=_folder)],
            "started": iso(self.started_wall),
            "finished": iso(time.time()) if final else None,
            "wall_seconds": round(wall, 3),
            "messages": f.messages,
            "messages_per_second": round(f.messages / wall, 2) if wall > 0 else 0.0,
            "estimated_total": f.estimated_total,
            "message": f.finish.message if f.finish is not None else "",
            "stages": sections["stages"],
            "resources": self.sampler.resources(),
            "caches": sections["caches"],
            "telegram": sections["telegram"],
            "queues": sections["queues"],
            "workers": sections["workers"],
            "decoder": sections["decoder"],
            "media": {"downloaded": 0, "bytes": 0, "deduplicated": 0, "transcoded": 0,
                      "failed": 0, "hwaccel": "none"},
            "recommendation": {"workers": 1, "reason": ""},
            "aggregator": {"pid": os.getpid(), "bad_records": f.bad_records},
        }
        md = f.media_download()
        if md is not None:                   # --media other than none: the downloads
            m["media_download"] = md
            m["media"].update(downloaded=md["files"], bytes=md["bytes_done"],
                              deduplicated=md["dedup_files"], failed=md["failed"])
        tc = f.transcode()
        if tc is not None:                   # --transcode: the copies and the detection
            m["transcode"] = tc
            m["media"].update(transcoded=tc["files"], hwaccel=tc["hwaccel"]["hwaccel"])
        m["recommendation"] = recommend(m)
        return m

    def write(self, m: dict) -> None:
        try:
            write_atomic(self.path, orjson.dumps(m, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as e:
            if not self._write_failed:
                self._write_failed = True
                self.display.note(f"tgarc: cannot write {self.path}: {e.strerror or e}")

    # ---- the loop -----------------------------------------------------------------------------
    def fold_records(self, records) -> bool:
        """Fold raw records; True when a new process was registered (sample it now)."""
        new_proc = False
        now = time.monotonic()
        for raw in records:
            try:
                ev = AGG_DECODER.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.fold.bad_records += 1
                continue
            if isinstance(ev, Proc):
                self.sampler.add(ev.pid, ev.role, ev.alive)
                new_proc = new_proc or ev.alive
            elif isinstance(ev, Tasks):
                had = self.sampler.tasks.get(ev.node)
                self.sampler.tasks[ev.node] = ev if had is None else Tasks(
                    ev.node, had.tasks + ev.tasks, had.cpu_seconds + ev.cpu_seconds)
            else:
                self.fold.apply(ev, now)
                if isinstance(ev, ChatDone):
                    self.display.chat_done(ev, self.fold)
        return new_proc

    def run(self) -> str:
        rx, fold, sampler = self.rx, self.fold, self.sampler
        sampler.add(os.getpid(), "aggregator")
        sampler.sample()
        now = time.monotonic()
        next_tick, next_write = now + TICK, now + self.interval
        status = None
        while status is None:
            wait = max(0.0, min(next_tick, next_write, time.monotonic() + MAX_WAIT)
                       - time.monotonic())
            records = ()
            try:
                records = rx.get_many(timeout=wait)
            except Empty:
                pass
            except Closed:
                status = "ended without finish"
            except PeerDied:
                status = "supervisor died"
            if records and self.fold_records(records):
                sampler.sample()
            if fold.finish is not None:
                status = fold.finish.status
                break
            if status is None and self.stop_reason is not None:
                status = self.stop_reason
            now = time.monotonic()
            if now >= next_tick:
                sampler.sample()
                self.display.tick(fold, now)
                next_tick = max(next_tick + TICK, now + TICK / 2)
            if status is None and now >= next_write:
                self.write(self.metrics("running", now, final=False))
                next_write = now + self.interval
        end = time.monotonic()
        sampler.sample()
        final = self.metrics(status, end, final=True)
        self.write(final)
        self.display.tick(fold, end)
        self.display.stop(final)
        return status


def entry() -> None:
    """``python -c`` entry point: the config (JSON) arrives on stdin, see client._spawn."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    data = sys.stdin.buffer.read()
    if not data:
        return                                      # the parent died before saying anything
    cfg = orjson.loads(data)
    try:
        ring = Ring.attach(cfg["ring"], cfg["impl"])
    except RingError as e:
        print(f"tgarc aggregator: {e}", file=sys.stderr)
        sys.exit(1)
    main(ring.consumer(), cfg)


def main(rx, cfg: dict) -> None:
    """The aggregator process: fold ``rx`` until Finish or the supervisor's death."""
    # The terminal sends Ctrl-C to the whole process group: the supervisor decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run = Run(rx, cfg, display_mod.make(cfg["mode"], cfg["started_mono"]))

    def on_term(signum, frame):
        run.stop_reason = "terminated"

    signal.signal(signal.SIGTERM, on_term)
    try:
        status = run.run()
    except BaseException as e:
        with contextlib.suppress(Exception):
            now = time.monotonic()
            run.write(run.metrics(f"aggregator failed: {type(e).__name__}: {e}", now, True))
        with contextlib.suppress(Exception):
            run.display.stop(None)
        raise
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
    if status == "supervisor died":
        # Its creator is gone: nobody else will remove the ring's name.
        with contextlib.suppress(Exception):
            rx.ring.unlink()
    with contextlib.suppress(Exception):
        rx.close()


def _folder(chat) -> tuple[bool, str, str]:
    """By folder; a chat that never got one (not found, say) after those that did."""
    return not chat.folder, chat.folder, chat.chat
