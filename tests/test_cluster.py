"""``tgarc export --all --cluster`` on a local multi-node Ray cluster (issue 16): one actor per
account pinned to its node, each chat exported once by an account that sees it, outputs as
a single machine makes them; a node killed mid-run moves its account's chats to the others.

The cluster is Ray's own test cluster (``ray.cluster_utils.Cluster``: a head and a raylet
per account, on 127.0.0.1, token authentication on); fakedc serves every account, each with
its own dialogs, and records which process used which key when.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import time

import psutil
import pytest

if importlib.util.find_spec("ray") is None:    # the tgarc[ray] extra (CI installs it)
    pytest.skip("needs the tgarc[ray] extra", allow_module_level=True)

from engine.aggregator import validate
from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Budget, Rule
from engine.fakedc.keyuse import KeyLog
from engine.fakedc.server import FakeDC
from tests._cluster import cluster_export, cluster_for, outputs, session_file
from tests._export import tgarc


@pytest.fixture
def dc_and_sessions(tmp_path):
    """fakedc with 5 channels (the demo one and 4 of 50-2,000 messages), and session files
    of accounts a and b, seeing some of them each."""
    dc = FakeDC(Corpus(messages=400, chats=4), rtt_ms=5)
    dc.keys = KeyLog()
    with dc.run_in_thread():
        dc.session = dc.new_session()
        users = sorted(dc.corpus.users)
        sees = {"a": ["channel", "extra0", "extra1", "extra2"],
                "b": ["channel", "extra2", "extra3", "extra1"]}
        sessions = {n: session_file(dc.new_session(user_id=users[1 + i], sees=sees[n]),
                                    tmp_path / f"{n}.session") for i, n in enumerate(sees)}
        yield dc, sessions


@pytest.fixture
def world(dc_and_sessions, monkeypatch):
    """Those, and a Ray cluster: a head without accounts, a node per account."""
    dc, sessions = dc_and_sessions
    with cluster_for(dc, list(sessions), monkeypatch) as (cluster, nodes, env):
        yield dc, cluster, nodes, sessions, env


def _single_machine(dc, tmp_path) -> dict[str, bytes]:
    one = tmp_path / "one"
    r = tgarc(dc, one, "--all", "--kinds", "channels", target="", timeout=300)
    assert r.returncode == 0, r.stderr
    return outputs(one)


def test_two_accounts_export_each_chat_once_as_one_machine_would(world, tmp_path):
    dc, cluster, _nodes, sessions, env = world
    # an account no node offers: said at once, nothing written
    t0 = time.monotonic()
    bad = cluster_export(cluster, {**sessions, "c": str(tmp_path / "c.session")},
                         tmp_path / "bad", env)
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 3 and "no node of the cluster offers the resource " \
        "tgarc-account:c" in err and time.monotonic() - t0 < 60, err
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "shared"
    # through Ray Client (the `ray[client]` part of the extra), as from outside the cluster
    p = cluster_export(cluster, sessions, out, env, address=cluster.client_address)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "5 chats over 2 accounts" in err
    got = outputs(out)
    want = _single_machine(dc, tmp_path)
    assert sorted(got) == sorted(want) and len([k for k in got if k.endswith(".json")]) == 5
    assert got == want
    # each account ran its own job, each chat was exported by one of them
    runs = {n: len(list((out / ".cluster" / n).glob("*/export_metrics.json")))
            for n in sessions}
    assert runs == {"a": 1, "b": 1}
    for chat in out.glob("*/chat.json"):
        assert chat.read_text().count('"started"') == 1, chat
    assert dc.keys.overlaps() == []
    # one export_metrics.json for the run, valid by the single machine's schema
    merged = json.loads((out / "export_metrics.json").read_text())
    assert validate(merged) == [] and merged["status"] == "done"
    assert merged["messages"] == sum(len(json.loads(v)["messages"]) for k, v in got.items()
                                     if k.endswith("result.json"))
    assert sorted(merged["cluster"]["accounts"]) == ["a", "b"]
    nodes = merged["cluster"]["nodes"]
    assert len([n for n in nodes.values() if n["accounts"]]) == 2 and len(merged["chats"]) == 5
    assert {c["account"] for c in merged["chats"]} == {"a", "b"}
    assert {p["role"] for p in merged["resources"]["per_process"].values()} \
        >= {"supervisor", "worker", "aggregator"}
    # the workers were Ray tasks (a job per segment at least), their CPU counted where they ran
    assert sum(n.get("tasks", 0) for n in nodes.values()) >= len(merged["chats"])
    assert all(n["cpu_seconds"] > 0 for n in nodes.values() if n.get("tasks"))


def test_the_workers_are_tasks_on_nodes_without_an_account(dc_and_sessions, tmp_path,
                                                           monkeypatch):
    """An account's node with no CPU for tasks (a small box holding the session): every
    job of its export decodes, renders and writes on the head, the one node with CPUs,
    fed through Ray's object store; the outputs are one machine's."""
    dc, sessions = dc_and_sessions
    with cluster_for(dc, list(sessions), monkeypatch, cpus=0, head_cpus=2) \
            as (cluster, _nodes, env):
        out = tmp_path / "shared"
        p = cluster_export(cluster, sessions, out, env)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        head = cluster.head_node.node_id[:12]
        merged = json.loads((out / "export_metrics.json").read_text())
        ran = {n: v.get("tasks", 0) for n, v in merged["cluster"]["nodes"].items()}
        assert ran[head] >= len(merged["chats"]) == 5
        assert all(k == 0 for n, k in ran.items() if n != head), ran
        logs = "".join(p.read_text() for p in (out / ".cluster").glob("*/*/tgarc.log"))
        # the pool counts the cluster's CPUs (the head's 2), not the account node's none
        assert f"on 1 nodes ({head}:" in logs and "), sized for 2 CPUs" in logs, logs
    assert outputs(out) == _single_machine(dc, tmp_path)


def test_a_node_killed_mid_run_moves_its_chats_and_the_export_completes(world, tmp_path):
    dc, cluster, nodes, sessions, env = world
    out = tmp_path / "shared"
    p = cluster_export(cluster, sessions, out, env, "--max-in-flight", "1")
    deadline = time.monotonic() + 120
    while not (logs := list((out / ".cluster" / "a").glob("*/tgarc.log"))) \
            or "id range" not in logs[0].read_text():
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
        time.sleep(0.05)
    log = logs[0]
    job = psutil.Process(int((log.parent / ".lock").read_text()))   # a's export, running
    cluster.remove_node(nodes["a"])          # account a's node dies while it exports
    # the job dies with its actor (tied.py): it must not go on beside b's job of its chats
    assert psutil.wait_procs([job], timeout=15)[1] == [], "a's export outlived its actor"
    _, err = p.communicate(timeout=300)
    assert "account a is out (its node died)" in err
    # extra0 only a sees: said, exit 3; every other chat complete and as one machine has it
    assert p.returncode == 3 and "no account left sees" in err and "-1001" in err, err
    got = outputs(out)
    want = {k: v for k, v in _single_machine(dc, tmp_path).items()
            if not k.startswith("channel" + str(dc.corpus.chats["extra0"].id))}
    assert {k: got.get(k) for k in want} == want
    for chat in [c for c in out.iterdir() if (c / "result.json").exists()]:
        r = subprocess.run([sys.executable, "-m", "engine", "verify", str(chat)], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    assert dc.keys.overlaps() == []
    # the run's metrics: failed (a chat is missing); a's job listed as lost with its node
    merged = json.loads((out / "export_metrics.json").read_text())
    assert merged["status"] == "failed"
    assert "lost" in merged["cluster"]["accounts"]["a"]["status"], merged["cluster"]


def test_an_account_held_back_by_telegram_hands_its_chats_over(world, tmp_path):
    """Telegram holds account a back for longer than a job waits (FLOOD_WAIT_400 on every
    history request of a's): the chats b sees move to b and complete as one machine's; the
    one only a sees is named (exit 3)."""
    dc, cluster, _nodes, sessions, env = world
    a_user = dc.accounts[next(k for k, x in dc.accounts.items()
                              if x.sees and dc.corpus.chats["extra0"].id in x.sees)].user_id
    dc.rules.append(Rule("GetHistoryRequest", "flood_wait", every=1, seconds=400,
                         user=a_user))
    out = tmp_path / "shared"
    p = cluster_export(cluster, sessions, out, env)
    _, err = p.communicate(timeout=300)
    assert "account a is out (" in err and "Telegram asks to wait 400 s" in err, err
    assert p.returncode == 3 and "no account left sees" in err
    extra0 = f"channel{dc.corpus.chats['extra0'].id}"
    dc.rules.clear()
    want = {k: v for k, v in _single_machine(dc, tmp_path).items()
            if not k.startswith(extra0)}
    got = outputs(out)
    assert {k: got.get(k) for k in want} == want and not any(k.startswith(extra0) for k in got)


def _frozen(node, stop: bool = True) -> list[psutil.Process]:
    """Every process of a test-cluster node (its raylet and all under it), stopped."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    procs = [raylet, *raylet.children(recursive=True)]
    for proc in procs if stop else ():
        proc.suspend()
    return procs


def _exporting(pid: int | None) -> bool:
    try:
        return pid is not None and "export" in psutil.Process(pid).cmdline()
    except psutil.Error:
        return False


def test_a_frozen_node_comes_back_elsewhere_only_after_the_lease(tmp_path, monkeypatch):
    """Account a has two nodes (its session on both). Its node is frozen (SIGSTOP of every
    process on it) mid-export: Ray restarts the actor on the other node at once, but its job
    connects only after the frozen job's lease ran out, and fakedc never sees the key used
    by two processes at once. Woken, the frozen job stops at its lease's check; the new one,
    which waited for the chat it held, finishes; the outputs are one machine's."""
    ttl = 6.0
    dc = FakeDC(Corpus(messages=1500, chats=2), rtt_ms=5,
                budget=Budget(4, methods=("GetHistoryRequest",)))
    dc.keys = KeyLog()
    with dc.run_in_thread():
        dc.session = dc.new_session()
        a = dc.new_session(user_id=sorted(dc.corpus.users)[1])
        key = next(iter(x for x in dc.accounts.values() if x.user_id != dc.corpus.ME)).key_id
        homes = {n: tmp_path / n for n in ("a1", "a2")}     # the session on each node
        for home in homes.values():
            home.mkdir()
            session_file(a, home / "a.session")
        sessions = {"a": "~/a.session"}
        with cluster_for(dc, {"a1": "a", "a2": "a"}, monkeypatch, homes) as (
                cluster, nodes, env):
            out = tmp_path / "shared"
            p = cluster_export(cluster, sessions, out, env, "--lease-ttl", str(ttl),
                               "--max-in-flight", "1")
            deadline = time.monotonic() + 120
            while not (live := [u for u in dc.keys.uses if u.key_id == key and u.bounded
                                and u.closed is None and _exporting(u.pid)]):
                assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
                time.sleep(0.05)
            job = psutil.Process(live[0].pid)     # the export job, its connection bounded
            node = next(n for n in nodes.values() if job in _frozen(n, stop=False))
            frozen_at, stopped = time.monotonic(), _frozen(node)
            try:
                while not (back := [u for u in dc.keys.uses if u.key_id == key
                                    and u.opened > frozen_at]):
                    assert time.monotonic() < frozen_at + 60, "the account never came back"
                    time.sleep(0.05)
            finally:
                for proc in stopped:             # the node wakes
                    with contextlib.suppress(psutil.Error):
                        proc.resume()
            _, err = p.communicate(timeout=300)
            want = _single_machine(dc, tmp_path)
    assert p.returncode == 0, err
    assert "its actor is back on another node" in err
    assert back[0].opened - frozen_at >= 0.75 * ttl    # not before the old term ran out
    assert dc.keys.overlaps() == []
    assert outputs(out) == want
