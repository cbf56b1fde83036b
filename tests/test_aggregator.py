"""The aggregator process: real processes, real rings, real psutil samples (no mocks)."""

from __future__ import annotations

import copy
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

from engine import transport
from engine.aggregator import Aggregator, recommend, tune_report, validate
from engine.model.events import (
    CacheSnapshot,
    Finish,
    Flood,
    Plan,
    Proc,
    Progress,
    QueueSample,
    Stages,
    TelegramSnapshot,
    WorkerBusy,
)
from tests._export import wait_said

ROOT = Path(__file__).resolve().parents[1]


def quantiles(values):
    """p50 and p95 computed independently of the aggregator (linear interpolation)."""
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return cuts[9], cuts[18]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


# ---- one realistic run, shared by several tests -------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("agg") / "export_metrics.json"
    rnd = random.Random(42)
    sent = {
        "fetch": [rnd.lognormvariate(-2.5, 0.6) for _ in range(2500)],
        "decode": [rnd.uniform(0.0005, 0.004) for _ in range(1200)],
        "render": [rnd.expovariate(400) for _ in range(800)],
        "write": [rnd.uniform(0.001, 0.02) for _ in range(800)],
        "assemble": [0.5, 0.25, 0.125],
    }
    sleeper = subprocess.Popen(["sleep", "30"])
    agg = Aggregator.start(path, progress="off", interval=10.0)
    try:
        agg.send(Proc(os.getpid(), "supervisor"))
        agg.send(Proc(sleeper.pid, "worker"))
        agg.send(Plan("Test channel", 1000, 2, 1 << 20))
        for stage, values in sent.items():
            for i in range(0, len(values), 100):
                agg.send(Stages(stage, values[i:i + 100]))
                agg.send(Progress(min(1000, i)))
        agg.send(TelegramSnapshot(20, 1, 12.0, 1, 0, 0))
        agg.send(Flood("GetHistory", 12))
        agg.send(TelegramSnapshot(40, 2, 14.0, 3, 1, 1))
        agg.send(CacheSnapshot("input_peer_cache", 3, 1, 0, 0))
        agg.send(CacheSnapshot("input_peer_cache", 30, 10, 2, 1))
        for fill, blocked in ((0.1, 0.1), (0.5, 0.2), (0.3, 0.25)):
            agg.send(QueueSample(fill, blocked))
        agg.send(WorkerBusy(0, 0.05))
        agg.send(WorkerBusy(0, 0.2))
        agg.send(WorkerBusy(1, 0.1))
        agg.send(Progress(1000))
        time.sleep(1.2)                       # at least one 1 Hz sample of every process
        metrics = agg.finish(Finish("done", 1000, "all good"))
    finally:
        agg.close()
        sleeper.kill()
        sleeper.wait()
    return {"path": path, "metrics": metrics, "sent": sent, "agg_pid": agg.pid,
            "sleeper": sleeper.pid}


