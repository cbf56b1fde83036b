"""Failures between processes, both cores: a peer killed with SIGKILL, idle CPU, Ctrl-C,
and no /dev/shm segment outliving its creator."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from _ringprocs import block_on_empty, block_on_full, hold_consumer, hold_producer

from engine.transport import PeerDied, Ring, segments, sweep_stale

CTX = mp.get_context("fork")


def test_a_producer_blocked_on_a_full_ring_hears_of_a_killed_consumer_within_2s(impl):
    with Ring.create(4096, impl) as ring:
        tx = ring.producer()
        ready = CTX.Event()
        child = CTX.Process(target=hold_consumer, args=(ring.consumer(), ready))
        child.start()
        tx.put(b"claim")
        assert ready.wait(10)
        tx.put(b"x" * ring.max_record)        # full now
        killed = []

        def kill():
            killed.append(time.monotonic())
            os.kill(child.pid, signal.SIGKILL)

        timer = __import__("threading").Timer(0.3, kill)
        timer.start()
        with pytest.raises(PeerDied):
            tx.put(b"blocked", timeout=30)   # the child is a zombie until joined: still dead
        assert time.monotonic() - killed[0] < 2.0
        child.join(5)


def test_a_consumer_blocked_on_an_empty_ring_hears_of_a_killed_producer_within_2s(impl):
    with Ring.create(1 << 14, impl) as ring:
        rx = ring.consumer()
        ready = CTX.Event()
        child = CTX.Process(target=hold_producer, args=(ring.producer(), ready, 7))
        child.start()
        assert ready.wait(10)
        assert len(rx.get_many(max_records=3)) == 3
        os.kill(child.pid, signal.SIGKILL)
        t0 = time.monotonic()
        assert len(rx.get_many(timeout=30)) == 4, "what was published before death still arrives"
        with pytest.raises(PeerDied):
            rx.get(timeout=30)
        assert time.monotonic() - t0 < 2.0
        child.join(5)


def _cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


@pytest.mark.parametrize("side", ["consumer", "producer"])
def test_a_blocked_side_uses_under_1_percent_cpu(impl, side):
    with Ring.create(4096, impl) as ring:
        ready, result = CTX.Event(), CTX.Queue()
        if side == "consumer":
            ring.producer().claim()
            child = CTX.Process(target=block_on_empty, args=(ring.consumer(), ready, result))
        else:
            ring.consumer().claim()
            child = CTX.Process(target=block_on_full, args=(ring.producer(), ready))
        child.start()
        assert ready.wait(10)
        time.sleep(0.3)                         # let it settle into its wait
        before, t0 = _cpu_seconds(child.pid), time.monotonic()
        time.sleep(2.0)
        used = _cpu_seconds(child.pid) - before
        wall = time.monotonic() - t0
        child.kill()
        child.join(5)
    assert used / wall < 0.01, f"blocked {side} used {used / wall:.2%} CPU"


def test_ctrl_c_interrupts_a_blocked_consumer_promptly(impl):
    with Ring.create(4096, impl) as ring:
        ring.producer().claim()
        ready, result = CTX.Event(), CTX.Queue()
        child = CTX.Process(target=block_on_empty, args=(ring.consumer(), ready, result))
        child.start()
        assert ready.wait(10)
        time.sleep(0.2)
        t0 = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        assert result.get(timeout=5) == "interrupted"
        assert time.monotonic() - t0 < 1.0
        child.join(5)


CREATOR = textwrap.dedent("""
    import multiprocessing as mp, sys, time
    from engine.transport import Ring, PeerDied, Closed

    def consumer(rx, path):
        try:
            while True:
                rx.get_many(timeout=60)
        except PeerDied:
            outcome = "peer died"
        except Closed:
            outcome = "closed"
        with open(path, "w") as f:
            f.write(outcome)

    if __name__ == "__main__":
        ring = Ring.create(4096, sys.argv[1])
        tx = ring.producer()
        tx.claim()
        ctx = mp.get_context("spawn")
        child = ctx.Process(target=consumer, args=(ring.consumer(), sys.argv[2]))
        child.start()
        tx.put(b"hello")
        print(ring.name, child.pid, flush=True)
        time.sleep(60)
""")


def test_killing_the_creator_frees_its_worker_and_its_segment_is_swept(impl, tmp_path):
    """kill -9 of the process that created a ring: its spawn-child consumer gets
    PeerDied within 2 s (it exits on its own), and the segment the dead creator
    could not unlink is removed by the next sweep (done at every process's first
    create)."""
    script = tmp_path / "creator.py"
    script.write_text(CREATOR)
    outcome = tmp_path / "outcome"
    creator = subprocess.Popen([sys.executable, str(script), impl, str(outcome)],
                               stdout=subprocess.PIPE, text=True)
    name, child_pid = creator.stdout.readline().split()
    assert name in segments()
    creator.kill()
    t0 = time.monotonic()
    creator.wait(5)
    while not outcome.exists() and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert outcome.read_text() == "peer died"
    assert time.monotonic() - t0 < 2.0 + 0.5   # + the spawn child's own exit
    with contextlib.suppress(psutil.NoSuchProcess):   # and it exits on its own
        psutil.Process(int(child_pid)).wait(timeout=10)
    assert name in segments(), "a SIGKILLed creator cannot clean up after itself"
    assert name in sweep_stale()
    assert name not in segments()
