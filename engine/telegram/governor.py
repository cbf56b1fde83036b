"""The account's request governor: how many Telegram requests are out at once, and how
fast each method may be asked, for every chat and stream of a run.

Telegram limits an account per method: asked too often, a method answers ``FLOOD_WAIT_X``
("wait X seconds"); asked too much at once, every reply slows down. The governor is one
object per account, stacked into every middleware stack of the run (``Govern``, between
``FloodWait`` and ``Timeout``: it sees each flood wait and each reply's latency).

- **Window.** At most ``window`` requests are in flight (file parts excepted: the download
  lanes decide theirs); a request takes its place once its pace lets it go. It starts
  at 2 and grows by one per reply while replies come back within twice the fastest seen
  (+ 50 ms) — slow start, doubling each round trip — and by one per window's worth of
  replies after that; a slow reply (the server or the link is queueing) cuts it by a
  quarter, once a round trip. It never exceeds ``--max-in-flight``.
- **Pace.** A method goes unpaced until its first flood wait. Then it is paced at a rate
  ``r``: every flood wait cuts ``r`` to what Telegram just accepted (the method's replies
  of the last 2 s, × 0.9) or to 0.85 ``r`` if that is lower, and holds the method until
  the wait is over (requests already out that flood too do not cut again). After that
  ``r`` grows additively, 0.5 % of itself per second, and only while pacing is what holds
  requests back (a rate nobody uses does not grow). Telegram's limit is a token bucket
  (a burst, then a rate): below the rate the bucket refills, so ``r`` creeps up to the
  budget and crosses it slowly; it meets a flood wait about once every 20-40 s instead
  of oscillating into long waits.
- **Decisions.** Each change of window phase, each cut and the first pacing of a method
  go into ``decisions`` (export_metrics.json ``telegram.governor``), with the rates now.

The clock and the sleep are parameters: the tests drive the governor on a fake clock.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field

UNGOVERNED = frozenset({"GetFile", "GetCdnFile", "SaveFilePart"})  # their lanes decide
DEFAULT_MAX_IN_FLIGHT = 8
KEEP_DECISIONS = 500        # the first ones; later ones are counted
BETA = 0.85                 # a flood wait's cut, at most
ACCEPTED = 0.9              # ... or to this share of what Telegram accepted
GROWTH = 0.005              # additive increase: this share of the rate per second
WINDOW_S = 2.0              # how far back "what Telegram accepted" looks
SLOW_FACTOR, SLOW_MARGIN = 2.0, 0.05     # a reply is slow past 2 × the fastest + 50 ms


@dataclass
class _Method:
    rate: float | None = None       # requests/s; None: not paced (no flood wait yet)
    next_at: float = 0.0            # when the next request may go
    hold_until: float = 0.0         # a flood wait in force until then
    cut_at: float = -1.0            # when the rate was last cut
    floods: int = 0
    fastest: float | None = None    # the fastest reply seen (s)
    paced: bool = False             # the last request waited for its turn
    replies: collections.deque = field(default_factory=collections.deque)  # reply times
    first: float | None = None      # the first reply


class Governor:
    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, *, clock=time.monotonic,
                 sleep=asyncio.sleep):
        if max_in_flight < 1:
            raise ValueError("max_in_flight is at least 1")
        self.max_in_flight = max_in_flight
        self.clock, self.sleep = clock, sleep
        self.window = float(min(2, max_in_flight))
        self.slow_start = True
        self.in_flight = 0
        self.peak_in_flight = 0
        self.methods: dict[str, _Method] = {}
        self.decisions: list[dict] = []
        self.decisions_dropped = 0
        self._slow_cut_at = -1.0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._t0 = clock()
        self._mark: tuple | None = None
        # called before each request is sent; raises to stop it (the account's lease:
        # engine/telegram/keybound.py)
        self.guard: Callable[[], None] | None = None

    # ---- what the middleware calls ------------------------------------------------------------
    async def acquire(self, method: str) -> float:
        """Wait for the method's turn, then for a place in the window (a request waiting
        for its pace holds no place other methods could use); the time it was sent."""
        st = self.methods.get(method)
        if st is None:
            st = self.methods[method] = _Method()
        while True:
            waited = False
            while True:
                now = self.clock()
                at = max(st.hold_until, st.next_at if st.rate else 0.0)
                if at <= now:
                    break
                waited = True
                await self.sleep(at - now)
            if st.rate:
                st.next_at = max(now, st.next_at) + 1.0 / st.rate
            st.paced = waited
            if method in UNGOVERNED:
                return now
            await self._enter()
            now = self.clock()
            if st.hold_until <= now:
                return now
            self._leave(method)         # a flood wait came while it waited for the window

    def ok(self, method: str, sent: float) -> None:
        """A reply came for a request sent at ``sent``."""
        now = self.clock()
        st = self.methods[method]
        latency = now - sent
        st.fastest = latency if st.fastest is None else min(st.fastest, latency)
        st.replies.append(now)
        if st.first is None:
            st.first = now
        while st.replies and st.replies[0] < now - WINDOW_S:
            st.replies.popleft()
        if st.rate and st.paced and now >= st.hold_until:
            st.rate += GROWTH           # ≈ r replies a second: + GROWTH·r per second
        if method not in UNGOVERNED:
            self._window(latency > SLOW_FACTOR * st.fastest + SLOW_MARGIN, now)
            self._leave(method)

    def failed(self, method: str) -> None:
        """The request ended without a reply worth learning from (an error, a timeout)."""
        self._leave(method)

    def flood(self, method: str, seconds: float, sent: float) -> None:
        """Telegram answered FLOOD_WAIT ``seconds`` to a request sent at ``sent``."""
        now = self.clock()
        st = self.methods[method]
        st.floods += 1
        st.hold_until = max(st.hold_until, now + seconds)
        if sent >= st.cut_at:           # not one already cut for (out before that cut)
            span = WINDOW_S if st.first is None else min(WINDOW_S, max(0.5, now - st.first))
            accepted = sum(1 for t in st.replies if t >= now - span) / span
            before = st.rate
            base = st.rate if st.rate else max(accepted, 1.0)
            st.rate = max(0.2, min(BETA * base, ACCEPTED * accepted) if accepted else
                          BETA * base)
            st.cut_at = now
            st.next_at = st.hold_until
            self._decide("pace" if before is None else "cut", method=method, wait=seconds,
                         accepted=round(accepted, 2),
                         rate=round(st.rate, 2))
        self._leave(method)

    # ---- inside -------------------------------------------------------------------------------
    def _leave(self, method: str) -> None:
        if method in UNGOVERNED:
            return
        self.in_flight -= 1
        self._notify()

    async def _enter(self) -> None:
        if not self._waiters and self.in_flight < int(self.window):
            self._take()
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.in_flight -= 1            # granted as it was cancelled: give it back
                self._notify()
            else:
                self._waiters.remove(fut)
            raise

    def _take(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _notify(self) -> None:
        """Let waiting requests in while the window has room."""
        while self._waiters and self.in_flight < int(self.window):
            fut = self._waiters.popleft()
            if not fut.done():
                self._take()
                fut.set_result(None)

    def _window(self, slow: bool, now: float) -> None:
        if slow:
            rtt = min((s.fastest for s in self.methods.values() if s.fastest), default=0.05)
            if now - self._slow_cut_at < max(rtt, 0.05) or self.window <= 1:
                return
            self._slow_cut_at = now
            before = self.window
            self.window = max(1.0, self.window * 0.75)
            if self.slow_start:
                self.slow_start = False
            self._decide("window", window=round(self.window, 2), was=round(before, 2),
                         why="slow replies")
            return
        if self.window >= self.max_in_flight:
            return
        self.window = min(float(self.max_in_flight),
                          self.window + (1.0 if self.slow_start else 1.0 / self.window))
        self._notify()

    def _decide(self, what: str, **details) -> None:
        if len(self.decisions) >= KEEP_DECISIONS:
            self.decisions_dropped += 1
            return
        self.decisions.append({"t": round(self.clock() - self._t0, 3), "what": what,
                               **details})

    def changed(self) -> bool:
        """Anything a summary shows changed since the last time this was asked."""
        mark = (len(self.decisions), self.decisions_dropped, round(self.window, 1),
                self.peak_in_flight, tuple(round(st.rate or 0, 1)
                                           for st in self.methods.values()))
        if mark == self._mark:
            return False
        self._mark = mark
        return True

    def summary(self) -> dict:
        """export_metrics.json's ``telegram.governor``."""
        return {
            "max_in_flight": self.max_in_flight,
            "window": round(self.window, 2),
            "peak_in_flight": self.peak_in_flight,
            "paced": {name: {"rate": round(st.rate, 2), "floods": st.floods}
                      for name, st in sorted(self.methods.items()) if st.rate},
            "decisions": list(self.decisions),
            "decisions_dropped": self.decisions_dropped,
        }


class Govern:
    """The middleware layer: every request waits for the governor, and tells it how it went."""

    def __init__(self, inner, governor: Governor, floods: tuple[type[BaseException], ...],
                 name):
        self.inner, self.governor, self.floods, self.name = inner, governor, floods, name

    async def __call__(self, request):
        method = self.name(request)
        gov = self.governor
        if gov.guard is not None:
            gov.guard()
        sent = await gov.acquire(method)
        if gov.guard is not None:           # the wait may have outlasted the lease
            try:
                gov.guard()
            except BaseException:
                gov.failed(method)
                raise
        try:
            result = await self.inner(request)
        except self.floods as exc:
            gov.flood(method, max(1, int(exc.seconds)), sent)
            raise
        except BaseException:
            gov.failed(method)
            raise
        gov.ok(method, sent)
        return result
