"""A local multi-node Ray cluster for the --cluster tests and bench (issue 16): Ray's own
test cluster (``ray.cluster_utils.Cluster``), a head and a node per account, every process on
127.0.0.1 with token authentication on, and fakedc sessions written as session files.

Import it only after ``pytest.importorskip("ray")`` would pass: it imports Ray, and sets
what Ray reads when it is imported first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

# token authentication as Ray's docs set it up (every process of the cluster, the driver
# included, has the token), no usage reporting, and every process on 127.0.0.1 (Ray's
# single-machine mode: else it turns 127.0.0.1 into the machine's outward address)
os.environ.update(RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0",
                  RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))
RAY_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")

from ray import cluster_utils  # noqa: E402
from telethon.sessions import SQLiteSession, StringSession  # noqa: E402

from tests._export import ROOT, env_for  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_file(string: str, path: Path) -> str:
    """A fakedc StringSession written as the Telethon session file ``--session`` takes."""
    s, f = StringSession(string), SQLiteSession(str(path))
    f.set_dc(s.dc_id, s.server_address, s.port)
    f.auth_key = s.auth_key
    f.save()
    f.close()
    return str(path)


# a node that stops answering is dead after about 1.5 s (Ray's default: about 30 s)
FAST_FAILURE = {"health_check_initial_delay_ms": 2000, "health_check_period_ms": 500,
                "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}


@contextlib.contextmanager
def cluster_for(dc, nodes, monkeypatch, homes: dict | None = None, cpus: int = 1,
                head_cpus: int = 1):
    """(cluster, {node: its Ray node}, env): a head without accounts (``head_cpus`` CPUs for
    tasks) and, for each ``nodes`` entry (a node name -> its account; a list of names: each
    its own account), a node of ``cpus`` CPUs offering ``tgarc-account:<account>``, its
    processes in this environment (fakedc's) with ``HOME`` at ``homes[node]`` if given (a
    machine of its own: ``~/a.session`` is its own copy of the session)."""
    nodes = nodes if isinstance(nodes, dict) else {n: n for n in nodes}
    env = env_for(dc, PYTHONPATH=str(ROOT), **{k: os.environ[k] for k in RAY_ENV})
    for k, v in env.items():             # the raylets, and so the actors, inherit it
        monkeypatch.setenv(k, v)
    client = free_port()                 # Ray Client's server: `--cluster ray://HOST:PORT`
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": head_cpus, "node_ip_address": "127.0.0.1", "include_dashboard": False,
        "ray_client_server_port": client, "_system_config": FAST_FAILURE})
    cluster.client_address = f"ray://127.0.0.1:{client}"
    try:
        made = {n: cluster.add_node(num_cpus=cpus, node_ip_address="127.0.0.1",
                                    resources={f"tgarc-account:{a}": 1},
                                    env_vars={"HOME": str(homes[n])} if homes else None)
                for n, a in nodes.items()}
        cluster.wait_for_nodes()
        yield cluster, made, env
    finally:
        cluster.shutdown()


def cluster_export(cluster, sessions: dict[str, str], out: Path, env,
                   *extra: str, address: str | None = None) -> subprocess.Popen:
    """``address``: the cluster's (GCS) address unless given (Ray Client's ray://...)."""
    cmd = [sys.executable, "-m", "engine", "export", "--all", "--cluster",
           address or cluster.address,
           *(x for s in sessions.values() for x in ("--session", s)), "--out", str(out),
           "--kinds", "channels", "--tz", "UTC", "--media", "none", "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def outputs(out: Path) -> dict[str, bytes]:
    """Every chat folder's result.json, messages.jsonl and day notes, by path."""
    found = [p for p in out.glob("*/*") if p.name in ("result.json", "messages.jsonl")]
    found += out.glob("*/markdown/*/*.md")
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(found)}
