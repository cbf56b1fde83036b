"""engine.text: td_text (Telegram Desktop's text split) and markdown (the vault's message body).

Every test body runs against both cores, the native build and its pure-Python twin
(`text_impl`).  Three properties carry the weight:

* the twins agree byte for byte on random Unicode with random valid and invalid entities;
* markdown round-trips: markdown-it-py renders it and the text a reader sees (``rendered_text``)
  is exactly the original text -- except U+0000, which CommonMark requires to become U+FFFD;
* td_text's runs concatenate back to the text, and nothing raises on bad entities.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

import engine.text as text_mod
from engine.model.kinds import (
    BANK_CARD,
    BLOCKQUOTE,
    BOLD,
    BOT_COMMAND,
    CASHTAG,
    CODE,
    CUSTOM_EMOJI,
    EMAIL,
    HASHTAG,
    ITALIC,
    MENTION,
    MENTION_NAME,
    PHONE,
    PRE,
    SPOILER,
    STRIKE,
    TEXT_URL,
    UNDERLINE,
    UNKNOWN,
    URL,
)
from engine.text import by_name, kinds


def _native_available() -> bool:
    try:
        from engine._native import text  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module", params=["native", "pure"])
def text_impl(request):
    """The text core module under test: the native build, then its pure twin."""
    if request.param == "native" and not _native_available():
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            pytest.fail("TGARC_REQUIRE_NATIVE=1 but engine._native.text is not built")
        pytest.skip("native text core not built on this machine (CI requires it)")
    return by_name(request.param)


@pytest.fixture(scope="module")
def both():
    """(native, pure) for the agreement tests."""
    if not _native_available():
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            pytest.fail("TGARC_REQUIRE_NATIVE=1 but engine._native.text is not built")
        pytest.skip("native text core not built: nothing to compare the twin with")
    return by_name("native"), by_name("pure")


# --------------------------------------------------------------------------- rendered text

# Obsidian's dialect as far as the notes use it: CommonMark with raw HTML, plus GFM ~~strike~~.
MD = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")

_MARKUP = {"strong_open", "strong_close", "em_open", "em_close", "s_open", "s_close",
           "link_open", "link_close", "html_inline"}


def rendered_text(source: str) -> str:
    """The text a reader sees in `source` once rendered, read from markdown-it-py's tokens.

    * Inline content: ``text`` and ``code_inline`` tokens give their content, ``softbreak`` and
      ``hardbreak`` give ``"\\n"``; markup (strong/em/s/link open and close, ``html_inline``
      such as ``<u>`` or ``<span ...>``) gives nothing.
    * Blocks: a paragraph gives its inline content; a fence gives its content without the one
      final ``"\\n"`` every fence content ends with; an ``html_block`` (the renderer's ``<br>``
      line, an empty line between blocks) gives ``""``; a blockquote gives its own blocks.
    * Sibling blocks are joined with ``"\\n"``: the line break of the message that separated
      them (the Markdown blank line between them is layout, not text).
    * Any other token (heading, list, hr, indented code, image...) raises: the renderer must
      never produce one, so meeting one means some text turned into markup.
    """
    tokens = MD.parse(source)

    def inline(tok) -> str:
        out = []
        for c in tok.children or ():
            if c.type in ("text", "code_inline"):
                out.append(c.content)
            elif c.type in ("softbreak", "hardbreak"):
                out.append("\n")
            elif c.type not in _MARKUP:
                raise AssertionError(f"unexpected inline token {c.type} in {source!r}")
        return "".join(out)

    def blocks(i: int, end: str | None) -> tuple[list[str], int]:
        res: list[str] = []
        while i < len(tokens):
            t = tokens[i]
            if t.type == end:
                return res, i + 1
            if t.type == "paragraph_open":
                res.append(inline(tokens[i + 1]))
                i += 3
            elif t.type == "fence":
                assert t.content.endswith("\n")
                res.append(t.content[:-1])
                i += 1
            elif t.type == "html_block":
                assert t.content.strip() == "<br>", t.content
                res.append("")
                i += 1
            elif t.type == "blockquote_open":
                sub, i = blocks(i + 1, "blockquote_close")
                res.append("\n".join(sub))
            else:
                raise AssertionError(f"unexpected block token {t.type} in {source!r}")
        return res, i

    return "\n".join(blocks(0, None)[0])


def shown(text: str) -> str:
    """What the round trip must give back: the text, U+0000 replaced (CommonMark §2.3)."""
    return text.replace("\0", "\ufffd")


# --------------------------------------------------------------------------- goldens

MD_GOLDEN = [
    ("bold", "say hi now", [(BOLD, 4, 2, None)], "say **hi** now"),
    ("bold_around_punctuation", "go (now)!", [(BOLD, 3, 5, None)], "go <b>(now)</b>\\!"),
    ("italic", "an italic word", [(ITALIC, 3, 6, None)], "an *italic* word"),
    ("strike", "old new", [(STRIKE, 0, 3, None)], "~~old~~ new"),
    ("underline", "under line", [(UNDERLINE, 0, 5, None)], "<u>under</u> line"),
    ("spoiler", "the end: he dies", [(SPOILER, 9, 7, None)],
     'the end: <span class="tg-spoiler">he dies</span>'),
    ("code_with_backticks", "run `ls` now", [(CODE, 4, 4, None)], "run `` `ls` `` now"),
    ("code_all_spaces", "a  b", [(CODE, 1, 2, None)], "a`  `b"),
    ("pre_block", "Code:\nprint(1)\nx = 2\nDone", [(PRE, 6, 14, "python")],
     "Code:\n\n```python\nprint(1)\nx = 2\n```\n\nDone"),
    ("pre_mid_line_is_code", "inline pre here", [(PRE, 7, 3, "c")], "inline `pre` here"),
    ("pre_fence_outgrows_content_and_bad_lang_dropped", "x\n```y", [(PRE, 2, 4, "a b")],
     "x\n\n````\n```y\n````"),
    ("text_link_escaped_target", "see docs", [(TEXT_URL, 4, 4, "https://ex.com/a b_(c)<d>&e")],
     "see [docs](https://ex.com/a%20b_%28c%29%3Cd%3E\\&e)"),
    ("text_link_javascript_not_linked", "click", [(TEXT_URL, 0, 5, "JavaScript:alert(1)")],
     "click"),
    ("mention_name", "hi Pavel", [(MENTION_NAME, 3, 5, 1234567)],
     "hi [Pavel](tg://user?id=1234567)"),
    ("mention", "ask @durov", [(MENTION, 4, 6, None)], "ask [@durov](https://t.me/durov)"),
    ("url_without_scheme", "go to example.com/x", [(URL, 6, 13, None)],
     "go to [example.com/x](http://example.com/x)"),
    ("url_with_scheme", "https://t.me/x", [(URL, 0, 14, None)],
     "[https://t.me/x](https://t.me/x)"),
    ("email", "mail a@b.c", [(EMAIL, 5, 5, None)], "mail [a@b.c](mailto:a@b.c)"),
    ("hashtag_cashtag_plain", "#tag and $USD", [(HASHTAG, 0, 4, None), (CASHTAG, 9, 4, None)],
     "\\#tag and \\$USD"),
    ("bot_phone_card_unknown_plain", "/start +123 4111",
     [(BOT_COMMAND, 0, 6, None), (PHONE, 7, 4, None), (BANK_CARD, 12, 4, None),
      (UNKNOWN, 0, 1, None)],
     "/start +123 4111"),
    ("blockquote", "quote\nmore\nafter", [(BLOCKQUOTE, 0, 11, False)],
     "> quote\\\n> more\n\nafter"),
    ("blockquote_collapsed", "a\nq", [(BLOCKQUOTE, 2, 1, True)], "a\n\n> q"),
    ("blockquote_mid_line_adds_nothing", "not a quote", [(BLOCKQUOTE, 4, 1, None)],
     "not a quote"),
    ("custom_emoji", "ok 👍", [(CUSTOM_EMOJI, 3, 2, 5368324170671202286)],
     'ok <span data-custom-emoji="5368324170671202286">👍</span>'),
    ("nested", "bold and link",
     [(BOLD, 0, 13, None), (ITALIC, 5, 3, None), (TEXT_URL, 9, 4, "http://x")],
     "<b>bold *and* [link](http://x)</b>"),
    ("overlap_split", "one two three", [(BOLD, 0, 7, None), (ITALIC, 4, 9, None)],
     "<b>one *two*</b><i> three</i>"),
    ("adjacent_delimiters_never_merge", "ab", [(BOLD, 0, 1, None), (ITALIC, 1, 1, None)],
     "**a**<i>b</i>"),
    ("escapes", "1. #x [[y]] ==z== %%c%% ^id $m$ *a* _b_ <i> & a|b", [],
     r"1\. \#x \[\[y\]\] \=\=z\=\= \%\%c\%\% \^id \$m\$ \*a\* \_b\_ \<i\> \& a\|b"),
    ("line_starts", "- a\n+ b\n> c\n    d", [], "\\- a\\\n\\+ b\\\n\\> c\\\n&#32;   d"),
    ("edge_spaces_and_blank_line", "  two\n\nend  ", [], "&#32; two\\\n\\\nend &#32;"),
    ("cr_and_nul", "a\r\nb\0", [], "a&#13;\\\nb\ufffd"),
    ("quote_holding_pre", "q\ncode", [(BLOCKQUOTE, 0, 6, None), (PRE, 2, 4, "")],
     "> q\n>\n> ```\n> code\n> ```"),
    ("empty_lines_next_to_blocks", "a\n\nb\n", [(PRE, 0, 1, None), (PRE, 3, 1, None)],
     "```\na\n```\n\n<br>\n\n```\nb\n```\n\n<br>"),
    ("empty", "", [(BOLD, 0, 5, None)], ""),
]


@pytest.mark.parametrize(("text", "entities", "expected"),
                         [c[1:] for c in MD_GOLDEN], ids=[c[0] for c in MD_GOLDEN])
def test_markdown_golden(text_impl, text, entities, expected):
    got = text_impl.markdown(text, entities)
    assert got == expected
    assert rendered_text(got) == shown(text)


TD_GOLDEN = [
    ("plain_only", "hello", [], "hello", [{"type": "plain", "text": "hello"}]),
    ("empty", "", [(BOLD, 0, 1, None)], "", []),
    ("whole_text_entity_is_a_list", "hi", [(BOLD, 0, 2, None)],
     [{"type": "bold", "text": "hi"}], [{"type": "bold", "text": "hi"}]),
    ("every_extra_key", "pre url user emo quo",
     [(PRE, 0, 3, "py"), (TEXT_URL, 4, 3, "http://u"), (MENTION_NAME, 8, 4, 42),
      (CUSTOM_EMOJI, 13, 3, 77), (BLOCKQUOTE, 17, 3, True)],
     [{"type": "pre", "text": "pre", "language": "py"}, " ",
      {"type": "text_link", "text": "url", "href": "http://u"}, " ",
      {"type": "mention_name", "text": "user", "user_id": 42}, " ",
      {"type": "custom_emoji", "text": "emo", "document_id": "77"}, " ",
      {"type": "blockquote", "text": "quo", "collapsed": True}],
     None),
    ("wrong_arg_types_read_as_none", "abcde",
     [(PRE, 0, 1, None), (TEXT_URL, 1, 1, 5), (MENTION_NAME, 2, 1, "x"),
      (CUSTOM_EMOJI, 3, 1, None), (BLOCKQUOTE, 4, 1, "yes")],
     [{"type": "pre", "text": "a", "language": ""},
      {"type": "text_link", "text": "b", "href": ""},
      {"type": "mention_name", "text": "c", "user_id": 0},
      {"type": "custom_emoji", "text": "d", "document_id": ""},
      {"type": "blockquote", "text": "e", "collapsed": False}],
     None),
    ("every_type_name", "x" * 20, [(k, k, 1, None) for k in range(kinds.COUNT)],
     [{"type": kinds.TD_NAMES[k], "text": "x",
       **({kinds.ARG[k][0]: {PRE: "", TEXT_URL: "", MENTION_NAME: 0, CUSTOM_EMOJI: "",
                             BLOCKQUOTE: False}[k]} if k in kinds.ARG else {})}
      for k in range(kinds.COUNT)],
     None),
]


@pytest.mark.parametrize(("text", "entities", "value", "runs"),
                         [c[1:] for c in TD_GOLDEN], ids=[c[0] for c in TD_GOLDEN])
def test_td_text_golden(text_impl, text, entities, value, runs):
    got_value, got_runs = text_impl.td_text(text, entities)
    assert got_value == value
    if runs is None:   # a mixed list: the runs are its items, strings typed "plain"
        runs = [{"type": "plain", "text": v} if isinstance(v, str) else v for v in value]
    assert got_runs == runs
    for d in got_runs:
        assert list(d)[:2] == ["type", "text"] and len(d) <= 3
    for d in got_runs:
        if d["type"] == "mention_name":
            assert type(d["user_id"]) is int
        if d["type"] == "blockquote":
            assert type(d["collapsed"]) is bool


def test_td_text_skips_entities_that_start_inside_the_previous_one(text_impl):
    text = "abcdefghij"
    value, _ = text_impl.td_text(text, [(BOLD, 0, 5, None), (ITALIC, 2, 5, None),
                                        (CODE, 5, 2, None), (UNDERLINE, 6, 1, None)])
    assert value == [{"type": "bold", "text": "abcde"}, {"type": "code", "text": "fg"}, "hij"]
    # unsorted input is taken in offset order; equal offsets keep their input order
    value, _ = text_impl.td_text(text, [(ITALIC, 6, 3, None), (BOLD, 0, 3, None),
                                        (UNDERLINE, 0, 1, None)])
    assert value == [{"type": "bold", "text": "abc"}, "def", {"type": "italic", "text": "ghi"}, "j"]


def test_td_text_value_shares_the_entity_dicts(text_impl):
    value, runs = text_impl.td_text("ab", [(BOLD, 1, 1, None)])
    assert value[1] is runs[1]
    assert value[0] == runs[0]["text"]


# --------------------------------------------------------------------------- UTF-16 offsets

UTF16_CASES = [
    # (text, UTF-16 offset, length, the slice it must select)
    ("👍 ok", 0, 2, "👍"),
    ("a👨‍👩‍👧b", 1, 8, "👨‍👩‍👧"),                          # ZWJ sequence: 3 astral + 2 ZWJ
    ("🇺🇦🇵🇱", 4, 4, "🇵🇱"),                             # flags: 2 regional indicators each
    ("cafe\u0301 x", 0, 5, "cafe\u0301"),                  # combining mark, BMP
    ("שלום עולם", 5, 4, "עולם"),                           # RTL
    ("x 👋🏽 y", 2, 4, "👋🏽"),                              # skin tone modifier
    ("a😀b", 2, 1, "😀"),        # offset between the two halves: widened to the whole emoji
    ("a😀b", 0, 2, "a😀"),        # end between the two halves: widened too
    ("😀😀", 1, 2, "😀😀"),
    ("日本語テキスト", 2, 3, "語テキ"),
    ("𝐀𝐁𝐂", 2, 2, "𝐁"),                                  # mathematical letters (astral)
]


@pytest.mark.parametrize(("text", "off", "length", "want"), UTF16_CASES)
def test_utf16_offsets_select_code_points(text_impl, text, off, length, want):
    _, runs = text_impl.td_text(text, [(BOLD, off, length, None)])
    assert [r["text"] for r in runs if r["type"] == "bold"] == [want]
    assert "".join(r["text"] for r in runs) == text
    md = text_impl.markdown(text, [(BOLD, off, length, None)])
    assert rendered_text(md) == text


def test_bold_emoji_uses_html_since_emoji_are_punctuation_to_commonmark(text_impl):
    assert text_impl.markdown("x 😀 y", [(BOLD, 2, 2, None)]) == "x <b>😀</b> y"


# --------------------------------------------------------------------------- invalid input

BAD_ENTITY_LISTS = [
    [(BOLD, -5, 3, None)],                  # starts before the text, ends before it
    [(BOLD, -5, 7, None)],                  # clipped to [0, 2)
    [(BOLD, 3, 100, None)],                 # clipped at the end
    [(BOLD, 50, 5, None)],                  # out of range
    [(BOLD, 2, 0, None), (ITALIC, 2, -3, None)],
    [(BOLD, 0, 4, None), (ITALIC, 2, 4, None), (CODE, 1, 6, None)],
    [(ITALIC, 5, 2, None), (BOLD, 0, 3, None)],
    [(99, 0, 3, None), (-1, 0, 2, None), (True, 0, 1, None), ("bold", 0, 1, None)],
    [(BOLD, 2**80, 2**80, None), (BOLD, -(2**80), 2**81, None), (BOLD, 0, -(2**80), None)],
    [(BOLD, 1.0, 2, None), (BOLD, "1", 2, None), (BOLD, None, None, None)],
    [None, 5, "bold", (BOLD,), (BOLD, 0), [BOLD, 0, 2], (BOLD, 1, 2, None, "extra")],
    [(TEXT_URL, 0, 3, None), (TEXT_URL, 0, 3, 5), (MENTION_NAME, 0, 3, "x"),
     (CUSTOM_EMOJI, 0, 3, "12a"), (CUSTOM_EMOJI, 0, 3, -5), (PRE, 0, 7, object())],
    [(PRE, 0, 7, "py"), (PRE, 0, 7, "py"), (BLOCKQUOTE, 0, 7, None), (BLOCKQUOTE, 0, 7, None)],
]


@pytest.mark.parametrize("entities", BAD_ENTITY_LISTS)
def test_bad_entities_degrade_never_raise(text_impl, entities):
    text = "ab\ncd😀e"
    _, runs = text_impl.td_text(text, entities)
    assert "".join(r["text"] for r in runs) == text
    assert rendered_text(text_impl.markdown(text, entities)) == text


def test_entities_may_be_none_or_any_iterable(text_impl):
    assert text_impl.markdown("ab", None) == "ab"
    assert text_impl.td_text("ab", None) == ("ab", [{"type": "plain", "text": "ab"}])
    gen = ((BOLD, 0, 1, None) for _ in range(1))
    assert text_impl.markdown("ab", gen) == "**a**b"
    assert text_impl.td_text(None, []) == ("", [])
    assert text_impl.markdown(None, []) == ""


def test_text_must_be_str(text_impl):
    with pytest.raises(TypeError):
        text_impl.markdown(b"ab", [])
    with pytest.raises(TypeError):
        text_impl.td_text(5, [])
    with pytest.raises(TypeError):
        text_impl.markdown("ab", 5)


# --------------------------------------------------------------------------- random input

# Characters that stress the renderer (markup, whitespace kinds, controls, line breaks) and
# the UTF-16 mapping (astral, ZWJ, flags, combining, RTL), mixed with arbitrary code points.
# No lone surrogates: Telethon decodes with errors='replace', so they never arrive.
_TRICKY = [
    *"\n\n\n  \t\r\0\x0b\x0c\x1c\x1f\x85\xa0\u2003\u3000\u2028\u200b",
    *"`*_~[]<>&!#=$%^|-+.)(:\\'\"{}/@1aZéж",
    "😀", "👨‍👩‍👧", "🇺🇦", "👋🏽", "e\u0301", "שלום", "مرحبا", "𝐀", "```", "> ", "- ", "1. ",
    "**", "~~", "&amp;", "&#32;", "<b>", "[[x]]", "http://", "\r\n",
]
_char = st.characters(exclude_categories=("Cs",))
TEXTS = st.lists(st.one_of(st.sampled_from(_TRICKY), _char, _char), max_size=40).map("".join)
_ARGS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2**63), st.sampled_from(
        ["py", "c++", "a b", "", "http://x.y/(a b)?q=1&r=<2>", "javascript:alert(1)",
         " data:x", "tg://user?id=1", "77", "\u3000x", "`", "\n"]),
    st.text(max_size=8))
_KINDS = st.one_of(st.integers(0, kinds.COUNT - 1), st.integers(0, kinds.COUNT - 1),
                   st.sampled_from([PRE, PRE, BLOCKQUOTE, BLOCKQUOTE, BOLD, ITALIC, CODE]),
                   st.integers(-2, 25))
ENTITY = st.tuples(_KINDS, st.integers(-3, 70), st.integers(-2, 70), _ARGS)
BAD_ITEM = st.one_of(
    st.none(), st.integers(), st.text(max_size=3),
    st.tuples(_KINDS, st.integers(0, 20)),
    st.tuples(_KINDS, st.one_of(st.floats(), st.text(max_size=2)), st.integers()),
    st.tuples(_KINDS, st.integers(-(2**70), 2**70), st.integers(-(2**70), 2**70), _ARGS),
    st.lists(st.integers(0, 30), min_size=3, max_size=5),
)
ENTITIES = st.lists(st.one_of(ENTITY, ENTITY, ENTITY, BAD_ITEM), max_size=12)


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


@st.composite
def message(draw):
    """A text with entities inside it (valid ones, often nested) and some random ones."""
    text = draw(TEXTS)
    n16 = utf16_len(text)
    valid = []
    for _ in range(draw(st.integers(0, 8))):
        off = draw(st.integers(0, max(n16 - 1, 0)))
        valid.append((draw(_KINDS), off, draw(st.integers(1, max(n16 - off, 1))), draw(_ARGS)))
    return text, draw(st.permutations(valid + draw(ENTITIES)))


FAST = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROUNDTRIP = settings(max_examples=250, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(message())
def test_native_and_pure_agree(both, msg):
    native, pure = both
    text, entities = msg
    assert native.markdown(text, entities) == pure.markdown(text, entities)
    assert native.td_text(text, entities) == pure.td_text(text, entities)


@ROUNDTRIP
@given(message())
def test_markdown_round_trips_through_markdown_it(text_impl, msg):
    text, entities = msg
    md = text_impl.markdown(text, entities)
    assert rendered_text(md) == shown(text), md


@FAST
@given(message())
def test_td_text_runs_concatenate_to_the_text(text_impl, msg):
    text, entities = msg
    value, runs = text_impl.td_text(text, entities)
    assert "".join(r["text"] for r in runs) == text
    if not text:
        assert value == "" and runs == []
    elif isinstance(value, str):
        assert value == text and runs == [{"type": "plain", "text": text}]
    else:
        assert [v if isinstance(v, str) else v["text"] for v in value] == [r["text"] for r in runs]
        assert all(r["text"] for r in runs)
        assert all(r["type"] != "plain" or isinstance(v, str) for v, r in zip(value, runs,
                                                                               strict=True))


@pytest.mark.parametrize("unit", ["ascii text. ", "жёлтый текст. ", "emoji 😀👨‍👩‍👧 text. "])
def test_long_messages_with_many_entities(both, unit):
    """Past the native core's stack buffers (4096 code points, 64 entities): heap paths."""
    native, pure = both
    import random

    rng = random.Random(4)
    text = (unit * (6000 // len(unit) + 1))[:6000] + "\nlast line\n"
    n16 = utf16_len(text)
    entities = []
    for _ in range(300):
        off = rng.randrange(n16)
        entities.append((rng.randrange(kinds.COUNT), off, rng.randrange(1, 400),
                         rng.choice([None, "py", 5, "http://x"])))
    md = native.markdown(text, entities)
    assert md == pure.markdown(text, entities)
    assert rendered_text(md) == text
    assert native.td_text(text, entities) == pure.td_text(text, entities)


# --------------------------------------------------------------------------- the façade


def test_facade_reports_its_choice():
    assert text_mod.IMPLEMENTATION in ("native", "pure")
    assert text_mod.WHY
    assert by_name(None).IMPLEMENTATION == text_mod.IMPLEMENTATION
    with pytest.raises(ValueError):
        by_name("fast")
    if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
        assert text_mod.IMPLEMENTATION == "native"


def _import_in_child(**env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items()
            if k not in ("TGARC_TEXT_IMPL", "TGARC_REQUIRE_NATIVE")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import engine.text as t; print(t.IMPLEMENTATION)"],
        env=full, capture_output=True, text=True, timeout=60, check=False)


def test_text_impl_pure_forces_the_twin():
    r = _import_in_child(TGARC_TEXT_IMPL="pure")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "pure"


def test_require_native_contradicting_pure_is_an_error():
    r = _import_in_child(TGARC_TEXT_IMPL="pure", TGARC_REQUIRE_NATIVE="1")
    assert r.returncode != 0
    assert "NativeRequired" in r.stderr


def test_kind_table_is_complete():
    assert len(kinds.TD_NAMES) == kinds.COUNT == len(set(kinds.TD_NAMES))
    assert kinds.TD_NAMES[URL] == "link" and kinds.TD_NAMES[STRIKE] == "strikethrough"
    assert set(kinds.TELETHON.values()) == set(range(kinds.COUNT))
