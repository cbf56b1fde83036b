"""Layers stacked once around every Telegram call, each owning one kind of failure.

    call = Retry(FloodWait(Timeout(client, 30), ceiling=300), attempts=5)
    result = await call(functions.messages.GetHistoryRequest(...))

- ``Timeout``: Telethon has no per-request timeout (a reply that never comes waits
  forever), so each call gets one; a timeout is retryable.
- ``FloodWait``: sleeps FLOOD_WAIT / FLOOD_PREMIUM_WAIT seconds and calls again, as
  often as Telegram asks, but gives up with ``FloodCeiling`` past ``ceiling`` seconds.
  The client must be built with ``flood_sleep_threshold=0`` so Telethon raises instead
  of sleeping by itself (``client.make_client`` does).
- ``Retry``: retries the transient failures it names (server errors, timeouts,
  dropped connections) with capped exponential backoff, then raises ``GaveUp``.
  A revoked authorization is never retried: ``AuthRevoked``. (Telethon still sleeps
  2 s after a 5xx before it raises, even with request_retries=0.)
Every layer counts what it did in one shared ``TelegramStats`` (export_metrics.json's
``telegram`` section) and can report to a callback (progress display).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from telethon import errors


@dataclass
class TelegramStats:
    requests: int = 0
    flood_waits: int = 0
    flood_wait_seconds: float = 0.0
    retries: int = 0
    timeouts: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


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
    # Transient by nature: Telegram's own server trouble, a reply that never came,
    # a connection that dropped (Telethon reconnects underneath).
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
                if isinstance(exc, ConnectionError | OSError):
                    self.stats.reconnects += 1
                await self.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")


def stack(client, stats: TelegramStats, *, timeout: float = 30.0, flood_ceiling: float = 300.0,
          attempts: int = 5, backoff: float = 0.5, on_flood=None) -> Call:
    """The standard stack: retry ∘ flood wait ∘ timeout ∘ client."""
    return Retry(FloodWait(Timeout(client, timeout, stats), flood_ceiling, stats, on_flood),
                 attempts, stats, backoff)
