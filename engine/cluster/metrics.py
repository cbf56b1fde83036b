"""One ``export_metrics.json`` for a cluster run, from its jobs' own (docs/cluster.md).

Each account's job writes the metrics of a single-machine run in ``--out/.cluster/<account>/
<node>/``; ``merge`` folds the ones this run wrote into a document of the same schema
(``engine.aggregator.validate`` accepts it, ``tgarc tune`` reads it) with a ``cluster``
section per account and per node. Counts, seconds, bytes and CPU add up; peaks add up too
(each node's memory is its own, so the sum is what the cluster held at most); a stage's
p50/p95 is the largest of the jobs' (the cluster's own quantiles are not known);
``busy_fraction`` lists every worker of every job. No Ray here: the driver calls it.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.aggregator import validate


def _sum(docs: list[dict], *path: str) -> float:
    total = 0
    for d in docs:
        for key in path:
            d = d[key]
        total += d
    return total


def _stage(docs: list[dict], name: str) -> dict:
    docs = [d for d in docs if name in d["stages"]]     # a job killed early may lack one
    count = int(_sum(docs, "stages", name, "count"))
    total = _sum(docs, "stages", name, "total_seconds")
    return {"count": count, "total_seconds": round(total, 6),
            "avg_seconds": round(total / count, 6) if count else 0.0,
            "p50_seconds": max(d["stages"][name]["p50_seconds"] for d in docs),
            "p95_seconds": max(d["stages"][name]["p95_seconds"] for d in docs)}


def _resources(jobs: list[tuple[str, str, dict]]) -> dict:
    docs = [d for _, _, d in jobs]
    out = {k: round(_sum(docs, "resources", k), 3) for k in (
        "peak_cpu_percent", "avg_cpu_percent", "peak_pss_mb", "peak_rss_mb", "avg_rss_mb",
        "disk_read_mb", "disk_write_mb", "net_recv_mb", "net_sent_mb")}
    # a job's tasks name the node they ran on
    out["per_process"] = {f"{node}/{pid}": {**p, "account": account,
                                            "node": p.get("node", node)}
                          for account, node, d in jobs
                          for pid, p in d["resources"]["per_process"].items()}
    return out


def _caches(docs: list[dict]) -> dict:
    c = {k: int(_sum(docs, "caches", "input_peer_cache", k))
         for k in ("hits", "misses", "evictions", "expirations")}
    looked = c["hits"] + c["misses"]
    return {"input_peer_cache": {**c, "hit_rate": round(c["hits"] / looked, 4) if looked
                                 else 0.0}}


def _cluster(jobs: list[tuple[str, str, dict]], lost=()) -> dict:
    accounts: dict[str, dict] = {}
    nodes: dict[str, dict] = {}
    for account, node, d in jobs:
        cpu = sum(p["cpu_seconds"] for p in d["resources"]["per_process"].values())
        a = _account(accounts, account)
        a["nodes"].append(node)
        a["messages"] += d["messages"]
        a["chats"] += d.get("chats_total", 1)
        a["cpu_seconds"] = round(a["cpu_seconds"] + cpu, 3)
        a["status"].append(_status(d))
        a.setdefault("recommendation", d["recommendation"])
        if "governor" in d["telegram"]:
            a["governor"] = d["telegram"]["governor"]
        n = _node(nodes, node)
        n["accounts"].append(account)
        n["peak_pss_mb"] = round(n["peak_pss_mb"] + d["resources"]["peak_pss_mb"], 3)
        for p in d["resources"]["per_process"].values():   # tasks: where they ran
            n = _node(nodes, p.get("node", node))
            n["cpu_seconds"] = round(n["cpu_seconds"] + p["cpu_seconds"], 3)
            n["tasks"] = n.get("tasks", 0) + p.get("tasks", 0)
    for account in lost:
        a = _account(accounts, account)
        if "lost" not in a["status"]:
            a["status"].append("lost")
    return {"accounts": accounts, "nodes": nodes}


def _status(doc: dict) -> str:
    return "lost" if doc["status"] == "running" else doc["status"]


def _account(accounts: dict, account: str) -> dict:
    return accounts.setdefault(account, {"nodes": [], "messages": 0, "chats": 0,
                                         "cpu_seconds": 0.0, "status": []})


def _node(nodes: dict, node: str) -> dict:
    return nodes.setdefault(node, {"accounts": [], "cpu_seconds": 0.0, "peak_pss_mb": 0.0})


def merge(jobs: list[tuple[str, str, dict]], wall: float, status: str | None = None,
          lost: list[str] = ()) -> dict:
    """``jobs``: (account, node, its export_metrics.json) of this run; ``wall``: the run's;
    ``status``: the run's as its driver knows it (else the jobs' worst); ``lost``: the
    accounts whose job died with its node, as the driver saw them. A job's document still
    "running" once the run is over is such a job's; one killed before it wrote any leaves
    its account listed all the same."""
    docs = [d for _, _, d in jobs]
    statuses = {_status(d) for d in docs}
    messages = int(_sum(docs, "messages"))
    telegram = {k: type(docs[0]["telegram"][k])(_sum(docs, "telegram", k))
                for k in ("requests", "flood_waits", "flood_wait_seconds", "retries",
                          "reconnects")}
    return {
        "version": docs[0]["version"],
        "status": status or ("done" if statuses == {"done"}
                             else sorted(statuses - {"done"})[0]),
        "chat": "cluster", "chats_total": int(sum(d.get("chats_total", 1) for d in docs)),
        "chats": [{**c, "account": a} for a, _, d in jobs for c in d.get("chats", [])],
        "started": min(d["started"] for d in docs),
        "finished": max((d["finished"] for d in docs if d["finished"]), default=None),
        "wall_seconds": round(wall, 3), "messages": messages,
        "messages_per_second": round(messages / wall, 1) if wall > 0 else 0.0,
        "stages": {k: _stage(docs, k) for k in dict.fromkeys(k for d in docs
                                                             for k in d["stages"])},
        "resources": _resources(jobs),
        "caches": _caches(docs),
        "telegram": telegram,
        "queues": {"ring_capacity_bytes": max(d["queues"]["ring_capacity_bytes"] for d in docs),
                   "avg_fill": round(_sum(docs, "queues", "avg_fill") / len(docs), 4),
                   "peak_fill": max(d["queues"]["peak_fill"] for d in docs),
                   "producer_blocked_seconds": round(
                       _sum(docs, "queues", "producer_blocked_seconds"), 3)},
        "workers": {"count": int(_sum(docs, "workers", "count")),
                    "busy_fraction": [x for d in docs for x in d["workers"]["busy_fraction"]]},
        "decoder": {"implementation": "+".join(sorted({d["decoder"]["implementation"]
                                                       for d in docs})),
                    "native": int(_sum(docs, "decoder", "native")),
                    "telethon": int(_sum(docs, "decoder", "telethon"))},
        "media": {**{k: int(_sum(docs, "media", k)) for k in (
            "downloaded", "bytes", "deduplicated", "transcoded", "failed")},
            "hwaccel": "+".join(sorted({d["media"]["hwaccel"] for d in docs}))},
        "recommendation": {"workers": max(d["recommendation"]["workers"] for d in docs),
                           "reason": "per account: cluster.accounts.<name>.recommendation"},
        "cluster": _cluster(jobs, lost),
    }


def collect(out: Path, since: float) -> list[tuple[str, str, dict]]:
    """(account, node, document) of every job's metrics written since ``since`` (a time
    the run began: another run's files stay out), valid ones only."""
    found = []
    for path in sorted((out / ".cluster").glob("*/*/export_metrics.json")):
        try:
            if path.stat().st_mtime < since:
                continue
            doc = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(doc, dict) and not validate(doc):
            found.append((path.parent.parent.name, path.parent.name, doc))
    return found
