"""The request governor (engine/telegram/governor.py): its window, its pace, its decisions.

The first tests drive it on a virtual clock: requests, round trips and flood waits are
timers of a small scheduler (``Sim``), and Telegram's limit is fakedc's own token bucket
(``faults.Budget``), so minutes of traffic run in a second and the figures are exact.
The end-to-end test runs a real export against fakedc with a budget.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

import orjson
import pytest

from engine.fakedc.faults import Budget
from engine.telegram.governor import Governor


class Sim:
    """Virtual time for asyncio tasks: ``sleep`` parks a task until the clock reaches its
    time; ``run`` lets every runnable task go, then jumps to the next timer."""

    def __init__(self):
        self.now = 0.0
        self._timers: list = []
        self._n = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), next(self._n), fut))
        await fut

    async def run(self, until: float) -> None:
        while True:
            for _ in range(12):            # every task a timer woke runs to its next wait
                await asyncio.sleep(0)
            if not self._timers or self._timers[0][0] > until:
                return
            at, _, fut = heapq.heappop(self._timers)
            self.now = max(self.now, at)
            if not fut.done():
                fut.set_result(None)


def _traffic(rate: float, seconds: float, *, streams: int = 6, rtt: float = 0.08,
             max_in_flight: int = 6):
    """``streams`` loops asking GetHistory through a governor for ``seconds`` of virtual
    time against a budget of ``rate`` a second: (governor, reply times, flood times)."""
    sim = Sim()
    gov = Governor(max_in_flight, clock=sim.clock, sleep=sim.sleep)
    budget = Budget(rate)
    replies: list[float] = []
    floods: list[float] = []

    async def stream():
        while sim.now < seconds:
            sent = await gov.acquire("GetHistory")
            await sim.sleep(rtt / 2)
            wait = budget.take("GetHistory", sim.now)
            await sim.sleep(rtt / 2)
            if wait:
                floods.append(sim.now)
                gov.flood("GetHistory", wait, sent)
                await sim.sleep(wait)                # the FloodWait layer's sleep
            else:
                replies.append(sim.now)
                gov.ok("GetHistory", sent)

    async def main():
        tasks = [asyncio.create_task(stream()) for _ in range(streams)]
        await sim.run(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    return gov, replies, floods


@pytest.mark.parametrize("rate", [5, 30])
def test_it_converges_just_under_a_budget_with_rare_flood_waits(rate):
    seconds = 240.0
    gov, replies, floods = _traffic(rate, seconds)
    # what a budget-limited client can get: the bucket's burst, then the rate
    best = rate * seconds + max(1.0, rate)
    assert len(replies) >= 0.85 * best, (len(replies), best, gov.summary())
    late = [t for t in floods if t >= 60.0]             # converged after a minute
    assert len(late) <= 2 * (seconds - 60.0) / 60.0, (late, gov.summary()["decisions"])
    paced = gov.summary()["paced"]["GetHistory"]
    assert 0.75 * rate <= paced["rate"] <= 1.3 * rate, paced
    # every cut is on record, with what Telegram had accepted
    cuts = [d for d in gov.decisions if d["what"] in ("pace", "cut")]
    assert cuts and cuts[0]["what"] == "pace" and len(cuts) <= len(floods)


def test_without_flood_waits_nothing_is_paced_and_the_window_opens_to_its_ceiling():
    gov, replies, floods = _traffic(1000, 5.0, max_in_flight=4)
    assert not floods and gov.summary()["paced"] == {}
    assert gov.window == 4 and gov.peak_in_flight == 4
    assert len(replies) >= 0.95 * 4 * 5.0 / 0.08            # four always out


def test_max_in_flight_one_is_one_at_a_time():
    gov, replies, _ = _traffic(1000, 4.0, max_in_flight=1)
    assert gov.peak_in_flight == 1
    assert len(replies) <= 4.0 / 0.08 + 1


def test_slow_replies_close_the_window_and_say_so():
    sim = Sim()
    gov = Governor(8, clock=sim.clock, sleep=sim.sleep)

    async def main():
        for _ in range(20):                  # fast replies: slow start opens the window
            sent = await gov.acquire("GetHistory")
            sim.now += 0.01
            gov.ok("GetHistory", sent)
        opened = gov.window
        sent = await gov.acquire("GetHistory")
        sim.now += 1.0                       # a reply 100 × slower: queueing somewhere
        gov.ok("GetHistory", sent)
        return opened

    opened = asyncio.run(main())
    assert opened == 8
    assert gov.window == 6 and not gov.slow_start
    assert gov.decisions[-1]["what"] == "window" and gov.decisions[-1]["why"] == "slow replies"


def test_a_flood_wait_holds_the_method_and_cuts_once_for_the_requests_out_together():
    sim = Sim()
    gov = Governor(6, clock=sim.clock, sleep=sim.sleep)

    async def main():
        sents = [await gov.acquire("GetHistory") for _ in range(2)]
        sim.now = 1.0
        gov.flood("GetHistory", 3, sents[0])
        gov.flood("GetHistory", 3, sents[1])     # out before the cut: no second cut
        other = await gov.acquire("GetFullChannel")   # another method is not held
        gov.ok("GetFullChannel", other)
        t = asyncio.create_task(gov.acquire("GetHistory"))
        await sim.run(10.0)
        return await t

    sent = asyncio.run(main())
    assert sent >= 4.0                           # waited the 3 s out
    cuts = [d for d in gov.decisions if d["what"] in ("pace", "cut")]
    assert len(cuts) == 1 and cuts[0]["wait"] == 3 and cuts[0]["method"] == "GetHistory"
    assert gov.methods["GetHistory"].floods == 2


def test_file_parts_are_never_held_by_the_window():
    sim = Sim()
    gov = Governor(1, clock=sim.clock, sleep=sim.sleep)

    async def main():
        await gov.acquire("GetHistory")          # the window (1) is full
        got = await asyncio.wait_for(gov.acquire("GetFile"), 1)
        waiting = asyncio.create_task(gov.acquire("GetHistory"))
        await asyncio.sleep(0)
        assert not waiting.done()
        waiting.cancel()                         # a cancelled waiter leaves no trace
        await asyncio.gather(waiting, return_exceptions=True)
        return got

    asyncio.run(main())
    assert gov.in_flight == 1


def test_the_decisions_reach_export_metrics_json(tmp_path):
    """A real export against fakedc with a budget of 10 GetHistory a second: the flood
    waits it meets pace the method, and export_metrics.json says so, checked by its schema."""
    from engine.aggregator.metrics import validate
    from engine.fakedc.corpus import Corpus
    from engine.fakedc.server import FakeDC
    from tests._export import tgarc

    dc = FakeDC(Corpus(messages=3000, text_only=True), budget=Budget(10))
    with dc.run_in_thread():
        dc.session = dc.new_session()
        r = tgarc(dc, tmp_path / "out", "--max-in-flight", "4", "--format", "jsonl")
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = orjson.loads((tmp_path / "out" / "export_metrics.json").read_bytes())
    assert validate(metrics) == []
    gov = metrics["telegram"]["governor"]
    assert gov["max_in_flight"] == 4 and 1 <= gov["peak_in_flight"] <= 4
    assert metrics["telegram"]["flood_waits"] >= 1
    assert gov["paced"]["GetHistory"]["rate"] > 0
    assert gov["decisions"][0]["what"] in ("pace", "window")
    assert any(d["what"] == "pace" and d["method"] == "GetHistory" for d in gov["decisions"])


def test_a_request_waiting_for_its_pace_leaves_the_window_to_other_methods():
    sim = Sim()
    gov = Governor(1, clock=sim.clock, sleep=sim.sleep)

    async def main():
        sent = await gov.acquire("GetHistory")
        gov.flood("GetHistory", 5, sent)          # paced, and held for 5 s
        paced = asyncio.create_task(gov.acquire("GetHistory"))
        await asyncio.sleep(0)
        other = await asyncio.wait_for(gov.acquire("GetFullChannel"), 1)   # not blocked
        assert not paced.done() and other == 0.0
        gov.ok("GetFullChannel", other)
        await sim.run(10.0)
        return await paced

    assert asyncio.run(main()) >= 5.0
    assert gov.in_flight == 1
