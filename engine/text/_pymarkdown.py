"""Markdown writing, the pure-Python twin of native/text_md_blocks.pxi and
text_md_inline.pxi (their tables and state are native/text_md_state.pxi): regions of blocks
and paragraphs, code fences, quotes, each paragraph's inline tree, and plain text escaped
so that the rendered note shows exactly the original characters.  The rules are in
engine/text/__init__.py; engine/text/_pymd_layout.py decides what is a block.
"""

from __future__ import annotations

import re
from bisect import insort

from engine.model.kinds import (
    BOLD,
    CODE,
    CUSTOM_EMOJI,
    ITALIC,
    PRE,
    SPOILER,
    STRIKE,
    UNDERLINE,
)

from ._pyentities import check_text, normalize
from ._pymd_layout import G_CODE, GROUP, Block, layout

_DELIM = {BOLD: ("**", "<b>", "</b>"), ITALIC: ("*", "<i>", "</i>"),
          STRIKE: ("~~", "<s>", "</s>")}
_LANG_RE = re.compile(r"[A-Za-z0-9_+#.\-]+")
_TICKS_RE = re.compile("`+")
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


class _Node:
    __slots__ = ("children", "e", "kind", "mask", "payload", "s")

    def __init__(self, s, e, kind, payload, mask):
        self.s, self.e, self.kind, self.payload, self.mask = s, e, kind, payload, mask
        self.children: list[_Node] = []


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

    def region(self, s: int, e: int, kids: list[Block], prefix: str) -> None:
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

    def fence(self, b: Block, prefix: str) -> None:
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
            group = GROUP[kind]
            if top.mask & (group | G_CODE):
                continue
            sib = top.children[-1] if top.children else None
            if group == G_CODE and sib is not None and sib.kind == CODE and sib.e == s:
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


def markdown(text, entities) -> str:
    """The text with its entities as Obsidian-flavoured Markdown.

    See ``engine.text.markdown`` for the contract and the syntax.
    """
    text = check_text(text)
    if not text:
        return ""
    blocks, inline = layout(text, normalize(text, entities))
    md = _Md(text, inline)
    md.region(0, len(text), blocks, "")
    return "".join(md.out)
