"""Text core throughput: engine.text's native core and pure twin against Telethon's unparse.

Figures: ``.venv/bin/python -m pytest bench/test_text.py -q``.  Smoke (CI):
``TGARC_BENCH_QUICK=1 .venv/bin/python -m pytest bench/test_text.py -q --benchmark-disable``.

Workload: a fixed corpus (seeded) of ~300-character messages with 4 entities each -- bold,
italic, a text link and a code span, at word boundaries, offsets in UTF-16 -- in two kinds:
emoji-heavy (astral emoji, ZWJ families, skin tones, flags, mixed Latin and Cyrillic) and
BMP-only (Latin, Cyrillic, CJK, punctuation).  One benchmark round renders the whole corpus
once with one function; msgs/s = corpus size / median round time, on one core.

Contenders, same input, same run:
* ``markdown`` and ``td_text``, native and pure;
* baseline: ``telethon.extensions.markdown.unparse`` on the same text and the equivalent
  Telethon entity objects (it neither escapes nor nests, so it does less work).
The issue's bar: native ``markdown`` >= 200,000 msgs/s on the emoji-heavy corpus.  The bench
checks that both cores agree on the corpus; it asserts nothing about speed (the table says).
"""

from __future__ import annotations

import os
import random

import pytest
from telethon.extensions import markdown as tl_markdown
from telethon.tl import types as tl

from engine.text import by_name, kinds

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
CORPUS = 20 if QUICK else 500
SEED = 20240501
BAR = 200_000

WORDS = ("the quick brown fox jumps over lazy dog archive export telegram message channel "
         "привет мир сообщение канал экспорт архив быстро текст ссылка").split()
EMOJI = ["😀", "🎉", "👍", "🔥", "❤️", "👨‍👩‍👧", "👋🏽", "🇺🇦", "🇯🇵", "🚀", "✅", "🙈", "🤖", "💬"]
BMP_EXTRA = ["東京", "テキスト", "ok!", "(see)", "#tag", "—", "«ура»", "1.", "a_b", "x*y"]


def _utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _message(rng: random.Random, emoji: bool) -> tuple[str, list[tuple]]:
    """One ~300-char message and its 4 entities as (kind, offset16, length16, arg)."""
    tokens: list[str] = []
    length = 0
    while length < 300:
        r = rng.random()
        if emoji and r < 0.3:
            tok = rng.choice(EMOJI)
        elif not emoji and r < 0.15:
            tok = rng.choice(BMP_EXTRA)
        else:
            tok = rng.choice(WORDS)
        tokens.append(tok)
        length += len(tok) + 1
    starts, pos = [], 0
    for tok in tokens:
        starts.append(pos)
        pos += _utf16(tok) + 1
    text = " ".join(tokens)
    # four non-overlapping runs of 1-3 tokens, in four quarters of the message
    q = len(tokens) // 4
    entities = []
    for k, (kind, arg) in enumerate(((kinds.BOLD, None), (kinds.ITALIC, None),
                                     (kinds.TEXT_URL, "https://example.com/a?b=1"),
                                     (kinds.CODE, None))):
        i = rng.randrange(k * q, k * q + q - 3)
        j = i + rng.randrange(1, 4)
        off = starts[i]
        entities.append((kind, off, starts[j] - 1 - off, arg))
    return text, entities


def _telethon(entities: list[tuple]) -> list:
    out = []
    for kind, off, ln, arg in entities:
        if kind == kinds.TEXT_URL:
            out.append(tl.MessageEntityTextUrl(off, ln, arg))
        else:
            cls = {kinds.BOLD: tl.MessageEntityBold, kinds.ITALIC: tl.MessageEntityItalic,
                   kinds.CODE: tl.MessageEntityCode}[kind]
            out.append(cls(off, ln))
    return out


def _corpus(emoji: bool) -> list[tuple[str, list[tuple], list]]:
    rng = random.Random(SEED + emoji)
    msgs = [_message(rng, emoji) for _ in range(CORPUS)]
    return [(t, e, _telethon(e)) for t, e in msgs]


CORPORA = {"emoji-heavy": _corpus(True), "BMP-only": _corpus(False)}


