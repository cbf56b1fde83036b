"""More connections to the home DC for downloads (the media pass uses them).

Telethon carries all of a client's requests over one ``MTProtoSender``, which is one TCP
connection. They are pipelined on it, but they share its window. ``Lanes`` opens
``n - 1`` more senders to the session's own DC with the session's own auth key. No
``auth.exportAuthorization`` is needed on the home DC, so this is what
GeiserX/Telegram-Archive does (shared/MEDIA_NOTES.md 4.2). Each sender starts with
``invokeWithLayer(initConnection(help.getConfig))``, as Telethon's own connect does.
Requests go to the connections in turn, and each connection has its own middleware stack.
A sender is built with ``auto_reconnect=False``, so a dropped lane fails its calls at once
instead of being reconnected silently by Telethon. Given the run's ``Link``, each lane
gets its own ``Reconnect`` layer whose link (``_LaneLink``) shares the main one's stats and
verdict: with the network down, a lane's calls wait, the lane reconnects with the same
backoff, the progress shows one outage, and past ``--reconnect-timeout`` every connection
fails with the same ``NetworkLost``. Without a ``Link`` a lane is reopened on its next
call, so ``Retry``'s resend lands on a fresh connection.

Under a per-connection cap it is what reaches the download bar. bench/test_media.py
(docs/benchmarks.md, "Media download"; fakedc with a 4 MB/s token bucket per connection and
50 ms rtt) measured 2.77× a sequential ``download_media`` loop on one connection, which
runs at the cap whatever is in flight, 5.33× on 2 lanes and 9.92× on 4 (the bar is 3.5×).
An older fakedc delayed each reply, not each connection, and there lanes bought nothing
(docs/download.md keeps those figures). It uses Telethon internals (``_connection``,
``_init_request``, ``_log``, ``_proxy``, ``_local_addr``), and the test fails if an upgrade
moves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from telethon import functions
from telethon.network import MTProtoSender
from telethon.tl.alltlobjects import LAYER

from engine.telegram.middleware import Link, NetworkLost, TelegramStats, stack


class _Lane:
    """One extra sender, shaped like the client a ``Link`` drives: ``connect``,
    ``disconnect``, ``is_connected`` and a call."""

    def __init__(self, client):
        self.client = client
        self.sender = MTProtoSender(client.session.auth_key, loggers=client._log, retries=0,
                                    auto_reconnect=False)
        self._lock = asyncio.Lock()

    def is_connected(self) -> bool:
        return self.sender.is_connected()

    async def connect(self) -> None:
        async with self._lock:              # one reconnect, however many calls wait
            if self.sender.is_connected():
                return
            self._forget()
            c, s = self.client, self.client.session
            await self.sender.connect(c._connection(
                s.server_address, s.port, s.dc_id, loggers=c._log, proxy=c._proxy,
                local_addr=c._local_addr))
            c._init_request.query = functions.help.GetConfigRequest()
            await self.sender.send(functions.InvokeWithLayerRequest(LAYER, c._init_request))

    async def disconnect(self) -> None:
        await self.sender.disconnect()
        self._forget()

    def _forget(self) -> None:
        gone = getattr(self.sender, "_disconnected", None)
        if gone is not None and gone.done() and not gone.cancelled():
            gone.exception()          # why the last connection ended: the call saw it

    async def __call__(self, request):
        await self.connect()          # opened on first use; a failure here is a lost link
        return await self.sender.send(request)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sender.disconnect()


class _LaneLink(Link):
    """A lane's own reconnects under the run's patience: it shares the main ``Link``'s
    stats (one outage on the progress display, timed from its first failure on any
    connection) and its verdict (a ``NetworkLost`` on either side ends every call)."""

    def __init__(self, lane: _Lane, main: Link):
        super().__init__(lane, main.stats, main.patience, timeout=main.timeout,
                         backoff=main.backoff, max_backoff=main.max_backoff,
                         sleep=main.sleep, clock=main.clock)
        self.main = main

    async def ready(self) -> int:
        if self.main.gave_up is not None:
            raise self.main.gave_up
        return await super().ready()

    async def restore(self, epoch: int, why: BaseException) -> None:
        if self.main.gave_up is not None:
            raise self.main.gave_up
        try:
            await super().restore(epoch, why)
        except NetworkLost as lost:
            if self.main.gave_up is None:
                self.main.gave_up = lost      # the main connection stops waiting too
            raise


class Lanes:
    """``call``: a middleware-wrapped call that spreads requests over the main connection
    (``main``, the session's usual stack) and ``n - 1`` extra ones. With the run's
    ``link``, a lane waits out an outage as the main connection does, then reconnects;
    without it, a lane's calls fail after ``Retry``'s attempts."""

    def __init__(self, client, main, n: int, stats: TelegramStats, *, link: Link | None = None,
                 **stack_kw):
        if n < 1:
            raise ValueError(f"at least one connection, not {n}")
        self.extra = [_Lane(client) for _ in range(n - 1)]
        self.calls = [main, *(stack(lane, stats, link=None if link is None
                                    else _LaneLink(lane, link), **stack_kw)
                              for lane in self.extra)]
        self._next = itertools.cycle(range(n))

    async def call(self, request):
        return await self.calls[next(self._next)](request)

    async def close(self) -> None:
        for lane in self.extra:
            await lane.close()
