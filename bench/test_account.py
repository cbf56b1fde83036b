"""Issue 14 point 3: an account re-run with nothing new, against the same account's first run.

    .venv/bin/python -m pytest bench/test_account.py -s -p no:cacheprovider

fakedc serves the demo account plus CHATS more channels of 50–2,000 text messages each
(``Corpus(chats=N)``). One ``tgarc export --all --kinds channels`` fills the archive with no
added latency; then the same command runs again against a server with 80 ms round trips
(the same corpus, another connection): every chat is unchanged, so the bar is ≤ 3 getHistory
requests in total and ≤ 5 s wall. The baseline in the same run: that re-run with each
chat's ``output.settled`` cleared, so every chat is visited as before issue 14 (resolved,
planned, assembled, manifested), at the same 80 ms. ``TGARC_BENCH_QUICK=1``: 12 chats, a smoke
run. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import orjson
import pytest

from engine.fakedc.corpus import Corpus
from engine.fakedc.server import FakeDC
from tests._export import tgarc

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
CHATS = 12 if QUICK else 200
ARGS = ("--all", "--kinds", "channels")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(dc: FakeDC, out: Path) -> tuple[float, float, int, str]:
    """(wall s, CPU s, getHistory requests, first stderr line) of one ``--all`` run."""
    before, cpu, t = len(dc.calls_to("GetHistoryRequest")), _cpu(), time.perf_counter()
    r = tgarc(dc, out, *ARGS, target="", timeout=7200)
    wall, cpu = time.perf_counter() - t, _cpu() - cpu
    assert r.returncode == 0, r.stderr[-2000:]
    return wall, cpu, len(dc.calls_to("GetHistoryRequest")) - before, r.stderr.splitlines()[0]


def _unsettle(out: Path) -> None:
    for cp in out.glob("*/state/checkpoint.json"):
        data = orjson.loads(cp.read_bytes())
        data["output"].pop("settled", None)
        cp.write_bytes(orjson.dumps(data))


def test_an_account_rerun_with_nothing_new(benchmark):
    corpus = Corpus(messages=300, text_only=True, chats=CHATS)
    out = Path(tempfile.mkdtemp(prefix="tgarc-bench-account-"))
    try:
        fast = FakeDC(corpus)
        with fast.run_in_thread():
            fast.session = fast.new_session()
            first = _timed(fast, out)
        slow = FakeDC(corpus, rtt_ms=80)
        with slow.run_in_thread():
            slow.session = slow.new_session()
            rerun = []
            benchmark.pedantic(lambda: rerun.append(_timed(slow, out)), rounds=1, iterations=1)
            _unsettle(out)
            baseline = _timed(slow, out)
        chats = len([p for p in out.iterdir() if p.is_dir()])
    finally:
        shutil.rmtree(out, ignore_errors=True)
    wall, cpu, history, said = rerun[0]
    figures = {"chats": chats, "first_run_s": round(first[0], 1),
               "rerun_wall_s": round(wall, 2), "rerun_cpu_s": round(cpu, 2),
               "rerun_get_history": history, "rerun_said": said,
               "baseline_wall_s": round(baseline[0], 2), "baseline_cpu_s": round(baseline[1], 2),
               "baseline_get_history": baseline[2]}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
    assert chats == CHATS + 1 and "0 chats" in said


# ---- the request governor (issue 14 point 1) --------------------------------------------------
BIG = 10_000 if QUICK else 100_000
BUDGETS = (30,) if QUICK else (5, 30)


def _history_pace(dc: FakeDC, since: float) -> dict:
    """GetHistory as the server saw it after ``since``: pages served a second over the
    fetch (first to last page), and the flood waits it answered, per minute after the
    first one (converged)."""
    calls = [c for c in dc.calls_to("GetHistoryRequest") if c.time >= since]
    ok = [c.time for c in calls if c.outcome == "ok"]
    floods = [c.time for c in calls if "FLOOD_WAIT" in c.outcome]
    span = ok[-1] - ok[0] if len(ok) > 1 else 0.0
    late = [t for t in floods if t >= ok[0] + 60.0] if ok else []
    late_minutes = max(0.0, span - 60.0) / 60.0
    return {"pages": len(ok), "seconds": round(span, 1),
            "pages_per_s": round((len(ok) - 1) / span, 2) if span else 0.0,
            "floods": len(floods), "floods_after_1min": len(late),
            "floods_per_min_after_1min": round(len(late) / late_minutes, 2)
            if late_minutes else 0.0}


@pytest.mark.parametrize("rate", BUDGETS)
def test_one_big_chat_under_a_request_budget(benchmark, rate):
    """One chat of BIG messages at 80 ms round trips, the account limited to ``rate``
    requests a second per method (fakedc's token bucket): the governed export's pace
    against the budget, and a sequential loop's (``--max-in-flight 1``) beside it."""
    from engine.fakedc.faults import Budget

    corpus = Corpus(messages=BIG, text_only=True)
    got = {}
    for name, extra in (("governed", ()), ("sequential", ("--max-in-flight", "1"))):
        out = Path(tempfile.mkdtemp(prefix="tgarc-bench-budget-"))
        dc = FakeDC(corpus, rtt_ms=80, budget=Budget(rate))
        try:
            with dc.run_in_thread():
                dc.session = dc.new_session()
                since, t = time.monotonic(), time.perf_counter()

                def run(out=out, extra=extra, dc=dc):
                    r = tgarc(dc, out, "--format", "jsonl", *extra, timeout=7200)
                    assert r.returncode == 0, r.stderr[-2000:]
                if name == "governed":
                    benchmark.pedantic(run, rounds=1, iterations=1)
                else:
                    run()
                wall = time.perf_counter() - t
                pace = _history_pace(dc, since)
                gov = orjson.loads((out / "export_metrics.json").read_bytes())["telegram"]
        finally:
            shutil.rmtree(out, ignore_errors=True)
        got[name] = {**pace, "wall_s": round(wall, 1),
                     "share_of_budget": round(pace["pages_per_s"] / rate, 3),
                     "paced_rate": gov.get("governor", {}).get("paced", {})
                     .get("GetHistory", {}).get("rate")}
    benchmark.extra_info.update({"budget": rate, "messages": BIG, **{
        f"{k}_{f}": v for k, d in got.items() for f, v in d.items()}})
    print(f"\nbudget {rate}/s, {BIG} messages: {got}")
    if not QUICK:
        assert got["governed"]["share_of_budget"] >= 0.85, got
        assert got["governed"]["floods_per_min_after_1min"] <= 2, got


# ---- chats at once (issue 14 point 2) -------------------------------------------------------
def _chat_outputs(out: Path) -> dict[str, bytes]:
    from tests._export import outputs

    return {f"{d.name}/{k}": v for d in sorted(out.iterdir()) if d.is_dir()
            for k, v in outputs(out, d.name).items()}


def test_an_account_of_many_chats_at_once(benchmark):
    """CHATS channels of 50–2,000 text messages (and the demo account's own chats) at 80 ms
    round trips: ``--all`` as it runs (chats at once under the governor) against the same
    build one request at a time (``--max-in-flight 1``: one chat after the other), each
    into a fresh --out; the outputs of every chat must be identical."""
    corpus = Corpus(messages=300, text_only=True, chats=CHATS)
    outs = {k: Path(tempfile.mkdtemp(prefix=f"tgarc-bench-chats-{k}-"))
            for k in ("at_once", "sequential")}
    got = {}
    try:
        dc = FakeDC(corpus, rtt_ms=80)
        with dc.run_in_thread():
            dc.session = dc.new_session()
            for name, extra in (("at_once", ()), ("sequential", ("--max-in-flight", "1"))):
                before, cpu, t = len(dc.calls_to("GetHistoryRequest")), _cpu(), \
                    time.perf_counter()

                def run(out=outs[name], extra=extra):
                    r = tgarc(dc, out, *ARGS, *extra, target="", timeout=7200)
                    assert r.returncode == 0, r.stderr[-2000:]
                if name == "at_once":
                    benchmark.pedantic(run, rounds=1, iterations=1)
                else:
                    run()
                got[name] = {"wall_s": round(time.perf_counter() - t, 1),
                             "cpu_s": round(_cpu() - cpu, 1),
                             "get_history": len(dc.calls_to("GetHistoryRequest")) - before}
        files = {k: _chat_outputs(v) for k, v in outs.items()}
        chats = len([p for p in outs["at_once"].iterdir() if p.is_dir()])
        messages = orjson.loads((outs["at_once"] / "export_metrics.json").read_bytes())[
            "messages"]
    finally:
        for v in outs.values():
            shutil.rmtree(v, ignore_errors=True)
    speedup = got["sequential"]["wall_s"] / got["at_once"]["wall_s"]
    figures = {"chats": chats, "messages": messages, "speedup": round(speedup, 2),
               "identical": files["at_once"] == files["sequential"],
               "files": len(files["at_once"]),
               **{f"{k}_{f}": v for k, d in got.items() for f, v in d.items()}}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
    assert files["at_once"] == files["sequential"] and chats == CHATS + 1
    if not QUICK:
        assert speedup >= 5, figures
