"""``tgarc export``: settings in, every target exported, the run's outcome out.

The command owns what wraps a run: the --out folder (created, locked, removed again when a
run fails before writing any chat), the log, the aggregator and its final status, signals
(Ctrl-C once: stop after the pages in flight; twice: abort), the Telegram connection and
``--account-json``. The policy across chats (several at once, one worker pool; one that
fails is reported, the others go on) is export_chats.py's; one chat's export is
``engine.supervisor`` 's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from engine.archive import layout
from engine.archive.lock import locked
from engine.commands.common import private_files
from engine.config import ExportConfig

log = logging.getLogger("tgarc")


def export(cfg: ExportConfig, pools=None) -> int:
    """Export into ``cfg.out``. A run that fails before writing any chat into an --out
    folder it created (a mistyped target, no session) removes that folder again.
    ``pools``: who makes the worker pool (WorkerPool's signature; None: WorkerPool); a
    cluster job's runs its jobs as Ray tasks (engine/cluster/tasks.py)."""
    out = Path(cfg.out)
    made = _first_missing(out)
    try:
        return _export_into(cfg, out, pools)
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
    ours = {layout.OUT_LOCK, layout.LOG} | ({metrics.name} if metrics.parent == out else set())
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


def _export_into(cfg: ExportConfig, out: Path, pools) -> int:
    private_files(cfg.shared)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to --out {out}")
    # a cluster's account job (engine/cluster) shares --out with the other accounts' jobs:
    # its run files (lock, log) go to a folder of its own; the chats keep their own locks
    run_dir = Path(os.environ.get("TGARC_RUN_DIR") or out)
    run_dir.mkdir(parents=True, exist_ok=True)
    with locked(run_dir):
        from engine import logs
        from engine.telegram.proxy import secrets_of

        handler = logs.open_log(run_dir, cfg.debug, secrets_of(cfg.proxy))
        log.info("export %s into %s (formats %s, %d workers, tz %s)", " ".join(cfg.targets),
                 out, ",".join(cfg.formats), cfg.workers, cfg.tz)
        try:
            code = _export(cfg, pools)
            log.info("export done (exit %d)", code)
            return code
        except BaseException as exc:
            log.error("export ended: %s: %s", type(exc).__name__, exc, exc_info=cfg.debug)
            raise
        finally:
            logs.close_log(handler)


def _export(cfg: ExportConfig, pools) -> int:
    from engine.aggregator import Aggregator
    from engine.model import events as ev
    from engine.supervisor import export as sup

    agg = Aggregator.start(cfg.metrics_path, cfg.progress)
    status, message, code, result = "error", "", 0, {"messages": 0}
    try:
        try:
            code = asyncio.run(run(cfg, agg, result, pools))
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


async def run(cfg: ExportConfig, agg, result: dict | None = None, pools=None) -> int:
    """Export every target; ``result['messages']`` gets the messages made durable."""
    from engine.commands.export_chats import Chats
    from engine.model import events as ev
    from engine.supervisor.outcome import BatchesFailed, Interrupted
    from engine.supervisor.tally import Tally, report_tally, ticker
    from engine.telegram import session as tg

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    presses = [0]
    tally = Tally(cfg.workers)
    chats = Chats(cfg, agg, tally, stop, pools)

    def on_signal() -> None:
        presses[0] += 1
        if presses[0] == 1:
            print("tgarc: stopping — finishing the pages in flight and saving the checkpoint "
                  "(Ctrl-C again to abort)", file=sys.stderr)
            stop.set()
        else:
            chats.abort()
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    agg.send(ev.Proc(os.getpid(), "supervisor"))
    agg.send(ev.Proc(agg.pid, "aggregator"))
    async with tg.connected(cfg, on_flood=lambda method, s: tally.floods.append(
            ev.Flood(method, s))) as (source, stats, cache):
        exports = chats.exports
        ticking = asyncio.create_task(ticker(agg, tally, stats, cache, exports))
        targets: list[str] = []
        try:
            targets = list(cfg.targets)
            if cfg.all_kinds:
                targets = await _all_targets(cfg, source)
            agg.send(ev.RunPlan(len(targets)))
            await chats.run(targets, source, stats, cache)
            if cfg.account_json:
                await _account_json(cfg, source)
        except asyncio.CancelledError:
            raise Interrupted() from None
        finally:
            # one takeout session for the whole run, finished once, after its last chat
            ended_well = not chats.failed and not stop.is_set() and sys.exc_info()[0] is None
            with contextlib.suppress(Exception):
                await source.finish_takeout(ended_well and all(
                    not e.outcome.failures for e in exports))
            try:
                await chats.pool.close()
            finally:
                ticking.cancel()
                report_tally(agg, tally, stats, cache, exports)
                if result is not None:
                    result["messages"] = tally.messages
    if chats.failed:
        raise BatchesFailed(f"{len(chats.failed)} of {len(targets)} chats: "
                            + "; ".join(chats.failed))
    return 0


async def _account_json(cfg: ExportConfig, source) -> None:
    """--account-json: result.json at the --out root from every chat folder there
    (engine/render/account_json.py); left chats are known when the run listed the dialogs."""
    from engine.render import account_json

    me = account_json.personal(await source.me_user())
    dialogs = None
    if cfg.all_kinds:
        dialogs = {int(t) for _kind, t, _top in await source.dialogs()}
    chats, left = await asyncio.to_thread(account_json.write, Path(cfg.out), me, dialogs)
    log.info("%s: %d chats, %d left chats", account_json.NAME, chats, left)


async def _all_targets(cfg: ExportConfig, source) -> list[str]:
    """--all: the dialogs of the kinds asked for, less the chats a run would find nothing
    to do in (engine/supervisor/unchanged.py): not one request is made for those."""
    from engine.supervisor.unchanged import settled

    dialogs = [(t, top) for kind, t, top in await source.dialogs() if kind in cfg.all_kinds]
    targets, skipped = [], []
    for target, top in dialogs:
        root = settled(cfg, int(target), top)
        if root is None:
            targets.append(target)
        else:
            skipped.append(root.name)
            log.info("%s: nothing new since the last run (newest message %s); skipped",
                     root.name, top)
    log.info("--all: %d chats of kinds %s, %d unchanged", len(dialogs),
             ",".join(cfg.all_kinds), len(skipped))
    from engine.commands.export_chats import at_once

    n = at_once(len(targets), cfg.max_in_flight)
    print(f"tgarc: exporting {len(targets)} chats"
          + (f", up to {n} at once" if n > 1 else "")
          + (f"; {len(skipped)} more unchanged since the last run" if skipped else ""),
          file=sys.stderr)
    return targets