def test_full_stream_folds_what_was_sent(run):
    m, sent = run["metrics"], run["sent"]
    assert m, "finish() returned no metrics"
    assert validate(m) == []
    assert m == orjson.loads(run["path"].read_bytes())
    assert m["version"] == 1 and m["status"] == "done" and m["chat"] == "Test channel"
    assert m["message"] == "all good"
    assert m["messages"] == 1000 and m["messages_per_second"] > 0
    assert m["started"].endswith("Z") and m["finished"] > m["started"]
    for stage, values in sent.items():
        s = m["stages"][stage]
        p50, p95 = quantiles(values)
        assert s["count"] == len(values)
        assert s["total_seconds"] == pytest.approx(sum(values), abs=1e-5)
        assert s["avg_seconds"] == pytest.approx(sum(values) / len(values), abs=1e-6)
        assert s["p50_seconds"] == pytest.approx(p50, abs=1e-6)
        assert s["p95_seconds"] == pytest.approx(p95, abs=1e-6)
    for stage in ("media_download", "transcode"):
        assert m["stages"][stage]["count"] == 0

    assert m["telegram"] == {"requests": 40, "flood_waits": 2, "flood_wait_seconds": 14.0,
                             "retries": 3, "reconnects": 1, "timeouts": 1}
    assert m["caches"]["input_peer_cache"] == {"hits": 30, "misses": 10, "hit_rate": 0.75,
                                               "evictions": 2, "expirations": 1}
    q = m["queues"]
    assert q["ring_capacity_bytes"] == 1 << 20
    assert q["avg_fill"] == pytest.approx(0.3) and q["peak_fill"] == 0.5
    assert q["producer_blocked_seconds"] == 0.25
    w = m["workers"]
    assert w["count"] == 2 and w["busy_seconds"] == [0.2, 0.1]
    assert 0 < w["busy_fraction"][1] < w["busy_fraction"][0] <= 1
    assert m["media"]["hwaccel"] == "none" and m["media"]["downloaded"] == 0

    r = m["resources"]
    assert r["peak_pss_mb"] > 0 and r["peak_rss_mb"] >= r["avg_rss_mb"] > 0
    assert r["peak_cpu_percent"] >= 0 and r["avg_cpu_percent"] >= 0
    procs = r["per_process"]
    assert procs[str(os.getpid())]["role"] == "supervisor"
    assert procs[str(os.getpid())]["cpu_seconds"] > 0
    assert procs[str(run["sleeper"])]["role"] == "worker"
    assert procs[str(run["agg_pid"])]["role"] == "aggregator"
    assert all(p["peak_pss_mb"] > 0 for p in procs.values())
    # the sum over processes at one sample is at least the largest single process
    assert r["peak_pss_mb"] >= max(p["peak_pss_mb"] for p in procs.values())

    rec = m["recommendation"]
    assert isinstance(rec["workers"], int) and rec["workers"] >= 1
    assert isinstance(rec["reason"], str) and rec["reason"]


def test_metrics_written_periodically_before_finish(tmp_path):
    path = tmp_path / "export_metrics.json"
    agg = Aggregator.start(path, progress="off", interval=0.5)
    try:
        agg.send(Plan("Periodic", 10, 1, 4096))
        agg.send(Progress(3))
        assert wait_for(path.exists, 5.0), "no periodic write within 5 s"
        m = orjson.loads(path.read_bytes())
        assert validate(m) == []
        assert m["status"] == "running" and m["finished"] is None
        final = agg.finish(Finish("interrupted", 3))
        assert final["status"] == "interrupted" and final["messages"] == 3
        assert validate(final) == []
    finally:
        agg.close()


def test_json_progress_lines_on_stderr(tmp_path):
    path, err = tmp_path / "export_metrics.json", tmp_path / "aggregator.err"
    agg = Aggregator.start(path, progress="json", interval=10.0, stderr_path=err)
    try:
        agg.send(Plan("Json", 100, 1, 4096))
        agg.send(Progress(40))
        agg.send(Flood("GetHistory", 30))
        wait_said(err, '"event":"progress"')
        agg.send(Progress(100))
        metrics = agg.finish(Finish("done", 100))
    finally:
        agg.close()
    assert metrics["status"] == "done"
    lines = err.read_text().splitlines()
    records = [orjson.loads(line) for line in lines if line.startswith("{")]
    progress = [r for r in records if r["event"] == "progress"]
    assert progress, lines
    for r in progress:
        assert set(r) >= {"event", "messages", "total", "rate", "eta_s", "flood_waits"}
        assert isinstance(r["messages"], int) and r["total"] == 100
        assert isinstance(r["rate"], float) and (r["eta_s"] is None or r["eta_s"] >= 0)
    assert progress[0]["messages"] == 40 and progress[0]["flood_waits"] == 1
    assert progress[0]["flood"]["method"] == "GetHistory"
    assert progress[-1]["messages"] == 100
    summary = [r for r in records if r["event"] == "summary"]
    assert summary and summary[0]["messages"] == 100
    human = [line for line in lines if not line.startswith("{")]
    assert any("100 messages from Json" in line for line in human), lines
    assert any("recommended --workers" in line for line in human), lines


