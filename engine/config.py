"""One frozen Struct per run, validated once: what the command line (and environment) asked.

Everything downstream reads ``ExportConfig``; nothing else parses flags or dates.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Struct

FORMATS = ("json", "jsonl", "md")
TAKEOUT = ("auto", "require", "off")
PROGRESS = ("auto", "tty", "json", "off")


class ConfigError(ValueError):
    """Bad input from the user (exit code 2)."""


class ExportConfig(Struct, frozen=True, kw_only=True):
    targets: tuple[str, ...]
    all_kinds: tuple[str, ...] = ()  # --all: every dialog of these kinds
    out: str
    formats: tuple[str, ...] = FORMATS
    workers: int = 2
    tz: str = "UTC"
    min_id: int = 0
    max_id: int = 0
    since: int | None = None          # unix seconds, inclusive
    until: int | None = None          # unix seconds, exclusive
    refresh_edits: int = 0
    takeout: str = "auto"
    session: str | None = None
    metrics: str | None = None        # default <out>/export_metrics.json
    progress: str = "auto"
    debug: bool = False
    fetch_streams: int = 2            # id ranges fetched at once
    timeout: float = 30.0             # seconds per Telegram request
    flood_ceiling: float = 300.0      # longest flood wait we sleep through
    require_user: bool = True         # history needs a user account, not a bot

    @property
    def metrics_path(self) -> Path:
        return Path(self.metrics) if self.metrics else Path(self.out) / "export_metrics.json"


def local_zone() -> str:
    """The machine's zone name, as Telegram Desktop uses local time (DST included)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            name = target.split("zoneinfo/", 1)[1]
            ZoneInfo(name)
            return name
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return "UTC"


def zone(name: str | None) -> str:
    if name is None:
        return local_zone()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--tz: unknown time zone {name!r} (try Europe/Berlin or UTC)") \
            from None
    return name


def parse_formats(value: str | None) -> tuple[str, ...]:
    if not value:
        return FORMATS
    got = tuple(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    bad = [x for x in got if x not in FORMATS]
    if bad or not got:
        raise ConfigError(f"--format: unknown format {', '.join(bad) or value!r} "
                          f"(choose from {', '.join(FORMATS)})")
    return got


def parse_when(value: str, tz_name: str, *, end: bool) -> int:
    """``2024-05-01`` (a whole day in ``tz``) or an ISO date-time. ``end``: the first
    second after the value (``--until`` includes the day it names)."""
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if end:
                day += dt.timedelta(days=1)
            when = dt.datetime.combine(day, dt.time(), ZoneInfo(tz_name))
        else:
            when = dt.datetime.fromisoformat(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=ZoneInfo(tz_name))
    except ValueError:
        raise ConfigError(f"not a date: {value!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") \
            from None
    return int(when.timestamp())


KINDS = ("channels", "groups", "users", "bots")


def parse_kinds(value: str | None) -> tuple[str, ...]:
    """``--kinds channels,groups`` -> ("channel", "group"); default: every kind."""
    got = [x.strip() for x in (value or ",".join(KINDS)).split(",") if x.strip()]
    bad = [x for x in got if x not in KINDS]
    if bad or not got:
        raise ConfigError(f"--kinds: unknown kind {', '.join(bad) or value!r} "
                          f"(choose from {', '.join(KINDS)})")
    return tuple(dict.fromkeys(x.removesuffix("s") for x in got))


def parse_workers(value: str | None) -> int:
    if value in (None, "auto"):
        return max(1, min(4, (os.cpu_count() or 2) - 1))
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise ConfigError(f"--workers must be a number from 1 to 64 or auto, not {value!r}")
    return n


def encode(cfg: ExportConfig) -> bytes:
    return msgspec.json.encode(cfg)
