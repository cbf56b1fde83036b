"""The policy across the chats of one run: several at once, one pool of workers for all.

Up to twice ``--max-in-flight`` chats run at once (the request governor paces all of
their requests together), each a ``ChatExport`` with its own ``Source.for_chat()`` view.
A run of several chats shares one worker pool rooted at --out (``SharedPool``, started by
the first chat that needs it); a single target keeps a pool of its own. A chat that cannot be
exported is reported and the others go on; a revoked session, a lost network or a local
error (a full disk) sets the run's stop: the chats in flight save what they fetched, and
the error is raised once they have.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

from engine.config import ConfigError, ExportConfig

log = logging.getLogger("tgarc")


def at_once(chats: int, max_in_flight: int) -> int:
    """Chats exported at once: twice the requests that may be out, since a chat spends
    much of its time on its own round trips one after the other (set-up, the pages of a
    small chat) and on its assembly; the governor keeps the requests within bounds."""
    return max(1, min(chats, 2 * max_in_flight))


class Chats:
    def __init__(self, cfg: ExportConfig, agg, tally, stop: asyncio.Event, pools=None):
        self.cfg, self.agg, self.tally, self.stop = cfg, agg, tally, stop
        self.pool = SharedPool(cfg, tally, stop, pools)
        self.exports: list = []                 # every ChatExport started, in order
        self.claims: dict = {}                  # chat -> the target exporting it
        self.failed: list[str] = []             # "<target>: <why>" of the chats that failed
        self.fatal: list[BaseException] = []    # what stops the run, raised once it stopped
        self.interrupted = False

    def abort(self) -> None:
        """The second Ctrl-C: the workers killed now."""
        for e in self.exports:
            e.abort()
        self.pool.abort()

    async def run(self, targets: list[str], source, stats, cache) -> None:
        """Every target exported, ``at_once`` of them at a time; raises what stopped the
        run (Interrupted for a stop with chats left or cut short)."""
        from engine.supervisor.outcome import Interrupted

        todo = list(reversed(targets))

        async def lane() -> None:
            while todo and not self.stop.is_set():
                await self.one(todo.pop(), len(targets), source, stats, cache)

        async with asyncio.TaskGroup() as tg:
            for _ in range(at_once(len(targets), self.cfg.max_in_flight)):
                tg.create_task(lane())
        if self.fatal:
            raise self.fatal[0]
        if self.interrupted or (todo and self.stop.is_set()):
            raise Interrupted()

    async def one(self, target: str, of: int, source, stats, cache) -> None:
        from engine.archive.segment import DamagedSegment
        from engine.supervisor.export import ChatExport
        from engine.supervisor.outcome import BatchesFailed, Interrupted, SameChat
        from engine.telegram.middleware import AuthRevoked, NetworkLost, TelegramFailure

        cfg, agg = self.cfg, self.agg
        e = ChatExport(cfg, source.for_chat(), target, agg, self.tally, stats, cache,
                       self.stop, self.pool.get if of > 1 or self.pool.pools else None)
        e.claims = self.claims
        self.exports.append(e)
        began = time.monotonic()
        try:
            await e.run()
            agg.send(_chat_done(e, target, began))
        except SameChat as exc:
            log.warning("%s", exc)
            print(f"tgarc: {exc}", file=sys.stderr)
        except (ConfigError, TelegramFailure, BatchesFailed, DamagedSegment) as exc:
            # One chat that cannot be exported does not stop the others; a revoked
            # session or a lost network stops everything.
            agg.send(_chat_done(e, target, began, exc))
            if of == 1 or isinstance(exc, AuthRevoked | NetworkLost):
                self._stop_for(exc)
                return
            log.error("%s: %s", target, exc)
            print(f"tgarc: {target}: {exc}", file=sys.stderr)
            self.failed.append(f"{target}: {exc}")
        except Interrupted:
            self.interrupted = True
        except Exception as exc:         # the disk, say: the run stops, raised after
            self._stop_for(exc)

    def _stop_for(self, exc: BaseException) -> None:
        self.fatal.append(exc)
        self.stop.set()                  # the other chats wind down, then it is raised


def _chat_done(e, target: str, began: float, exc: BaseException | None = None):
    """The aggregator's record of one chat of the run (its per-chat breakdown)."""
    from engine.model import events as ev

    store = e.store
    name = (store.cp.chat.name if store is not None and store.cp.chat.name else "") or target
    return ev.ChatDone(name, store.root.name if store is not None else "", e.outcome.fetched,
                       time.monotonic() - began, "failed" if exc else "done",
                       str(exc) if exc else "")


class SharedPool:
    """The run's worker pool, rooted at --out and shared by every chat in flight: started
    when the first chat needs it (a run whose chats are all unchanged starts none), closed
    when the run ends."""

    def __init__(self, cfg: ExportConfig, tally, stop: asyncio.Event, pools=None):
        self.cfg, self.tally, self.stop = cfg, tally, stop
        self.pools = pools              # who makes the workers (None: WorkerPool)
        self.dispatch = None

    def get(self):
        if self.dispatch is None:
            from engine.supervisor.dispatch import Dispatch
            from engine.supervisor.outcome import Outcome

            cfg = self.cfg
            self.dispatch = Dispatch(cfg.workers, cfg.fetch_streams, Path(cfg.out), cfg.tz,
                                     self.tally, Outcome(), self.stop,
                                     md="md" in cfg.formats, pools=self.pools)
        return self.dispatch

    def abort(self) -> None:
        """The second Ctrl-C: the workers killed now."""
        if self.dispatch is not None:
            self.dispatch.abort()

    async def close(self) -> None:
        if self.dispatch is not None:
            dispatch, self.dispatch = self.dispatch, None
            await dispatch.close()
