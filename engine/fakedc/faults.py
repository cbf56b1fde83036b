"""Declarative fault rules, an account-wide request budget, a connection's bandwidth, and a
call log.

A rule names an RPC (Telethon's request class name, e.g. ``GetHistoryRequest``, or ``*``),
optionally a file (``file_id``: only requests whose ``location`` names it, e.g.
``GetFileRequest``), and when it fires: on the ``nth`` call, on ``every`` n-th call, or with
a seeded ``probability``.  What it does:

==================  =========================================================
``flood_wait``      rpc_error 420 FLOOD_WAIT_<seconds>
``flood_premium``   rpc_error 420 FLOOD_PREMIUM_WAIT_<seconds>
``takeout_delay``   rpc_error 420 TAKEOUT_INIT_DELAY_<seconds>
``server_error``    rpc_error 500 INTERNAL_SERVER_ERROR
``file_ref``        rpc_error 400 FILE_REFERENCE_EXPIRED
``expire_ref``      the reference of the file the request names expires, and the request
                    gets rpc_error 400 FILE_REFERENCE_EXPIRED; so does every later one
                    with the old reference, until the client fetches the message again
                    (messages.getMessages, getHistory, ...) and uses the new one
``file_migrate``    rpc_error 303 FILE_MIGRATE_<dc>
``error``           rpc_error <code> <message> (anything else, e.g. 400 CHANNEL_PRIVATE)
``drop_before``     close the connection instead of answering
``drop_after``      answer, then close the connection
``no_reply``        never answer (Telethon has no per-request timeout: the caller needs one)
``bad_salt``        rotate the server salt first, so the request gets bad_server_salt
``outage``          the network goes away for ``seconds``: no reply, every connection
                    dropped, new ones refused (``FakeDC.offline``), then back
``blackhole``       the network goes silent for ``seconds``: nothing is read or
                    answered, connections stay open, new ones are accepted (a link
                    that died without a reset), then back
==================  =========================================================
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field

KINDS = ("flood_wait", "flood_premium", "takeout_delay", "server_error", "file_ref", "error",
         "drop_before", "drop_after", "no_reply", "bad_salt", "outage",
         "blackhole", "expire_ref", "file_migrate")


@dataclass
class Rule:
    method: str
    kind: str
    nth: int | None = None           # fire on exactly the n-th matching call (1-based)
    every: int | None = None         # fire on every n-th matching call
    probability: float | None = None  # fire with this chance (seeded)
    seconds: int = 1                 # for the *_wait kinds and outage
    code: int = 400                  # for "error"
    message: str = "BAD_REQUEST"     # for "error"
    times: int | None = None         # stop after firing this often
    file_id: int | None = None       # only requests for this file (their location's id)
    dc: int = 4                      # for "file_migrate"
    user: int | None = None          # only this account's calls (its user id)
    seed: int = 0
    calls: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)
    _rnd: random.Random = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if sum(x is not None for x in (self.nth, self.every, self.probability)) != 1:
            raise ValueError("a rule needs exactly one of nth, every, probability")
        self._rnd = random.Random(self.seed)

    def matches(self, method: str, file_id: int | None = None, user: int | None = None) -> bool:
        if self.method not in ("*", method):
            return False
        if self.file_id is not None and file_id != self.file_id:
            return False
        if self.user is not None and user != self.user:
            return False
        self.calls += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.nth is not None:
            hit = self.calls == self.nth
        elif self.every is not None:
            hit = self.calls % self.every == 0
        else:
            hit = self._rnd.random() < self.probability
        if hit:
            self.fired += 1
        return hit

    def rpc_error(self) -> tuple[int, str] | None:
        return {
            "flood_wait": (420, f"FLOOD_WAIT_{self.seconds}"),
            "flood_premium": (420, f"FLOOD_PREMIUM_WAIT_{self.seconds}"),
            "takeout_delay": (420, f"TAKEOUT_INIT_DELAY_{self.seconds}"),
            "server_error": (500, "INTERNAL_SERVER_ERROR"),
            "file_ref": (400, "FILE_REFERENCE_EXPIRED"),
            "expire_ref": (400, "FILE_REFERENCE_EXPIRED"),
            "file_migrate": (303, f"FILE_MIGRATE_{self.dc}"),
            "error": (self.code, self.message),
        }.get(self.kind)


class Budget:
    """A token bucket per account and method, as Telegram limits an account: ``rate``
    requests a second with bursts of ``burst``; past it, FLOOD_WAIT with the seconds
    until a token is back (at least 1, as Telegram never says 0). Each account (user) has
    buckets of its own: two accounts get twice the requests."""

    def __init__(self, rate: float, burst: float | None = None, methods: tuple[str, ...] = ("*",)):
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.methods = methods
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, method: str, now: float | None = None, account: int | None = None) -> int:
        """0 if the call may go, else the FLOOD_WAIT seconds."""
        if "*" not in self.methods and method not in self.methods:
            return 0
        now = time.monotonic() if now is None else now
        key = (account, method)
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))


class Link:
    """A connection's bandwidth: a token bucket of ``rate`` bytes/s that every reply on the
    connection draws from, in the order the replies were made.  Replies in flight share the
    rate, as they share one TCP stream; a cap per reply let 8 parallel requests on a 1 MB/s
    connection through at 7.3 MB/s.  ``burst``: bytes an idle link sends without waiting
    (0: every reply waits its own size's worth, as the per-reply cap did for one request).

    ``reserve`` books the bytes at once and says how long to wait, so a reply that arrives
    behind a big one waits for it (the bucket runs into debt) instead of overtaking it."""

    def __init__(self, rate: float, burst: float = 0.0):
        if rate <= 0:
            raise ValueError("a link's rate is positive (None: no cap)")
        self.rate, self.burst = rate, burst
        self._tokens = burst
        self._last: float | None = None

    def reserve(self, nbytes: int, now: float | None = None) -> float:
        """Seconds until ``nbytes`` booked now have gone through the link."""
        now = time.monotonic() if now is None else now
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= nbytes
        return max(0.0, -self._tokens / self.rate)


@dataclass
class Call:
    """One entry of the server's call log."""
    method: str
    args: dict
    time: float
    outcome: str          # "ok", "rpc_error 420 FLOOD_WAIT_3", "dropped", "no reply", ...
    connection: int = 0
    dc: int = 2           # the DC the connection reached
