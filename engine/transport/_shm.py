"""POSIX shared-memory segments mapped straight from /dev/shm, and their hygiene.

We map ``/dev/shm/<name>`` with os.open + mmap instead of
``multiprocessing.shared_memory`` because Python 3.11's resource tracker unlinks
(and warns about) every segment a process merely attached to when that process
exits (../shared/FACTS.md).

Names carry the creator's pid and kernel start time:
``tgarc-<pid>-<starttime>-<random>``.  A segment whose creator is gone (dead,
zombie, or the pid reused by a younger process) is stale: ``sweep_stale()``
removes it, and the first segment a process creates sweeps first, so even a
``kill -9`` of a creator leaks nothing past the next start.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets

SHM_DIR = os.environ.get("TGARC_SHM_DIR", "/dev/shm")
PREFIX = "tgarc-"

_swept = False


def process_start(pid: int) -> int | None:
    """Kernel start time (clock ticks since boot) of a live process, else None.

    A zombie counts as dead: it has exited, only its parent has not reaped it
    yet, and a parent blocked on a ring to that child must not wait for it.
    """
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X", b"x"):
        return None
    return int(fields[19])


def alive(pid: int, start: int) -> bool:
    """True while the process that had ``pid`` and ``start`` still runs."""
    return pid > 0 and process_start(pid) == start


_me: tuple[int, int] | None = None


def me() -> tuple[int, int]:
    """(pid, start time) of this process; cached, and forgotten in a fork child."""
    global _me
    if _me is None:
        pid = os.getpid()
        start = process_start(pid)
        assert start is not None, "/proc is required"
        _me = (pid, start)
    return _me


def _forget_me() -> None:
    global _me
    _me = None


os.register_at_fork(after_in_child=_forget_me)


def _path(name: str) -> str:
    if not name.startswith(PREFIX) or "/" in name or name in (".", ".."):
        raise ValueError(f"not a tgarc segment name: {name!r}")
    return os.path.join(SHM_DIR, name)


def create(size: int) -> tuple[str, mmap.mmap]:
    """Create, size and map a new segment; its pages are reserved up front so a
    full /dev/shm fails here with ENOSPC instead of SIGBUS on first touch."""
    sweep_once()
    pid, start = me()
    name = f"{PREFIX}{pid}-{start}-{secrets.token_hex(6)}"
    path = _path(name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
        mm = mmap.mmap(fd, size)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    os.close(fd)
    return name, mm


def attach(name: str) -> mmap.mmap:
    """Map an existing segment by name."""
    fd = os.open(_path(name), os.O_RDWR)
    try:
        return mmap.mmap(fd, 0)
    finally:
        os.close(fd)


def unlink(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(name))


def owner_of(name: str) -> tuple[int, int] | None:
    """(pid, start) encoded in a segment name, or None if it is not ours."""
    parts = name[len(PREFIX) :].split("-")
    if not name.startswith(PREFIX) or len(parts) != 3:
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None


def segments() -> list[str]:
    """Names of every tgarc segment present now."""
    try:
        return sorted(n for n in os.listdir(SHM_DIR) if owner_of(n) is not None)
    except FileNotFoundError:
        return []


def sweep_stale() -> list[str]:
    """Unlink every tgarc segment whose creator is no longer alive; return their names."""
    removed = []
    for name in segments():
        owner = owner_of(name)
        if owner is not None and not alive(*owner):
            unlink(name)
            removed.append(name)
    return removed


def sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep_stale()
