"""Layers stacked once around every Telegram call, each owning one kind of failure.

    link = Link(client, stats, patience=600)
    call = Retry(Reconnect(FloodWait(Timeout(client, 30), ceiling=300), link), attempts=5)
    result = await call(functions.messages.GetHistoryRequest(...))

- ``Timeout``: Telethon has no per-request timeout (a reply that never comes waits
  forever), so each call gets one; a timeout is retryable.
- ``FloodWait``: sleeps FLOOD_WAIT / FLOOD_PREMIUM_WAIT seconds and calls again, as
  often as Telegram asks, but gives up with ``FloodCeiling`` past ``ceiling`` seconds.
  The client must be built with ``flood_sleep_threshold=0`` so Telethon raises instead
  of sleeping by itself (``client.make_client`` does).
- ``Reconnect``: a lost connection is the ``Link``'s business, not a failed attempt: the
  call waits while one caller reconnects (capped exponential backoff) and is sent again
  on the new connection, for up to ``patience`` seconds without Telegram; then
  ``NetworkLost``. The client must be built with ``connection_retries=0`` so Telethon
  reports a drop at once instead of reconnecting silently for half a minute
  (``client.make_client`` does). A timeout is a lost connection when a ping goes
  unanswered too (a link that went silent: Wi-Fi gone, a dead NAT mapping).
- ``Retry``: retries the transient failures it names (server errors, timeouts,
  connection errors the link survived) with capped exponential backoff, then raises
  ``GaveUp``. A revoked authorization is never retried: ``AuthRevoked``. (Telethon still
  sleeps 2 s after a 5xx before it raises, even with request_retries=0.)
Every layer counts what it did in one shared ``TelegramStats`` (export_metrics.json's
``telegram`` section) and can report to a callback (progress display).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from telethon import errors, functions


@dataclass
class TelegramStats:
    requests: int = 0
    flood_waits: int = 0
    flood_wait_seconds: float = 0.0
    retries: int = 0
    timeouts: int = 0
    reconnects: int = 0
    offline_seconds: float = 0.0          # outages that ended (a reply came again)
    offline_since: float | None = None    # time.monotonic() the current outage began
    reconnect_limit: float = 0.0          # how long an outage may last (0: no Link)
    governor: object | None = None        # the account's (engine/telegram/governor.py)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "governor"}

    def offline_now(self, now: float | None = None) -> float:
        """Seconds the current outage has lasted (0.0: connected)."""
        if self.offline_since is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self.offline_since)

    def offline_total(self, now: float | None = None) -> float:
        """Seconds without Telegram in this run, the current outage included."""
        return self.offline_seconds + self.offline_now(now)


class TelegramFailure(Exception):
    """Telegram refused or we gave up (exit code 3)."""


class FloodCeiling(TelegramFailure):
    def __init__(self, method: str, seconds: int, ceiling: float):
        super().__init__(f"Telegram asks to wait {seconds} s before {method} again, more than "
                         f"the {ceiling:g} s ceiling; re-run later (progress is saved)")
        self.method, self.seconds = method, seconds


class GaveUp(TelegramFailure):
    def __init__(self, method: str, attempts: int, last: BaseException):
        why = type(last).__name__ + (f": {last}" if str(last) else "")
        super().__init__(f"{method} failed {attempts} times, giving up ({why})")
        self.method, self.attempts, self.last = method, attempts, last


class NetworkLost(TelegramFailure):
    def __init__(self, seconds: float, last: BaseException | None = None):
        super().__init__(f"lost the connection to Telegram and could not get it back within "
                         f"{seconds:g} s (--reconnect-timeout); the checkpoint is saved: "
                         f"run the same command again to resume")
        self.seconds, self.last = seconds, last


class AuthRevoked(TelegramFailure):
    def __init__(self, last: BaseException):
        super().__init__("this session is no longer authorized (logged out or terminated "
                         "from another device); log in again with `tgarc login`")
        self.last = last


Call = Callable[[object], Awaitable]
log = logging.getLogger("tgarc.telegram")


def method_name(request) -> str:
    """``GetHistory`` also for a request wrapped in takeout or raw-page mode."""
    while (inner := getattr(request, "inner", None) or getattr(request, "query", None)) \
            is not None:
        request = inner
    return type(request).__name__.removesuffix("Request")


class Timeout:
    def __init__(self, inner: Call, seconds: float, stats: TelegramStats):
        self.inner, self.seconds, self.stats = inner, seconds, stats

    async def __call__(self, request):
        self.stats.requests += 1
        try:
            return await asyncio.wait_for(self.inner(request), self.seconds)
        except TimeoutError:
            self.stats.timeouts += 1
            raise


class FloodWait:
    ERRORS = (errors.FloodWaitError, errors.FloodPremiumWaitError)

    def __init__(self, inner: Call, ceiling: float, stats: TelegramStats,
                 on_wait: Callable[[str, int], None] | None = None, sleep=asyncio.sleep):
        self.inner, self.ceiling, self.stats = inner, ceiling, stats
        self.on_wait, self.sleep = on_wait, sleep

    async def __call__(self, request):
        while True:
            try:
                return await self.inner(request)
            except self.ERRORS as exc:
                seconds = max(1, int(exc.seconds))    # FLOOD_WAIT_0 has been seen: wait 1
                if seconds > self.ceiling:
                    raise FloodCeiling(method_name(request), seconds, self.ceiling) from exc
                self.stats.flood_waits += 1
                self.stats.flood_wait_seconds += seconds
                log.warning("flood wait: %s s before %s", seconds, method_name(request))
                if self.on_wait is not None:
                    self.on_wait(method_name(request), seconds)
                await self.sleep(seconds)


class Retry:
    # Transient by nature: Telegram's own server trouble, a reply that never came, a
    # connection error on a link that still works (a lost link is Reconnect's business).
    TRANSIENT = (errors.ServerError, errors.RpcCallFailError, errors.TimedOutError,
                 TimeoutError, ConnectionError, OSError)
    REVOKED = (errors.AuthKeyUnregisteredError, errors.SessionRevokedError,
               errors.SessionExpiredError, errors.UserDeactivatedError,
               errors.UserDeactivatedBanError, errors.AuthKeyNotFound)

    def __init__(self, inner: Call, attempts: int, stats: TelegramStats, backoff: float = 0.5,
                 max_backoff: float = 30.0, sleep=asyncio.sleep):
        self.inner, self.attempts, self.stats = inner, attempts, stats
        self.backoff, self.max_backoff, self.sleep = backoff, max_backoff, sleep

    async def __call__(self, request):
        for attempt in range(1, self.attempts + 1):
            try:
                return await self.inner(request)
            except self.REVOKED as exc:
                raise AuthRevoked(exc) from exc
            except self.TRANSIENT as exc:
                if attempt == self.attempts:
                    raise GaveUp(method_name(request), attempt, exc) from exc
                self.stats.retries += 1
                log.warning("%s failed (%s: %s), retry %d of %d", method_name(request),
                            type(exc).__name__, exc, attempt, self.attempts - 1)
                await self.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")


def _cancelled_by_us() -> bool:
    """A CancelledError whose task nobody cancelled: a reply future that a disconnect
    cancelled (the link is being reset), not Ctrl-C or a sibling's failure."""
    task = asyncio.current_task()
    return task is not None and not task.cancelling()


