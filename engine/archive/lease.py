"""A timed lease on a name (an account's key) in a folder every machine that uses it reaches.

An account's authorization key used from two places at once risks AUTH_KEY_DUPLICATED:
Telegram destroys the key and logs the user out. A cluster runtime restarts a lost actor
elsewhere while the old process may still run (a frozen node, a network split), so tgarc
guards the key itself: whoever talks to Telegram for an account holds its lease, and a new
holder takes it only once the old one's term has run out.

``<folder>/<name>.lease`` holds ``{"holder", "epoch", "expires", "ttl"}`` (``expires``: a
wall-clock time). Every read-modify-write happens under ``flock`` on ``<name>.lease.lock``
(NFSv4 maps it to a POSIX lock), and the file is replaced atomically.

Two clocks, one margin (``skew``, which bounds the nodes' clock disagreement):
- A contender takes the lease once ``now > expires + skew`` on its wall clock.
- The holder believes in its term only until ``t0 + ttl - skew`` on its own monotonic
  clock, ``t0`` taken before the write that began the term. A frozen holder that wakes up
  finds its term over by its own clock, whatever the file says, and must stop before it
  sends anything (``check``).

So the holder stops believing at least ``2 * skew`` before anyone else may start. The
``epoch`` grows with every new term: a write fenced by the lease carries it and is refused
when the file names a later one (``fence``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from engine.archive.atomic import write_atomic


# Not OSError: a request that fails with LeaseLost must not look like a lost connection to
# the middleware, which would reconnect and send it again (the CLI maps them to exit 4).
class LeaseHeld(RuntimeError):
    """Another holder's term has not run out within the wait."""


class LeaseLost(RuntimeError):
    """This holder's term is over (another holder took it, or its own clock says so)."""


class LeaseDamaged(RuntimeError):
    """The lease file is not one (say which, and what to do)."""


class Lease:
    """One holder's view of the lease on ``name``; ``holder`` says who (node, process)."""

    def __init__(self, folder: Path, name: str, holder: str, ttl: float = 30.0,
                 skew: float = 2.0):
        if not ttl > 2 * skew >= 0:
            raise ValueError(f"a lease's ttl ({ttl} s) must exceed twice its skew ({skew} s)")
        self.folder, self.name, self.holder = Path(folder), name, holder
        self.ttl, self.skew = ttl, skew
        self.path = self.folder / f"{name}.lease"
        self.epoch = 0                      # of this holder's term (0: none)
        self._until = float("-inf")         # monotonic end of the term, as the holder sees it
        self._keeper: tuple[threading.Event, threading.Thread] | None = None

    # ---- the file --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict | None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / f"{self.name}.lease.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self.read()
        finally:
            os.close(fd)

    def read(self) -> dict | None:
        """What the file says (None: no lease was ever taken)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            got = orjson.loads(data)
            if not (isinstance(got, dict) and isinstance(got.get("holder"), str)
                    and isinstance(got.get("epoch"), int)
                    and isinstance(got.get("expires"), int | float)):
                raise ValueError("fields missing")
        except ValueError as exc:
            raise LeaseDamaged(f"the lease file {self.path} is damaged ({exc}); remove it "
                               f"once no tgarc holds {self.name!r} anywhere") from None
        return got

    def _write(self, epoch: int, expires: float) -> None:
        write_atomic(self.path, orjson.dumps({"holder": self.holder, "epoch": epoch,
                                              "expires": expires, "ttl": self.ttl}))

    # ---- the term --------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take the lease if it is free or its term ran out; True if this holder has it."""
        with self._locked() as cur:
            t0 = time.monotonic()
            now = time.time()
            if cur is not None and cur["holder"] != self.holder \
                    and now <= cur["expires"] + self.skew:
                return False
            epoch = (cur["epoch"] if cur else 0) + 1
            self._write(epoch, now + self.ttl)
            self.epoch, self._until = epoch, t0 + self.ttl - self.skew
            return True

    def acquire(self, wait: float | None = None, poll: float = 0.2) -> int:
        """``try_acquire`` until it succeeds (at most ``wait`` seconds); the term's epoch."""
        deadline = None if wait is None else time.monotonic() + wait
        while not self.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                cur = self.read() or {}
                until = time.strftime("%H:%M:%S", time.localtime(cur.get("expires", 0)))
                raise LeaseHeld(f"{self.name!r} is held by {cur.get('holder')} until {until}")
            time.sleep(poll)
        return self.epoch

    def renew(self) -> None:
        """Extend the term; LeaseLost when another holder has taken the lease since."""
        with self._locked() as cur:
            t0 = time.monotonic()
            if cur is None or cur["holder"] != self.holder or cur["epoch"] != self.epoch:
                self._until = float("-inf")
                raise LeaseLost(f"{self.name!r} is now held by "
                                f"{cur['holder'] if cur else 'nobody'}")
            self._write(self.epoch, time.time() + self.ttl)
            self._until = t0 + self.ttl - self.skew

    def release(self) -> None:
        """End the term now (others may take the lease at once); the renewer stops first,
        so no renewal can follow."""
        if self._keeper is not None:
            stop, thread = self._keeper
            stop.set()
            if thread is not threading.current_thread():
                thread.join()
            self._keeper = None
        with self._locked() as cur:
            if cur is not None and cur["holder"] == self.holder and cur["epoch"] == self.epoch:
                self._write(self.epoch, 0.0)
        self._until = float("-inf")

    def valid(self) -> bool:
        """This holder's term is running, by its own monotonic clock."""
        return time.monotonic() < self._until

    def check(self) -> None:
        """Before anything the lease guards: LeaseLost once the term is over."""
        if not self.valid():
            raise LeaseLost(f"the term on {self.name!r} (epoch {self.epoch}) is over")

    def fence(self) -> int:
        """The term's epoch, for a write the lease guards, once the file agrees it is
        still this holder's (LeaseLost otherwise)."""
        cur = self.read()
        if cur is None or cur["epoch"] != self.epoch or cur["holder"] != self.holder:
            raise LeaseLost(f"{self.name!r} moved on to epoch {cur and cur['epoch']}")
        self.check()
        return self.epoch

    def keep(self, on_lost: Callable[[Exception], None] | None = None) -> threading.Event:
        """Renew every ttl / 4 in a daemon thread until ``release`` (or the returned event is
        set). When a renewal fails, or the term runs out before one succeeds, ``on_lost``
        (default: end the process at once, so nothing it holds talks to Telegram again)."""
        stop = threading.Event()
        lost = on_lost or _exit

        def loop() -> None:
            while not stop.wait(self.ttl / 4):
                try:
                    self.check()
                    self.renew()
                except Exception as exc:     # any failure ends the term
                    lost(exc)
                    return

        thread = threading.Thread(target=loop, name=f"lease-{self.name}", daemon=True)
        self._keeper = (stop, thread)
        thread.start()
        return stop


def _exit(exc: Exception) -> None:
    os.write(2, f"tgarc: {exc}; stopping\n".encode())
    os._exit(75)
