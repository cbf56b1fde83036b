"""Which files a run downloads: the chat's media numbered, named and filtered, in id order.

One pass over the archive of record (run in a thread, after the history is fetched):

* every history segment not yet numbered (the ledger's ``counted``) is read in id order
  and its media numbered (engine/media/numbering.py): each new Telegram file gets its
  ledger entry with its path -- Telegram Desktop's folder and name, its clash numbered
  against every path the chat has claimed -- and whether the settings want it (pending)
  or not (skipped: not included, too large, unavailable);
* entries of earlier runs that want work again are taken up: pending and failed ones
  (a crash, an error), unavailable ones (retried every run), and skipped ones when the
  settings changed since the last run (``--media`` widened, a larger size limit).

A path is claimed at first sight even for a file that is skipped, so names never move
when a later run downloads it (a file first seen later that clashes takes ``(1)``).
What comes out is the ``Wanted`` list the downloader works through (media_fetch.py).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import orjson

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import write_atomic
from engine.archive.media_ledger import (
    DONE,
    FAILED,
    NOT_INCLUDED,
    PENDING,
    SKIPPED,
    TOO_LARGE,
    UNAVAILABLE,
    Entry,
    Ledger,
    file_key,
)
from engine.archive.ranges import IdRanges
from engine.archive.store import ChatStore, Segment
from engine.media import kinds, names
from engine.media.numbering import number
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render.context import clock_for
from engine.render.stream import history_segments

SETTINGS = "media.json"       # in state/: the settings the last media pass ran with


@dataclass
class Wanted:
    """One file to download: its entry (path, N) and the message it was seen in."""
    key: int
    entry: Entry
    media: m.Photo | m.Document
    msg: m.Message


@dataclass
class Plan:
    wanted: list[Wanted] = field(default_factory=list)      # of the step under way
    wanted_files: int = 0     # wanted over every step
    numbered: int = 0         # new entries this run
    skipped: dict[str, int] = field(default_factory=dict)     # reason -> new skips
    done_before: int = 0      # files an earlier run downloaded
    by_hash: dict[tuple[int, str], str] = field(default_factory=dict)   # (size, sha) -> path
    changed_old: bool = False  # an earlier run's entry changed: re-render everything


def settings(kinds_: tuple[str, ...], limit: int | None) -> dict:
    return {"media": sorted(kinds_), "max_media_size": limit}


def skip_reason(media, wanted: frozenset[str], limit: int | None,
                out: bool = False) -> str | None:
    """Why ``media`` (of a message sent by the account when ``out``) is not downloaded
    under these settings, or None if it is."""
    if media.ttl_seconds and not out:
        return UNAVAILABLE        # self-destructing and received: Telegram Desktop resets it
        #                           (export_data_types.cpp); one the account sent it keeps
    if not media.access_hash and not media.file_reference:
        return UNAVAILABLE
    if kinds.kind(media) not in wanted:
        return NOT_INCLUDED
    if kinds.exceeds(media.size, limit):
        return TOO_LARGE
    return None


def _new_file(ledger: Ledger, x: m.Message) -> bool:
    """Whether ``x`` carries a photo or document the ledger has never seen."""
    media = x.media
    if isinstance(media, m.Photo):
        return file_key("photo", media.id) not in ledger
    if isinstance(media, m.Document):
        return file_key("document", media.id) not in ledger
    return False


class Unplanned:
    """A chat's history segments the planner has not been handed yet, and the ids the
    archive covers, kept up to date as the checkpoint's list grows: each of a run's
    steps costs what arrived since the last, not the whole archive (a step follows every
    acknowledgement; re-reading the list each time made a 10,000-segment chat's run
    quadratic). During a run the list is only appended to; should it be rebuilt, every
    segment is handed again, which the planner takes as it always did (a numbered
    segment is a no-op)."""

    def __init__(self, store: ChatStore):
        self.store = store
        self._start(None)

    def _start(self, segs: list[Segment] | None) -> None:
        self.covered = IdRanges()
        self._queue: list[tuple[int, int, Segment]] = []   # a heap by id: above the last limit
        self._list, self._seen, self._last, self._pushed = segs, 0, None, 0

    def refresh(self) -> None:
        """Fold in the segments listed since the last call."""
        segs = self.store.cp.segments
        if segs is not self._list or self._seen > len(segs) or \
                (self._seen and segs[self._seen - 1] is not self._last):
            self._start(segs)
        for s in segs[self._seen:]:
            if s.kind == "history":
                self.covered.add(s.lo, s.hi)
                if s.count:
                    self._pushed += 1
                    heapq.heappush(self._queue, (s.lo, self._pushed, s))
        self._seen = len(segs)
        self._last = segs[-1] if segs else None

    def take(self, limit: int | None) -> list[Segment]:
        """The segments that end at or below ``limit`` (None: all), in id order, and not
        handed out before."""
        q, out = self._queue, []
        while q and (limit is None or q[0][2].hi <= limit):   # disjoint: hi follows lo
            out.append(heapq.heappop(q)[2])
        return out


class MediaPlanner:
    def __init__(self, store: ChatStore, ledger: Ledger, kinds_: tuple[str, ...],
                 limit: int | None, tz: str):
        self.store, self.ledger = store, ledger
        self.wanted_kinds, self.limit = frozenset(kinds_), limit
        self.clock = clock_for(ZoneInfo(tz))
        self.meta = store.cp.chat
        self.taken: set[str] = set()
        self._pending_new: dict[int, Entry] = {}     # numbered this segment, to download
        self._revisit: list[Entry | None] = []        # earlier runs' entries wanting work
        self._revisit_ids: list[int] = []
        self.rendered = IdRanges()     # ids an earlier assembly rendered (media.py sets it)
        self.plan = Plan()
        self.settings_path = store.root / layout.STATE / SETTINGS
        self.changed = self._last_settings() != settings(kinds_, limit)

    def _last_settings(self) -> dict | None:
        try:
            return orjson.loads(self.settings_path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None

    def save_settings(self) -> None:
        write_atomic(self.settings_path,
                     orjson.dumps(settings(tuple(self.wanted_kinds), self.limit)))

    # ---- the pass ---------------------------------------------------------------------------
    def run(self) -> Plan:
        """The whole pass at once (every segment the archive holds)."""
        self.scan()
        self.step(history_segments(self.store), None)
        return self.plan

    def scan(self) -> None:
        """One look at every entry: the paths claimed, the hashes of the files on disk,
        and the entries an earlier run left wanting work (sorted by message id)."""
        revisit = []
        for e in self.ledger.entries():
            if e.path:
                self.taken.add(names.path_key(e.path))
            if e.status == DONE and not (self.store.root / e.path).is_file():
                revisit.append(e)            # deleted or lost since: downloaded again
            elif e.status == DONE:
                self.plan.done_before += 1
                self.plan.by_hash.setdefault((e.size, e.sha256), e.path)
            elif e.status in (PENDING, FAILED) or e.reason == UNAVAILABLE or self.changed:
                revisit.append(e)
        revisit.sort(key=lambda e: e.msg_id)
        self._revisit, self._revisit_ids = revisit, [e.msg_id for e in revisit]

    def step(self, history: list[Segment], limit: int | None) -> list[Wanted]:
        """Number and plan the segments of ``history`` (the chat's, in id order) that end at
        or below ``limit`` (None: all) and still want it; the files newly wanted. Call it
        with a growing ``limit``: every message below it must be in the archive already,
        so that numbers follow ids (media.py passes the fetch's watermark)."""
        before = len(self.plan.wanted)
        for seg in history:
            if limit is not None and seg.hi > limit:
                break
            fresh = bool(self.ledger.counted.missing(seg.lo, seg.hi))
            a = bisect.bisect_left(self._revisit_ids, seg.lo)
            b = bisect.bisect_right(self._revisit_ids, seg.hi)
            again = [e for e in self._revisit[a:b] if e is not None]
            if fresh and not again and seg.files == 0 and not self._pending_new:
                number(self.ledger, [], span=(seg.lo, seg.hi))   # counted, nothing to read
            elif fresh or again:
                for i in range(a, b):
                    self._revisit[i] = None
                self._segment(seg, fresh, again)
        wanted = self.plan.wanted[before:]
        del self.plan.wanted[before:]
        self.plan.wanted_files += len(wanted)
        return wanted

    def edits(self, segments: list[Segment]) -> list[Wanted]:
        """Files that edits brought (``--refresh-edits`` segments: a message whose media was
        replaced) and the ledger lacks: each takes the next number of its counter (its
        message was counted before), in id order; the files newly wanted. Run it after the
        history's last step."""
        before = len(self.plan.wanted)
        newest: dict[int, m.Message] = {}        # refresh segments win in catalogue order
        for seg in segments:
            if seg.kind == "refresh":
                newest.update((self._ident(x), x)
                              for x in self.store.read_segment(seg.name).messages)
        ids = sorted(i for i, x in newest.items() if _new_file(self.ledger, x))
        msgs = [newest[i] for i in ids]
        if msgs:
            new = number(self.ledger, msgs, ids=ids, settle=self._settle, count=False)
            self.plan.numbered += len(new)
            for ident, msg in zip(ids, msgs, strict=True):
                entry = self._pending_new.pop(ident, None)
                if entry is not None:
                    self.plan.wanted.append(Wanted(entry.key, entry, msg.media, msg))
                    self.plan.changed_old = True     # an archived message's file: re-render
        wanted = self.plan.wanted[before:]
        del self.plan.wanted[before:]
        self.plan.wanted_files += len(wanted)
        return wanted

    def _ident(self, x: m.Message) -> int:
        """The archive's id: a migrated basic group's messages sit below 1."""
        return x.id if x.chat == self.meta.ref else x.id - MIGRATED_ID_SHIFT

    def _ids(self, msgs: list[m.Message]) -> list[int]:
        return [self._ident(x) for x in msgs]

    def _segment(self, seg: Segment, fresh: bool, revisit: list[Entry]) -> None:
        msgs = [x for x in self.store.read_segment(seg.name).messages if x.type != "empty"]
        msgs.sort(key=self._ident)
        ids = self._ids(msgs)
        if fresh:
            new = number(self.ledger, msgs, ids=ids, span=(seg.lo, seg.hi),
                         settle=self._settle)
            self.plan.numbered += len(new)
            for e in new:
                if e.status == SKIPPED:
                    self.plan.skipped[e.reason] = self.plan.skipped.get(e.reason, 0) + 1
        if revisit:
            at = dict(zip(ids, msgs, strict=True))
            for e in revisit:
                msg = at.get(e.msg_id)
                if msg is not None:
                    self._again(e, msg)
        if self._pending_new:
            for ident, msg in zip(ids, msgs, strict=True):
                entry = self._pending_new.pop(ident, None)
                if entry is not None:
                    self.plan.wanted.append(Wanted(entry.key, entry, msg.media, msg))

    def _settle(self, entry: Entry, msg: m.Message) -> Entry:
        """A new entry's path (claimed now, even for a skipped file) and status."""
        media = msg.media
        if isinstance(media, m.Contact):      # its bytes are in the message: written now
            entry.path = names.claim(names.contact_path(entry.n), self.taken)
            data = media.vcard.encode()
            (self.store.root / entry.path).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.store.root / entry.path, data)
            entry.status, entry.size = DONE, len(data)
            entry.sha256 = hashlib.sha256(data).hexdigest()
            return entry
        path = names.media_path(media, entry.n or None, msg.date, self.clock)
        if isinstance(media, m.Document) and media.thumb_type:
            # Telegram Desktop derives it from the suggested path, then numbers its clash
            entry.thumb = names.claim(names.thumb_path(path), self.taken)
        path = names.claim(path, self.taken)
        reason = skip_reason(media, self.wanted_kinds, self.limit, msg.out)
        entry.path = path
        if reason is not None:
            entry.status, entry.reason = SKIPPED, reason
        else:
            self._pending_new[entry.msg_id] = entry
        return entry

    def _again(self, e: Entry, msg: m.Message) -> None:
        """An earlier run's entry under this run's settings."""
        media = msg.media
        if not isinstance(media, m.Photo | m.Document) or media.id != e.id:
            return                 # the message's media changed since (an edit)
        reason = skip_reason(media, self.wanted_kinds, self.limit, msg.out)
        if reason is None:
            self.plan.wanted.append(Wanted(e.key, e, media, msg))
            if e.status == SKIPPED or e.msg_id in self.rendered:
                self.plan.changed_old = True
        elif e.status != SKIPPED or e.reason != reason:
            self.ledger.skipped(e.key, reason)
            self.plan.changed_old = True