def _connect_errors() -> tuple[type[BaseException], ...]:
    from engine.telegram.proxy import connect_errors

    return (*connect_errors(), EOFError)       # EOFError: asyncio.IncompleteReadError


class Link:
    """The one connection every call shares, and the patience of the run with it.

    Telethon is built never to reconnect by itself (``connection_retries=0``): when the
    connection drops, every call waiting on it fails and the client is disconnected.
    The first ``Reconnect`` layer to see that calls ``restore``: it reconnects with capped
    exponential backoff while the other calls wait for it (none is sent meanwhile), and
    they are all sent again on the new connection. An outage lasts from the first failure
    until a reply comes again; past ``patience`` seconds the link gives up with
    ``NetworkLost``, and every later call fails at once with the same (no second wait
    for the calls a failing run still makes, nor for the next chat of ``--all``).
    ``stats.offline_since`` is the outage under way (the progress display shows it)."""

    def __init__(self, client, stats: TelegramStats, patience: float, *, timeout: float = 30.0,
                 backoff: float = 0.5, max_backoff: float = 10.0, sleep=asyncio.sleep,
                 clock=time.monotonic):
        self.client, self.stats, self.patience = client, stats, patience
        self.timeout = timeout                 # one connection attempt, and a ping
        self.backoff, self.max_backoff = backoff, max_backoff
        self.sleep, self.clock = sleep, clock
        self.epoch = 0                         # connections made since the first
        self.gave_up: NetworkLost | None = None
        self.last: BaseException | None = None
        self._lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._up.set()
        stats.reconnect_limit = patience
        self.guard = None              # called before each reconnect (the key's lease)
        self.connected = None          # called after each connection made (keybound.py)

    async def open(self, attempts: int = 6, delay: float = 1.0) -> None:
        """The first connection: ``attempts`` tries ``delay`` apart (what Telethon did
        by itself): a run that never reached Telegram fails within seconds."""
        for attempt in range(1, attempts + 1):
            try:
                await asyncio.wait_for(self.client.connect(), max(self.timeout, 10.0))
                if self.connected is not None:
                    self.connected()
                return
            except (*_connect_errors(), TimeoutError):
                if attempt == attempts:
                    raise
                with contextlib.suppress(Exception):
                    await self.client.disconnect()
                await self.sleep(delay)

    async def ready(self) -> int:
        """Wait while the link is being restored; the connection's epoch."""
        while True:
            if self.gave_up is not None:
                raise self.gave_up
            if self._up.is_set():
                return self.epoch
            await self._up.wait()

    def ok(self) -> None:
        """A reply came: an outage under way is over."""
        since = self.stats.offline_since
        if since is not None:
            self.stats.offline_since = None
            gone = max(0.0, self.clock() - since)
            self.stats.offline_seconds += gone
            log.warning("Telegram answers again after %.1f s without a connection", gone)

    async def lost(self, exc: BaseException, epoch: int) -> bool:
        """Did the call sent on connection ``epoch`` fail because the link was lost?"""
        if isinstance(exc, errors.RPCError):
            return False                       # Telegram answered
        if self.gave_up is not None or epoch != self.epoch or not self.client.is_connected():
            return True
        if isinstance(exc, TimeoutError) and self._up.is_set() and not await self._alive():
            log.warning("no reply to a ping within %g s either: the connection is dead",
                        self._ping_timeout)
            if self.client.is_connected() and epoch == self.epoch:
                await self.client.disconnect()   # fails the calls still waiting on it
            return True
        return False

    @property
    def _ping_timeout(self) -> float:
        return min(self.timeout, 10.0)

    async def _alive(self) -> bool:
        try:
            await asyncio.wait_for(self.client(functions.PingRequest(random.getrandbits(63))),
                                   self._ping_timeout)
            return True
        except asyncio.CancelledError:
            if not _cancelled_by_us():
                raise
            return False
        except Exception:
            return False

    async def restore(self, epoch: int, why: BaseException) -> None:
        """Bring the link back (or find another call did); ``NetworkLost`` past the
        patience."""
        async with self._lock:
            if self.gave_up is not None:
                raise self.gave_up
            if epoch != self.epoch and self.client.is_connected():
                return                         # another call brought it back meanwhile
            self._up.clear()
            try:
                await self._reconnect(why)
            finally:
                self._up.set()

    async def _reconnect(self, why: BaseException) -> None:
        stats = self.stats
        # kept here: another Link sharing these stats (a download lane) may see a reply
        # first and end the outage in stats while this one still reconnects
        since = stats.offline_since
        if since is None:
            since = stats.offline_since = self.clock()
            log.warning("lost the connection to Telegram (%s); reconnecting for up to %g s",
                        _describe(why), self.patience)
        self.last = why
        delay = self.backoff
        while True:
            left = since + self.patience - self.clock()
            if left <= 0:
                self.gave_up = NetworkLost(self.patience, self.last)
                log.error("no connection to Telegram for %g s (last: %s); giving up",
                          self.patience, _describe(self.last))
                with contextlib.suppress(Exception):
                    await self.client.disconnect()
                raise self.gave_up
            await self.sleep(min(delay, left))
            delay = min(self.max_backoff, delay * 2)
            if self.guard is not None:
                self.guard()
            from engine.telegram.proxy import watch_attempts

            try:
                with contextlib.suppress(*_connect_errors(), TimeoutError):
                    await self.client.disconnect()     # a clean slate for connect()
                with watch_attempts() as attempt:      # why Telethon's attempt failed
                    await asyncio.wait_for(self.client.connect(),
                                           max(1.0, min(self.timeout, left)))
            except Retry.REVOKED:
                raise
            except (*_connect_errors(), TimeoutError) as exc:
                self.last = exc = attempt.last or exc
                log.info("reconnecting: %s (%.0f s without Telegram)", _describe(exc),
                         stats.offline_now(self.clock()))
                continue
            if self.connected is not None:
                self.connected()
            self.epoch += 1
            stats.reconnects += 1
            log.warning("reconnected to Telegram after %.1f s",
                        stats.offline_now(self.clock()))
            return


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no reason given"
    text = " ".join(str(exc).split())
    return type(exc).__name__ + (f": {text}" if text else "")


