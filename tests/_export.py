"""Helpers for end-to-end tests: a fakedc served from this process, tgarc as a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from engine.fakedc.corpus import Corpus
from engine.fakedc.server import FakeDC

ROOT = Path(__file__).resolve().parent.parent
CHANNEL_DIR = "channel1500000001-tgarc-demo-channel"
USER_FACING = ("result.json", "messages.jsonl")


@contextlib.contextmanager
def served(messages: int = 150, text_only: bool = False, **kw):
    dc = FakeDC(Corpus(messages=messages, text_only=text_only), **kw)
    with dc.run_in_thread():
        dc.session = dc.new_session()
        yield dc


def demo_channel(messages: int):
    """(its PeerRef, its messages in the model) of the demo corpus's channel, converted
    as an export would, without a server."""
    from engine.telegram import convert

    corpus = Corpus(messages=messages)
    chat = next(c for c in corpus.chats.values() if c.key == "channel")
    ref = convert.peer_ref(chat.peer())
    return ref, [convert.message(x, ref) for x in
                 (corpus.message(chat, i) for i in range(chat.first_id, chat.top_id + 1))
                 if x is not None]


def env_for(dc: FakeDC, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGARC_")
           or k in ("TGARC_SHM_DIR", "TGARC_REQUIRE_NATIVE")}
    env.update(dc.env(dc.session), PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def export_args(out: Path, *extra: str, target: str = "@tgarc_demo") -> list[str]:
    """``target=""``: no TARGET (for --all). Without ``--media`` in ``extra``: ``--media
    none`` (the outputs the golden files hold; tests/test_export_media*.py ask for media)."""
    media = () if "--media" in extra else ("--media", "none")
    return [sys.executable, "-m", "engine", "export", *([target] if target else []), "--out",
            str(out), "--tz", "UTC", "--progress", "json", *media, *extra]


def tgarc(dc: FakeDC, out: Path, *extra: str, timeout: float = 120,
          target: str = "@tgarc_demo", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(export_args(out, *extra, target=target), env=env or env_for(dc),
                          capture_output=True, text=True, timeout=timeout)


def start(dc: FakeDC, out: Path, *extra: str) -> subprocess.Popen:
    """An export in its own process group (so a test can kill the group, as a crash would)."""
    return subprocess.Popen(export_args(out, *extra), env=env_for(dc),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def outputs(out: Path, chat_dir: str = CHANNEL_DIR) -> dict[str, bytes]:
    """Every user-facing file of a chat folder: result.json, messages.jsonl, markdown/."""
    root = out / chat_dir
    files = {name: (root / name).read_bytes() for name in USER_FACING if (root / name).exists()}
    for p in sorted((root / "markdown").rglob("*.md")):
        files[str(p.relative_to(root))] = p.read_bytes()
    return files


def wait_for(predicate, timeout: float = 30.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def workers_of(pid: int) -> list[psutil.Process]:
    out = []
    for p in descendants(pid):
        with contextlib.suppress(psutil.Error):
            if "engine.worker" in " ".join(p.cmdline()) or p.name().startswith("tgarc-worker"):
                out.append(p)
    return out


def durable_parts(root: Path) -> set[int]:
    """Part indexes the ``.part.done`` journals under ``root`` hold (a torn tail ignored):
    what a killed download had made durable (engine/telegram/download_journal.py)."""
    from engine.telegram.download_journal import HEADER, RECORD

    done = set()
    for j in root.rglob("*.part.done"):
        try:
            data = j.read_bytes()
        except FileNotFoundError:
            continue
        for pos in range(HEADER.size, len(data) - RECORD.size + 1, RECORD.size):
            done.add(RECORD.unpack_from(data, pos)[0])
    return done


def wait_said(path: Path, text: str, count: int = 1, timeout: float = 20.0) -> str:
    """What the aggregator wrote to ``path`` once ``text`` appears ``count`` times (or after
    ``timeout``): tests that need a tick to see a state wait for it instead of sleeping a
    fixed time, which a loaded machine's slow start of the aggregator can outlast."""
    deadline = time.monotonic() + timeout
    said = ""
    while time.monotonic() < deadline:
        said = path.read_text() if path.exists() else ""
        if said.count(text) >= count:
            break
        time.sleep(0.05)
    return said
