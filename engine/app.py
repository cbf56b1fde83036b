"""The commands behind the command line: each takes validated settings, returns an exit code,
and raises the project's errors (cli.py maps them to exit codes and one readable line).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from engine.archive.lock import NESTED, LockHeld, locked  # noqa: F401  (LockHeld: callers)
from engine.config import ConfigError, ExportConfig


def private_files(shared: bool = False) -> None:
    """Archives hold private chats: what tgarc creates is readable by this user only
    (0700 folders, 0600 files) unless ``--shared`` asks for 0755/0644."""
    os.umask(0o022 if shared else 0o077)


def export(cfg: ExportConfig) -> int:
    """Export into ``cfg.out``. A run that fails before writing any chat into an --out
    folder it created (a mistyped target, no session) removes that folder again."""
    out = Path(cfg.out)
    made = _first_missing(out)
    try:
        return _export_into(cfg, out)
    except BaseException:
        if made is not None:
            _unmake(out, made, cfg.metrics_path)
        raise


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None: it exists)."""
    top, p = None, path.absolute()
    while not p.exists() and p != p.parent:
        top, p = p, p.parent
    return top


def _unmake(out: Path, made: Path, metrics: Path) -> None:
    """Remove ``out`` (and its parents up to ``made``) if it holds nothing but this run's
    lock, log and metrics; anything else (a chat folder) keeps it all."""
    ours = {".lock", "tgarc.log"} | ({metrics.name} if metrics.parent == out else set())
    try:
        with locked(out):           # no other run may have started in it meanwhile
            names = {p.name for p in out.iterdir()}
            if not names <= ours:
                return
            for name in names:
                (out / name).unlink()
    except OSError:
        return
    for folder in (out.absolute(), *out.absolute().parents):
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == made:
            return


def _export_into(cfg: ExportConfig, out: Path) -> int:
    private_files(cfg.shared)
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


def stores(root: Path) -> list[Path]:
    """Every chat folder under ``root`` (itself included) and the topic and comment-thread
    stores nested in them: folders with a checkpoint, or with an archive whose checkpoint
    was lost. Chat folders first (a forum's topic views before single-topic stores)."""
    found = set()
    for mark in ("state/checkpoint.json", "archive"):
        for pattern in (mark, f"*/{mark}", *(f"{n}/*/{mark}" for n in NESTED),
                        *(f"*/{n}/*/{mark}" for n in NESTED)):
            found.update(p.parent.parent if mark.startswith("state") else p.parent
                         for p in root.glob(pattern)
                         if mark.startswith("state") or any(p.glob("*.seg")))
    return sorted(found, key=lambda r: (r.parent.name in NESTED, r))


def _say(line: str) -> None:
    print(f"tgarc: {line}", file=sys.stderr)


def render(folder: str, formats: list[str], tz: str | None, shared: bool = False) -> int:
    """Every output of each chat under ``folder`` rendered anew from its archive, offline,
    in ``tz`` (None: the zone each chat was rendered in), notes of days that no longer
    hold a message removed, and each manifest brought up to date."""
    from engine import __version__
    from engine.archive import manifest, views
    from engine.archive.assemble import assemble
    from engine.archive.store import ChatStore

    private_files(shared)
    roots = stores(Path(folder))
    if not roots:
        raise ConfigError(f"{folder} holds no tgarc archive (no state/checkpoint.json)")
    for r in roots:
        with ChatStore.load(r) as store:
            for line in store.notices:
                _say(line)
            kept = store.cp.output.tz
            zone = tz or kept or _local_zone()
            if tz and kept and tz != kept:
                _say(f"{r.name}: time zone changed from {kept} to {tz}")
            done = assemble(store, formats, zone, full=True)
            topics = views.saved_topics(store)
            if topics:
                views.render_topics(store, topics, formats, zone)
            old = manifest.read(r) or {}
            manifest.update(r, tool=f"tgarc {__version__}", api_layer=old.get("api_layer"),
                            runs=old.get("runs") or [], tz=store.cp.output.tz)
        print(f"{r}: {done.messages} messages rendered ({', '.join(formats)}, {zone})"
              + (f" and {len(topics)} topics" if topics else ""), file=sys.stderr)
    return 0


def _local_zone() -> str:
    from engine.config import local_zone

    return local_zone()


def repair(folder: str, shared: bool = False) -> int:
    """Make each chat under ``folder`` consistent again, offline: rebuild a missing or
    damaged checkpoint from the archive, keep whole segments it did not list, and set
    damaged segments aside into ``quarantine/`` (their ids are fetched again by the next
    export). Nothing is deleted. Exit 0 once every chat is consistent."""
    from engine.archive.store import ChatStore

    private_files(shared)
    roots = stores(Path(folder))
    if not roots:
        raise ConfigError(f"{folder} holds no tgarc archive (no archive/ or "
                          f"state/checkpoint.json)")
    refetch = False
    for r in roots:
        with ChatStore.load(r) as store:
            bad = store.check()
            store.commit()
            for line in store.notices:
                _say(line)
            gone = [s for s in bad if s.kind == "history" and s.count]
            versions = sum(s.count for s in bad if s.kind == "refresh")
            total = len(store.cp.segments)
            if not bad and not store.notices:
                print(f"{r}: {total} archive segments checked, all whole", file=sys.stderr)
                continue
            line = f"{r}: {total} archive segments whole"
            if gone:
                refetch = True
                line += (f"; {sum(s.count for s in gone)} messages (ids "
                         + ", ".join(f"{s.lo}..{s.hi}" for s in gone[:5])
                         + (" …" if len(gone) > 5 else "") + ") are fetched again by the "
                         "next export")
            if versions:
                line += (f"; {versions} stored edit version(s) could not be kept (the damaged "
                         f"file stays in quarantine/)")
            print(line, file=sys.stderr)
    if refetch:
        print("tgarc: repaired; run the same export command again to fetch what was set aside",
              file=sys.stderr)
    return 0


def verify(folder: str) -> int:
    """Re-hash every file of each chat folder under ``folder`` against its manifest.json,
    and check every archive segment against its own checksum; differences go to
    stdout, one a line; exit 1 if there is any. Changes nothing."""
    from engine.archive import manifest
    from engine.archive.store import ChatStore, CorruptState

    root = Path(folder)
    roots = manifest.roots(root)
    if not roots:
        raise ConfigError(f"{folder} holds no manifest.json (nothing exported there yet?)")
    bad = 0
    for r in roots:
        problems = manifest.verify(r)
        try:
            if ChatStore.read_checkpoint(r) is None:
                problems.append("missing: state/checkpoint.json; `tgarc repair` rebuilds it")
        except CorruptState as exc:
            problems.append(f"damaged: state/checkpoint.json ({' '.join(str(exc).split())})")
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


def demo(messages: int, out: str, workers: int, progress: str, tz: str,
         shared: bool = False) -> int:
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
                           progress=progress, shared=shared)
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
