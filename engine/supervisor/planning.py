"""What to fetch: the id ranges a chat's archive lacks, of every history it is made of.

A chat's archive can be fed by more than its own ``getHistory``: the basic group a
supergroup migrated from comes before the supergroup's own messages, and a ``--topic``
store reads one thread through ``getReplies``. Each is a ``History``; the catalogue
numbers the archive's ids as ``request id + id_shift``, so planning, the covered ranges
and the oldest-first assembly need nothing else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from engine import model as m
from engine.archive.ranges import IdRanges
from engine.config import ExportConfig
from engine.telegram.source import HistoryOf


@dataclass(frozen=True)
class History:
    """One history the chat's archive is made of. The basic group a supergroup migrated
    from comes before the supergroup's own history (``id_shift`` −1e9: Telegram Desktop
    shows its ids − 1e9); its messages keep their own chat and ids (``messages_chat``),
    and the renderers apply the shift."""
    pages: HistoryOf | None = None          # whose pages to read (None: the chat's own)
    id_shift: int = 0
    messages_chat: m.PeerRef | None = None  # the chat its messages belong to, if not ours


@dataclass(frozen=True)
class Span:
    """Ids ``lo..hi`` of one history, numbered as its requests number them."""
    lo: int
    hi: int
    history: History


async def plan(source, cfg: ExportConfig, covered: IdRanges, histories: list[History]
               ) -> tuple[list[Span], int]:
    """The spans the archive lacks, of every history, oldest first, and about how many
    messages they hold. ``--min-id`` and ``--max-id`` number the chat's own messages:
    with ``--min-id`` the history of a migrated basic group (older than id 1) is left out;
    ``--since`` / ``--until`` become ids through one request each."""
    out, estimate = [], 0
    for h in histories:
        if h.id_shift and cfg.min_id:
            continue
        top, count = await source.newest(h.pages)
        lo = 1 if h.id_shift else max(1, cfg.min_id)
        hi = top if h.id_shift or not cfg.max_id else min(top, cfg.max_id)
        if cfg.since is not None:
            lo = max(lo, await source.last_before(cfg.since, h.pages) + 1)
        if cfg.until is not None:
            hi = min(hi, await source.last_before(cfg.until, h.pages))
        if lo > hi:
            continue
        missing = covered.missing(lo + h.id_shift, hi + h.id_shift)
        width = sum(b - a + 1 for a, b in missing)
        estimate += round(width * count / top) if top else 0
        out += [Span(a - h.id_shift, b - h.id_shift, h) for a, b in missing]
    return out, estimate


def split_spans(spans: list[Span], streams: int) -> deque[Span]:
    """Cut the spans into about ``streams`` × 4 pieces of similar width, so each fetch
    stream always finds work."""
    width = sum(s.hi - s.lo + 1 for s in spans)
    step = max(2000, -(-width // max(1, streams * 4)))
    out: deque[Span] = deque()
    for s in spans:
        a = s.lo
        while a <= s.hi:
            out.append(Span(a, min(s.hi, a + step - 1), s.history))
            a += step
    return out
