"""Issue 17, less disk: what tgarc's own bookkeeping (``archive/`` + ``state/``) costs on disk
next to the three outputs it serves, and what the export costs in CPU.

    .venv/bin/python -m pytest bench/test_disk.py -s -p no:cacheprovider

One ``tgarc export`` of a text-only fakedc channel (all three formats, default workers, no
added latency). Reported: the outputs' bytes (result.json, messages.jsonl, the day notes),
the archive of record's, ``state/``'s (render cache, checkpoint), their ratio (the bar:
``archive/`` + ``state/`` ≤ 0.5 × the outputs), CPU-seconds summed over tgarc's processes
per million messages and the peak PSS (export_metrics.json). ``TGARC_BENCH_QUICK=1``: 3,000
messages, a smoke run. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
from test_fakedc import Served

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
MESSAGES = 3_000 if QUICK else 1_000_000
BAR = 0.5


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_bookkeeping_is_a_fraction_of_the_outputs(benchmark):
    with Served("--messages", str(MESSAGES), "--text-only") as served, \
            tempfile.TemporaryDirectory(prefix="tgarc-disk-") as tmp:
        env = dict(os.environ, **served.env)
        env.pop("TGARC_SHM_DIR", None)
        out = Path(tmp)

        def export():
            r = subprocess.run([sys.executable, "-m", "engine", "export", "@tgarc_demo",
                                "--out", str(out), "--quiet", "--tz", "UTC"],
                               env=env, capture_output=True, text=True, timeout=3600)
            assert r.returncode == 0, r.stderr[-2000:]
        benchmark.pedantic(export, rounds=1, iterations=1)
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
               "wall_s": metrics["wall_seconds"]}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
    assert metrics["messages"] > 0.9 * MESSAGES      # the corpus has gaps (deleted ids)
    assert ratio <= BAR, figures
