"""Child processes: how tgarc starts them so that Ctrl-C means what the supervisor says.

Ctrl-C reaches the whole process group, a child still importing included; the parent alone
decides what it means (stop after the pages in flight, or abort). SIG_IGN survives fork and
exec, so a child started while it is set ignores SIGINT from its first instruction; the
parent's own handler is back right after the start. Only the main thread may set a signal
handler: a child started from another thread (a worker the pool thread replaces) ignores
SIGINT from its first line of Python instead (a window of a few ms).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Start children inside this block: they are born ignoring SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if old is None else old)
