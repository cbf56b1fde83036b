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

from engine.archive.layout import METRICS

FORMATS = ("json", "jsonl", "md")
# --media's kinds (engine/media/kinds.py KINDS, sorted): the default is every one of them
MEDIA_KINDS = ("audio", "document", "gif", "photo", "round", "sticker", "video", "voice")
TAKEOUT = ("auto", "require", "off")
PROGRESS = ("auto", "tty", "json", "off")


SECRET_CHATS = ("secret chats are end-to-end encrypted and kept only on the two devices in "
                "them: Telegram's servers hold no history of them, so tgarc cannot export them "
                "(Telegram Desktop's export cannot either)")


class ConfigError(ValueError):
    """Bad input from the user (exit code 2)."""


class ExportConfig(Struct, frozen=True, kw_only=True):
    targets: tuple[str, ...]
    all_kinds: tuple[str, ...] = ()  # --all: every dialog of these kinds
    out: str
    formats: tuple[str, ...] = FORMATS
    workers: int = 2
    tz: str = "UTC"
    tz_given: bool = True             # --tz (or `tz` in the file) named it; else each
                                      # chat keeps the zone it was rendered in
    min_id: int = 0
    max_id: int = 0
    since: int | None = None          # unix seconds, inclusive
    until: int | None = None          # unix seconds, exclusive
    refresh_edits: int = 0
    takeout: str = "auto"
    session: str | None = None
    proxy: str | None = None          # socks5://, http://, mtproxy:// (engine/telegram/proxy.py)
    topic: int | None = None          # --topic: one forum topic only
    comments: bool = False            # --comments: each channel post's discussion thread
    members: bool = False             # --members: the member list in chat.json
    metrics: str | None = None        # default <out>/export_metrics.json
    progress: str = "auto"
    debug: bool = False
    fetch_streams: int = 8            # id ranges of a chat fetched at once (the governor
                                      # decides how many requests are really out)
    max_in_flight: int = 8            # --max-in-flight: the governor's ceiling
    account_json: bool = False        # --account-json: result.json of every chat at --out
    timeout: float = 30.0             # seconds per Telegram request
    flood_ceiling: float = 300.0      # longest flood wait we sleep through
    reconnect_timeout: float = 600.0  # --reconnect-timeout: seconds without Telegram before
                                      # giving up (exit 3); reconnecting with backoff till then
    lease: str | None = None          # --lease DIR: the account key's lease there
    lease_ttl: float = 30.0           # --lease-ttl: its term (engine/archive/lease.py)
    require_user: bool = True         # history needs a user account, not a bot
    shared: bool = False              # --shared: 0755/0644 (default: private, 0700/0600)
    media: tuple[str, ...] = MEDIA_KINDS  # --media: the kinds downloaded (media/kinds.py);
                                      # () is none: every file "not included", no media pass
    max_media_size: int | None = None  # --max-media-size in bytes; None: no limit
    media_lanes: int = 2              # connections to the home DC that carry file parts
    transcode: str = "off"            # --transcode: off, or the codec of compact video copies
    transcode_min_size: int = 0       # --transcode-min-size in bytes: smaller videos kept as is
    max_height: int | None = None     # --max-height: copies scaled down to this (None: as is)
    crf: int | None = None            # --crf: the copies' constant quality (None: the codec's)
    transcode_replace: bool = False   # --transcode-replace: a verified copy replaces its original
    hwaccel: str = "auto"             # --hwaccel: auto (detected) or off (the CPU)

    @property
    def metrics_path(self) -> Path:
        return Path(self.metrics) if self.metrics else Path(self.out) / METRICS


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


def at_least(flag: str, value: int, low: int) -> int:
    if value < low:
        raise ConfigError(f"{flag} must be {low} or more, not {value}")
    return value


def lease_term(value: float) -> float:
    """--lease-ttl: seconds, 2 or more (a renewal every quarter of it)."""
    if float(value) < 2:
        raise ConfigError(f"--lease-ttl must be 2 seconds or more, not {value}")
    return float(value)


def choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def parse_formats(value: str | None) -> tuple[str, ...]:
    """``json,jsonl,md`` -> ("json", "jsonl", "md"); None (not given): all three. An empty
    value is an error, not "all": ``--format ""`` is a mistake, not a choice."""
    if value is None:
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
# a chat's kind (ChatMeta.kind, `tgarc chats`) -> its --kinds word; users and bots are
# told apart by the entity, not the chat's kind
CHAT_KINDS = {"channel": "channel", "supergroup": "group", "group": "group"}


