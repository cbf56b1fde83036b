"""export_metrics.json: its schema check, the worker-count rule, and ``tgarc tune``.

Imports nothing heavy: ``tgarc tune`` and the supervisor use it without starting anything.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import orjson

from engine.archive.layout import METRICS

VERSION = 1

# ---- schema ---------------------------------------------------------------------------------
# A leaf is a type tag: "int", "num" (int or float), "str", "iso" (str), "iso?" (str or None),
# "[num]" (list of numbers). Bools are never numbers. Extra keys are allowed (additions welcome).
_STAGE = {"count": "int", "total_seconds": "num", "avg_seconds": "num",
          "p50_seconds": "num", "p95_seconds": "num"}
_CACHE = {"hits": "int", "misses": "int", "hit_rate": "num", "evictions": "int",
          "expirations": "int"}
_PROCESS = {"role": "str", "peak_pss_mb": "num", "peak_rss_mb": "num", "cpu_seconds": "num"}
# one chat of the run (--all and several targets list each)
_CHAT = {"chat": "str", "folder": "str", "status": "str", "messages": "int", "seconds": "num",
         "error": "str"}
# engine/telegram/governor.py summary(): written since the request governor
_GOVERNOR = {"max_in_flight": "int", "window": "num", "peak_in_flight": "int",
             "paced": ("map", {"rate": "num", "floods": "int"}),
             "decisions": ("list", {"t": "num", "what": "str"}), "decisions_dropped": "int"}

SCHEMA: dict = {
    "version": "int",
    "status": "str",
    "chat": "str",
    "chats_total?": "int",              # "?": written since the run-level breakdown
    "chats?": ("list", _CHAT),
    "started": "iso",
    "finished": "iso?",
    "wall_seconds": "num",
    "messages": "int",
    "messages_per_second": "num",
    "stages": {"fetch": _STAGE, "decode": _STAGE, "render": _STAGE, "write": _STAGE,
               "media_download": _STAGE, "transcode": _STAGE},
    "resources": {"peak_cpu_percent": "num", "avg_cpu_percent": "num", "peak_pss_mb": "num",
                  "peak_rss_mb": "num", "avg_rss_mb": "num", "disk_read_mb": "num",
                  "disk_write_mb": "num", "net_recv_mb": "num", "net_sent_mb": "num",
                  "per_process": ("map", _PROCESS)},
    "caches": {"input_peer_cache": _CACHE},
    "telegram": {"requests": "int", "flood_waits": "int", "flood_wait_seconds": "num",
                 "retries": "int", "reconnects": "int", "governor?": _GOVERNOR},
    "queues": {"ring_capacity_bytes": "int", "avg_fill": "num", "peak_fill": "num",
               "producer_blocked_seconds": "num"},
    "workers": {"count": "int", "busy_fraction": "[num]"},
    "decoder": {"implementation": "str", "native": "int", "telethon": "int"},
    "media": {"downloaded": "int", "bytes": "int", "deduplicated": "int", "transcoded": "int",
              "failed": "int", "hwaccel": "str"},
    "recommendation": {"workers": "int", "reason": "str"},
}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and not (isinstance(v, float)
                                                         and not math.isfinite(v))


def _type_name(v) -> str:
    return "null" if v is None else type(v).__name__


def _check(value, spec, path: str, errors: list[str]) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            errors.append(f"{path or 'metrics'}: expected an object, got {_type_name(value)}")
            return
        for key, sub in spec.items():
            optional, key = key.endswith("?"), key.rstrip("?")
            where = f"{path}.{key}" if path else key
            if key not in value:
                if not optional:
                    errors.append(f"{where}: missing")
            else:
                _check(value[key], sub, where, errors)
        return
    if isinstance(spec, tuple) and spec[0] == "list":     # ("list", spec of each item)
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {_type_name(value)}")
            return
        for i, sub in enumerate(value):
            _check(sub, spec[1], f"{path}[{i}]", errors)
        return
    if isinstance(spec, tuple):                       # ("map", spec of each value)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {_type_name(value)}")
            return
        for key, sub in value.items():
            _check(sub, spec[1], f"{path}.{key}", errors)
        return
    ok = {
        "int": _is_int,
        "num": _is_num,
        "str": lambda v: isinstance(v, str),
        "iso": lambda v: isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T",
        "iso?": lambda v: v is None or (isinstance(v, str) and len(v) >= 19 and v[10] == "T"),
        "[num]": lambda v: isinstance(v, list) and all(_is_num(x) for x in v),
    }[spec](value)
    if not ok:
        want = {"int": "an integer", "num": "a finite number", "str": "a string",
                "iso": "an ISO-8601 time", "iso?": "an ISO-8601 time or null",
                "[num]": "a list of numbers"}[spec]
        errors.append(f"{path}: expected {want}, got {_type_name(value)} {value!r:.40}")


def validate(metrics: dict) -> list[str]:
    """Problems with an export_metrics.json document (DESIGN.md); [] when it is valid."""
    errors: list[str] = []
    _check(metrics, SCHEMA, "", errors)
    if not errors:
        if metrics["version"] != VERSION:
            errors.append(f"version: expected {VERSION}, got {metrics['version']}")
        if metrics["status"] != "running" and metrics["finished"] is None:
            errors.append(f"finished: null although status is {metrics['status']!r}")
        if metrics["recommendation"]["workers"] < 1:
            errors.append("recommendation.workers: must be at least 1")
        if len(metrics["workers"]["busy_fraction"]) != metrics["workers"]["count"]:
            errors.append("workers.busy_fraction: length differs from workers.count")
    return errors


# ---- the worker-count rule (docs/metrics.md says the same in words) ----------------------------
TARGET_BUSY = 0.75      # aim: each worker busy this share of the wall
SATURATED = 0.80        # mean busy at or above this ...
BLOCKED = 0.10          # ... and the fetcher blocked on full rings this share of the wall: more
IDLE = 0.50             # mean busy below this: fewer
MIN_WALL = 1.0          # seconds; a shorter run says nothing
DOWNLOAD_BOUND = 0.50   # media downloads took at least this share of the wall: say so
TRANSCODE_BOUND = 0.50  # copies (--transcode) kept the workers busy this share of their wall


def _pct(x: float) -> str:
    return f"{round(x * 100)} %"


def _media_share(metrics: dict, wall: float) -> tuple[float, float, str | None]:
    """(share of the wall, seconds, the reason's prefix) of the media downloads; the prefix
    is None when the run asked for no media, "" when they took under half the wall."""
    section = metrics.get("media_download")
    if not isinstance(section, dict):
        return 0.0, 0.0, None
    seconds = section.get("seconds")
    seconds = float(seconds) if _is_num(seconds) else 0.0
    seconds = min(max(0.0, seconds), wall)
    share = seconds / wall if wall > 0 else 0.0
    if share < DOWNLOAD_BOUND:
        return share, seconds, ""
    return share, seconds, (f"download-bound: media downloads took {_pct(share)} of the wall "
                            f"(network time, not CPU: more workers would not shorten it), so "
                            f"the workers are judged on the other {wall - seconds:.1f} s")


def _transcode_share(metrics: dict, wall: float, workers: int) -> float | None:
    """The share of the workers' wall that copies (--transcode) took; None without any."""
    section = metrics.get("transcode")
    if not isinstance(section, dict) or not _is_num(section.get("seconds")):
        return None
    seconds = max(0.0, float(section["seconds"]))
    return min(1.0, seconds / (wall * max(1, workers))) if wall > 0 else 0.0


def recommend(metrics: dict, cpu_count: int | None = None) -> dict:
    """{"workers": n, "reason": str, ...inputs} from a metrics document's figures."""
    cpus = cpu_count or os.cpu_count() or 1
    cap = max(1, cpus - 1)
    w = metrics["workers"]
    fractions = list(w.get("busy_fraction") or [])
    current = int(w.get("count") or len(fractions))
    wall = float(metrics.get("wall_seconds") or 0.0)
    messages = int(metrics.get("messages") or 0)
    busy = sum(fractions) / len(fractions) if fractions else 0.0
    # media downloads are network time in which workers have nothing to do: judge the
    # workers on the rest of the wall (docs/metrics.md, the worker-count rule)
    media, media_s, note = _media_share(metrics, wall)
    rest = wall - media_s
    if media_s > 0 and rest > 0:
        busy = min(1.0, busy * wall / rest)
    blocked = float(metrics["queues"]["producer_blocked_seconds"]) / rest if rest > 0 else 0.0
    blocked = min(1.0, max(0.0, blocked))
    fetch = metrics["stages"].get("fetch", {}).get("total_seconds", 0.0)
    fetch_share = min(1.0, fetch / rest) if rest > 0 else 0.0
    facts = {"current_workers": current, "cpu_count": cpus, "mean_busy_fraction": round(busy, 4),
             "producer_blocked_fraction": round(blocked, 4),
             "fetch_fraction": round(fetch_share, 4),
             **({"media_fraction": round(media, 4)} if note is not None else {})}

    def out(n: int, reason: str) -> dict:
        n = min(max(1, n), cap)
        if current > cap and n == cap and "CPU" not in reason:
            reason += f"; capped at {cap} (CPUs - 1)"
        return {"workers": n, "reason": (note + "; " if note else "") + reason, **facts}

    copies = _transcode_share(metrics, wall, current)
    if copies is not None:
        facts["transcode_fraction"] = round(copies, 4)
    if copies is not None and copies >= TRANSCODE_BOUND and wall >= MIN_WALL:
        # a copy is one worker's CPU for its whole length and the supervisor only waits on
        # it: one worker per CPU makes copies fastest (docs/metrics.md)
        tc = metrics["transcode"]
        reason = (f"transcode-bound: video copies kept the workers busy {_pct(copies)} of the "
                  f"wall ({tc.get('files', 0)} files at {tc.get('fps', 0)} fps with "
                  f"{tc.get('encoder') or 'the CPU'}); one worker per CPU copies fastest")
        if current >= cpus:
            reason += f"; already at {cpus} (one per CPU)"
        return {"workers": cpus, "reason": (note + "; " if note else "") + reason, **facts}
    if current < 1 or rest < MIN_WALL or messages == 0 or not any(fractions):
        keep = min(max(1, current), cap)
        why = ("no worker busy time was reported" if messages and rest >= MIN_WALL
               else f"{messages} messages in {rest:.1f} s"
               + (" besides the media downloads" if media_s > 0 else ""))
        return {"workers": keep, "reason": (note + "; " if note else "")
                + f"too little data to tune ({why}); keeping {keep}"
                + (f" (at most CPUs - 1 = {cap})" if current > cap else ""), **facts}
    if busy >= SATURATED and blocked >= BLOCKED:
        want = max(current + 1, math.ceil(current * busy / TARGET_BUSY))
        reason = (f"worker-bound: workers were busy {_pct(busy)} of the time and the fetcher "
                  f"waited on full rings {_pct(blocked)} of the wall")
        if current >= cap:
            reason += f"; already at the CPU limit ({cap} = CPUs - 1)"
        return out(want, reason)
    if busy < IDLE and current > 1:
        want = max(1, math.ceil(current * busy / TARGET_BUSY))
        if fetch_share >= 0.5 or blocked < 0.05:
            reason = f"fetch-bound: workers were busy {_pct(busy)} of the time"
            if fetch_share >= 0.5:
                reason += f" while fetching took {_pct(fetch_share)} of the wall"
        else:
            reason = f"workers were busy only {_pct(busy)} of the time"
        return out(want, reason)
    return out(current, f"balanced: workers were busy {_pct(busy)} of the time and the fetcher "
                        f"waited on full rings {_pct(blocked)} of the wall")


# ---- tgarc tune -----------------------------------------------------------------------------
def tune_report(metrics_path) -> dict:
    """The recommendation for a finished run's export_metrics.json, recomputed on this machine.

    Returns {"workers", "reason", "status", "messages", "wall_seconds", "messages_per_second",
    "recorded" (the recommendation stored at the end of the run), and the rule's inputs}.
    Raises ConfigError (a ValueError; exit code 2) with one readable line when the file is
    missing, a folder, unreadable or malformed.
    """
    from engine.config import ConfigError

    path = Path(metrics_path)
    if path.is_dir():
        hint = " (try DIR/export_metrics.json)" if (path / METRICS).is_file() \
            else ""
        raise ConfigError(f"{path}: a folder, not an export_metrics.json file{hint}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (run `tgarc export` first)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        metrics = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({str(e).splitlines()[0]})") from None
    errors = validate(metrics) if isinstance(metrics, dict) else ["expected a JSON object"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{path}: not a tgarc export_metrics.json: {errors[0]}{more}")
    try:
        rec = recommend(metrics)
    except (ArithmeticError, ValueError) as e:      # well-typed, but absurd numbers
        raise ConfigError(f"{path}: not a tgarc export_metrics.json: {e}") from None
    return {**rec, "status": metrics["status"], "messages": metrics["messages"],
            "wall_seconds": metrics["wall_seconds"],
            "messages_per_second": metrics["messages_per_second"],
            "recorded": metrics["recommendation"]}


# ---- the end-of-run summary -------------------------------------------------------------------
def duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} m {s:02d} s" if h else f"{m} m {s:02d} s"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_lines(metrics: dict) -> list[str]:
    """A few human lines: messages, wall, rate, flood waits, peak memory, recommendation."""
    tg = metrics["telegram"]
    chats = metrics.get("chats") or []
    chat = f" from {metrics['chat']}" if metrics["chat"] else ""
    if metrics["status"] not in ("done", "failed"):
        return []       # the command line says what went wrong, in one line of its own
    lines, per_chat = [], []
    if len(chats) > 1 or metrics.get("chats_total", 0) > 1:
        chat = f" from {len(chats)} chat{'s' if len(chats) != 1 else ''}"
        for c in chats:
            what = f"{c['messages']:,} messages in {duration(c['seconds'])}"
            if c["status"] != "done":
                what += f", {c['status']}: {c['error']}" if c["error"] else f", {c['status']}"
            per_chat.append(f"tgarc:   {c['chat'] or c['folder']}: {what}")
    floods = _plural(tg["flood_waits"], "flood wait")
    lines.append(
        f"tgarc: {metrics['messages']:,} messages{chat} in {duration(metrics['wall_seconds'])} "
        f"({metrics['messages_per_second']:,.1f} msgs/s), {floods} "
        f"({tg['flood_wait_seconds']:.0f} s), peak memory "
        f"{metrics['resources']['peak_pss_mb']:,.0f} MB (PSS, all processes)")
    lines += per_chat
    rec = metrics["recommendation"]
    lines.append(f"tgarc: recommended --workers {rec['workers']}: {rec['reason']}")
    return lines
