"""Model entities -> the text core's ``(kind, offset, length, arg)`` tuples."""

from __future__ import annotations

from engine import model as m
from engine.text import kinds

CODE_OF = {name: code for code, name in enumerate(kinds.TD_NAMES)}


def as_tuples(entities: list[m.Entity]) -> list[tuple]:
    out = []
    for e in entities:
        code = CODE_OF.get(e.kind, kinds.UNKNOWN)
        if code == kinds.TEXT_URL:
            arg = e.url
        elif code == kinds.PRE:
            arg = e.language or ""
        elif code == kinds.MENTION_NAME:
            arg = e.user_id
        elif code == kinds.CUSTOM_EMOJI:
            arg = e.document_id
        elif code == kinds.BLOCKQUOTE:
            arg = bool(e.collapsed)
        else:
            arg = None
        out.append((code, e.offset, e.length, arg))
    return out
