"""Markdown layout, the pure-Python twin of native/text_md_layout.pxi: which entities
become blocks (pre and quotes covering whole lines, accepted into a tree) and which stay
inline, with their payloads (link targets, custom emoji ids).  engine/text/_pymarkdown.py
writes what this lays out.
"""

from __future__ import annotations

import re

from engine.model.kinds import (
    BLOCKQUOTE,
    BOLD,
    CODE,
    CUSTOM_EMOJI,
    EMAIL,
    ITALIC,
    MENTION,
    MENTION_NAME,
    PRE,
    SPOILER,
    STRIKE,
    TEXT_URL,
    UNDERLINE,
    URL,
)

# Inline groups: an entity is dropped inside an open entity of its own group (bold in bold
# changes nothing) and everything is dropped inside code (its text is literal).
G_CODE = 32
GROUP = {BOLD: 1, ITALIC: 2, UNDERLINE: 4, STRIKE: 8, SPOILER: 16, CODE: G_CODE,
         TEXT_URL: 64, MENTION_NAME: 64, URL: 64, EMAIL: 64, MENTION: 64, CUSTOM_EMOJI: 128}
_LINK = 64

_BAD_SCHEMES = ("javascript:", "vbscript:", "file:", "data:")
_DIGITS_RE = re.compile(r"[0-9]+")
# in link targets: percent-encoded (ASCII controls and space, <>()\` and, since re's \s is
# str.isspace, every other whitespace character), and & (backslash-escaped)
_HREF_ESC = re.compile(r"[\x00-\x20\x7f<>()\\`&]|\s")


def _ascii_lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def _href(text: str, s: int, e: int, kind: int, arg) -> str | None:
    """The link target of a link entity, or None when it renders as plain text."""
    if kind == TEXT_URL:
        if not isinstance(arg, str):
            return None
        url = str(arg)
    elif kind == MENTION_NAME:
        if not isinstance(arg, int):
            return None
        url = "tg://user?id=" + str(int(arg))
    elif kind == URL:
        body = text[s:e]
        url = body if "://" in body else "http://" + body
    elif kind == EMAIL:
        url = "mailto:" + text[s:e]
    else:  # MENTION
        if e - s < 2 or text[s] != "@":
            return None
        url = "https://t.me/" + text[s + 1:e]
    head = _ascii_lower(url[:11])
    if head.startswith(_BAD_SCHEMES):
        return None
    return _HREF_ESC.sub(_href_escape, url)


def _href_escape(m: re.Match) -> str:
    c = m.group()
    return "\\&" if c == "&" else "".join(f"%{b:02X}" for b in c.encode("utf-8"))


def _emoji_id(arg) -> str | None:
    if isinstance(arg, int):
        arg = str(int(arg))
    elif isinstance(arg, str):
        arg = str(arg)
    else:
        return None
    return arg if _DIGITS_RE.fullmatch(arg) and arg.isascii() else None


class Block:
    __slots__ = ("arg", "e", "kids", "kind", "last", "s")

    def __init__(self, s, e, kind, arg):
        self.s, self.e, self.kind, self.arg = s, e, kind, arg
        self.kids: list[Block] = []
        self.last = -1                  # end of the last accepted child


def layout(text: str, ents: list) -> tuple[list[Block], list]:
    """Split entities into accepted blocks (a tree) and inline entities with payloads."""
    n = len(text)
    cands = []
    inline = []
    for s, e, kind, arg, idx in ents:
        if kind in (PRE, BLOCKQUOTE):
            bs, be = s, e
            if be - bs > 1 and text[be - 1] == "\n":
                be -= 1
            if ((bs == 0 or text[bs - 1] == "\n") and (be == n or text[be] == "\n")
                    and not (kind == PRE and "\r" in text[bs:be])):
                cands.append((bs, -be, idx, kind, arg, s, e))
            elif kind == PRE:
                inline.append((s, e, CODE, None, idx))
        elif kind in GROUP:
            if GROUP[kind] == _LINK:
                payload = _href(text, s, e, kind, arg)
            elif kind == CUSTOM_EMOJI:
                payload = _emoji_id(arg)
            else:
                payload = ""
            if payload is not None:
                inline.append((s, e, kind, payload, idx))
    cands.sort()
    root = Block(0, n, -1, None)
    stack = [root]
    for bs, nbe, idx, kind, arg, s, e in cands:
        be = -nbe
        while len(stack) > 1 and stack[-1].e <= bs:
            stack.pop()
        parent = stack[-1]
        if (be > parent.e or parent.kind == PRE
                or (bs == parent.s and be == parent.e and kind == parent.kind)
                or (parent.last >= 0 and bs <= parent.last)):
            if kind == PRE:
                inline.append((s, e, CODE, None, idx))
            continue
        b = Block(bs, be, kind, arg)
        parent.kids.append(b)
        parent.last = be
        stack.append(b)
    return root.kids, inline
