"""Issue 16: two accounts export a set of chats about twice as fast as one, because Telegram's
request budgets are per account.

    .venv/bin/python -m pytest bench/test_cluster.py -s -p no:cacheprovider

fakedc serves CHATS text channels plus the demo one, every account seeing all of them, with
a budget of RATE getHistory requests a second per account (then FLOOD_WAIT). On Ray's local
test cluster (tests/_cluster.py: a head and a node per account, token authentication on):
``tgarc export --all --cluster`` with account a alone, then with accounts a and b, each into
a fresh --out, in the same run. Wall of each (start-up included), the ratio, the pace fakedc
served history pages at (first to last: what the budgets allowed), and the outputs of the two
runs compared byte for byte. ``TGARC_BENCH_QUICK=1``: a small smoke run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

if importlib.util.find_spec("ray") is None:    # the tgarc[ray] extra (CI installs it)
    pytest.skip("needs the tgarc[ray] extra", allow_module_level=True)

from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Budget
from engine.fakedc.server import FakeDC
from tests._cluster import cluster_export, cluster_for, outputs, session_file

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
CHATS, MESSAGES, RATE = (3, 300, 50.0) if QUICK else (16, 3_000, 5.0)


def test_two_accounts_against_one_under_per_account_budgets(benchmark, monkeypatch):
    dc = FakeDC(Corpus(messages=MESSAGES, text_only=True, chats=CHATS),
                budget=Budget(RATE, methods=("GetHistoryRequest",)))
    tmp = Path(tempfile.mkdtemp(prefix="tgarc-bench-cluster-"))
    walls, outs = {}, {}
    try:
        with dc.run_in_thread():
            dc.session = dc.new_session()
            users = sorted(dc.corpus.users)
            sessions = {n: session_file(dc.new_session(user_id=users[1 + i]),
                                        tmp / f"{n}.session") for i, n in enumerate("ab")}
            pages, pace = {}, {}
            with cluster_for(dc, list(sessions), monkeypatch) as (cluster, _nodes, env):
                for names in ("a", "ab"):
                    out, before = tmp / names, len(dc.calls_to("GetHistoryRequest"))
                    t0 = time.perf_counter()
                    p = cluster_export(cluster, {n: sessions[n] for n in names}, out, env)
                    _, err = p.communicate(timeout=3600)
                    walls[names] = time.perf_counter() - t0
                    assert p.returncode == 0, err[-2000:]
                    outs[names] = outputs(out)
                    pages[names] = len(dc.calls_to("GetHistoryRequest")) - before
                    # pages served a second, first to last: what the budgets allowed
                    ok = [c.time for c in dc.calls_to("GetHistoryRequest")[before:]
                          if c.outcome == "ok"]
                    pace[names] = round((len(ok) - 1) / (ok[-1] - ok[0]), 2)
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert outs["ab"] == outs["a"] and len(outs["a"]) >= 2 * (CHATS + 1)
    figures = {"chats": CHATS + 1, "messages": sum(c.count() for c in dc.corpus.chats.values()
                                                   if c.kind == "channel"),
               "budget_per_account_per_s": RATE, "pages": pages,
               "one_account_s": round(walls["a"], 1), "two_accounts_s": round(walls["ab"], 1),
               "speedup": round(walls["a"] / walls["ab"], 2),
               "served_pages_per_s": pace, "pace_ratio": round(pace["ab"] / pace["a"], 2)}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")


TASK_MESSAGES = 2_000 if QUICK else 300_000


def test_workers_as_ray_tasks_against_local_worker_processes(benchmark, monkeypatch):
    """What sending every job through Ray's object store costs: one account exports one
    text channel at zero latency (no budget), first as one machine does (``tgarc export
    --all``: local worker processes on rings), then as a cluster job (its workers Ray tasks
    on a head of 1 CPU and the account's node of 1 CPU), in the same run. Walls (the
    cluster's start-up included, and Ray's own processes sharing the CPUs), the jobs that
    became tasks, and the outputs compared byte for byte."""
    from engine.archive.layout import METRICS
    from tests._export import tgarc

    dc = FakeDC(Corpus(messages=TASK_MESSAGES, text_only=True, chats=0))
    tmp = Path(tempfile.mkdtemp(prefix="tgarc-bench-tasks-"))
    try:
        with dc.run_in_thread():
            dc.session = dc.new_session()
            t0 = time.perf_counter()
            r = tgarc(dc, tmp / "one", "--all", "--kinds", "channels", "--tz", "UTC",
                      "--quiet", target="", timeout=3600)
            local = time.perf_counter() - t0
            assert r.returncode == 0, r.stderr[-2000:]
            session = session_file(dc.new_session(), tmp / "a.session")
            with cluster_for(dc, ["a"], monkeypatch) as (cluster, _nodes, env):
                t0 = time.perf_counter()
                p = cluster_export(cluster, {"a": session}, tmp / "ray", env)
                _, err = p.communicate(timeout=3600)
                tasks = time.perf_counter() - t0
                assert p.returncode == 0, err[-2000:]
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
        assert outputs(tmp / "ray") == outputs(tmp / "one")
        import json

        nodes = json.loads((tmp / "ray" / METRICS).read_text())["cluster"]["nodes"]
        job = json.loads(next((tmp / "ray" / ".cluster").glob(f"a/*/{METRICS}")).read_text())
        one = json.loads((tmp / "one" / METRICS).read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = {"messages": TASK_MESSAGES, "local_workers_s": round(local, 1),
               "ray_tasks_s": round(tasks, 1), "ratio": round(tasks / local, 2),
               # the export alone, as each run's metrics time it (no Ray start-up)
               "local_export_s": one["wall_seconds"], "ray_job_export_s": job["wall_seconds"],
               "tasks_per_node": {("account's" if v["accounts"] else "head"): v.get("tasks", 0)
                                  for v in nodes.values()},
               "task_cpu_s": round(sum(v["cpu_seconds"] for v in nodes.values()
                                       if v.get("tasks") and not v["accounts"]), 2)}
    benchmark.extra_info.update(figures)
    print(f"\n{figures}")
