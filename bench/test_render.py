"""Decode + render throughput: what a worker does to each batch, on one core.

    .venv/bin/python -m pytest bench/test_render.py -s -p no:cacheprovider

Workload: the fakedc corpus mix (every chat, rich messages), as the msgpack batches of
100 the supervisor ships. Timed per pass: decode every batch (msgspec), render its
messages' result.json fragments and JSONL lines (the batch APIs ``renderer.fragments``
and ``renderer.jsonl_lines``, as a worker renders one batch at a time), split the
chat's messages into days and render every day note of the vault. The same pass with the
renderers' pure-Python twins is reported too (not a bar: what a build without a C compiler
gets).
Baseline in the same run (issue 4's pinned naive way): Telethon ``Message.to_dict()`` +
stdlib ``json.dumps`` + ``telethon.extensions.markdown.unparse`` on the same messages.
``TGARC_BENCH_QUICK=1`` shrinks the corpus to a smoke run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time

from telethon.extensions import markdown as tl_markdown

from engine import model as m
from engine.fakedc.corpus import Corpus
from engine.render import day_notes, renderer, result_json
from engine.telegram import convert

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
MESSAGES = 300 if QUICK else 3000
ROUNDS = 1 if QUICK else 7
RESULTS: dict[str, float] = {}


def workload():
    corpus = Corpus(messages=MESSAGES)
    peers, tl_msgs, chats = {}, [], []
    for obj in [*corpus.users.values(), *(corpus.chat_object(c) for c in corpus.chats.values())]:
        info = convert.peer_info(obj)
        peers[info.ref] = info
    for chat in corpus.chats.values():
        ref = convert.peer_ref(chat.peer())
        tl = [x for x in (corpus.message(chat, i) for i in range(chat.first_id, chat.top_id + 1))
              if x is not None]
        tl_msgs += tl
        model = [convert.message(x, ref) for x in tl]
        batches = [m.schema.ENCODER.encode(m.Batch(k, ref, model[k:k + 100]))
                   for k in range(0, len(model), 100)]
        chats.append((ref, f"{ref.kind}{ref.id}-{chat.key}", chat, batches))
    return peers, tl_msgs, chats


def ours(peers, chats, impl: str | None = None) -> int:
    """What workers do, through the public batch APIs; ``impl="pure"`` runs the renderers'
    pure-Python twins instead (what a machine without a C compiler gets)."""
    r = renderer.by_name(impl)
    n = 0
    for ref, folder, chat, batches in chats:
        ctx = result_json.RenderContext(ref, dt.UTC, peers)
        vctx = day_notes.VaultContext(ctx, folder, chat.title, chat.username)
        msgs = []
        for raw in batches:
            batch = m.schema.BATCH_DECODER.decode(raw)
            r.fragments(batch.messages, ctx)
            r.jsonl_lines(batch.messages)
            msgs += batch.messages
        for day, day_msgs in r.days(msgs, dt.UTC).items():
            r.day_note(vctx, day, day_msgs)
        n += len(msgs)
    return n


def naive(tl_msgs) -> int:
    for msg in tl_msgs:
        json.dumps(msg.to_dict(), default=str)
        tl_markdown.unparse(msg.message or "", msg.entities or [])
    return len(tl_msgs)


def _rates(*cases) -> list[float]:
    """Best msgs/s of each (fn, *args) case over ROUNDS rounds. The cases take turns within
    a round, so a burst of load from elsewhere on the machine hits them alike instead of
    sinking all of one case's rounds."""
    best = [0.0] * len(cases)
    for _ in range(ROUNDS):
        for k, (fn, *args) in enumerate(cases):
            t0 = time.perf_counter()
            n = fn(*args)
            best[k] = max(best[k], n / (time.perf_counter() - t0))
    return best


def test_decode_and_render_all_formats(benchmark):
    peers, tl_msgs, chats = workload()
    impl = renderer.RENDERER
    rate, base, pure = _rates((ours, peers, chats), (naive, tl_msgs),
                              (ours, peers, chats, "pure"))
    benchmark.pedantic(ours, args=(peers, chats), rounds=1, iterations=1)
    benchmark.extra_info.update(msgs_per_s=round(rate), naive_msgs_per_s=round(base),
                                ratio=round(rate / base, 2), messages=len(tl_msgs),
                                renderer=impl, pure_msgs_per_s=round(pure))
    print(f"\n== render ({len(tl_msgs)} corpus messages, one core, best of {ROUNDS}) ==\n"
          f"  decode + result.json + JSONL + Markdown vault ({impl} renderer): "
          f"{rate:,.0f} msgs/s (bar >= 80,000: {'met' if rate >= 80_000 else 'NOT met'})\n"
          f"  naive baseline (to_dict + json.dumps + markdown.unparse): {base:,.0f} msgs/s\n"
          f"  ratio {rate / base:.1f}x (bar >= 6x: {'met' if rate / base >= 6 else 'NOT met'})\n"
          f"  the same with the pure-Python twins: {pure:,.0f} msgs/s "
          f"({pure / base:.1f}x the baseline)")
