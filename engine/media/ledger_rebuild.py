"""A lost or damaged media ledger rebuilt from the media files on disk.

The files are the truth the ledger only indexes: each one on disk gives back its path,
size and sha256, and a generated name embeds its number (``photo_12@…``), so the
counters resume above every number in use and no name is ever taken twice. Which
Telegram file a path holds is the archive's to say (its messages and their names):
``rebuild`` asks ``identify(path)``. A file nobody identifies is reported and still
counts for the counters; a named document that happens to look generated
(``file_9.txt``) only leaves a gap in the numbers.

What the old ledger still holds (a damaged one is cut to its whole part when opened) is
kept: entries not on disk stay as they were (pending, failed, skipped), except that a
``done`` entry whose file is gone becomes ``pending`` again, so the next run fetches it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec
from msgspec import Struct

from engine.archive.lock import ChatLock
from engine.archive.manifest import sha256 as file_sha256
from engine.archive.media_ledger import DONE, PENDING, Entry, Ledger, NotALedger, file_key
from engine.archive.ranges import IdRanges
from engine.media import kinds, names

# the generated names' prefixes and the counter each takes (names.py), before the date
# part, the extension or a clash's " (1)"
_NUMBERED = re.compile(r"(photo|audio|video|file|contact)_(\d+)(?=[@. ]|$)")
_COUNTER = {"photo": names.PHOTOS, "audio": names.AUDIOS, "video": names.VIDEOS,
            "file": names.FILES, "contact": names.CONTACTS}
# which folder each generated prefix can be found in: anywhere else it is a sender's name
_FOLDERS = {"photo": {kinds.PHOTOS}, "audio": {kinds.VOICE_MESSAGES},
            "video": {kinds.VIDEO_FILES}, "contact": {kinds.CONTACTS},
            "file": {kinds.FILES, kinds.STICKERS, kinds.ROUND_VIDEO_MESSAGES,
                     kinds.ANIMATIONS}}
# what the downloader leaves beside a file it has not finished (docs/download.md)
_UNFINISHED = (".part", ".part.done", ".tmp")


class Found(Struct, gc=False):
    path: str                 # relative to the chat folder
    size: int
    sha256: str
    counter: str = ""         # the counter its generated name numbers, "" if none
    n: int = 0
    thumb: str = ""           # its thumbnail beside it, if any


class Rebuilt(Struct, gc=False):
    entries: int              # entries in the new ledger
    on_disk: int              # files found
    unidentified: list[str]   # files no message claims (kept, never deleted)
    counters: dict[str, int]


def numbered(path: str) -> tuple[str, int] | None:
    """(counter, N) that a generated name at ``path`` embeds, or None."""
    folder, _, name = path.rpartition("/")
    mt = _NUMBERED.match(name)
    if mt is None or folder not in _FOLDERS[mt[1]]:
        return None
    return _COUNTER[mt[1]], int(mt[2])


def any_on_disk(root: Path) -> bool:
    """Whether the chat folder's media folders hold any finished file (``scan``'s, unhashed)."""
    for folder in kinds.FOLDERS:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), \
                os.scandir(root / folder) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False) and not entry.name.startswith(".") \
                        and not entry.name.endswith(_UNFINISHED):
                    return True
    return False


def scan(root: Path) -> list[Found]:
    """Every finished media file in the chat folder's media folders, its thumbnail
    attached, in path order."""
    files: dict[str, Path] = {}
    for folder in kinds.FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for entry in os.scandir(base):
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith(".") \
                    and not entry.name.endswith(_UNFINISHED):
                files[f"{folder}/{entry.name}"] = Path(entry.path)
    found = []
    for rel in sorted(files):
        if rel.endswith(names.THUMB_SUFFIX) and rel[:-len(names.THUMB_SUFFIX)] in files:
            continue
        thumb = rel + names.THUMB_SUFFIX
        counter, n = numbered(rel) or ("", 0)
        found.append(Found(rel, files[rel].stat().st_size, file_sha256(files[rel]), counter, n,
                           thumb if thumb in files else ""))
    return found


def rebuild(root: Path, identify: Callable[[list[Found]], dict[str, tuple]],
            counted: Iterable[tuple[int, int]] = (), status: str = DONE) -> Rebuilt:
    """Rewrite ``state/media.ledger`` from what it still holds and the files on disk.
    ``identify(found)`` gives, for each relative path it knows, the (kind, id) of the
    Telegram file there, and the id of the first message it was seen in when it knows it
    (engine/media/identify.py asks the archive); ``counted`` the message ids already
    numbered (the archive's covered ranges, when every archived page went through
    ``numbering.number``); ``status`` the one a file found on disk gets (``PENDING``: the
    next download pass finds it whole, fetches nothing, and reads it as it reads a new
    file: its probe and thumbnail; a contact's vCard, written from its message, is done)."""
    lock = ChatLock.acquire(root)
    try:
        entries, counters, ids = _salvage(root)
        for lo, hi in counted:
            ids.add(lo, hi)
        found = scan(root)
        on_disk, unidentified = _take_found(found, identify, entries, counters, status)
        for key, e in entries.items():
            if e.status == DONE and key not in on_disk:
                entries[key] = msgspec.structs.replace(e, status=PENDING)
        Ledger.write_fresh(root, entries.values(), counters, ids.ranges)
    finally:
        lock.release()
    return Rebuilt(len(entries), len(found), unidentified, dict(counters))


def _salvage(root: Path) -> tuple[dict[int, Entry], dict[str, int], IdRanges]:
    """What the old ledger still holds; one that is not a ledger at all is set aside."""
    try:
        with Ledger.open(root, compact=False) as old:
            return {e.key: e for e in old.entries()}, dict(old.counters), \
                IdRanges(old.counted.ranges)
    except NotALedger as exc:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        os.replace(exc.path, exc.path.with_name(f"{exc.path.name}.damaged-{stamp}"))
        return {}, {}, IdRanges()


def _take_found(found: list[Found], identify, entries: dict[int, Entry],
                counters: dict[str, int], status: str) -> tuple[set[int], list[str]]:
    on_disk: set[int] = set()
    unidentified = []
    known = identify(found)
    for f in found:
        if f.counter:
            counters[f.counter] = max(counters.get(f.counter, 0), f.n)
        which = known.get(f.path)
        if which is None:
            unidentified.append(f.path)
            continue
        key = file_key(which[0], which[1])
        on_disk.add(key)
        old = entries.get(key)
        if old is None:
            old = Entry(which[0], which[1], f.counter, f.n, *which[2:3])
        # the name on disk wins: it is what every message already points at
        # an old entry's number stands (names never change); the file's facts are the disk's
        entries[key] = msgspec.structs.replace(
            old, status=DONE if which[0] == "contact" else status, reason="",
            path=f.path, thumb=f.thumb, size=f.size,
            sha256=f.sha256, error="")
    return on_disk, unidentified
