"""The fold: aggregator events in, the figures of export_metrics.json out (no I/O here)."""

from __future__ import annotations

import math
import random
from array import array
from dataclasses import dataclass, field

from engine.model.events import (
    CacheSnapshot,
    ChatDone,
    Decoded,
    Finish,
    Flood,
    GovernorState,
    LinkState,
    MediaSnapshot,
    Plan,
    Progress,
    QueueSample,
    RunPlan,
    Stages,
    TelegramSnapshot,
    WorkerBusy,
)

STAGES = ("fetch", "decode", "render", "write", "media_download", "transcode")
"""Stages always present in ``stages`` (zeros when a run had none); others are added as seen."""

MIB = float(1 << 20)     # "MB" in export_metrics.json

EXACT_SAMPLES = 100_000
"""Per stage, percentiles are exact up to this many samples, then come from a uniform
reservoir of this size (count, total and average stay exact)."""


def quantile(sorted_values, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, and
    ``statistics.quantiles(method="inclusive")``)."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    pos = (n - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


class StageStats:
    """Count, total and a bounded sample of one stage's durations."""

    __slots__ = ("_rng", "count", "samples", "total")

    def __init__(self, seed: int = 0):
        self.count = 0
        self.total = 0.0
        self.samples = array("d")
        self._rng = random.Random(seed)

    def add(self, seconds) -> None:
        samples, cap = self.samples, EXACT_SAMPLES
        for s in seconds:
            s = float(s)
            if not math.isfinite(s):
                continue
            self.count += 1
            self.total += s
            if len(samples) < cap:
                samples.append(s)
            else:                                   # reservoir sampling (algorithm R)
                j = self._rng.randrange(self.count)
                if j < cap:
                    samples[j] = s

    def summary(self) -> dict:
        ordered = sorted(self.samples)
        return {
            "count": self.count,
            "total_seconds": round(self.total, 6),
            "avg_seconds": round(self.total / self.count, 6) if self.count else 0.0,
            "p50_seconds": round(quantile(ordered, 0.50), 6),
            "p95_seconds": round(quantile(ordered, 0.95), 6),
        }


