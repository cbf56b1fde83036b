"""Who used which authorization key when: what shows that an account's key was never live in
two client processes at once (AUTH_KEY_DUPLICATED on Telegram; issue 16's lease).

A connection is recorded from its first encrypted packet (the key it uses is known then) to
its close, with the client process at its other end. fakedc listens on the loopback only, so
that process is on this machine, found by its socket (psutil). Several connections of one
process with one key are normal (a client's senders); two processes are an overlap.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class KeyUse:
    key_id: int
    conn_id: int
    pid: int | None          # the client process (None: not found)
    opened: float            # time.monotonic()
    closed: float | None = None
    bounded: float | None = None     # its first ping_delay_disconnect


def client_pid(writer) -> int | None:
    """The process at the other end of the server's stream ``writer`` (on this machine)."""
    try:
        peer, mine = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
    except (AttributeError, OSError):        # a wrapped stream (MTProxy) says nothing
        return None
    if not (peer and mine):
        return None
    for c in psutil.net_connections(kind="tcp"):
        if c.laddr and c.raddr and c.laddr.port == peer[1] and c.raddr.port == mine[1]:
            return c.pid
    return None


class KeyLog:
    def __init__(self):
        self.uses: list[KeyUse] = []
        self._lock = threading.Lock()

    def opened(self, key_id: int, conn_id: int, pid: int | None) -> KeyUse:
        use = KeyUse(key_id, conn_id, pid, time.monotonic())
        with self._lock:
            self.uses.append(use)
        return use

    def overlaps(self, key_id: int | None = None) -> list[tuple[KeyUse, KeyUse]]:
        """Pairs of connections with one key, from two client processes, open at once."""
        now = time.monotonic()
        with self._lock:
            uses = [u for u in self.uses if key_id is None or u.key_id == key_id]
        out = []
        for i, a in enumerate(uses):
            for b in uses[i + 1:]:
                if a.key_id == b.key_id and a.pid != b.pid \
                        and a.opened < (b.closed or now) and b.opened < (a.closed or now):
                    out.append((a, b))
        return out
