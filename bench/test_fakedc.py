"""fakedc against the plain Telethon client: history throughput, server CPU and memory,
emulated round-trip time, and the account budget.

    .venv/bin/python -m pytest bench/test_fakedc.py -s

The server runs in its own process (``python -m engine.fakedc serve``), as it does for
the demo, so the client's and the server's CPU are measured apart. The baseline in the
same run is Telethon parsing the same pages with no network at all: the ceiling the
client could reach, so the ratio says how much the server and the wire cost.
``TGARC_BENCH_QUICK=1`` shrinks every workload to a smoke run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

import psutil
import pytest
from telethon import TelegramClient, errors
from telethon.extensions import BinaryReader
from telethon.sessions import StringSession
from telethon.tl import functions

from engine.fakedc.corpus import Corpus
from engine.fakedc.rpc_history import history_page
from engine.fakedc.server import FakeDC

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
ITER_MESSAGES = 5_000 if QUICK else 100_000
BIG_CHANNEL = 50_000 if QUICK else 5_000_000
RESULTS: dict[str, str] = {}


class Served:
    """``python -m engine.fakedc serve`` in a subprocess, stopped on exit."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.fakedc", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.port = int(self.proc.stdout.readline().split()[1])
        # then TGARC_DC_KEY, TGARC_DC and TGARC_SESSION: what tgarc needs to connect
        self.env = dict(self.proc.stdout.readline().strip().split("=", 1) for _ in range(3))
        self.session = self.env["TGARC_SESSION"]
        self.ps = psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def _client(session: str) -> TelegramClient:
    return TelegramClient(StringSession(session), 1, "bench", receive_updates=False)


def _own_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def test_history_iteration_throughput(benchmark):
    async def iterate(session):
        client = _client(session)
        await client.connect()
        n = 0
        async for _ in client.iter_messages("tgarc_demo", limit=None, wait_time=0):
            n += 1
        await client.disconnect()
        return n

    with Served("--messages", str(ITER_MESSAGES), "--text-only") as srv:
        stats = {}

        def run():
            c0, s0, t0 = _own_cpu(), srv.cpu(), time.perf_counter()
            n = asyncio.run(iterate(srv.session))
            stats.update(n=n, wall=time.perf_counter() - t0, client=_own_cpu() - c0,
                         server=srv.cpu() - s0)

        benchmark.pedantic(run, rounds=1 if QUICK else 3, iterations=1)
    rate = stats["n"] / stats["wall"]

    # baseline, same run: Telethon parsing identical pages straight from bytes
    corpus = Corpus(messages=ITER_MESSAGES, text_only=True)
    chat = corpus.chats["channel"]
    dc = FakeDC(corpus)
    pages, offset = [], 0
    while True:
        page, ids = history_page(dc, chat, (chat.id, offset, 0, 0, 100, 0, 0, 0))
        if not ids:
            break
        pages.append(page)
        offset = ids[-1]
    t0 = time.perf_counter()
    parsed = sum(len(BinaryReader(p).tgread_object().messages) for p in pages)
    parse_rate = parsed / (time.perf_counter() - t0)

    benchmark.extra_info.update(msgs=stats["n"], msgs_per_s=round(rate),
                                client_cpu_s=round(stats["client"], 2),
                                server_cpu_s=round(stats["server"], 2),
                                parse_only_msgs_per_s=round(parse_rate))
    RESULTS["iterate"] = (
        f"iter_messages over TCP: {stats['n']} msgs, {rate:,.0f} msgs/s (last round); "
        f"client CPU {stats['client']:.2f} s, server CPU {stats['server']:.2f} s; "
        f"Telethon parse alone (baseline) {parse_rate:,.0f} msgs/s, "
        f"ratio {rate / parse_rate:.2f}")
    assert stats["n"] == chat.count()


def test_big_channel_server_memory(benchmark):
    async def sample(session, top):
        client = _client(session)
        await client.connect()
        got = 0
        for offset in (0, top // 2, 100, top - 5000, top // 3):
            got += len(await client.get_messages("tgarc_demo", limit=100, offset_id=offset))
        async for _ in client.iter_messages("tgarc_demo", limit=5000, wait_time=0):
            got += 1
        await client.disconnect()
        return got

    with Served("--messages", str(BIG_CHANNEL), "--text-only") as srv:
        rss0 = srv.ps.memory_info().rss
        got = benchmark.pedantic(lambda: asyncio.run(sample(srv.session, BIG_CHANNEL)),
                                 rounds=1, iterations=1)
        rss = srv.ps.memory_info().rss
    benchmark.extra_info.update(channel=BIG_CHANNEL, rss_mb=round(rss / 2**20, 1))
    RESULTS["memory"] = (f"serving a {BIG_CHANNEL:,}-message channel: server RSS "
                         f"{rss / 2**20:.0f} MB after paging (at start {rss0 / 2**20:.0f} MB)")
    assert got > 5000


def test_round_trip_time_emulation(benchmark):
    async def rtts(session):
        client = _client(session)
        await client.connect()
        entity = await client.get_input_entity("tgarc_demo")
        out = []
        for _ in range(3 if QUICK else 15):
            t0 = time.perf_counter()
            await client(functions.messages.GetHistoryRequest(
                peer=entity, offset_id=0, offset_date=None, add_offset=0, limit=1, max_id=0,
                min_id=0, hash=0))
            out.append(time.perf_counter() - t0)
        await client.disconnect()
        return out

    with Served("--messages", "1000", "--rtt-ms", "80") as srv:
        samples = benchmark.pedantic(lambda: asyncio.run(rtts(srv.session)), rounds=1,
                                     iterations=1)
    median = statistics.median(samples) * 1000
    benchmark.extra_info.update(rtt_median_ms=round(median, 1))
    RESULTS["rtt"] = (f"--rtt-ms 80: getHistory round trip median {median:.1f} ms "
                      f"(min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})")


@pytest.mark.parametrize("rate", [25, 60])
def test_account_budget_of_30_per_second(benchmark, rate):
    seconds = 1.0 if QUICK else 4.0

    async def pace(session):
        client = _client(session)
        client.flood_sleep_threshold = 0
        await client.connect()
        floods = 0
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            try:
                await client(functions.help.GetNearestDcRequest())
            except errors.FloodWaitError:
                floods += 1
        await client.disconnect()
        return floods

    with Served("--messages", "10", "--budget", "30") as srv:
        floods = benchmark.pedantic(lambda: asyncio.run(pace(srv.session)), rounds=1,
                                    iterations=1)
    benchmark.extra_info.update(rate=rate, flood_waits=floods)
    RESULTS[f"budget{rate}"] = (f"budget 30 req/s, client at {rate} req/s for {seconds:.0f} s: "
                                f"{floods} FLOOD_WAIT answers")


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\n== fakedc ==")
    for line in RESULTS.values():
        print("  " + line)


