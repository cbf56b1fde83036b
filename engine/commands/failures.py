"""The exit code and the one line every failure gets (README: exit codes)."""

from __future__ import annotations

import errno

from engine import config


def exit_code(exc: BaseException) -> int | None:
    """The exit code DESIGN.md gives this failure (None: a bug, show the traceback)."""
    from engine.archive.store import CorruptState

    if isinstance(exc, config.ConfigError | ImportError):
        return 2
    if isinstance(exc, CorruptState | OSError):
        return 4
    name = type(exc).__name__
    if name == "Interrupted":
        return 130
    if name in ("BatchesFailed", "DamagedSegment"):
        return 1
    if name in ("LeaseHeld", "LeaseLost", "LeaseDamaged"):    # another holder of the key
        return 4
    if name == "ClusterFailure":             # a chat the cluster could not export
        return 3
    try:
        from engine.telegram.middleware import TelegramFailure
    except ImportError:
        return None
    if isinstance(exc, TelegramFailure):
        return 3
    return None


def one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        line = exc.strerror + (f": {exc.filename}" if exc.filename else "")
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            line += " — free some space and run the same command again (progress is saved)"
        return line
    return " ".join(str(exc).split())
