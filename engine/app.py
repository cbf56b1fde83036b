"""The commands behind the command line: each takes validated settings, returns an exit code,
and raises the project's errors (cli.py maps them to exit codes and one readable line).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from engine.config import ConfigError, ExportConfig


def export(cfg: ExportConfig) -> int:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to --out {out}")
    with locked(out):
        from engine import logs
        from engine.telegram.proxy import secrets_of

        handler = logs.open_log(out, cfg.debug, secrets_of(cfg.proxy))
        log = logging.getLogger("tgarc")
        log.info("export %s into %s (formats %s, %d workers, tz %s)", " ".join(cfg.targets),
                 out, ",".join(cfg.formats), cfg.workers, cfg.tz)
        try:
            code = _export(cfg)
            log.info("export done (exit %d)", code)
            return code
        except BaseException as exc:
            log.error("export ended: %s: %s", type(exc).__name__, exc, exc_info=cfg.debug)
            raise
        finally:
            logs.close_log(handler)


class LockHeld(OSError):
    """Another run writes this folder (exit code 4)."""


@contextlib.contextmanager
def locked(out: Path):
    """``<out>/.lock``: one run per output folder. The kernel drops the lock when the
    holder dies, so a crashed run never leaves a stale one."""
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another tgarc run is writing {out} (it holds {out / '.lock'})") \
                from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _export(cfg: ExportConfig) -> int:
    from engine.aggregator import Aggregator
    from engine.model import events as ev
    from engine.supervisor import export as sup

    agg = Aggregator.start(cfg.metrics_path, cfg.progress)
    status, message, code, result = "error", "", 0, {"messages": 0}
    try:
        try:
            code = asyncio.run(sup.run(cfg, agg, result))
            status = "done"
        except sup.Interrupted:
            status, message = "interrupted", "interrupted: the checkpoint is saved; run the " \
                                             "same command again to continue"
            raise
        except sup.BatchesFailed as exc:
            status, message = "failed", str(exc)
            raise
        except BaseException as exc:
            status, message = "error", str(exc)
            raise
    finally:
        try:
            agg.finish(ev.Finish(status, result["messages"], message))
        finally:
            agg.close()
    return code


def render(folder: str, formats: list[str], tz: str) -> int:
    from engine.archive import views
    from engine.archive.assemble import assemble
    from engine.archive.manifest import NESTED
    from engine.archive.store import ChatStore

    root = Path(folder)
    cp = "state/checkpoint.json"
    found = set()
    for pattern in (cp, f"*/{cp}", *(f"{n}/*/{cp}" for n in NESTED),
                    *(f"*/{n}/*/{cp}" for n in NESTED)):
        found.update(p.parent.parent for p in root.glob(pattern))
    # chat folders first: a forum's topic views, then the stores of single topics
    roots = sorted(found, key=lambda r: (r.parent.name in NESTED, r))
    if not roots:
        raise ConfigError(f"{folder} holds no tgarc archive (no state/checkpoint.json)")
    for r in roots:
        store = ChatStore.load(r)
        done = assemble(store, formats, tz, full=True)
        topics = views.saved_topics(store)
        if topics:
            views.render_topics(store, topics, formats, tz)
        print(f"{r}: {done.messages} messages rendered ({', '.join(formats)})"
              + (f" and {len(topics)} topics" if topics else ""), file=sys.stderr)
    return 0


def verify(folder: str) -> int:
    """Re-hash every file of each chat folder under ``folder`` against its manifest.json;
    differences go to stdout, one a line; exit 1 if there is any."""
    from engine.archive import manifest

    root = Path(folder)
    roots = manifest.roots(root)
    if not roots:
        raise ConfigError(f"{folder} holds no manifest.json (nothing exported there yet?)")
    bad = 0
    for r in roots:
        problems = manifest.verify(r)
        bad += len(problems)
        name = r.relative_to(root).as_posix() if r != root else r.name
        for line in problems:
            print(f"{name}: {line}")
        files = len((manifest.read(r) or {}).get("files", {}))
        print(f"{r}: {'intact' if not problems else f'{len(problems)} difference(s)'} "
              f"({files} files)", file=sys.stderr)
    return 1 if bad else 0


def tune(path: str, as_json: bool) -> int:
    import orjson

    from engine.aggregator import tune_report

    report = tune_report(Path(path))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(f"recommended workers: {report['workers']}\nwhy: {report['reason']}")
    return 0


def demo(messages: int, out: str, workers: int, progress: str, tz: str) -> int:
    """Serve a synthetic channel from a loopback fakedc (a child process, so it does not
    share a core's GIL with the exporter) and export it, no account needed."""
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.fakedc", "serve", "--messages", str(messages)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True)
    try:
        env: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(env) < 2 and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            key, sep, value = line.strip().partition("=")
            if sep and key in ("TGARC_DC", "TGARC_SESSION"):
                env[key] = value
        if len(env) < 2:
            raise RuntimeError("the loopback server did not start")
        os.environ.update(env)
        print(f"tgarc demo: exporting {messages} messages of @tgarc_demo from the loopback "
              f"server at {env['TGARC_DC']} into {out}", file=sys.stderr)
        cfg = ExportConfig(targets=("@tgarc_demo",), out=out, workers=workers, tz=tz,
                           progress=progress)
        code = export(cfg)
        print(f"tgarc demo: done — open {out} (result.json, messages.jsonl, markdown/, "
              f"export_metrics.json)", file=sys.stderr)
        return code
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
