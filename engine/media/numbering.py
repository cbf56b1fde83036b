"""The number N in a media file's generated name, taken once and kept in the ledger.

Telegram Desktop numbers ``photo_N``, ``audio_N``, ``video_N``, ``file_N`` and
``contact_N`` with per-chat counters that advance for every media message of the kind, in
chronological order, whether or not the file is then downloaded; a file seen again in a
later message keeps the name of its first sight (its download cache) although the
counter still advances (MEDIA_NOTES 3.2-3.3). ``number`` does the same over the chat's
ledger (engine/archive/media_ledger.py), page by page:

* messages come in id order; each page's id range is recorded as ``counted`` in the same
  ledger group as its new entries and the counters, so numbering a page again (a crash
  before the checkpoint, a re-fetch of a quarantined segment) takes no number twice;
* hence any split of the same messages into pages gives the same numbers, and so does
  any worker count;
* **names never change**: N is taken at first sight and never rewritten. A later backfill
  of older messages (``--since`` first, the full history later) therefore gives them
  *higher* numbers than newer messages numbered before, where one full export would have
  numbered them first. tgarc chooses stable names over Telegram Desktop's order for that
  case; a chat exported in one go, oldest first, numbers exactly as Telegram Desktop;
* an edited message whose media was replaced brings a new file; the message was counted
  already, so the new file takes the next number of its counter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

from engine import model as m
from engine.archive.media_ledger import PENDING, Entry, Ledger, file_key
from engine.media import names


def entry_key(msg: m.Message) -> tuple[str, int] | None:
    """The ledger key (kind, id) of a message's file, or None if it has none: a photo or
    document by its file id, a contact with a vCard by its message (its bytes come inline
    and Telegram Desktop writes one file per message)."""
    media = msg.media
    if isinstance(media, m.Photo):
        return "photo", media.id
    if isinstance(media, m.Document):
        return "document", media.id
    if isinstance(media, m.Contact) and media.vcard:
        return "contact", msg.id
    return None


def files_in(messages: Sequence[m.Message]) -> int:
    """How many of ``messages`` carry a file the ledger numbers (archive Segment.files)."""
    return sum(1 for x in messages if entry_key(x) is not None)


def number(ledger: Ledger, messages: Sequence[m.Message], *, ids: Sequence[int] | None = None,
           span: tuple[int, int] | None = None,
           settle: Callable[[Entry, m.Message], Entry] | None = None,
           count: bool = True) -> list[Entry]:
    """Give every new file among ``messages`` (one page, ascending ids) its ledger entry
    and number, durably, in one ledger group. Returns the new entries (status pending
    unless ``settle(entry, message)`` -- run on each new entry before it is written --
    says otherwise: its path, a skip). Messages in ids the ledger has counted already take
    no number; their files keep theirs.

    ``ids``: the messages' ids as the archive numbers them (a migrated basic group's sit
    below 1), default their own. ``span``: the id range recorded as counted, default first
    id to last; ``messages`` must be every message of it (a history page or segment, as
    fetched). A refresh page (edited messages, scattered ids) holds only ids counted
    already: pass ``count=False`` and no id range is recorded."""
    if not messages:
        if span is not None:        # nothing numbered: a crash may lose it (Ledger.put)
            ledger.put([], counters=dict(ledger.counters), counted=span, durable=False)
        return []
    ids = [x.id for x in messages] if ids is None else list(ids)
    if any(a >= b for a, b in pairwise(ids)):
        raise ValueError("messages must come in ascending id order, each once")
    counters = names.Counters(ledger.counters)
    new: dict[int, Entry] = {}
    for msg, ident in zip(messages, ids, strict=True):
        which = entry_key(msg)
        if which is None:
            continue
        if which[0] == "contact":          # the archive's id: a migrated group's sit below 1
            which = ("contact", ident)
        key = file_key(*which)
        fresh = ident not in ledger.counted
        n = counters.take(msg.media) if fresh else None
        if key in new or key in ledger:
            continue
        if n is None:          # counted before with other media: a number of its own
            n = counters.take(msg.media)
        entry = Entry(which[0], which[1], names.counter(msg.media) or "", n or 0, ident,
                      PENDING)
        new[key] = settle(entry, msg) if settle is not None else entry
    ledger.put(new.values(), counters=dict(counters),
               counted=(span or (ids[0], ids[-1])) if count else None)
    return list(new.values())
