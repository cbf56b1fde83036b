"""How one chat's run ends, as the command sees it, and what it says on the way.

``Outcome`` gathers what the run's parts report (messages made durable, batches that
failed, a local I/O error that stops everything); the exceptions are how the command
learns the end: ``Interrupted`` (exit 130) and ``BatchesFailed`` (exit 1).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from dataclasses import dataclass, field

log = logging.getLogger("tgarc.export")


class Interrupted(Exception):
    """Ctrl-C: the checkpoint is saved (exit code 130)."""

    def __init__(self, msg: str = "interrupted; the checkpoint is saved — run the same "
                                  "command again to continue"):
        super().__init__(msg)


class BatchesFailed(Exception):
    """The run finished but some batches could not be processed (exit code 1)."""


class SameChat(Exception):
    """A target that names a chat another target of the run already names (``@name`` and
    its id): exported once, by the first; this one is skipped with a line."""


@dataclass
class Outcome:
    """What one chat's run has come to so far (touched on the event loop only)."""
    fetched: int = 0                       # messages made durable by this run
    failures: list[str] = field(default_factory=list)
    # disk full, read-only, permissions: every other batch would fail too, so the run
    # stops and this is raised once what is in flight has settled
    local_error: OSError | None = None


def say(line: str) -> None:
    """A one-line notice on stderr and in tgarc.log."""
    log.warning("%s", line)
    print(f"tgarc: {line}", file=sys.stderr)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
