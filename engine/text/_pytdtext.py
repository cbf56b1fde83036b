"""result.json's text, the pure-Python twin of ``td_text`` in native/text.pyx: Telegram
Desktop's ``(text, text_entities)`` pair, plain runs between the entities.
"""

from __future__ import annotations

from engine.model.kinds import (
    BLOCKQUOTE,
    CUSTOM_EMOJI,
    MENTION_NAME,
    PRE,
    TD_NAMES,
    TEXT_URL,
)

from ._pyentities import check_text, normalize


def td_text(text, entities):
    """Telegram Desktop's ``(text, text_entities)`` pair for result.json.

    See ``engine.text.td_text`` for the contract.
    """
    text = check_text(text)
    n = len(text)
    if n == 0:
        return "", []
    ents = normalize(text, entities)
    ents.sort(key=lambda x: x[0])
    parts: list[dict] = []
    value: list = []
    cursor = 0
    for s, e, kind, arg, _ in ents:
        if s < cursor:
            continue
        if s > cursor:
            d = {"type": "plain", "text": text[cursor:s]}
            parts.append(d)
            value.append(d["text"])
        d = {"type": TD_NAMES[kind], "text": text[s:e]}
        if kind == PRE:
            d["language"] = str(arg) if isinstance(arg, str) else ""
        elif kind == TEXT_URL:
            d["href"] = str(arg) if isinstance(arg, str) else ""
        elif kind == MENTION_NAME:
            d["user_id"] = int(arg) if isinstance(arg, int) else 0
        elif kind == CUSTOM_EMOJI:
            d["document_id"] = (str(int(arg)) if isinstance(arg, int)
                                else str(arg) if isinstance(arg, str) else "")
        elif kind == BLOCKQUOTE:
            d["collapsed"] = isinstance(arg, int) and int(arg) != 0
        parts.append(d)
        value.append(d)
        cursor = e
    if cursor < n:
        d = {"type": "plain", "text": text[cursor:]}
        parts.append(d)
        value.append(d["text"])
    if len(parts) == 1 and parts[0]["type"] == "plain":
        return text, parts
    return value, parts
