"""The one way a segment enters a store's catalogue.

A segment is listed only once its file is durable: a worker's is when its ``Ack``
arrives (``list_segment`` with the figures the worker counted); one the supervisor makes
itself (a ``--topic`` store's first message, a ``--refresh-edits`` segment) is written
and fsynced first (``archive_batch``). The checkpoint that lists it is written by
``ChatStore.commit`` after ``archive/`` itself is fsynced.
"""

from __future__ import annotations

from engine import model as m
from engine.archive.store import ChatStore, Segment, batch_dates
from engine.media.numbering import files_in


def list_segment(store: ChatStore, name: str, kind: str, lo: int, hi: int, count: int,
                 dates: tuple[int, int], files: int = -1) -> None:
    """Catalogue a segment already durable on disk (not yet committed)."""
    store.add(Segment(name, kind, lo, hi, count, *dates, files))


def archive_batch(store: ChatStore, name: str, kind: str, lo: int, hi: int,
                  batch: m.Batch) -> None:
    """Write ``batch`` as segment ``name`` covering ``lo..hi``, list it, commit."""
    store.write_segment(name, m.ENCODER.encode(batch))
    list_segment(store, name, kind, lo, hi, len(batch.messages), batch_dates(batch),
                 files_in(batch.messages))
    store.commit()