def parse_kinds(value: str | None) -> tuple[str, ...]:
    """``--kinds channels,groups`` -> ("channel", "group"); default: every kind. Secret
    chats are no kind: asking for them is an error that says why (no server history)."""
    got = [x.strip() for x in (value or ",".join(KINDS)).split(",") if x.strip()]
    secret = next((x for x in got if x.lower() in ("secret", "secrets")), None)
    if secret is not None:
        raise ConfigError(f"--kinds {secret}: {SECRET_CHATS} (choose from {', '.join(KINDS)})")
    bad = [x for x in got if x not in KINDS]
    if bad or not got:
        raise ConfigError(f"--kinds: unknown kind {', '.join(bad) or value!r} "
                          f"(choose from {', '.join(KINDS)})")
    return tuple(dict.fromkeys(x.removesuffix("s") for x in got))


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: taskset, cgroup cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_workers(value: str | None, warn=None, transcode: bool = False) -> int:
    """``--workers N|auto``. auto: CPUs - 1, at most 4; with ``transcode`` (--transcode) one
    per CPU, at most 16 (a copy is one worker's CPU for its whole
    length, and the supervisor only waits on it). A number above the CPUs this process may
    use is capped at that count (more render processes than CPUs only take turns) and
    ``warn`` gets one line saying so."""
    cpus = usable_cpus()
    if value in (None, "auto"):
        return min(16, cpus) if transcode else max(1, min(4, cpus - 1))
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise ConfigError(f"--workers must be a number from 1 to 64 or auto, not {value!r}")
    if n > cpus:
        if warn is not None:
            warn(f"--workers {n} is more than the {cpus} CPU{'s' if cpus != 1 else ''} this "
                 f"machine lets tgarc use; using {cpus}")
        n = cpus
    return n


# --config: a TOML file with any of these keys (flags override environment, which
# overrides the file).
FILE_KEYS: dict[str, tuple[type, ...]] = {
    "api_id": (int,), "api_hash": (str,), "session": (str,), "out": (str,),
    "format": (str, list), "workers": (int, str), "tz": (str,), "takeout": (str,),
    "refresh_edits": (int,), "kinds": (str, list), "min_id": (int,), "max_id": (int,),
    "since": (str,), "until": (str,), "metrics": (str,), "progress": (str,),
    "fetch_streams": (int,), "request_timeout": (int, float), "proxy": (str,),
    "max_in_flight": (int,), "account_json": (bool,),
    "reconnect_timeout": (int, float), "lease": (str,), "lease_ttl": (int, float),
    "topic": (int,), "comments": (bool,), "members": (bool,), "shared": (bool,),
    "media": (str, list), "max_media_size": (str, int), "media_lanes": (int,),
    "transcode": (str,), "transcode_min_size": (str, int), "max_height": (int,),
    "crf": (int,), "transcode_replace": (bool,), "hwaccel": (str,),
}


def load_file(path: str | None) -> dict:
    """The settings in a TOML config file, checked; {} without one."""
    if not path:
        return {}
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config: no file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path} is not valid TOML: {exc}") from None
    data = data.get("export", data) if isinstance(data.get("export"), dict) else data
    for key, value in data.items():
        if key not in FILE_KEYS:
            raise ConfigError(f"--config {path}: unknown setting {key!r} (known: "
                              f"{', '.join(sorted(FILE_KEYS))})")
        if not isinstance(value, FILE_KEYS[key]) or (isinstance(value, bool)
                                                    and bool not in FILE_KEYS[key]):
            raise ConfigError(f"--config {path}: {key} = {value!r} has the wrong type")
        if isinstance(value, list):
            if not all(isinstance(x, str) for x in value):
                raise ConfigError(f"--config {path}: {key} must list strings")
            data[key] = ",".join(value)
    return data


def apply_file_credentials(data: dict, env=os.environ) -> None:
    """api_id / api_hash from the file, unless the environment has them (env wins)."""
    for key, var in (("api_id", "TGARC_API_ID"), ("api_hash", "TGARC_API_HASH")):
        if key in data and not env.get(var):
            env[var] = str(data[key])


def encode(cfg: ExportConfig) -> bytes:
    return msgspec.json.encode(cfg)


def date_window(args, pick, tz: str) -> tuple[int | None, int | None]:
    """--since and --until as unix seconds (the end exclusive), checked."""
    since, until = pick(args.since, "since"), pick(args.until, "until")
    first = parse_when(since, tz, end=False) if since else None
    after = parse_when(until, tz, end=True) if until else None
    if first is not None and after is not None and first >= after:
        raise ConfigError(f"--since {since} is after --until {until}: no message "
                          f"can match both")
    return first, after


def id_window(args, pick) -> tuple[int, int]:
    """--min-id and --max-id, checked."""
    min_id = at_least("--min-id", pick(args.min_id, "min_id", 0), 0)
    max_id = at_least("--max-id", pick(args.max_id, "max_id", 0), 0)
    if min_id and max_id and min_id > max_id:
        raise ConfigError(f"--min-id {min_id} is above --max-id {max_id}: no message "
                          f"id lies in between")
    return min_id, max_id
