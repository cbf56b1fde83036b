"""``tgarc export --cluster``'s own inputs, and the single-machine path without Ray: these
run with or without the tgarc[ray] extra (Ray is never imported before the inputs pass)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests._export import ROOT, env_for, served

MAIN = "from engine.cli import main; rc = main(sys.argv[1:]); "


def _tgarc(*args: str, pre: str = "import sys; ", env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", pre + MAIN + "sys.exit(rc)", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


def test_a_plain_export_loads_nothing_of_the_cluster(tmp_path):
    with served(messages=120) as dc:
        r = subprocess.run(
            [sys.executable, "-c", "import sys; " + MAIN + "print(sorted(m for m in "
             "sys.modules if m == 'ray' or m.startswith(('ray.', 'engine.cluster', "
             "'engine.commands.cluster'))))",
             "export", "@tgarc_demo", "--out", str(tmp_path / "o"), "--quiet", "--tz", "UTC"],
            env=env_for(dc), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    assert list((tmp_path / "o").glob("*/result.json"))


@pytest.mark.parametrize(("args", "says"), [
    (["@tgarc_demo"], "--cluster exports --all"),
    (["--all", "--session", "a.session", "--out", "o", "--quiet", "@tgarc_demo"],
     "--cluster exports --all"),
    ([], "--cluster exports --all"),
    (["--all", "--out", "o"], "--session per account"),
    (["--all", "--session", "x/a.session", "--session", "y/a", "--out", "o"], "one name"),
    (["--all", "--session", "a.session"], "--out is required"),
    (["--all", "--session", "a.session", "--out", "o", "--metrics", "m.json"],
     "--metrics does not go with --cluster"),
    (["--all", "--session", "a.session", "--out", "o", "--lease-ttl", "1"], "--lease-ttl"),
    (["--all", "--session", "a.session", "--out", "o", "--kinds", "channels,users"],
     "--cluster exports channels and groups"),
])
def test_bad_cluster_inputs_are_one_line_and_touch_nothing(tmp_path, args, says):
    r = _tgarc("export", "--cluster", "127.0.0.1:1", *args)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (ROOT / "o").exists() and not (ROOT / "m.json").exists()


def test_a_mistyped_flag_for_the_jobs_is_caught_before_any_node_runs():
    r = _tgarc("export", "--cluster", "127.0.0.1:1", "--all", "--session", "a.session",
               "--out", "o", "--formt", "json")
    assert r.returncode == 2 and "unrecognized arguments: --formt" in r.stderr
    assert not (ROOT / "o").exists()


def test_without_the_ray_extra_the_cluster_says_how_to_get_it():
    r = _tgarc("export", "--cluster", "127.0.0.1:1", "--all", "--session", "a.session",
               "--out", "o", pre="import sys; sys.modules['ray'] = None; ")   # not installed
    assert r.returncode == 2 and "pip install 'tgarc[ray]'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_tied_job_dies_with_its_actor():
    """engine/cluster/tied.py: an account's job is killed by the kernel when the actor that
    started it dies, whatever killed the actor (here SIGKILL, no Ray involved)."""
    import psutil

    actor = subprocess.Popen(
        [sys.executable, "-c", "import os, subprocess, sys, time; p = subprocess.Popen("
         "[sys.executable, '-m', 'engine.cluster.tied', str(os.getpid()), '/bin/sleep', "
         "'60']); print(p.pid, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    job = psutil.Process(int(actor.stdout.readline()))
    deadline = time.monotonic() + 10
    while job.cmdline()[:1] != ["/bin/sleep"]:     # tied, and the job under way
        assert time.monotonic() < deadline
        time.sleep(0.02)
    actor.kill()
    actor.wait(10)
    gone, alive = psutil.wait_procs([job], timeout=10)
    assert not alive and gone, "the job outlived its actor"


def test_a_cluster_nobody_listens_at_is_one_line_at_once(tmp_path):
    pytest.importorskip("ray")
    t0 = time.monotonic()
    r = _tgarc("export", "--cluster", "127.0.0.1:1", "--all", "--session", "a.session",
               "--out", str(tmp_path / "o"))
    assert r.returncode == 3 and "cannot reach the Ray cluster at 127.0.0.1:1" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and time.monotonic() - t0 < 30
    assert not (tmp_path / "o").exists()


def test_a_cluster_job_waits_for_a_chat_another_run_holds(tmp_path):
    """TGARC_LOCK_WAIT (set for a cluster's jobs): a chat lock another process holds is
    waited for, up to the limit, instead of refused at once; without it, refused at once."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from engine.archive.lock import ChatLock; ChatLock.acquire(Path(sys.argv[1])); "
         "print('held', flush=True); time.sleep(float(sys.argv[2]))", str(tmp_path), "1.5"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline().strip() == "held"
    take = ("import sys, time; from pathlib import Path; from engine.archive.lock import "
            "ChatLock; t = time.monotonic(); ChatLock.acquire(Path(sys.argv[1])); "
            "print(round(time.monotonic() - t, 1))")
    now = subprocess.run([sys.executable, "-c", take, str(tmp_path)], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "TGARC_LOCK_WAIT": ""})
    assert now.returncode != 0 and "LockHeld" in now.stderr
    waited = subprocess.run([sys.executable, "-c", take, str(tmp_path)], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "TGARC_LOCK_WAIT": "30"})
    holder.wait(10)
    assert waited.returncode == 0, waited.stderr
    assert 0.3 <= float(waited.stdout) < 20