def test_tty_display_runs_and_summarises(tmp_path):
    path, err = tmp_path / "export_metrics.json", tmp_path / "aggregator.err"
    agg = Aggregator.start(path, progress="tty", stderr_path=err)
    try:
        agg.send(Plan("Terminal", 50, 1, 4096))
        agg.send(Progress(25))
        agg.send(Flood("GetHistory", 5))
        wait_said(err, "flood wait 5 s on GetHistory")
        metrics = agg.finish(Finish("done", 50))
    finally:
        agg.close()
    assert metrics["status"] == "done"
    text = err.read_text()
    assert "flood wait 5 s on GetHistory" in text
    assert "50 messages from Terminal" in text


def test_off_writes_nothing_on_stderr(tmp_path):
    path, err = tmp_path / "export_metrics.json", tmp_path / "aggregator.err"
    agg = Aggregator.start(path, progress="off", stderr_path=err)
    try:
        agg.send(Progress(5))
        metrics = agg.finish(Finish("done", 5))
    finally:
        agg.close()
    assert metrics["messages"] == 5
    assert err.read_bytes() == b""


def test_send_never_blocks_and_loses_no_samples(tmp_path):
    """The aggregator is stopped (SIGSTOP) while megabytes of samples are sent: every
    send returns at once, and after SIGCONT every sample is folded."""
    path = tmp_path / "export_metrics.json"
    agg = Aggregator.start(path, progress="off")
    try:
        agg.send(Progress(0))                 # the process is up and reading
        assert wait_for(lambda: psutil.Process(agg.pid).num_threads() >= 1, 2)
        os.kill(agg.pid, signal.SIGSTOP)
        durations = []
        chunk = [0.001] * 2000
        for i in range(200):                  # 200 x 18 KB: several times the 1 MiB ring
            t0 = time.perf_counter()
            agg.send(Stages("burst", chunk))
            agg.send(Progress(i))
            agg.send(QueueSample(1.0, float(i)))
            durations.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        agg.send(Stages("huge", [0.002] * 150_000))   # larger than the ring: split
        durations.append(time.perf_counter() - t0)
        # held back: only Stages records; the running totals coalesced to the latest one
        assert 0 < len(agg._pending) <= 202 and len(agg._latest) <= 1
        os.kill(agg.pid, signal.SIGCONT)
        metrics = agg.finish(Finish("done", 200))
    finally:
        with_pid = agg.pid
        agg.close()
    assert gone(with_pid)
    assert statistics.median(durations) < 0.002, statistics.median(durations)
    assert max(durations) < 0.2, max(durations)
    assert metrics["stages"]["burst"]["count"] == 400_000
    assert metrics["stages"]["burst"]["total_seconds"] == pytest.approx(400.0)
    assert metrics["stages"]["burst"]["p95_seconds"] == pytest.approx(0.001)
    assert metrics["stages"]["huge"]["count"] == 150_000
    assert metrics["messages"] == 200


_HELPER = """
import os, sys, time
from pathlib import Path
from engine.aggregator import Aggregator
from engine.model.events import Plan, Proc, Progress
agg = Aggregator.start(Path(sys.argv[1]), progress="off", interval=30.0)
agg.send(Proc(os.getpid(), "supervisor"))
agg.send(Plan("doomed", 500, 1, 1 << 20))
agg.send(Progress(123))
print(agg.pid, flush=True)
time.sleep(60)
"""


def test_supervisor_death_ends_the_aggregator(tmp_path):
    path = tmp_path / "export_metrics.json"
    helper = subprocess.Popen([sys.executable, "-c", _HELPER, str(path)], cwd=ROOT,
                              stdout=subprocess.PIPE)
    try:
        agg_pid = int(helper.stdout.readline())
        time.sleep(0.3)
        helper.kill()
        helper.wait()
        assert wait_for(lambda: gone(agg_pid), 5.0), "the aggregator outlived its supervisor"
    finally:
        helper.kill()
        helper.wait()
        helper.stdout.close()
    m = orjson.loads(path.read_bytes())
    assert validate(m) == []
    assert m["status"] == "supervisor died"
    assert m["messages"] == 123 and m["chat"] == "doomed"
    assert m["finished"] is not None
    # the aggregator removed the ring its dead creator could not
    assert not [s for s in transport.segments() if s.startswith(f"tgarc-{helper.pid}-")]


