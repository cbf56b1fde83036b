"""``tgarc export --all --cluster`` on a local multi-node Ray cluster (issue 16): one actor per
account pinned to its node, each chat exported once by an account that sees it, outputs as
a single machine makes them; a node killed mid-run moves its account's chats to the others.

The cluster is Ray's own test cluster (``ray.cluster_utils.Cluster``: a head and a raylet
per account, on 127.0.0.1, token authentication on); fakedc serves every account, each with
its own dialogs, and records which process used which key when.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

# Ray reads these when it is imported: token authentication as its docs set it up (every
# process of the cluster, the driver included, has the token), no usage reporting, and
# every process on 127.0.0.1 (Ray's single-machine mode: else it turns 127.0.0.1 into the
# machine's outward address)
os.environ.update(RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0",
                  RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))
ray_utils = pytest.importorskip("ray.cluster_utils")   # the tgarc[ray] extra (CI has it)

from telethon.sessions import SQLiteSession, StringSession  # noqa: E402

from engine.fakedc.corpus import Corpus  # noqa: E402
from engine.fakedc.keyuse import KeyLog  # noqa: E402
from engine.fakedc.server import FakeDC  # noqa: E402
from tests._export import ROOT, env_for, tgarc  # noqa: E402

OUTPUTS = ("result.json", "messages.jsonl")


def _session_file(string: str, path: Path) -> str:
    s, f = StringSession(string), SQLiteSession(str(path))
    f.set_dc(s.dc_id, s.server_address, s.port)
    f.auth_key = s.auth_key
    f.save()
    f.close()
    return str(path)


@pytest.fixture
def world(tmp_path, monkeypatch):
    """fakedc with 5 channels (the demo one and 4 of 50-2,000 messages), accounts a and b
    seeing some of them each, and a Ray cluster: a head without accounts, a node each."""
    dc = FakeDC(Corpus(messages=400, chats=4), rtt_ms=5)
    dc.keys = KeyLog()
    with dc.run_in_thread():
        dc.session = dc.new_session()
        users = sorted(dc.corpus.users)
        sees = {"a": ["channel", "extra0", "extra1", "extra2"],
                "b": ["channel", "extra2", "extra3", "extra1"]}
        sessions = {n: _session_file(dc.new_session(user_id=users[1 + i], sees=sees[n]),
                                     tmp_path / f"{n}.session") for i, n in enumerate(sees)}
        env = env_for(dc, PYTHONPATH=str(ROOT), **{k: os.environ[k] for k in (
            "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")})
        for k, v in env.items():             # the raylets, and so the actors, inherit it
            monkeypatch.setenv(k, v)
        cluster = ray_utils.Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False})
        nodes = {n: cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1",
                                     resources={f"tgarc-account:{n}": 1}) for n in sees}
        cluster.wait_for_nodes()
        try:
            yield dc, cluster, nodes, sessions, env
        finally:
            cluster.shutdown()


def _cluster_export(cluster, sessions, out: Path, env, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "engine", "export", "--all", "--cluster", cluster.address,
           *(x for s in sessions.values() for x in ("--session", s)), "--out", str(out),
           "--kinds", "channels", "--tz", "UTC", "--media", "none", "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("*/*"))
            if p.name in OUTPUTS} | \
        {p.relative_to(out).as_posix(): p.read_bytes() for p in out.glob("*/markdown/*/*.md")}


def _single_machine(dc, tmp_path) -> dict[str, bytes]:
    one = tmp_path / "one"
    r = tgarc(dc, one, "--all", "--kinds", "channels", target="", timeout=300)
    assert r.returncode == 0, r.stderr
    return _outputs(one)


def test_two_accounts_export_each_chat_once_as_one_machine_would(world, tmp_path):
    dc, cluster, _nodes, sessions, env = world
    out = tmp_path / "shared"
    p = _cluster_export(cluster, sessions, out, env)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "5 chats over 2 accounts" in err
    got = _outputs(out)
    want = _single_machine(dc, tmp_path)
    assert sorted(got) == sorted(want) and len([k for k in got if k.endswith(".json")]) == 5
    assert got == want
    # each account ran its own job, each chat was exported by one of them
    runs = {n: (out / ".cluster" / n / "export_metrics.json").is_file() for n in sessions}
    assert runs == {"a": True, "b": True}
    for chat in out.glob("*/chat.json"):
        assert chat.read_text().count('"started"') == 1, chat
    assert dc.keys.overlaps() == []


def test_a_node_killed_mid_run_moves_its_chats_and_the_export_completes(world, tmp_path):
    dc, cluster, nodes, sessions, env = world
    out = tmp_path / "shared"
    p = _cluster_export(cluster, sessions, out, env, "--max-in-flight", "1")
    log = out / ".cluster" / "a" / "tgarc.log"
    deadline = time.monotonic() + 120
    while "id range" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
        time.sleep(0.05)
    job = psutil.Process(int((log.parent / ".lock").read_text()))   # a's export, running
    cluster.remove_node(nodes["a"])          # account a's node dies while it exports
    # the job dies with its actor (tied.py): it must not go on beside b's job of its chats
    assert psutil.wait_procs([job], timeout=15)[1] == [], "a's export outlived its actor"
    _, err = p.communicate(timeout=300)
    assert "account a was lost" in err
    # extra0 only a sees: said, exit 3; every other chat complete and as one machine has it
    assert p.returncode == 3 and "no account left sees" in err and "-1001" in err, err
    got = _outputs(out)
    want = {k: v for k, v in _single_machine(dc, tmp_path).items()
            if not k.startswith("channel" + str(dc.corpus.chats["extra0"].id))}
    assert {k: got.get(k) for k in want} == want
    for chat in [c for c in out.iterdir() if (c / "result.json").exists()]:
        r = subprocess.run([sys.executable, "-m", "engine", "verify", str(chat)], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    assert dc.keys.overlaps() == []
    assert os.environ["RAY_AUTH_MODE"] == "token"
