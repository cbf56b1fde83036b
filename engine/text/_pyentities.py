"""UTF-16 entity slicing, the pure-Python twin of native/text_entities.pxi: Telegram's
entities count UTF-16 units, Python strings count code points.  td_text and markdown both
start here (engine/text/_pytdtext.py, _pymarkdown.py).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from engine.model.kinds import COUNT, UNKNOWN

SAT = 1 << 62                       # offsets and lengths saturate here (C uses int64)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def normalize(text: str, entities) -> list[tuple[int, int, int, object, int]]:
    """Entities as ``(start, end, kind, arg, index)`` in code points, input order.

    Drops what is not a tuple/list of at least 3 items, non-int offsets/lengths, and what
    is empty once clipped to the text; an unknown kind becomes UNKNOWN; a UTF-16 boundary
    inside a surrogate pair widens the entity to the whole code point.
    """
    if entities is None:
        return []
    n = len(text)
    astral = [m.start() for m in _ASTRAL.finditer(text)] if not text.isascii() else []
    n16 = n + len(astral)
    ends = [a + k + 2 for k, a in enumerate(astral)]   # UTF-16 end of each astral char
    out = []
    for idx, ent in enumerate(entities):
        if not isinstance(ent, (tuple, list)) or len(ent) < 3:
            continue
        kind, off, ln = ent[0], ent[1], ent[2]
        if not isinstance(off, int) or not isinstance(ln, int):
            continue
        arg = ent[3] if len(ent) > 3 else None
        kind = int(kind) if isinstance(kind, int) and 0 <= kind < COUNT else UNKNOWN
        off = min(max(off, -SAT), SAT)
        ln = min(max(ln, -SAT), SAT)
        s16 = max(off, 0)
        e16 = min(off + ln, n16)
        if e16 <= s16:
            continue
        if astral:
            m = bisect_right(ends, s16)
            s = astral[m] if m < len(ends) and ends[m] - 1 == s16 else s16 - m
            m = bisect_right(ends, e16)
            e = astral[m] + 1 if m < len(ends) and ends[m] - 1 == e16 else e16 - m
        else:
            s, e = s16, e16
        out.append((s, e, kind, arg, idx))
    return out


def check_text(text) -> str:
    """The text as a str (None: empty); anything else is a TypeError."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    return text