def test_sigint_is_ignored(tmp_path):
    agg = Aggregator.start(tmp_path / "export_metrics.json", progress="off")
    try:
        agg.send(Progress(1))
        time.sleep(0.3)                       # past interpreter start-up
        os.kill(agg.pid, signal.SIGINT)
        time.sleep(0.3)
        assert agg.alive
        assert agg.finish(Finish("done", 1))["status"] == "done"
    finally:
        agg.close()


def test_close_without_finish_leaves_a_terminated_document(tmp_path):
    path = tmp_path / "export_metrics.json"
    agg = Aggregator.start(path, progress="off")
    agg.send(Plan("Closed early", 0, 1, 4096))
    agg.send(Progress(9))
    time.sleep(0.3)
    agg.close()
    assert gone(agg.pid)
    m = orjson.loads(path.read_bytes())
    assert validate(m) == []
    assert m["status"] == "terminated" and m["messages"] == 9


def test_finish_after_the_aggregator_died(tmp_path):
    agg = Aggregator.start(tmp_path / "export_metrics.json", progress="off")
    try:
        os.kill(agg.pid, signal.SIGKILL)
        assert wait_for(lambda: not agg.alive, 5.0)
        agg.send(Progress(7))                 # does not raise
        assert agg.finish(Finish("done", 7)) == {}
    finally:
        agg.close()
        agg.close()                           # idempotent
    assert not agg.alive


# ---- schema and tuning ----------------------------------------------------------------------
def test_validate_rejects_broken_documents(run):
    good = run["metrics"]
    assert validate(good) == []

    def broken(change):
        m = copy.deepcopy(good)
        change(m)
        return validate(m)

    assert any(e.startswith("stages: missing") for e in broken(lambda m: m.pop("stages")))
    assert any("messages: expected an integer" in e
               for e in broken(lambda m: m.__setitem__("messages", "12")))
    assert any("resources.peak_pss_mb" in e
               for e in broken(lambda m: m["resources"].__setitem__("peak_pss_mb", None)))
    assert any("telegram.retries" in e
               for e in broken(lambda m: m["telegram"].__setitem__("retries", True)))
    assert any("workers.busy_fraction" in e
               for e in broken(lambda m: m["workers"].__setitem__("busy_fraction", [0.1, "x"])))
    assert any("stages.fetch.p95_seconds: missing" in e
               for e in broken(lambda m: m["stages"]["fetch"].pop("p95_seconds")))
    assert any(".role" in e for e in broken(
        lambda m: m["resources"]["per_process"][str(os.getpid())].__setitem__("role", 3)))
    assert any("finished" in e for e in broken(lambda m: m.__setitem__("finished", None)))
    assert any("version" in e for e in broken(lambda m: m.__setitem__("version", 2)))
    assert validate([]) == ["metrics: expected an object, got list"]


def test_tune_report_on_a_finished_run(run):
    report = tune_report(run["path"])
    assert isinstance(report["workers"], int) and report["workers"] >= 1
    assert isinstance(report["reason"], str) and report["reason"]
    assert report["recorded"] == run["metrics"]["recommendation"]
    assert report["status"] == "done" and report["messages"] == 1000


def test_tune_report_on_bad_files(tmp_path):
    cases = {"missing.json": None, "garbage.json": b"{not json", "list.json": b"[1, 2]",
             "partial.json": b'{"version": 1, "status": "done"}'}
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(ValueError) as exc:
            tune_report(path)
        message = str(exc.value)
        assert "\n" not in message and name in message


