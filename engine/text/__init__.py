"""Message text core: entity slicing, Markdown escaping and Telegram Desktop's text split.

Two functions, in a native build (``engine._native.text``, from native/text.pyx; its C is
native/textcore.pxi, which the native renderers in native/render.pyx share) when it loads
and in a pure-Python twin (``engine/text/_pytext.py``) otherwise; both produce the same
output byte for byte.  ``IMPLEMENTATION`` says which one this process uses and ``WHY``
says why.  ``TGARC_TEXT_IMPL=pure`` forces the twin; ``TGARC_REQUIRE_NATIVE=1`` turns a
missing native build into an error (``NativeRequired``) instead of a fallback.

Input
-----
``text`` is a ``str`` (``None`` counts as ``""``; anything else raises ``TypeError``).
``entities`` is an iterable (``None``: none) of tuples or lists ``(kind, offset, length,
arg)``: ``kind`` a code from ``engine.model.kinds``, ``offset``/``length`` in UTF-16 code
units like Telegram's, ``arg`` the kind's extra value (``kinds.ARG``) or None; a 3-item
entity has ``arg`` None.  Entity values never make either function raise; bad ones
degrade, and in the worst case the text comes out plain:

* an item that is not a tuple/list of >= 3 items, or whose offset or length is not an
  ``int``, is ignored; a kind that is not a known code becomes ``UNKNOWN``;
* the range ``[offset, offset + length)`` is clipped to the text (offsets and lengths first
  saturate at +-2**62); an empty result is dropped (zero or negative length, out of range);
* a boundary that falls between the two halves of a surrogate pair widens the entity to the
  whole code point (the start moves down, the end moves up), so an entity never cuts a
  character and the slices always concatenate back to the text;
* an ``arg`` of the wrong type reads as "none" (see each function).

``td_text(text, entities) -> (text_value, text_entities)``
----------------------------------------------------------
Telegram Desktop's ``text`` and ``text_entities`` for result.json (shared/TD_JSON.md
items 8 and 9).  Entities are taken in offset order (a stable sort: equal offsets keep
their input order); one that starts before the previous kept one ends is skipped, as
Telegram Desktop drops nested and overlapping entities.  ``text_entities`` lists every run
of the text, in order, as a dict with keys exactly ``type``, ``text`` and then the kind's
extra key: ``language`` (pre: str, '' without one), ``href`` (text_link: str),
``user_id`` (mention_name: int, 0 without one), ``document_id`` (custom_emoji: str) or
``collapsed`` (blockquote: bool); text between entities is ``{"type": "plain", ...}``.
The ``text`` values concatenate to the original text.  ``text_value`` is ``""`` for an
empty text, the text itself when it is a single plain run, and otherwise a list of the
runs: plain runs as strings, entity runs as the same dict objects that ``text_entities``
holds (treat them as read-only).

``markdown(text, entities) -> str``
-----------------------------------
The message body as Obsidian-flavoured Markdown (CommonMark + HTML + ``~~`` strikethrough,
which Obsidian reads).  Nested entities are kept; entities that overlap without nesting
are cut at the boundary of the one that opened first, so the output stays well formed; an
entity inside one of its own kind (bold in bold), anything inside code, and a link inside
a link add nothing and are dropped.  No trailing newline.

====================  ========================================================
entity                Markdown
====================  ========================================================
bold                  ``**x**``; ``<b>x</b>`` when ``**`` could misparse (below)
italic                ``*x*``; ``<i>x</i>`` likewise
strikethrough         ``~~x~~``; ``<s>x</s>`` likewise
underline             ``<u>x</u>``
spoiler               ``<span class="tg-spoiler">x</span>``
custom_emoji          ``<span data-custom-emoji="ID">fallback emoji</span>``
                      (plain when the id is not digits)
code                  a code span with one more backtick than the longest run
                      inside, padded with a space when it starts or ends with
                      a backtick or with a space; a line break inside makes
                      one span per line
pre                   a fenced block (```` ```lang ````, >= 3 backticks, more
                      than any run inside; ``lang`` kept when it matches
                      ``[A-Za-z0-9_+#.-]+``) when it fills whole lines and
                      holds no CR; otherwise it renders like code
blockquote            ``> `` before each line when it fills whole lines
                      (collapsed ones too); otherwise it adds nothing
text_link             ``[x](url)``; plain when the url is not a str
mention_name          ``[x](tg://user?id=N)``; plain when ``arg`` is not an int
url / email / mention ``[x](x)`` (``http://`` added when x has no ``://``) /
                      ``[x](mailto:x)`` / ``[@u](https://t.me/u)``
hashtag, cashtag,     plain text (escaped, so ``#tag`` is not an Obsidian tag)
bot_command, phone,
bank_card, unknown
====================  ========================================================

Link targets: ASCII controls, space, ``<`` ``>`` ``(`` ``)`` ``\\`` the backtick, and
non-ASCII whitespace are percent-encoded (UTF-8), ``&`` is backslash-escaped; a target starting
(ASCII case-insensitively) with ``javascript:``, ``vbscript:``, ``file:`` or ``data:`` is
not linked (the text renders plain). ``**``/``*``/``~~`` are used only when the entity's
first and last characters are letters or digits (``str.isalnum``), no nested entity starts
or ends at its edges, and the character written just before it is not the same delimiter
character; everywhere else the flanking rules of CommonMark could leave the delimiters as
literal text, so the HTML tag is used instead.

Blocks.  A pre or blockquote "fills whole lines" when it starts at the text's start or just
after a ``\\n`` and ends at the text's end or just before a ``\\n`` (one trailing ``\\n``
inside the entity is moved out first).  Such blocks may nest (a pre or a quote inside a
quote); nothing nests inside a pre.  The ``\\n`` on each side of a block is the block
separator; blocks and the paragraphs between them are separated by one blank line
(``>``-prefixed inside quotes).  Where the text has nothing between two separators (the
text starts or ends with ``\\n`` next to a block, or ``\\n\\n`` between two blocks) an
``<br>`` line stands for the empty line.

Plain text is escaped so that the rendered note shows exactly the original characters:

* always backslash-escaped: ``\\ ` * _ ~ [ ] < > & ! # = $ % ^ |``; ``-`` and ``+`` at a
  line start; ``.`` and ``)`` after an ASCII digit (``1.`` list markers).  This covers
  CommonMark and Obsidian's ``[[``, ``#tag``, ``==``, ``%%``, ``^id``, ``$``, tables;
* a line break inside a paragraph is a hard break, ``\\`` + newline; the paragraph's last
  character, when it is a line break, is ``&#10;`` (a hard break cannot end a paragraph);
* a space or tab that starts or ends a line is ``&#32;`` / ``&#9;`` (indented code, hard
  breaks and stripping would eat it); any other whitespace character (``str.isspace``) that
  starts or ends a paragraph is ``&#N;``, or, for the ones a character reference cannot
  carry (U+000B, U+001C..U+001F, U+0085), is guarded by an empty ``<span></span>``;
* CR is ``&#13;`` (CommonMark turns a bare CR into a line break);
* U+0000 is written as U+FFFD: CommonMark requires that replacement, so it is the one
  character that does not survive the round trip.

The round trip tests/test_text.py checks: markdown-it-py (commonmark preset, html on,
strikethrough on) renders the output, and the text extracted from its tokens equals the
input text with U+0000 replaced by U+FFFD.
"""

from __future__ import annotations

from engine._native.native_or_twin import NativeRequired, choose
from engine.model import kinds

from . import _pytext

_CHOICE = choose("text", _pytext, "text core")
_IMPL, WHY = _CHOICE.module, _CHOICE.why
IMPLEMENTATION: str = _IMPL.IMPLEMENTATION
td_text = _IMPL.td_text
markdown = _IMPL.markdown
by_name = _CHOICE.by_name


__all__ = ["IMPLEMENTATION", "WHY", "NativeRequired", "by_name", "kinds", "markdown", "td_text"]