class Reconnect:
    """Calls that failed because the link was lost wait for ``Link.restore`` and are sent
    again; anything else (Telegram's answers, a slow reply on a live link) goes up."""

    def __init__(self, inner: Call, link: Link):
        self.inner, self.link = inner, link

    async def __call__(self, request):
        link = self.link
        while True:
            epoch = await link.ready()
            why: BaseException
            try:
                result = await self.inner(request)
            except asyncio.CancelledError:
                if not _cancelled_by_us():
                    raise
                why = ConnectionError("the reply was lost with the connection")
            except Exception as exc:
                if not await link.lost(exc, epoch):
                    raise
                why = exc
            else:
                link.ok()
                return result
            log.info("%s: connection lost (%s); sending it again once reconnected",
                     method_name(request), _describe(why))
            await link.restore(epoch, why)


def stack(client, stats: TelegramStats, *, timeout: float = 30.0, flood_ceiling: float = 300.0,
          attempts: int = 5, backoff: float = 0.5, on_flood=None, link: Link | None = None,
          governor=None) -> Call:
    """The standard stack: retry ∘ reconnect ∘ flood wait ∘ governor ∘ timeout ∘ client
    (no reconnect layer without a ``link``, no governor layer without a ``governor``:
    engine/telegram/governor.py)."""
    inner = Timeout(client, timeout, stats)
    if governor is not None:
        from engine.telegram.governor import Govern

        inner = Govern(inner, governor, FloodWait.ERRORS, method_name)
    inner = FloodWait(inner, flood_ceiling, stats, on_flood)
    if link is not None:
        inner = Reconnect(inner, link)
    return Retry(inner, attempts, stats, backoff)
