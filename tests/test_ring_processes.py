"""Rings between real processes, both cores: order, integrity, fan-out/in, start methods."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from _ringprocs import consume_and_check, die_after, fan_in_worker, produce

from engine.transport import Closed, FanIn, FanOut, PeerDied, Ring


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_one_to_one_delivers_every_record_once_in_order(impl, method):
    ctx = mp.get_context(method)
    n, max_size, seed = 4000, 3000, 11
    with Ring.create(1 << 15, impl) as ring:
        result = ctx.Queue()
        cons = ctx.Process(target=consume_and_check,
                           args=(ring.consumer(), seed, n, max_size, result))
        cons.start()
        produce(ring.producer(), seed, n, max_size)
        got, bad, ended = result.get(timeout=60)
        cons.join(10)
    assert (got, bad, ended) == (n, -1, "closed")


def test_a_reader_never_sees_a_torn_record(impl):
    """A tiny ring forces constant wrap-around while both sides run flat out;
    every record carries a digest of itself, so a partial write cannot pass."""
    ctx = mp.get_context("fork")
    n, max_size, seed = 30000, 700, 5
    with Ring.create(2048, impl) as ring:
        result = ctx.Queue()
        prod = ctx.Process(target=produce, args=(ring.producer(), seed, n, max_size, 3))
        cons = ctx.Process(target=consume_and_check,
                           args=(ring.consumer(), seed, n, max_size, result))
        cons.start()
        prod.start()
        got, bad, ended = result.get(timeout=120)
        prod.join(10)
        cons.join(10)
    assert (got, bad, ended) == (n, -1, "closed")


def test_fan_out_to_three_consumers(impl):
    ctx = mp.get_context("fork")
    workers, per, max_size = 3, 2000, 1500
    with FanOut(workers, 1 << 14, impl) as fan:
        result = ctx.Queue()
        procs = [ctx.Process(target=consume_and_check,
                             args=(fan.consumer(i), i, per, max_size, result))
                 for i in range(workers)]
        for i, p in enumerate(procs):
            p.start()
            fan.bind(i, p.pid)
        from _ringprocs import make_record, sizes
        batches = [[make_record(j, s) for j, s in enumerate(sizes(i, per, max_size))]
                   for i in range(workers)]
        for k in range(0, per, 40):   # interleave: 40 records to each worker in turn
            for i in range(workers):
                fan.put_many(i, batches[i][k : k + 40], timeout=30)
        fan.close()
        outcomes = sorted(result.get(timeout=60) for _ in range(workers))
        for p in procs:
            p.join(10)
    assert outcomes == [(per, -1, "closed")] * workers


def test_fan_in_from_three_producers(impl):
    ctx = mp.get_context("fork")
    workers, per = 3, 3000
    with FanIn(workers, 1 << 13, impl) as fan:
        procs = [ctx.Process(target=fan_in_worker, args=(fan.producer(i), i, per))
                 for i in range(workers)]
        for i, p in enumerate(procs):
            p.start()
            fan.bind(i, p.pid)
        seen = [0] * workers
        try:
            while True:
                for rec in fan.get_many(timeout=30):
                    src = int.from_bytes(rec[:2], "little")
                    assert rec[2:] == seen[src].to_bytes(4, "little") * 10, "order per producer"
                    seen[src] += 1
        except Closed:
            pass
        for p in procs:
            p.join(10)
    assert seen == [per] * workers


def test_fan_in_reports_a_dead_producer_after_draining_it_and_replaces_it(impl):
    ctx = mp.get_context("fork")
    with FanIn(2, 1 << 13, impl) as fan:
        doomed = ctx.Process(target=die_after, args=(fan.producer(0), 5))
        doomed.start()
        fan.bind(0, doomed.pid)
        got = []
        with pytest.raises(PeerDied) as err:
            while True:
                got += fan.get_many(timeout=10)
        assert err.value.index == 0
        assert got == [b"last words %d" % i for i in range(5)], "what it published is delivered"
        doomed.join(5)
        fresh = ctx.Process(target=fan_in_worker, args=(fan.replace(0), 0, 10))
        other = ctx.Process(target=fan_in_worker, args=(fan.producer(1), 1, 10))
        fresh.start()
        other.start()
        fan.bind(0, fresh.pid)
        fan.bind(1, other.pid)
        count = 0
        with pytest.raises(Closed):
            while True:
                count += len(fan.get_many(timeout=10))
        fresh.join(5)
        other.join(5)
    assert count == 20


def test_fan_out_replaces_a_dead_consumer_on_a_fresh_ring_and_says_what_to_resend(impl):
    import os
    import signal

    from _ringprocs import hold_consumer

    ctx = mp.get_context("fork")
    with FanOut(1, 4096, impl) as fan:
        ready = ctx.Event()
        p = ctx.Process(target=hold_consumer, args=(fan.consumer(0), ready))
        p.start()
        fan.bind(0, p.pid)
        fan.put(0, b"hello")
        assert ready.wait(10)
        old_name = fan._rings[0].name
        batch = [b"%04d" % i * 100 for i in range(40)]     # 40 × 400 B > 4 KiB
        os.kill(p.pid, signal.SIGKILL)
        with pytest.raises(PeerDied) as err:
            fan.put_many(0, batch, timeout=10)
        assert err.value.index == 0 and 0 < err.value.sent < len(batch)
        p.join(5)
        result = ctx.Queue()
        rx = fan.replace(0)
        assert fan._rings[0].name != old_name
        q = ctx.Process(target=_collect, args=(rx, result))
        q.start()
        fan.bind(0, q.pid)
        fan.put_many(0, batch, timeout=10)   # the whole batch again: nothing was acknowledged
        fan.close()
        assert result.get(timeout=10) == batch
        q.join(5)


def _collect(rx, result):
    out = []
    try:
        while True:
            out += rx.get_many(timeout=10)
    except Closed:
        result.put(out)


def test_workers_waiting_for_their_first_job_see_their_supervisor_die(impl):
    """The fan-out's creator is its producer from the start: a supervisor killed before it
    sent worker i anything must not leave worker i waiting for ever (it hung an export's
    pipes after a kill -9 under load)."""
    import os
    import signal
    import time

    import psutil
    from _ringprocs import supervise_and_send_nothing

    from engine.transport import sweep_stale

    ctx = mp.get_context("fork")
    pids = ctx.Queue()
    sup = ctx.Process(target=supervise_and_send_nothing, args=(2, impl, pids))
    sup.start()
    workers = [psutil.Process(p) for p in pids.get(timeout=30)]
    os.kill(sup.pid, signal.SIGKILL)
    sup.join(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
            w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers):
        time.sleep(0.05)
    alive = [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    sweep_stale()                       # the killed supervisor's rings, as the next run would
    assert not alive, "workers outlived a supervisor that never sent them a job"
