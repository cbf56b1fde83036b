"""Pure-Python twin of ``engine._native.text``: the same two functions, the same output
byte for byte (tests/test_text.py proves it on random input).  The rules both follow are
written down once, in ``engine/text/__init__.py``; this file is their reference reading,
so it favours plain loops over cleverness.
"""

from __future__ import annotations

import re
from bisect import bisect_right, insort

from engine.model.kinds import (
    BLOCKQUOTE,
    BOLD,
    CODE,
    COUNT,
    CUSTOM_EMOJI,
    EMAIL,
    ITALIC,
    MENTION,
    MENTION_NAME,
    PRE,
    SPOILER,
    STRIKE,
    TD_NAMES,
    TEXT_URL,
    UNDERLINE,
    UNKNOWN,
    URL,
)

IMPLEMENTATION = "pure"

_SAT = 1 << 62                      # offsets and lengths saturate here (C uses int64)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


# --------------------------------------------------------------------------- entities


def _normalize(text: str, entities) -> list[tuple[int, int, int, object, int]]:
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
        off = min(max(off, -_SAT), _SAT)
        ln = min(max(ln, -_SAT), _SAT)
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


def _check_text(text) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    return text


# --------------------------------------------------------------------------- td_text


def td_text(text, entities):
    """Telegram Desktop's ``(text, text_entities)`` pair for result.json.

    See ``engine.text.td_text`` for the contract.
    """
    text = _check_text(text)
    n = len(text)
    if n == 0:
        return "", []
    ents = _normalize(text, entities)
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


# --------------------------------------------------------------------------- markdown

# Inline groups: an entity is dropped inside an open entity of its own group (bold in bold
# changes nothing) and everything is dropped inside code (its text is literal).
_G_CODE = 32
_GROUP = {BOLD: 1, ITALIC: 2, UNDERLINE: 4, STRIKE: 8, SPOILER: 16, CODE: _G_CODE,
          TEXT_URL: 64, MENTION_NAME: 64, URL: 64, EMAIL: 64, MENTION: 64, CUSTOM_EMOJI: 128}
_LINK = 64
_DELIM = {BOLD: ("**", "<b>", "</b>"), ITALIC: ("*", "<i>", "</i>"),
          STRIKE: ("~~", "<s>", "</s>")}

_BAD_SCHEMES = ("javascript:", "vbscript:", "file:", "data:")
_LANG_RE = re.compile(r"[A-Za-z0-9_+#.\-]+")
_DIGITS_RE = re.compile(r"[0-9]+")
_TICKS_RE = re.compile("`+")
# in link targets: percent-encoded (ASCII controls and space, <>()\` and, since re's \s is
# str.isspace, every other whitespace character), and & (backslash-escaped)
_HREF_ESC = re.compile(r"[\x00-\x20\x7f<>()\\`&]|\s")
_ANCHOR = "<span></span>"
# isspace() characters that a numeric character reference cannot carry (CommonMark turns
# &#11; and the C0/C1 controls into U+FFFD): guarded by an empty span instead.
_NO_REF = frozenset("\x0b\x1c\x1d\x1e\x1f\x85")

# ASCII punctuation: 1 always escaped, 2 escaped at a line start, 3 escaped after a digit.
_ESC = dict.fromkeys("\\`*_~[]<>&!#=$%^|", 1)
_ESC.update(dict.fromkeys("-+", 2))
_ESC.update(dict.fromkeys(".)", 3))
# A run of characters that plain() writes unchanged (its fast path; the per-character rules
# below decide everything else): no escapable punctuation, no line break or control
# whitespace, spaces/tabs not next to a line break, -/+ not at a line start, ./) not after a
# digit.  Callers keep the paragraph's first and last characters out of it.
_RUN = re.compile(
    r"(?:[^\\`*_~\[\]<>&!#=$%^|\-+.) \t\n\r\x00\x0b\x0c\x1c-\x1f]"
    r"|(?<!\n)[ \t](?!\n)|(?<=[^\n])[-+]|(?<![0-9])[.)])+")


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


class _Node:
    __slots__ = ("children", "e", "kind", "mask", "payload", "s")

    def __init__(self, s, e, kind, payload, mask):
        self.s, self.e, self.kind, self.payload, self.mask = s, e, kind, payload, mask
        self.children: list[_Node] = []