def _shape(m: dict, *, wall, busy, blocked, fetch) -> dict:
    m = copy.deepcopy(m)
    m["wall_seconds"], m["messages"] = wall, 10_000
    m["workers"]["count"], m["workers"]["busy_fraction"] = len(busy), busy
    m["queues"]["producer_blocked_seconds"] = blocked
    m["stages"]["fetch"]["total_seconds"] = fetch
    return m


def test_recommendation_rule(run):
    base = run["metrics"]
    more = recommend(_shape(base, wall=100, busy=[0.95, 0.9], blocked=40, fetch=30), 8)
    assert more["workers"] == 3 and more["reason"].startswith("worker-bound")
    capped = recommend(_shape(base, wall=100, busy=[0.95] * 7, blocked=40, fetch=30), 8)
    assert capped["workers"] == 7 and "CPU limit" in capped["reason"]
    fewer = recommend(_shape(base, wall=100, busy=[0.12] * 4, blocked=0, fetch=95), 8)
    assert fewer["workers"] == 1
    assert fewer["reason"].startswith("fetch-bound: workers were busy 12 % of the time")
    keep = recommend(_shape(base, wall=100, busy=[0.6, 0.7, 0.65], blocked=2, fetch=50), 8)
    assert keep["workers"] == 3 and keep["reason"].startswith("balanced")
    tiny = recommend(_shape(base, wall=0.2, busy=[0.9, 0.9], blocked=0, fetch=0), 8)
    assert tiny["workers"] == 2 and tiny["reason"].startswith("too little data")
    over = recommend(_shape(base, wall=100, busy=[0.6] * 6, blocked=2, fetch=50), 4)
    assert over["workers"] == 3 and "capped at 3" in over["reason"]


def test_a_run_of_several_chats_totals_the_run_and_lists_each_chat(tmp_path):
    """RunPlan + a Plan and a ChatDone per chat: the total runs on from chat to chat, a
    failed chat is listed with its reason, the document validates (and one written before
    the breakdown existed still does)."""
    from engine.model.events import ChatDone, RunPlan

    path, err = tmp_path / "export_metrics.json", tmp_path / "aggregator.err"
    agg = Aggregator.start(path, progress="json", interval=10.0, stderr_path=err)
    try:
        agg.send(RunPlan(3))
        agg.send(Plan("First", 100, 1, 4096))
        agg.send(Progress(60))                # the last Progress lags the chat's own count
        agg.send(ChatDone("First", "channel1-first", 100, 1.5))
        agg.send(Plan("Second", 50, 1, 4096))
        agg.send(Progress(130))
        wait_said(err, '"chat":"Second"')
        agg.send(ChatDone("Second", "", 30, 0.5, "failed", "no such chat"))
        metrics = agg.finish(Finish("failed", 130, "1 of 3 chats failed"))
    finally:
        agg.close()
    assert validate(metrics) == []
    assert metrics["chats_total"] == 3 and metrics["estimated_total"] == 150
    assert [(c["chat"], c["status"], c["messages"], c["error"]) for c in metrics["chats"]] == \
        [("First", "done", 100, ""), ("Second", "failed", 30, "no such chat")]
    records = [orjson.loads(x) for x in err.read_text().splitlines() if x.startswith("{")]
    done = [r for r in records if r["event"] == "chat"]
    assert [(r["chat"], r["chats"]) for r in done] == \
        [("First", {"done": 1, "total": 3}), ("Second", {"done": 2, "total": 3})]
    assert done[1]["error"] == "no such chat"
    during = [r for r in records if r["event"] == "progress" and r.get("chat") == "Second"]
    assert during and during[0]["total"] == 150 and during[0]["chats"]["done"] == 1
    human = [x for x in err.read_text().splitlines() if x.startswith("tgarc:")]
    assert any("130 messages from 2 chats" in x for x in human), human
    assert "tgarc:   Second: 30 messages in 0.5 s, failed: no such chat" in human
    old = {k: v for k, v in metrics.items() if k not in ("chats", "chats_total")}
    assert validate(old) == []
