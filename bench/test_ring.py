"""Cross-process throughput: tgarc's ring (native and pure cores) against multiprocessing.Queue,
multiprocessing.Pipe and faster_fifo, for 64 B / 500 B / 4 KB / 32 KB records, one producer
process feeding one or two consumer processes.

Each benchmark round is one whole transfer (``_workloads.Transfer``): the consumers start
(from a forkserver) and report ready before the clock starts; the clock stops when the last
consumer has received the end of stream.  The bench asserts that every record arrived, in order
and intact (count, payload bytes, sequence stamps); it asserts nothing about speed.  Figures
land in ``benchmark.extra_info`` and in the table printed at the end of the session
(conftest.py).
"""

from __future__ import annotations

import os

import _workloads as W
import pytest

from engine.transport import segments


def _my_segments() -> set[str]:
    # names are tgarc-<creator pid>-<start>-<random>: count only this process's rings, since
    # another session (the unit tests) may be creating and removing its own meanwhile
    return {s for s in segments() if s.split("-")[1] == str(os.getpid())}


@pytest.fixture(scope="module", autouse=True)
def no_leaked_segments():
    """Every ring these benchmarks created must be gone from /dev/shm afterwards."""
    before = _my_segments()
    yield
    leaked = _my_segments() - before
    assert not leaked, f"/dev/shm segments left behind: {sorted(leaked)}"


# transport varies fastest, so each size/topology's contenders run close together in time
@pytest.mark.parametrize("transport", W.TRANSPORTS, ids=lambda t: t.key)
@pytest.mark.parametrize("consumers", W.TOPOLOGIES, ids=W.topo)
@pytest.mark.parametrize("size", W.SIZES, ids=lambda s: f"{s}B")
def test_throughput(benchmark, bench_results, transport, size, consumers):
    records = W.records_for(transport, size, consumers)
    live: list[W.Transfer] = []
    results: list[W.Result] = []

    def setup():
        t = W.Transfer(transport, size, consumers, records)
        live.append(t)
        t.setup()
        return (t,), {}

    def run(t):
        results.append(t.run())

    def teardown(t):
        t.close()
        live.remove(t)

    benchmark.group = f"{size} B records, {W.topo(consumers)}"
    try:
        benchmark.pedantic(run, setup=setup, teardown=teardown, rounds=W.ROUNDS, iterations=1)
    finally:
        for t in live:          # --benchmark-disable skips teardown; a failure skips it too
            t.close()

    stats = W.CaseStats(transport.key, size, consumers, results)
    bench_results.append(stats)
    benchmark.extra_info.update(
        transport=transport.label,
        record_bytes=size,
        consumers=consumers,
        records_per_round=records,
        records_per_s=round(stats.rate),
        mb_per_s=round(stats.mbps, 1),
        round_seconds=[round(r.seconds, 4) for r in results],
    )