class _Block:
    __slots__ = ("arg", "e", "kids", "kind", "last", "s")

    def __init__(self, s, e, kind, arg):
        self.s, self.e, self.kind, self.arg = s, e, kind, arg
        self.kids: list[_Block] = []
        self.last = -1                  # end of the last accepted child


class _Md:
    """One markdown() call: the text, the output pieces, and the paragraph being written."""

    def __init__(self, text: str, inline: list):
        self.t = text
        self.inline = inline            # (s, e, kind, payload, idx)
        self.out: list[str] = []
        self.ps = self.pe = 0
        self.prefix = ""

    def w(self, s: str) -> None:
        self.out.append(s)

    def last(self) -> str:
        return self.out[-1][-1] if self.out else ""

    # ---- blocks

    def region(self, s: int, e: int, kids: list[_Block], prefix: str) -> None:
        items: list = []                # ("p", s, e) | ("b", block) | ("empty",)
        cur, after = s, False
        for b in kids:
            gs = cur + 1 if after else cur
            if b.s > s:
                ge = b.s - 1            # text[b.s - 1] is the '\n' that separates
                if after and gs > ge:
                    pass                # one '\n' between two blocks
                elif gs == ge:
                    items.append(("empty",))
                else:
                    items.append(("p", gs, ge))
            items.append(("b", b))
            cur, after = b.e, True
        if not after:
            items.append(("p", s, e))
        elif cur < e:
            if cur + 1 == e:
                items.append(("empty",))
            else:
                items.append(("p", cur + 1, e))
        sep = "\n" + prefix.rstrip() + "\n" + prefix
        for k, it in enumerate(items):
            if k:
                self.w(sep)
            if it[0] == "p":
                self.paragraph(it[1], it[2], prefix)
            elif it[0] == "empty":
                self.w("<br>")
            elif it[1].kind == PRE:
                self.fence(it[1], prefix)
            else:
                self.w("> ")
                self.region(it[1].s, it[1].e, it[1].kids, prefix + "> ")

    def fence(self, b: _Block, prefix: str) -> None:
        body = self.t[b.s:b.e].replace("\0", "\ufffd")
        run = max((len(m) for m in _TICKS_RE.findall(body)), default=0)
        ticks = "`" * max(3, run + 1)
        lang = b.arg if isinstance(b.arg, str) and _LANG_RE.fullmatch(b.arg) else ""
        self.w(ticks + lang + "\n" + prefix + body.replace("\n", "\n" + prefix)
               + "\n" + prefix + ticks)

    # ---- paragraphs

    def paragraph(self, ps: int, pe: int, prefix: str) -> None:
        self.ps, self.pe, self.prefix = ps, pe, prefix
        pending = []
        for s, e, kind, payload, idx in self.inline:
            s, e = max(s, ps), min(e, pe)
            if s < e:
                pending.append((s, -e, idx, kind, payload))
        pending.sort()
        root = _Node(ps, pe, -1, None, 0)
        stack = [root]
        i = 0
        while i < len(pending):
            s, ne, idx, kind, payload = pending[i]
            e = -ne
            i += 1
            while len(stack) > 1 and stack[-1].e <= s:
                stack.pop()
            top = stack[-1]
            if e > top.e:               # overlaps the open entity: split at its end
                insort(pending, (top.e, -e, idx, kind, payload), lo=i)
                e = top.e
            group = _GROUP[kind]
            if top.mask & (group | _G_CODE):
                continue
            sib = top.children[-1] if top.children else None
            if group == _G_CODE and sib is not None and sib.kind == CODE and sib.e == s:
                sib.e = e               # adjacent code spans merge (`a``b` is not two spans)
                stack.append(sib)
                continue
            node = _Node(s, e, kind, payload, top.mask | group)
            top.children.append(node)
            stack.append(node)
        self.content(root)

    def content(self, node: _Node) -> None:
        pos = node.s
        for ch in node.children:
            if ch.s > pos:
                self.plain(pos, ch.s)
            self.node(ch)
            pos = ch.e
        if node.e > pos:
            self.plain(pos, node.e)

    def node(self, n: _Node) -> None:
        k = n.kind
        if k == CODE:
            self.code(n.s, n.e)
            return
        if k in _DELIM:
            d, ho, hc = _DELIM[k]
            t = self.t
            md = (t[n.s].isalnum() and t[n.e - 1].isalnum()
                  and (not n.children or (n.children[0].s != n.s
                                          and n.children[-1].e != n.e))
                  and self.last() != d[0])
            opening, closing = (d, d) if md else (ho, hc)
        elif k == UNDERLINE:
            opening, closing = "<u>", "</u>"
        elif k == SPOILER:
            opening, closing = '<span class="tg-spoiler">', "</span>"
        elif k == CUSTOM_EMOJI:
            opening, closing = f'<span data-custom-emoji="{n.payload}">', "</span>"
        else:                           # links
            opening, closing = "[", "](" + n.payload + ")"
        self.w(opening)
        self.content(n)
        self.w(closing)

    def newline(self, i: int) -> None:
        self.w("&#10;" if i == self.pe - 1 else "\\\n" + self.prefix)

    def plain(self, a: int, b: int) -> None:
        t, ps, pe = self.t, self.ps, self.pe
        end, stop = min(b + 1, pe), min(b, pe - 1)   # the lookahead may peek at t[b]
        i = a
        while i < b:
            if i != ps and i < stop:
                m = _RUN.match(t, i, end)
                if m is not None:
                    j = min(m.end(), stop)
                    self.out.append(t[i:j])
                    i = j
                    continue
            self.char(i)
            i += 1

    def char(self, i: int) -> None:
        t, ps, pe = self.t, self.ps, self.pe
        w = self.out.append
        c = t[i]
        if c.isalnum():
            w(c)
            return
        esc = _ESC.get(c)
        if esc is not None:
            if (esc == 1 or (esc == 2 and (i == ps or t[i - 1] == "\n"))
                    or (esc == 3 and i > 0 and "0" <= t[i - 1] <= "9")):
                w("\\" + c)
            else:
                w(c)
        elif c == "\n":
            self.newline(i)
        elif c == "\r":
            w("&#13;")
        elif c == "\0":
            w("\ufffd")
        elif c == " " or c == "\t":
            edge = (i == ps or i == pe - 1 or t[i - 1] == "\n" or t[i + 1] == "\n")
            w(("&#32;" if c == " " else "&#9;") if edge else c)
        elif c.isspace() and (i == ps or i == pe - 1):
            if c in _NO_REF:
                w((_ANCHOR if i == ps else "") + c + (_ANCHOR if i == pe - 1 else ""))
            else:
                w(f"&#{ord(c)};")
        else:
            w(c)

    def code(self, a: int, b: int) -> None:
        t = self.t
        i = a
        while i < b:
            c = t[i]
            if c == "\n":
                self.newline(i)
                i += 1
            elif c == "\r":
                self.w("&#13;")
                i += 1
            else:
                j = i + 1
                while j < b and t[j] != "\n" and t[j] != "\r":
                    j += 1
                self.span(t[i:j].replace("\0", "\ufffd"))
                i = j

    def span(self, p: str) -> None:
        run = max((len(m) for m in _TICKS_RE.findall(p)), default=0)
        ticks = "`" * (run + 1)
        pad = p[0] == "`" or p[-1] == "`" or (p[0] == " " and p[-1] == " " and p.strip(" "))
        self.w(ticks + (" " + p + " " if pad else p) + ticks)


def _layout(text: str, ents: list) -> tuple[list[_Block], list]:
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
        elif kind in _GROUP:
            if _GROUP[kind] == _LINK:
                payload = _href(text, s, e, kind, arg)
            elif kind == CUSTOM_EMOJI:
                payload = _emoji_id(arg)
            else:
                payload = ""
            if payload is not None:
                inline.append((s, e, kind, payload, idx))
    cands.sort()
    root = _Block(0, n, -1, None)
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
        b = _Block(bs, be, kind, arg)
        parent.kids.append(b)
        parent.last = be
        stack.append(b)
    return root.kids, inline


def markdown(text, entities) -> str:
    """The text with its entities as Obsidian-flavoured Markdown.

    See ``engine.text.markdown`` for the contract and the syntax.
    """
    text = _check_text(text)
    if not text:
        return ""
    blocks, inline = _layout(text, _normalize(text, entities))
    md = _Md(text, inline)
    md.region(0, len(text), blocks, "")
    return "".join(md.out)
