"""Issue 17: what tgarc's own bookkeeping (``archive/`` + ``state/``) costs on disk next to the
three outputs it serves, what the export costs in CPU, and what ``tgarc render`` of the whole
archive in another zone takes with 1 and 2 workers.

    .venv/bin/python -m pytest bench/test_disk.py -s -p no:cacheprovider

One ``tgarc export`` of a text-only fakedc channel (all three formats, default workers, no
added latency), shared by both tests. Reported: the outputs' bytes (result.json,
messages.jsonl, the day notes), the archive of record's, ``state/``'s (render cache,
checkpoint), their ratio (the bar: ``archive/`` + ``state/`` ≤ 0.5 × the outputs),
CPU-seconds summed over tgarc's processes per million messages and the peak PSS
(export_metrics.json); then the wall time of ``tgarc render --tz`` with ``--workers 1`` and
``--workers 2`` (each in a zone the cache does not hold, so every fragment is rendered
again), beside the baseline: the same render in this process with no workers (the
assembly renders every fragment itself, as before issue 17). ``TGARC_BENCH_QUICK=1``:
12,000 messages, a smoke run. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from test_fakedc import Served

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
MESSAGES = 12_000 if QUICK else 1_000_000
BAR = 0.5


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("disk")
    with Served("--messages", str(MESSAGES), "--text-only") as served:
        env = dict(os.environ, **served.env)
        env.pop("TGARC_SHM_DIR", None)
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "engine", "export", "@tgarc_demo",
                            "--out", str(out), "--quiet", "--tz", "UTC"],
                           env=env, capture_output=True, text=True, timeout=3600)
        wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr[-2000:]
    return out, wall


def test_bookkeeping_is_a_fraction_of_the_outputs(benchmark, exported):
    out, wall = exported
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    [root] = [p for p in out.iterdir() if p.is_dir()]
    outputs = sum(_size(root / name) for name in ("result.json", "messages.jsonl",
                                                    "markdown"))
    archive, state = _size(root / "archive"), _size(root / "state")
    metrics = orjson.loads((out / "export_metrics.json").read_bytes())
    cpu = sum(p["cpu_seconds"] for p in metrics["resources"]["per_process"].values())
    ratio = (archive + state) / outputs
    figures = {"messages": metrics["messages"], "outputs_mb": round(outputs / 1e6, 1),
               "archive_mb": round(archive / 1e6, 1), "state_mb": round(state / 1e6, 1),
               "ratio": round(ratio, 3),
               "cpu_s_per_1m": round(cpu * 1e6 / max(1, metrics["messages"]), 1),
               "peak_pss_mb": metrics["resources"]["peak_pss_mb"],
               "wall_s": round(wall, 1)}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
    assert metrics["messages"] > 0.9 * MESSAGES      # the corpus has gaps (deleted ids)
    assert ratio <= BAR, figures


def test_render_in_another_zone_with_1_and_2_workers(benchmark, exported):
    out, _ = exported
    walls = {}

    def render(workers: str, zone: str) -> None:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "engine", "render", str(out), "--tz", zone,
                            "--workers", workers], capture_output=True, text=True,
                           timeout=3600)
        walls[workers] = round(time.perf_counter() - t, 2)
        assert r.returncode == 0 and f"by {workers} worker(s) ahead" in r.stderr, r.stderr
    def serial() -> None:
        """The baseline, in this process: no workers, the assembly renders every fragment."""
        from engine.commands import render as command

        command.PREFILL_MIN, keep = 1 << 62, command.PREFILL_MIN
        t = time.perf_counter()
        try:
            command.run(str(out), ["json", "jsonl", "md"], "America/New_York", False, 1)
        finally:
            command.PREFILL_MIN = keep
        walls["serial"] = round(time.perf_counter() - t, 2)
    serial()
    benchmark.pedantic(lambda: render("1", "Asia/Tokyo"), rounds=1, iterations=1)
    render("2", "Europe/Berlin")                   # another zone: everything again
    figures = {"render_serial_s": walls["serial"], "render_1_worker_s": walls["1"],
               "render_2_workers_s": walls["2"],
               "speedup_1_worker": round(walls["serial"] / walls["1"], 2)}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
