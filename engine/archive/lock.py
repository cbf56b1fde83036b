"""Who may write a folder: ``flock`` locks the kernel drops when their holder dies.

- ``locked(out)``: ``<out>/.lock``, one export per output folder (its log and metrics).
- ``ChatLock``: ``<chat>/state/.lock``, one writer per chat folder — every command that
  changes a chat (export, render, repair) holds it; ``verify`` only reads and takes none.
  A store nested in a chat (``topics/<id>``, ``comments/<post>``) is covered by its
  chat's lock. Within one process the lock is counted, not taken twice (flock locks
  belong to an open file, so a second open in the same process would refuse itself).

A crashed run never leaves a stale lock: the file may stay, the lock does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path

from engine.archive import layout
from engine.archive.layout import NESTED

log = logging.getLogger("tgarc.lock")


class LockHeld(OSError):
    """Another run writes this folder (exit code 4)."""


def _take(path: Path, what: Path) -> int:
    """``TGARC_LOCK_WAIT=S`` (a cluster's job: engine/cluster) waits up to S seconds for a
    lock another process holds, instead of failing at once: a job moved from a frozen node
    waits until the frozen run, woken, has ended (it stops at its lease's check)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline, said = time.monotonic() + float(os.environ.get("TGARC_LOCK_WAIT") or 0), False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(f"another tgarc run is writing {what} (it holds "
                                   f"{path})") from None
                if not said:
                    log.warning("another run writes %s: waiting for it to end", what)
                    said = True
                time.sleep(0.2)
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


@contextlib.contextmanager
def locked(out: Path):
    """``<out>/.lock``: one export per output folder."""
    fd = _take(out / layout.OUT_LOCK, out)
    try:
        yield
    finally:
        os.close(fd)


def chat_root(root: Path) -> Path:
    """The chat folder whose lock covers ``root`` (itself, or the chat a nested store is in)."""
    return root.parent.parent if root.parent.name in NESTED else root


_held: dict[str, list[int]] = {}        # realpath -> [fd, holders in this process]


_fences: list = []          # the lease checks of this process's runs (engine/archive/lease.py)


@contextlib.contextmanager
def fenced(check):
    """While a run holds its account's lease (``--lease``, a cluster's jobs): ``fence`` calls
    ``check`` (``Lease.fence``) before every checkpoint, so a run that lost its lease, say
    woken on a node the cluster gave up on, never moves a checkpoint again."""
    _fences.append(check)
    try:
        yield
    finally:
        _fences.remove(check)


def fence() -> None:
    """Before a checkpoint is written: LeaseLost if a lease this process ran under moved on."""
    for check in list(_fences):
        check()


class ChatLock:
    def __init__(self, key: str):
        self.key = key
        self.held = True

    @classmethod
    def acquire(cls, root: Path) -> ChatLock:
        root = chat_root(root)
        key = os.path.realpath(root)
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
            return cls(key)
        state = root / layout.STATE
        state.mkdir(parents=True, exist_ok=True)
        _held[key] = [_take(state / layout.CHAT_LOCK, root), 1]
        return cls(key)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        entry = _held[self.key]
        entry[1] -= 1
        if not entry[1]:
            del _held[self.key]
            os.close(entry[0])
