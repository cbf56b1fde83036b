"""Issue 17 point 1: the native TL decoder (native/tl.pyx) against its twin, Telethon's reader
+ convert.py (engine/telegram/rawpage.py), in this process, on the same history pages.

    .venv/bin/python -m pytest bench/test_tl.py -s -p no:cacheprovider

Pages are what fakedc sends for ``messages.getHistory`` (100 messages each, with their
chats and users), made once: the demo channel text-only, the demo channel with its media
and services, and the forum supergroup with its many senders. Reported per corpus: µs per
message for each decoder (medians of ROUNDS passes over every page), their ratio, and the
share of messages the native one handed to Telethon. Both must give equal Batches (checked
on every page before timing). ``TGARC_BENCH_QUICK=1``: fewer pages, one round.
Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
import time
import types as pytypes

import pytest

from engine import model as m
from engine.fakedc.corpus import Corpus
from engine.fakedc.rpc_history import messages_result
from engine.telegram import rawpage, tl

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
MESSAGES = 1_500 if QUICK else 20_000
ROUNDS = 1 if QUICK else 5
CASES = [("channel", True), ("channel", False), ("supergroup", False)]


def _pages(key: str, text_only: bool) -> tuple[list[bytes], m.PeerRef]:
    dc = pytypes.SimpleNamespace(corpus=Corpus(messages=MESSAGES, text_only=text_only))
    chat = dc.corpus.chats[key]
    pages, top = [], chat.top_id + 1
    while ids := dc.corpus.history(chat, offset_id=top):
        pages.append(bytes(messages_result(dc, chat, [dc.corpus.message(chat, i)
                                                      for i in ids], MESSAGES)))
        top = ids[-1]
    return pages, m.PeerRef("channel", chat.id)


def _per_message(decode, pages: list[bytes], chat: m.PeerRef) -> float:
    times = []
    n = 0
    for _ in range(ROUNDS):
        t = time.process_time()
        n = sum(len(decode(p, chat, 0, 2**31).messages) for p in pages)
        times.append(time.process_time() - t)
    return statistics.median(times) / n * 1e6


@pytest.mark.parametrize(("key", "text_only"), CASES)
def test_native_decoder_against_telethons_reader(benchmark, key, text_only):
    if tl.IMPLEMENTATION != "native":
        pytest.skip(f"the native TL decoder is not in use: {tl.WHY}")
    native = tl._IMPL
    pages, chat = _pages(key, text_only)
    for p in pages:
        assert native.decode_page(p, chat, 0, 2**31) == rawpage.decode_page(p, chat, 0, 2**31)
    before = native.counts()
    twin_us = _per_message(rawpage.decode_page, pages, chat)
    native_us = _per_message(native.decode_page, pages, chat)
    read, handed = (a - b for a, b in zip(native.counts(), before, strict=True))
    benchmark.pedantic(lambda: native.decode_page(pages[0], chat, 0, 2**31), rounds=1,
                       iterations=1)
    figures = {"corpus": f"{key}{' text-only' if text_only else ''}", "pages": len(pages),
               "telethon_us_per_msg": round(twin_us, 2),
               "native_us_per_msg": round(native_us, 2),
               "speedup": round(twin_us / native_us, 1),
               "handed_to_telethon": round(handed / max(1, read + handed), 3)}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
