"""Issue 17: a re-run that fetches 100 new messages costs what changed, not the archive.

    .venv/bin/python -m pytest bench/test_rerun.py -s -p no:cacheprovider

For each archive size (100k and 1M text messages; ``TGARC_BENCH_QUICK=1``: 3,000 and
12,000, a smoke run): one ``tgarc export`` of a text-only fakedc channel (all three
formats), then rounds of "the channel gets 100 new messages, tgarc exports again". Timed:
the re-run's wall and its CPU-seconds summed over every tgarc process (the children's
rusage: supervisor, workers, aggregator). Beside it, in the same run and on the same
archive, the baseline: the same re-run with ``state/peers.msgpack`` removed, so the
assembly cannot resume and streams every segment, re-writing result.json whole (what
every re-run did before), and a re-run with nothing new. The bar: ≤ 2 s wall at 1M, and
a CPU that does not grow with the archive. Each re-run's outputs are checked against the
log's word that result.json was extended. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from engine.fakedc.corpus import Corpus
from engine.fakedc.server import FakeDC
from tests._export import CHANNEL_DIR, tgarc

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
SIZES = (3_000, 12_000) if QUICK else (100_000, 1_000_000)
NEW = 100
ROUNDS = 1 if QUICK else 3
FIGURES: dict[int, dict] = {}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(dc: FakeDC, out: Path) -> tuple[float, float, str]:
    """One ``tgarc export`` into ``out``: (wall s, CPU s, the log line of its assembly)."""
    cpu, t = _children_cpu(), time.perf_counter()
    r = tgarc(dc, out, "--quiet", timeout=3600)
    wall, cpu = time.perf_counter() - t, _children_cpu() - cpu
    assert r.returncode == 0, r.stderr[-2000:]
    log = (out / "tgarc.log").read_text().splitlines()
    said = [x for x in log if ": assembled " in x or "nothing new" in x]
    return wall, cpu, said[-1] if said else ""


@pytest.mark.parametrize("size", SIZES)
def test_rerun_with_100_new_messages(benchmark, size):
    out = Path(tempfile.mkdtemp(prefix="tgarc-bench-rerun-"))
    dc = FakeDC(Corpus(messages=size, text_only=True))
    try:
        with dc.run_in_thread():
            dc.session = dc.new_session()
            _run(dc, out)
            root = out / CHANNEL_DIR

            def grow() -> None:
                for i in range(NEW):
                    dc.corpus.add_message("channel", f"new message {i} of a later day")

            walls, cpus = [], []

            def rerun() -> None:
                wall, cpu, said = _run(dc, out)
                assert "result.json extended" in said, said
                walls.append(wall)
                cpus.append(cpu)

            benchmark.pedantic(rerun, setup=grow, rounds=ROUNDS, iterations=1)
            grow()
            (root / "state" / "peers.msgpack").unlink()
            base_wall, base_cpu, said = _run(dc, out)
            assert "result.json rewritten" in said, said
            idle_wall, idle_cpu, _ = _run(dc, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    median = sorted(range(len(walls)), key=walls.__getitem__)[len(walls) // 2]
    figures = {"archive": size, "new": NEW, "rerun_wall_s": round(walls[median], 2),
               "rerun_cpu_s": round(cpus[median], 2),
               "baseline_full_stream_wall_s": round(base_wall, 2),
               "baseline_full_stream_cpu_s": round(base_cpu, 2),
               "nothing_new_wall_s": round(idle_wall, 2),
               "nothing_new_cpu_s": round(idle_cpu, 2)}
    FIGURES[size] = figures
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
    if not QUICK and size == SIZES[-1]:
        small = FIGURES.get(SIZES[0])
        if small:
            print(f"CPU of a re-run, {SIZES[-1]:,} vs {SIZES[0]:,} messages: "
                  f"{figures['rerun_cpu_s'] / small['rerun_cpu_s']:.2f}x")
