"""What every renderer shares: the chat, the peers' names, the media paths, and one local clock.

The clock is the one rule for local time in every output: a message's date and time in
result.json, its ``HH:MM`` in a day note, the day note it lands in, and the day a reply
link points at all come from ``LocalClock`` (``day``/``by_day``), never from
``datetime.fromtimestamp``: two rules would put a message in one note and its links in
another wherever they disagreed. One clock serves a zone for the whole process
(``clock_for``), so its caches are filled once per run, not once per batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from engine import model as m

EPOCH = dt.date(1970, 1, 1)
_MAX_QUARTERS = 1 << 17          # ~3.7 years of quarter hours, then the cache starts over


class LocalClock:
    """Unix seconds -> local wall-clock strings in one zone, fast: the UTC offset is
    looked up once per quarter hour (every zone's offsets and transitions fall on
    quarter hours) and the date string once per local day; the rest is arithmetic.
    strftime cost 5 us a call, more than the rest of a message's result.json."""

    def __init__(self, tz: dt.tzinfo):
        self.tz = tz
        self._offsets: dict[int, int] = {}
        self._days: dict[int, str] = {}

    def utc_offset(self, ts: int) -> int:
        """The zone's UTC offset in seconds at ``ts``: the same for a whole quarter hour
        (what the native renderer caches, one quarter at a time)."""
        q = ts // 900
        off = self._offsets.get(q)
        if off is None:
            if len(self._offsets) >= _MAX_QUARTERS:      # a long run stays bounded
                self._offsets.clear()
            moment = dt.datetime.fromtimestamp(q * 900, dt.UTC).astimezone(self.tz)
            off = self._offsets[q] = int(moment.utcoffset().total_seconds())
        return off

    def local(self, ts: int) -> int:
        """Local wall-clock seconds since 1970-01-01T00:00."""
        return ts + self.utc_offset(ts)

    def day(self, ts: int) -> int:
        """The local day of ``ts``, in days since 1970-01-01: the one "which day" rule."""
        return self.local(ts) // 86400

    def date(self, ts: int) -> dt.date:
        return EPOCH + dt.timedelta(self.day(ts))

    def by_day(self, messages: Iterable[m.Message]) -> dict[dt.date, list[m.Message]]:
        """Messages by local day, days in order of first appearance."""
        by_day: dict[int, list[m.Message]] = {}
        for msg in messages:
            by_day.setdefault(self.day(msg.date), []).append(msg)
        return {EPOCH + dt.timedelta(d): msgs for d, msgs in by_day.items()}

    def _iso(self, days: int) -> str:
        s = self._days.get(days)
        if s is None:
            s = self._days[days] = (EPOCH + dt.timedelta(days)).isoformat()
        return s

    def stamp(self, ts: int) -> str:
        """``YYYY-MM-DDTHH:MM:SS``, as Telegram Desktop writes dates."""
        days, secs = divmod(self.local(ts), 86400)
        h, rest = divmod(secs, 3600)
        return f"{self._iso(days)}T{h:02d}:{rest // 60:02d}:{rest % 60:02d}"

    def hm(self, ts: int) -> str:
        secs = self.local(ts) % 86400
        return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}"


_CLOCKS: dict[dt.tzinfo, LocalClock] = {}


def clock_for(tz: dt.tzinfo) -> LocalClock:
    """The process's one clock for ``tz``."""
    clock = _CLOCKS.get(tz)
    if clock is None:
        clock = _CLOCKS[tz] = LocalClock(tz)
    return clock


@dataclass
class RenderContext:
    """What a renderer needs beyond the message: the chat being exported, the names of
    the peers pages mentioned, the time zone, and where media files went (if anywhere)."""
    chat: m.PeerRef
    tz: dt.tzinfo = dt.UTC
    peers: dict[m.PeerRef, m.PeerInfo] = field(default_factory=dict)
    # file id -> path relative to the chat folder, or one of the skip strings; -id: the
    # file's thumbnail
    files: dict[int, str] = field(default_factory=dict)

    def __post_init__(self):
        self.clock = clock_for(self.tz)

    def name(self, ref: m.PeerRef | None) -> str | None:
        info = self.peers.get(ref) if ref is not None else None
        return info.name if info else None

    def local(self, ts: int) -> str:
        return self.clock.stamp(ts)


def tz_named(name: str | None) -> dt.tzinfo:
    """``--tz`` value -> tzinfo; None: the machine's local zone, as Telegram Desktop."""
    if name is None:
        return dt.datetime.now().astimezone().tzinfo
    return ZoneInfo(name)
