"""The name and place of each media file in a chat folder, as Telegram Desktop gives them.

Read from tdesktop's export code (export_data_types.cpp, output/export_output_file.cpp;
../shared/MEDIA_NOTES.md 3.1-3.2):

* photos: ``photos/photo_N@DD-MM-YYYY_HH-MM-SS.jpg``;
* a document with a file name keeps it (made safe); one without gets a name by kind:
  a voice message ``audio_N@<date>.ogg`` (``.mp3`` for audio/mp3), a video file
  ``video_N@<date>`` + the MIME type's first glob (or ``.mov``), anything else
  ``file_N@<date>`` + the first glob (or ``.unknown``);
* a contact's vCard: ``contacts/contact_N.vcard``; a thumbnail: ``<file path>_thumb.jpg``;
* a clash is numbered before the first dot: ``report (1).tar.gz``.

The date is the *message's* date in the export's time zone (``LocalClock``, the one local
time rule); N is the chat's own counter for that kind of name (``Counters``), counted in
chronological order over every media message, downloaded or not, so names stay stable
across runs once the ledger stores the counters.

Names are stricter than Telegram Desktop's where it matters for safety (engine/archive/
naming.py): no leading dots, NFC, bidi controls removed rather than replaced, at most
``NAME_BYTES`` UTF-8 bytes so that ``_thumb.jpg.part.done`` still fits in 255, and clashes compared
without regard to case, so an archive copied to macOS or Windows loses no file.
"""

from __future__ import annotations

from engine import model as m
from engine.archive.naming import MAX_BYTES, WRITING_SUFFIX, dedupe, safe_name
from engine.media import kinds, mimes
from engine.render.context import LocalClock

THUMB_SUFFIX = "_thumb.jpg"
#: a media file name's budget: its thumbnail's name adds THUMB_SUFFIX, and that
#: thumbnail's journal WRITING_SUFFIX, and the whole must fit in 255 bytes
NAME_BYTES = MAX_BYTES - len(THUMB_SUFFIX.encode()) - len(WRITING_SUFFIX)

# ParseMediaContext's counters (export_data_types.h): one per kind of generated name
PHOTOS, AUDIOS, VIDEOS, FILES, CONTACTS = "photos", "audios", "videos", "files", "contacts"


def date_part(date: int, clock: LocalClock) -> str:
    """``@DD-MM-YYYY_HH-MM-SS`` in the clock's zone (``PrepareFileNameDatePart``); empty for
    date 0, as Telegram Desktop leaves it out then."""
    if not date:
        return ""
    day = clock.date(date)
    secs = clock.local(date) % 86400
    return (f"@{day.day:02d}-{day.month:02d}-{day.year}"
            f"_{secs // 3600:02d}-{secs % 3600 // 60:02d}-{secs % 60:02d}")


def counter(media: m.Media | None) -> str | None:
    """Which of the chat's counters numbers ``media``'s name; None when its name needs no
    number (a named document, media without a file). Telegram Desktop counts a document
    only when it has no file name (``ComputeDocumentName``), a contact only with a vCard."""
    if isinstance(media, m.Photo):
        return PHOTOS
    if isinstance(media, m.Contact):
        return CONTACTS if media.vcard else None
    if not isinstance(media, m.Document) or media.file_name:
        return None
    f = kinds.flags(media)
    return AUDIOS if f.voice else VIDEOS if f.video_file else FILES


class Counters(dict[str, int]):
    """A chat's name counters (a plain dict, so the ledger can store it as is)."""

    def take(self, media: m.Media | None) -> int | None:
        """The next number for ``media``'s name, or None if its name has none. Call it for
        every media message in chronological order, including those not downloaded."""
        which = counter(media)
        if which is None:
            return None
        n = self[which] = self.get(which, 0) + 1
        return n


def _generated(doc: m.Document, n: int, date: str) -> str:
    f = kinds.flags(doc)
    if f.voice:
        mp3 = doc.mime_type.lower() == "audio/mp3"
        return f"audio_{n}{date}{'.mp3' if mp3 else '.ogg'}"
    if f.video_file:
        return f"video_{n}{date}{mimes.extension(doc.mime_type, '.mov')}"
    return f"file_{n}{date}{mimes.extension(doc.mime_type, '.unknown')}"


def file_name(media: m.Photo | m.Document, n: int | None, date: int, clock: LocalClock) -> str:
    """The file's name (no folder): ``n`` from ``Counters.take``, ``date`` the message's."""
    if isinstance(media, m.Document) and media.file_name:
        return safe_name(media.file_name, limit=NAME_BYTES)
    if n is None:
        raise ValueError("an unnamed media file needs its number (Counters.take)")
    when = date_part(date, clock)
    if isinstance(media, m.Photo):
        return f"photo_{n}{when}.jpg"
    # the generated name goes through the same cleaning as a sent one, as in tdesktop
    return safe_name(_generated(media, n, when), limit=NAME_BYTES)


def media_path(media: m.Photo | m.Document, n: int | None, date: int,
               clock: LocalClock) -> str:
    """``<folder>/<name>`` relative to the chat folder, before clashes are numbered."""
    return f"{kinds.folder(media)}/{file_name(media, n, date, clock)}"


def contact_path(n: int) -> str:
    return f"{kinds.CONTACTS}/contact_{n}.vcard"


def thumb_path(path: str) -> str:
    """A document's thumbnail: Telegram Desktop derives it from the document's suggested
    path (before numbering) and numbers it on its own if that clashes."""
    return path + THUMB_SUFFIX


def path_key(path: str) -> str:
    """How two relative paths are compared for a clash: without regard to case."""
    return path.casefold()


class _Keys:
    """A view of a set of ``path_key``s that ``dedupe`` can test and fill with paths."""

    def __init__(self, keys: set[str]):
        self.keys = keys

    def __contains__(self, path: str) -> bool:
        return path_key(path) in self.keys

    def add(self, path: str) -> None:
        self.keys.add(path_key(path))


def claim(path: str, taken: set[str]) -> str:
    """``path``, or ``stem (n).ext`` in the same folder with the first free n
    (``PrepareRelativePath``: the split is at the first dot, so ``a.tar.gz`` gives
    ``a (1).tar.gz``). ``taken`` holds the ``path_key`` of every path already used in the
    chat folder; the claimed one is added."""
    folder, slash, _ = path.rpartition("/")
    # folders have no dots, so the first dot of the path is the name's, as tdesktop splits it
    limit = len(folder.encode()) + len(slash) + NAME_BYTES
    return dedupe(path, _Keys(taken), limit=limit)
