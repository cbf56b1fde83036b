"""The cluster run on Ray: one actor per account, the scheduler's plan, moves on loss.

- ``AccountActor``: pinned to its account's node by the custom resource
  ``tgarc-account:<name>`` (``num_cpus=0``: it waits on its jobs and must not hold a CPU
  slot that tasks want). It is the only thing that talks to Telegram for the account: it
  lists the account's dialogs and runs the account's export jobs, each a ``tgarc export``
  of its share of the chats, in a child process of the actor that the kernel kills when the
  actor dies (``tied.py``). The session file stays on the node; only chat ids, exit codes
  and a line of stderr travel over Ray.
- Every job takes the account's lease (``--lease``, on the shared --out): when Ray restarts
  an actor elsewhere while the old process still runs (a frozen node), the new job waits
  until the old term ran out (docs/cluster.md).
- ``drive``: the dialogs of every account, ``schedule.assign``, one job per account. When an
  account's actor dies (its node died or stopped answering), Ray restarts it on another node
  offering the account's resource if there is one (a standby with the same session file),
  and the driver gives it the same chats; else ``schedule.reassign`` moves its chats to the
  accounts that see them. Either way each chat resumes from its checkpoint.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import ray
from ray.exceptions import RayActorError

from engine.archive.atomic import write_atomic
from engine.archive.layout import METRICS
from engine.cluster import metrics, schedule, tasks
from engine.config import CHAT_KINDS

RESOURCE = "tgarc-account:{}"
PLACED = 120.0          # seconds an account's actor may wait for its node
# in a job's last line when Telegram held its account back past the flood ceiling
# (engine/telegram/middleware.py FloodCeiling; exit 3, or 1 when it names failed chats):
# its chats go to other accounts
FLOOD_LIMITED = "Telegram asks to wait"


class ClusterFailure(Exception):
    """The cluster could not export every chat (exit code 3: like Telegram's failures)."""


@ray.remote(num_cpus=0, max_restarts=-1)
class AccountActor:
    def __init__(self, name: str, session: str, out: str, lease: str, ttl: float):
        self.name, self.out, self.lease, self.ttl = name, out, lease, ttl
        self.session = os.path.expanduser(session)      # ~: this node's home

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def _run(self, args: list[str], run_dir: str | None = None):
        # a chat or run folder a frozen job holds: wait until it, woken, has ended
        env = dict(os.environ, TGARC_LOCK_WAIT=str(max(60.0, 10 * self.ttl)))
        if run_dir:
            env["TGARC_RUN_DIR"] = run_dir
        cmd = [sys.executable, "-m", "engine.cluster.tied", str(os.getpid()), sys.executable,
               "-m", "engine", *args, "--session", self.session, "--lease", self.lease]
        return subprocess.run(cmd, env=env, capture_output=True, text=True)

    def dialogs(self, kinds: list[str]) -> dict[str, int]:
        """This account's channels and groups of ``kinds``: marked id -> top message id."""
        r = self._run(["chats", "--json"])
        if r.returncode:
            raise ClusterFailure(f"account {self.name}: `tgarc chats` failed: "
                                 f"{_last(r.stderr)}")
        return {str(d["id"]): int(d.get("top_message") or 0) for d in orjson.loads(r.stdout)
                if CHAT_KINDS.get(d["kind"]) in kinds}

    def export(self, chats: list[str], forward: list[str]) -> tuple[int, str]:
        """``tgarc export CHATS`` into --out: (exit code, its last line of stderr)."""
        # a folder per account and node: a job that comes back on another node must not
        # wait for the run lock a frozen one still holds
        run_dir = Path(self.out) / ".cluster" / self.name / self.node()[:12]
        # its workers: tasks on this cluster, on whichever node has a CPU (tasks.py)
        address = ray.get_runtime_context().gcs_address
        r = self._run(["export", *chats, "--out", self.out, "--lease-ttl", str(self.ttl),
                       "--metrics", str(run_dir / METRICS), "--tasks", address, *forward],
                      str(run_dir))
        return r.returncode, _last(r.stderr)


def _last(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def drive(address: str, accounts: dict[str, str], out: Path, lease: Path, ttl: float,
          kinds: tuple[str, ...], forward: list[str]) -> int:
    """The whole run; 0 when every chat was exported. ``kinds``: channel and/or group."""
    _reachable(address)
    tasks.connect(address)
    t0, wall0 = time.time(), time.monotonic()
    code, lost = None, []
    try:
        code = _drive(accounts, out, lease, ttl, list(kinds), forward, lost)
        return code
    finally:
        ray.shutdown()
        jobs = metrics.collect(out, t0 - 1)
        status = "done" if code == 0 else "interrupted" \
            if isinstance(sys.exc_info()[1], KeyboardInterrupt) else "failed"
        try:              # one export_metrics.json for the run, per account and node in it
            if jobs:
                write_atomic(out / METRICS, orjson.dumps(metrics.merge(
                    jobs, time.monotonic() - wall0, status, lost),
                    option=orjson.OPT_INDENT_2) + b"\n")
        except (KeyError, TypeError, ValueError) as exc:   # the jobs' own files stay
            _say(f"warning: the jobs' metrics could not be merged ({type(exc).__name__}: "
                 f"{exc}); each is in {out / '.cluster'}")


def _back(name: str, actor, where: dict[str, str]) -> bool:
    """Whether Ray restarted ``name``'s lost actor on another live node offering the
    account's resource (a standby node holding the same session file); ``where`` follows."""
    resource = RESOURCE.format(name)
    if not any(n["Alive"] and n["Resources"].get(resource) and n["NodeID"] != where[name]
               for n in ray.nodes()):
        return False
    try:
        where[name] = ray.get(actor.node.remote(), timeout=PLACED)
    except (ray.exceptions.GetTimeoutError, RayActorError):
        return False
    return True


def _reachable(address: str) -> None:
    """A mistyped or stopped head is one line, not Ray's minutes of retries."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return                          # "auto" and the like: Ray's own business
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise ClusterFailure(f"cannot reach the Ray cluster at {address} "
                             f"({exc.strerror or exc})") from None


def _drive(accounts, out: Path, lease: Path, ttl: float, kinds: list[str],
           forward: list[str], lost: list[str]) -> int:
    """``lost`` gets each account whose job died with its node."""
    offered = ray.cluster_resources()
    missing = [RESOURCE.format(n) for n in accounts if RESOURCE.format(n) not in offered]
    if missing:          # a mistyped account or a node not started: said now, not in minutes
        raise ClusterFailure(f"no node of the cluster offers the resource {missing[0]} "
                             f"(start the account's node with --resources "
                             f"'{{\"{missing[0]}\": 1}}')")
    actors = {name: AccountActor.options(resources={RESOURCE.format(name): 1},
                                         name=f"tgarc-account-{name}").remote(
        name, session, str(out), str(lease), ttl) for name, session in accounts.items()}
    where: dict[str, str] = {}                  # account -> the node its actor runs on
    visible: dict[str, dict[str, int]] = {}
    for name, actor in actors.items():
        try:
            where[name] = ray.get(actor.node.remote(), timeout=PLACED)
        except ray.exceptions.GetTimeoutError:
            raise ClusterFailure(f"account {name}'s actor found no place on its node in "
                                 f"{PLACED:g} s (is another run using the account?)") from None
        try:
            visible[name] = ray.get(actor.dialogs.remote(kinds))
        except ray.exceptions.RayTaskError as exc:      # its own one line, not Ray's trace
            raise ClusterFailure(str(exc.cause)) from None
    plan = schedule.assign(visible)
    _say(f"{sum(len(c) for c in plan.chats.values())} chats over {len(actors)} accounts: "
         + ", ".join(f"{a} {len(c)}" for a, c in plan.chats.items()))
    pending = {actors[a].export.remote(c, forward): a for a, c in plan.chats.items() if c}
    failed: list[str] = []
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        name = pending.pop(ref)
        try:
            code, line = ray.get(ref)
        except RayActorError:
            if _back(name, actors[name], where):
                _say(f"account {name}'s node was lost; its actor is back on another node of "
                     f"the account, whose job goes on once the account's lease allows")
                pending[actors[name].export.remote(plan.chats[name], forward)] = name
                continue
            code, line = None, "its node died"
            lost.append(name)
        if code is None or (code and FLOOD_LIMITED in line):
            # lost, or held back by Telegram for longer than a job waits: the other
            # accounts that see its chats take them (each resumes from its checkpoint)
            before = {a: list(c) for a, c in plan.chats.items()}
            moved = schedule.reassign(plan, name, visible)
            _say(f"account {name} is out ({line}): {len(moved)} of its chats move to the "
                 f"accounts that see them")
            for a, c in plan.chats.items():
                new = [k for k in c if k not in before.get(a, [])]
                if new:
                    pending[actors[a].export.remote(new, forward)] = a
        elif code:
            failed.append(f"account {name}: exit {code}: {line}")
    if plan.orphans:
        failed.append(f"{len(plan.orphans)} chat(s) no account left sees: "
                      + ", ".join(plan.orphans))
    if failed:
        raise ClusterFailure("; ".join(failed))
    return 0


def _say(line: str) -> None:
    print(f"tgarc: {line}", file=sys.stderr, flush=True)
