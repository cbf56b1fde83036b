"""Which Telegram file each media file on disk holds, told by the archive of record: what a
lost or damaged ledger is rebuilt with (ledger_rebuild.py).

A file's path says most of it. A named document keeps its sender's name, and a clash adds
`` (k)`` before the first dot. A generated name (``photo_12@01-02-2024_10-00-00.jpg``) gives
its counter, its number and its message's local second. A contact's vCard is its message's
own text. So every archived message with a file is indexed under the path it would get,
with its number and any clash left out, and each file on disk is looked up the same way.
Files that share a key (two photos of one second, two documents named alike) take the
messages in id order, as numbers and clashes were handed out, unless a size tells them
apart. A file the archive does not explain is left unidentified: reported, never deleted.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable

from engine import model as m
from engine.archive import layout
from engine.archive.media_ledger import PENDING, Ledger, NotALedger
from engine.media import kinds, ledger_rebuild, names
from engine.media.ledger_rebuild import Found, numbered
from engine.render.context import LocalClock

_GENERATED = re.compile(r"(photo|audio|video|file|contact)_\d+(?=[@. ]|$)")
_CLASH = re.compile(r" \((\d+)\)$")


class Candidate:
    __slots__ = ("id", "kind", "msg_id", "size")

    def __init__(self, kind: str, id: int, msg_id: int, size: int):
        self.kind, self.id, self.msg_id, self.size = kind, id, msg_id, size


def key(path: str) -> tuple[str, int]:
    """(the path with its number and clash taken out, the clash's k) for a path on disk."""
    folder, _, name = path.rpartition("/")
    stem, dot, ext = name.partition(".")
    k = 0
    if got := _CLASH.search(stem):                 # " (k)" before the first dot
        stem, k = stem[:got.start()], int(got[1])
        name = stem + dot + ext
    elif got := _CLASH.search(name):               # an extension too long: at the end
        name, k = name[:got.start()], int(got[1])
    if numbered(f"{folder}/{name}") is not None:
        name = _GENERATED.sub(lambda g: g[1] + "_#", name, count=1)
    return names.path_key(f"{folder}/{name}"), k


def _message_keys(msg: m.Message, clocks: Iterable[LocalClock]) -> set[str]:
    media = msg.media
    if names.counter(media) is None and not (isinstance(media, m.Document) and media.file_name):
        return set()
    return {key(names.media_path(media, 1, msg.date, clock))[0] for clock in clocks}


class Identify:
    """Built from the archive's messages (``add``, each version of each message), then
    asked once for every file found (``__call__``)."""

    def __init__(self, clocks: list[LocalClock]):
        self.clocks = clocks
        self.by_key: dict[str, dict[tuple[str, int], Candidate]] = {}
        self.vcards: dict[bytes, Candidate] = {}

    def add(self, msg: m.Message, msg_id: int) -> None:
        media = msg.media
        if isinstance(media, m.Contact):
            if media.vcard:
                self.vcards.setdefault(media.vcard.encode(),
                                       Candidate("contact", msg_id, msg_id, 0))
            return
        if not isinstance(media, m.Photo | m.Document):
            return
        kind = "photo" if isinstance(media, m.Photo) else "document"
        for k in _message_keys(msg, self.clocks):
            got = self.by_key.setdefault(k, {})
            old = got.get((kind, media.id))
            if old is None or msg_id < old.msg_id:     # the first message it was seen in
                got[(kind, media.id)] = Candidate(kind, media.id, msg_id, media.size or 0)

    def __call__(self, found: list[Found], read=None) -> dict[str, tuple[str, int, int]]:
        """path -> (kind, id, msg_id) for every found file the archive explains. ``read``
        gives a contact file's bytes (its vCard is compared whole)."""
        out: dict[str, tuple[str, int, int]] = {}
        groups: dict[str, list[tuple[int, int, Found]]] = {}
        for f in found:
            if f.path.startswith(kinds.CONTACTS + "/"):
                c = self.vcards.get(read(f.path)) if read is not None else None
                if c is not None:
                    out[f.path] = (c.kind, c.id, c.msg_id)
                continue
            k, clash = key(f.path)
            groups.setdefault(k, []).append((f.n, clash, f))
        for k, files in groups.items():
            cands = sorted(self.by_key.get(k, {}).values(), key=lambda c: c.msg_id)
            files.sort(key=lambda t: (t[0], t[1]))
            left = []
            for _n, _clash, f in files:               # an exact size first
                same = [c for c in cands if c.size and c.size == f.size]
                if len(same) == 1:
                    cands.remove(same[0])
                    out[f.path] = (same[0].kind, same[0].id, same[0].msg_id)
                else:
                    left.append(f)
            for f, c in zip(left, cands, strict=False):   # then in order
                out[f.path] = (c.kind, c.id, c.msg_id)
        return out


def from_archive(store, zones: Iterable[str]) -> Identify:
    """Every version of every message ``store`` archives, indexed; the names' dates are
    tried in each of ``zones`` (the chat's own first). A damaged segment is passed over
    (its files stay unidentified)."""
    from zoneinfo import ZoneInfo

    from engine.archive.segment import DamagedSegment
    from engine.model.chat import MIGRATED_ID_SHIFT
    from engine.render.context import clock_for

    ident = Identify([clock_for(ZoneInfo(z)) for z in dict.fromkeys(z for z in zones if z)])
    ref = store.cp.chat.ref
    for seg in store.cp.segments:
        try:
            batch = store.read_segment(seg.name)
        except DamagedSegment:
            continue
        for msg in batch.messages:
            ident.add(msg, msg.id if msg.chat == ref else msg.id - MIGRATED_ID_SHIFT)
    return ident


def open_ledger(store, tz: str = "") -> Ledger:
    """The chat's media ledger, rebuilt first from the files on disk when it is missing
    while files are there, is not a ledger at all, or was damaged. Numbering the archive
    again instead gives the same names only when every message was numbered in one pass
    in id order; after a backfill (``--min-id`` first, the rest later) it would hand files
    on disk to other messages, write contacts over each other and download again under new
    names (docs/media.md). Names' dates are tried in ``tz`` (this run's), then in the
    zones of the chat's outputs and earlier runs."""
    root = store.root
    path = root / layout.STATE / layout.MEDIA_LEDGER
    notices: list[str] = []
    if not path.exists():
        if not ledger_rebuild.any_on_disk(root):
            return Ledger.open(root)
        why = "was missing"
    else:
        try:
            ledger = Ledger.open(root)
        except NotALedger:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = path.with_name(f"{path.name}.damaged-{stamp}")
            os.replace(path, aside)
            why = f"was not a media ledger (kept as state/{aside.name})"
        else:
            if not ledger.damaged:
                return ledger
            notices, why = ledger.notices, "was damaged"
            ledger.close()
    cp = store.cp
    ident = from_archive(store, (tz, cp.output.tz, *(r.tz for r in reversed(cp.runs)), "UTC"))
    got = ledger_rebuild.rebuild(
        root, lambda found: ident(found, lambda p: (root / p).read_bytes()), status=PENDING)
    ledger = Ledger.open(root)
    odd = got.unidentified
    odd = (f"; {len(odd)} file(s) the archive does not explain were left as they are "
           f"({', '.join(odd[:3])}{' …' if len(odd) > 3 else ''})" if odd else "")
    ledger.notices[:0] = [*notices, f"state/{path.name} {why}: rebuilt from the "
                          f"{got.on_disk} media file(s) on disk{odd}"]
    return ledger