@dataclass
class Fold:
    """Everything the aggregator learned from events. Times are ``time.monotonic()``."""

    started_mono: float
    chat: str = ""
    estimated_total: int = 0     # the run's: messages before this chat + the chat's estimate
    chats_total: int = 0         # chats this run exports (RunPlan; 0: one, never said)
    chats: list[ChatDone] = field(default_factory=list)     # the chats ended so far
    in_flight: dict[str, int] = field(default_factory=dict)   # chat -> its estimate
    plan_workers: int = 0
    plan_mono: float | None = None
    ring_capacity_bytes: int = 0
    messages: int = 0
    stages: dict[str, StageStats] = field(default_factory=dict)
    telegram: TelegramSnapshot | None = None
    link: LinkState | None = None              # the latest; offline_s > 0: reconnecting
    governor: dict | None = None               # the request governor's latest summary
    caches: dict[str, CacheSnapshot] = field(default_factory=dict)
    fill_sum: float = 0.0
    fill_n: int = 0
    fill_peak: float = 0.0
    producer_blocked_seconds: float = 0.0
    busy: dict[int, float] = field(default_factory=dict)
    flood_events: int = 0
    flood_event_seconds: float = 0.0
    flood_latest: Flood | None = None
    flood_until: float = 0.0                   # monotonic time the latest flood wait ends
    media: MediaSnapshot | None = None          # the latest; None: no media asked for
    decoded: Decoded | None = None              # the latest TL decoding totals
    finish: Finish | None = None
    bad_records: int = 0

    def __post_init__(self):
        for name in STAGES:
            self.stages[name] = StageStats()

    def apply(self, ev, now: float) -> None:
        """Fold one event (``Proc`` is the sampler's business, not handled here)."""
        if isinstance(ev, Stages):
            stats = self.stages.get(ev.stage)
            if stats is None:
                stats = self.stages[ev.stage] = StageStats(len(self.stages))
            stats.add(ev.seconds)
        elif isinstance(ev, Progress):
            self.messages = ev.messages
        elif isinstance(ev, WorkerBusy):
            self.busy[ev.worker] = ev.busy_seconds
        elif isinstance(ev, QueueSample):
            fill = min(max(float(ev.fill), 0.0), 1.0)
            self.fill_sum += fill
            self.fill_n += 1
            self.fill_peak = max(self.fill_peak, fill)
            self.producer_blocked_seconds = max(self.producer_blocked_seconds,
                                                ev.producer_blocked_seconds)
        elif isinstance(ev, TelegramSnapshot):
            self.telegram = ev
        elif isinstance(ev, LinkState):
            self.link = ev
        elif isinstance(ev, GovernorState):
            self.governor = ev.summary
        elif isinstance(ev, CacheSnapshot):
            self.caches[ev.name] = ev
        elif isinstance(ev, MediaSnapshot):
            self.media = ev
        elif isinstance(ev, Decoded):
            self.decoded = ev
        elif isinstance(ev, Flood):
            self.flood_events += 1
            self.flood_event_seconds += max(0, ev.seconds)
            self.flood_latest = ev
            self.flood_until = now + max(0, ev.seconds)
        elif isinstance(ev, Plan):
            self.chat = ev.chat
            self.in_flight[ev.chat] = ev.estimated_total
            self._estimate()
            self.plan_workers = ev.workers
            self.ring_capacity_bytes = ev.ring_capacity_bytes
            if self.plan_mono is None:
                self.plan_mono = now
        elif isinstance(ev, RunPlan):
            self.chats_total = ev.chats
        elif isinstance(ev, ChatDone):
            self.chats.append(ev)
            self.in_flight.pop(ev.chat, None)
            if self.in_flight:
                self.chat = next(reversed(self.in_flight))
            # Progress comes once a tick: the chats' own counts may be newer
            self.messages = max(self.messages, sum(c.messages for c in self.chats))
            self._estimate()
        elif isinstance(ev, Finish):
            self.finish = ev
            self.messages = max(self.messages, ev.messages)

    def _estimate(self) -> None:
        """The run's total: what the chats that ended made, plus the estimates of those
        in flight (0, unknown, while the one chat in flight gave none)."""
        if not self.in_flight:
            return
        if not any(self.in_flight.values()) and not self.chats:
            self.estimated_total = 0
            return
        self.estimated_total = sum(c.messages for c in self.chats) + sum(
            self.in_flight.values())

    # ---- derived figures ------------------------------------------------------------------------
    @property
    def flood_waits(self) -> int:
        """Flood waits so far: Telegram's counter, or the Flood events if more were seen."""
        counted = self.telegram.flood_waits if self.telegram is not None else 0
        return max(counted, self.flood_events)

    def flood_active(self, now: float) -> Flood | None:
        """The latest flood wait while it lasts, else None."""
        if self.flood_latest is not None and now < self.flood_until:
            return self.flood_latest
        return None

    def reconnecting(self) -> LinkState | None:
        """The link state while the connection to Telegram is being restored, else None."""
        if self.link is not None and self.link.offline_s > 0:
            return self.link
        return None

    def media_active(self) -> MediaSnapshot | None:
        """The media totals while a media pass is under way, else None."""
        if self.media is not None and self.media.active and self.finish is None:
            return self.media
        return None

    def media_download(self) -> dict | None:
        """The ``media_download`` section (None when the run asked for no media)."""
        md = self.media
        if md is None:
            return None
        seconds = max(0.0, float(md.seconds))
        return {
            "files": md.files,
            "failed": md.failed,
            "bytes_total": md.bytes_total,
            "bytes_done": md.bytes_done,
            "bytes_fetched": md.bytes_fetched,
            "seconds": round(seconds, 3),
            "mb_per_second": round(md.bytes_fetched / MIB / seconds, 3) if seconds > 0 else 0.0,
            "bytes_by_dc": {str(dc): n for dc, n in sorted(md.by_dc.items())},
            "dedup_files": md.dedup_files,
            "dedup_bytes": md.dedup_bytes,
            "reference_refreshes": md.refreshes,
            "retries": md.retries,
            "probed": md.probed,
            "corrupt": md.corrupt,
            "probe_seconds": round(md.probe_seconds, 3),
        }

    def transcode(self) -> dict | None:
        """The ``transcode`` section (None when the run asked for no copies)."""
        md = self.media
        if md is None or md.hwaccel is None:
            return None
        seconds = max(0.0, float(md.transcode_seconds))
        return {
            "files": md.transcoded,
            "linked": md.transcode_linked,
            "failed": md.transcode_failed,
            "seconds": round(seconds, 3),
            "fps": round(md.transcode_frames / seconds, 2) if seconds > 0 else 0.0,
            "realtime_factor": round(md.transcode_video_seconds / seconds, 3)
            if seconds > 0 else 0.0,
            "video_seconds": round(md.transcode_video_seconds, 3),
            "encoder": max(md.encoders, key=md.encoders.get) if md.encoders
            else md.hwaccel.get("encoder", ""),
            "encoders": dict(sorted(md.encoders.items())),
            "fallbacks": md.fallbacks,
            "bytes_in": md.transcode_bytes_in,
            "bytes_out": md.transcode_bytes_out,
            "bytes_saved": md.transcode_bytes_in - md.transcode_bytes_out,
            "replaced": md.replaced,
            "not_replaced": md.not_replaced,
            "hwaccel": md.hwaccel,
        }

    def busy_fractions(self, end_mono: float) -> list[float]:
        """busy_seconds / wall of the slot; every slot runs from the plan to the end."""
        count = max(self.plan_workers, max(self.busy, default=-1) + 1)
        start = self.plan_mono if self.plan_mono is not None else self.started_mono
        wall = end_mono - start
        out = []
        for i in range(count):
            b = self.busy.get(i, 0.0)
            out.append(round(min(1.0, max(0.0, b / wall)), 4) if wall > 0 else 0.0)
        return out

    def sections(self, end_mono: float) -> dict:
        """The event-derived sections of export_metrics.json."""
        tg = self.telegram
        caches = {}
        names = ["input_peer_cache", *sorted(n for n in self.caches if n != "input_peer_cache")]
        for name in names:
            c = self.caches.get(name)
            hits, misses = (c.hits, c.misses) if c else (0, 0)
            caches[name] = {
                "hits": hits,
                "misses": misses,
                "hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0,
                "evictions": c.evictions if c else 0,
                "expirations": c.expirations if c else 0,
            }
        fractions = self.busy_fractions(end_mono)
        return {
            "stages": {name: s.summary() for name, s in self.stages.items()},
            "caches": caches,
            "telegram": {
                "requests": tg.requests if tg else 0,
                "flood_waits": self.flood_waits,
                "flood_wait_seconds": round(max(float(tg.flood_wait_seconds) if tg else 0.0,
                                                self.flood_event_seconds), 3),
                "retries": tg.retries if tg else 0,
                "reconnects": tg.reconnects if tg else 0,
                "timeouts": tg.timeouts if tg else 0,
                # seconds without a connection to Telegram (exports report their link)
                **({"offline_seconds": round(float(self.link.offline_total_s), 3)}
                   if self.link is not None else {}),
                **({"governor": self.governor} if self.governor is not None else {}),
            },
            "queues": {
                "ring_capacity_bytes": self.ring_capacity_bytes,
                "avg_fill": round(self.fill_sum / self.fill_n, 4) if self.fill_n else 0.0,
                "peak_fill": round(self.fill_peak, 4),
                "producer_blocked_seconds": round(float(self.producer_blocked_seconds), 6),
            },
            "workers": {
                "count": len(fractions),
                "busy_fraction": fractions,
                "busy_seconds": [round(float(self.busy.get(i, 0.0)), 6)
                                 for i in range(len(fractions))],
            },
            "decoder": {
                "implementation": self.decoded.implementation if self.decoded else "",
                "native": self.decoded.native if self.decoded else 0,
                "telethon": self.decoded.telethon if self.decoded else 0,
            },
        }
