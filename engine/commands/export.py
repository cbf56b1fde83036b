"""``tgarc export``: settings in, every target exported, the run's outcome out.

The command owns what wraps a run: the --out folder (created, locked, removed again when a
run fails before writing any chat), the log, the aggregator and its final status, signals
(Ctrl-C once: stop after the pages in flight; twice: abort), the Telegram connection, and the
policy across chats (one that fails is reported, the others go on). One chat's export is
``engine.supervisor`` 's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from engine.archive import layout
from engine.archive.lock import locked
from engine.commands.common import private_files
from engine.config import ConfigError, ExportConfig

log = logging.getLogger("tgarc")


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


def _export_into(cfg: ExportConfig, out: Path) -> int:
    private_files(cfg.shared)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to --out {out}")
    with locked(out):
        from engine import logs
        from engine.telegram.proxy import secrets_of

        handler = logs.open_log(out, cfg.debug, secrets_of(cfg.proxy))
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
            code = asyncio.run(run(cfg, agg, result))
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


async def run(cfg: ExportConfig, agg, result: dict | None = None) -> int:
    """Export every target; ``result['messages']`` gets the messages made durable."""
    from engine.archive.segment import DamagedSegment
    from engine.model import events as ev
    from engine.supervisor.export import ChatExport
    from engine.supervisor.outcome import BatchesFailed, Interrupted
    from engine.supervisor.tally import Tally, report_tally, ticker
    from engine.telegram import session as tg
    from engine.telegram.middleware import AuthRevoked, NetworkLost, TelegramFailure

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    exports: list[ChatExport] = []
    presses = [0]
    tally = Tally(cfg.workers)
    pool = _SharedPool(cfg, tally, stop)

    def on_signal() -> None:
        presses[0] += 1
        if presses[0] == 1:
            print("tgarc: stopping — finishing the pages in flight and saving the checkpoint "
                  "(Ctrl-C again to abort)", file=sys.stderr)
            stop.set()
        else:
            for e in exports:
                e.abort()
            pool.abort()
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    agg.send(ev.Proc(os.getpid(), "supervisor"))
    agg.send(ev.Proc(agg.pid, "aggregator"))
    async with tg.connected(cfg, on_flood=lambda method, s: tally.floods.append(
            ev.Flood(method, s))) as (source, stats, cache):
        ticking = asyncio.create_task(ticker(agg, tally, stats, cache, exports))
        failed: list[str] = []
        fatal: list[BaseException] = []          # what stops the run, raised once it stopped
        interrupted: list[BaseException] = []
        try:
            targets = list(cfg.targets)
            if cfg.all_kinds:
                targets = await _all_targets(cfg, source)
            agg.send(ev.RunPlan(len(targets)))
            todo = list(reversed(targets))

            async def one(target: str) -> None:
                e = ChatExport(cfg, source.for_chat(), target, agg, tally, stats, cache, stop,
                               pool.get if len(targets) > 1 else None)
                exports.append(e)
                began = time.monotonic()
                try:
                    await e.run()
                    agg.send(_chat_done(e, target, began))
                except (ConfigError, TelegramFailure, BatchesFailed, DamagedSegment) as exc:
                    # One chat that cannot be exported does not stop the others; a
                    # revoked session or a lost network stops everything.
                    agg.send(_chat_done(e, target, began, exc))
                    if len(targets) == 1 or isinstance(exc, AuthRevoked | NetworkLost):
                        fatal.append(exc)
                        stop.set()               # the other chats wind down, then it is raised
                        return
                    log.error("%s: %s", target, exc)
                    print(f"tgarc: {target}: {exc}", file=sys.stderr)
                    failed.append(f"{target}: {exc}")
                except Interrupted as exc:
                    interrupted.append(exc)
                except Exception as exc:         # the disk, say: the run stops, raised after
                    fatal.append(exc)
                    stop.set()

            async def lane() -> None:
                while todo and not stop.is_set():
                    await one(todo.pop())

            # chats at once: as many as requests may be out (the governor paces them all)
            async with asyncio.TaskGroup() as tg:
                for _ in range(min(len(targets), cfg.max_in_flight) or 1):
                    tg.create_task(lane())
            if fatal:
                raise fatal[0]
            if interrupted or (todo and stop.is_set()):
                raise Interrupted()
            if cfg.account_json:
                await _account_json(cfg, source)
        except asyncio.CancelledError:
            raise Interrupted() from None
        finally:
            # one takeout session for the whole run, finished once, after its last chat
            ended_well = not failed and not stop.is_set() and sys.exc_info()[0] is None
            with contextlib.suppress(Exception):
                await source.finish_takeout(ended_well and all(
                    not e.outcome.failures for e in exports))
            try:
                await pool.close()
            finally:
                ticking.cancel()
                report_tally(agg, tally, stats, cache, exports)
                if result is not None:
                    result["messages"] = tally.messages
    if failed:
        raise BatchesFailed(f"{len(failed)} of {len(targets)} chats: " + "; ".join(failed))
    return 0


def _chat_done(e, target: str, began: float, exc: BaseException | None = None):
    """The aggregator's record of one chat of the run (its per-chat breakdown)."""
    from engine.model import events as ev

    store = e.store
    name = (store.cp.chat.name if store is not None and store.cp.chat.name else "") or target
    return ev.ChatDone(name, store.root.name if store is not None else "", e.outcome.fetched,
                       time.monotonic() - began, "failed" if exc else "done",
                       str(exc) if exc else "")


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


class _SharedPool:
    """The run's worker pool, rooted at --out and shared by every chat in flight: started
    when the first chat needs it (a run whose chats are all unchanged starts none), closed
    when the run ends."""

    def __init__(self, cfg: ExportConfig, tally, stop: asyncio.Event):
        self.cfg, self.tally, self.stop = cfg, tally, stop
        self.dispatch = None

    def get(self):
        if self.dispatch is None:
            from engine.supervisor.dispatch import Dispatch
            from engine.supervisor.outcome import Outcome

            cfg = self.cfg
            self.dispatch = Dispatch(cfg.workers, cfg.fetch_streams, Path(cfg.out), cfg.tz,
                                     self.tally, Outcome(), self.stop,
                                     md="md" in cfg.formats)
        return self.dispatch

    def abort(self) -> None:
        """The second Ctrl-C: the workers killed now."""
        if self.dispatch is not None:
            self.dispatch.abort()

    async def close(self) -> None:
        if self.dispatch is not None:
            dispatch, self.dispatch = self.dispatch, None
            await dispatch.close()


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
    at_once = min(len(targets), cfg.max_in_flight)
    print(f"tgarc: exporting {len(targets)} chats"
          + (f", up to {at_once} at once" if at_once > 1 else "")
          + (f"; {len(skipped)} more unchanged since the last run" if skipped else ""),
          file=sys.stderr)
    return targets
