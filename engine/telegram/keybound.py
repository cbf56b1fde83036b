"""An account's connections kept within its lease (``--lease``; engine/archive/lease.py).

A holder frozen mid-run (a stopped process, a hung machine) keeps its TCP connections open,
so when its lease passes on, the new holder's connections would meet the old ones on
Telegram's side: the same authorization key live in two places, AUTH_KEY_DUPLICATED. So
while it holds the lease the holder sends ``ping_delay_disconnect`` on every connection
(the session's own, the download lanes', other DCs'): the server closes a connection
``delay`` seconds after the last one, and a frozen holder sends no more. ``delay`` is half
the lease's term, well inside the time a new holder must wait (three quarters of a term
after the old holder's last renewal, at least). Telethon itself sends only plain pings.

Every request also passes ``check`` (the governor's guard) before it is sent: a holder
that wakes after its term stops at its next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Callable

from telethon import functions


class KeyBound:
    def __init__(self, check: Callable[[], None], delay: int):
        self.check, self.delay = check, max(1, int(delay))
        self._lanes: weakref.WeakSet = weakref.WeakSet()     # Lanes the run opened

    def lanes(self, made):
        """Note a ``Lanes`` so its connections are pinged too; returns it."""
        self._lanes.add(made)
        return made

    def senders(self, client, dcs) -> list:
        out = [client._sender]
        out += [lane.sender for made in list(self._lanes) for lane in made.extra]
        if dcs is not None:
            out += [lane.sender for lane in dcs.lanes.values()]
        return out

    def ping(self, client, dcs=None) -> None:
        """A ping_delay_disconnect on every open connection now (also right after the
        session's connection is made or remade, so it is bounded from its first moments)."""
        for sender in self.senders(client, dcs):
            if sender.is_connected():
                ping = functions.PingDelayDisconnectRequest(
                    ping_id=int.from_bytes(os.urandom(8), "little", signed=True),
                    disconnect_delay=self.delay)
                with contextlib.suppress(ConnectionError):
                    sender.send(ping).add_done_callback(_quiet)

    async def run(self, client, dcs) -> None:
        """Until cancelled: ``ping`` three times per ``delay``; stops once the term is over
        (the guard then stops each request)."""
        while True:
            try:
                self.check()
            except Exception:
                return
            self.ping(client, dcs)
            await asyncio.sleep(self.delay / 3)


def _quiet(fut: asyncio.Future) -> None:
    """A ping lost with its connection is no failure (the link reconnects)."""
    if not fut.cancelled():
        fut.exception()