def _run_markdown(mod):
    f = mod.markdown

    def run(corpus):
        for t, e, _ in corpus:
            f(t, e)
    return run


def _run_td_text(mod):
    f = mod.td_text

    def run(corpus):
        for t, e, _ in corpus:
            f(t, e)
    return run


def _run_unparse(corpus):
    f = tl_markdown.unparse
    for t, _, te in corpus:
        f(t, te)


def _contenders():
    out = []
    for impl in ("native", "pure"):
        out.append((f"markdown[{impl}]", "markdown", impl))
        out.append((f"td_text[{impl}]", "td_text", impl))
    out.append(("telethon unparse", "unparse", None))
    return out


CONTENDERS = _contenders()
RESULTS: dict[tuple[str, str], float] = {}      # (corpus, contender) -> msgs/s


class _Table:
    """Prints the msgs/s table once the session ends (a plugin registered by the fixture)."""

    def pytest_terminal_summary(self, terminalreporter):
        if not RESULTS:
            return
        tr = terminalreporter
        tr.section("tgarc text core: messages/s on one core (median round)")
        tr.write_line(f"corpus: {CORPUS} messages of ~300 chars with 4 entities (seed {SEED})")
        head = f"{'corpus':<12} {'contender':<18} {'msgs/s':>11} {'vs unparse':>11}"
        tr.write_line(head)
        tr.write_line("-" * len(head))
        for corpus in CORPORA:
            base = RESULTS.get((corpus, "telethon unparse"))
            for label, _, _ in CONTENDERS:
                rate = RESULTS.get((corpus, label))
                if rate is None:
                    continue
                ratio = f"{rate / base:.1f}x" if base else "-"
                tr.write_line(f"{corpus:<12} {label:<18} {rate:>11,.0f} {ratio:>11}")
            nat, pure = (RESULTS.get((corpus, "markdown[native]")),
                         RESULTS.get((corpus, "markdown[pure]")))
            if nat and pure:
                tr.write_line(f"{'':<12} markdown native/pure: {nat / pure:.1f}x")
        nat = RESULTS.get(("emoji-heavy", "markdown[native]"))
        if nat:
            verdict = "meets" if nat >= BAR else "MISSES"
            tr.write_line(f"bar: native markdown on emoji-heavy text >= {BAR:,} msgs/s: "
                          f"{nat:,.0f} {verdict} it")


@pytest.fixture(scope="module", autouse=True)
def table(request):
    plugin = _Table()
    request.config.pluginmanager.register(plugin, "tgarc-text-bench-table")
    yield
    # stays registered: the summary hook runs after the module is done


def _native_or_skip():
    try:
        return by_name("native")
    except ImportError:
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            pytest.fail("TGARC_REQUIRE_NATIVE=1 but engine._native.text is not built")
        pytest.skip("native text core not built")


@pytest.mark.parametrize("corpus_name", list(CORPORA))
def test_cores_agree_on_the_corpus(corpus_name):
    native, pure = _native_or_skip(), by_name("pure")
    for t, e, _ in CORPORA[corpus_name]:
        assert native.markdown(t, e) == pure.markdown(t, e)
        assert native.td_text(t, e) == pure.td_text(t, e)


@pytest.mark.parametrize(("label", "func", "impl"), CONTENDERS, ids=[c[0] for c in CONTENDERS])
@pytest.mark.parametrize("corpus_name", list(CORPORA))
def test_throughput(benchmark, corpus_name, label, func, impl):
    corpus = CORPORA[corpus_name]
    if func == "unparse":
        run = _run_unparse
    else:
        mod = _native_or_skip() if impl == "native" else by_name("pure")
        run = (_run_markdown if func == "markdown" else _run_td_text)(mod)
    benchmark.group = f"{corpus_name}, {len(corpus)} msgs"
    benchmark.extra_info.update(corpus=corpus_name, messages=len(corpus), contender=label)
    benchmark(run, corpus)
    if benchmark.stats is not None:
        rate = len(corpus) / benchmark.stats.stats.median
        RESULTS[(corpus_name, label)] = rate
        benchmark.extra_info["msgs_per_s"] = round(rate)