def test_the_jobs_metrics_merge_into_one_valid_document(tmp_path):
    """engine/cluster/metrics.py (no Ray in it): a finished job's metrics and those a job
    killed early left (status running, a stage missing) fold into one document that the
    single machine's schema accepts, with each account and node."""
    import copy
    import json

    from engine.aggregator import validate
    from engine.cluster import metrics

    with served(messages=150) as dc:
        r = subprocess.run([sys.executable, "-m", "engine", "export", "@tgarc_demo", "--out",
                            str(tmp_path / "o"), "--quiet", "--tz", "UTC"],
                           env=env_for(dc), capture_output=True, text=True, timeout=120,
                           cwd=ROOT)
    assert r.returncode == 0, r.stderr
    done = json.loads((tmp_path / "o" / "export_metrics.json").read_text())
    killed = copy.deepcopy(done)
    killed.update(status="running", finished=None)
    killed["stages"].pop("assemble", None)
    merged = metrics.merge([("a", "n1", done), ("b", "n2", killed)], 5.0)
    assert validate(merged) == []
    # the killed job was lost with its node; the run's status is its driver's to say
    assert merged["status"] == "lost" and merged["messages"] == 2 * done["messages"]
    assert merged["cluster"]["accounts"]["b"]["status"] == ["lost"]
    assert metrics.merge([("a", "n1", done), ("b", "n2", killed)], 5.0, "done")["status"] \
        == "done"
    # an account whose job died before writing any metrics is still listed, as lost
    gone = metrics.merge([("a", "n1", done)], 5.0, "failed", lost=["c"])
    assert gone["cluster"]["accounts"]["c"]["status"] == ["lost"] and validate(gone) == []
    assert merged["stages"]["assemble"]["count"] == done["stages"]["assemble"]["count"]
    assert sorted(merged["cluster"]["accounts"]) == ["a", "b"]
    assert sorted(merged["cluster"]["nodes"]) == ["n1", "n2"]
    assert len(merged["resources"]["per_process"]) == 2 * len(done["resources"]["per_process"])


def test_waiting_for_one_chats_lock_does_not_stop_the_others(tmp_path):
    """A cluster job's chat lock wait (TGARC_LOCK_WAIT) runs off the event loop: while the
    job waits for one chat another process holds, its other chat is fetched and finished
    (the wait used to block the loop, and with it every chat and ping of the run)."""
    import fcntl

    from engine.fakedc.corpus import Corpus
    from engine.fakedc.server import FakeDC
    from tests._export import CHANNEL_DIR, tgarc

    dc = FakeDC(Corpus(messages=150, chats=1, text_only=True), rtt_ms=5)
    with dc.run_in_thread():
        dc.session = dc.new_session()
        out = tmp_path / "o"
        assert tgarc(dc, out, "--quiet").returncode == 0          # the demo channel's folder
        other = f"-100{dc.corpus.chats['extra0'].id}"
        with open(out / CHANNEL_DIR / "state" / ".lock", "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)                       # another run holds it
            p = subprocess.Popen(
                [sys.executable, "-m", "engine", "export", "@tgarc_demo", other, "--out",
                 str(out), "--tz", "UTC", "--media", "none", "--quiet", "--max-in-flight", "2"],
                env=env_for(dc, TGARC_LOCK_WAIT="60"), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, cwd=ROOT)
            deadline, done = time.monotonic() + 30, []
            while time.monotonic() < deadline and p.poll() is None and not done:
                done = [f for f in out.glob(f"channel{other[4:]}-*/result.json")]
                time.sleep(0.1)
            assert p.poll() is None, p.communicate()        # still waiting for the demo one
            fcntl.flock(held, fcntl.LOCK_UN)
        _, err = p.communicate(timeout=120)
    assert done, "the other chat did not finish while one chat's lock was waited for"
    assert p.returncode == 0, err
