"""The account lease (engine/archive/lease.py, issue 16): a key in one place at a time.

Real processes and real files: a holder in a child process renews its term; frozen with
SIGSTOP, its lease passes to another holder only after its term has run out, and when it
wakes it finds its term over by its own clock and stops before doing anything else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.archive.lease import Lease, LeaseDamaged, LeaseHeld, LeaseLost

ROOT = Path(__file__).resolve().parent.parent
TTL, SKEW = 2.0, 0.3

HOLDER = textwrap.dedent("""
    import sys, time
    from engine.archive.lease import Lease
    lease = Lease(sys.argv[1], "acct", "node-a/child", ttl=float(sys.argv[2]),
                  skew=float(sys.argv[3]))
    print("held", lease.acquire(wait=10), flush=True)
    lease.keep()
    while True:
        if sys.argv[4] == "guarded":
            lease.check()      # what guards each request to Telegram
        time.sleep(0.05)
""")


def _holder(folder: Path, guarded: str = "guarded") -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(TTL), str(SKEW),
                          guarded],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout.readline().split() == ["held", "1"]
    return p


def test_a_frozen_holders_lease_passes_on_only_after_its_term_and_it_stops_on_waking(tmp_path):
    a = _holder(tmp_path)
    try:
        b = Lease(tmp_path, "acct", "node-b/test", ttl=TTL, skew=SKEW)
        end = time.monotonic() + 1.5 * TTL            # renewed: never free meanwhile
        while time.monotonic() < end:
            assert not b.try_acquire()
            time.sleep(0.1)
        with pytest.raises(LeaseHeld, match="node-a/child"):
            b.acquire(wait=0.3)
        a.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        assert b.acquire(wait=10) == 2
        waited = time.monotonic() - stopped
        # its last renewal came at most ttl / 4 before the freeze
        assert 0.75 * TTL + SKEW - 0.2 <= waited <= TTL + SKEW + 2.0, waited
        assert b.valid() and b.fence() == 2
        a.send_signal(signal.SIGCONT)
        # it ends itself: its request guard (check) or its renewer, whichever runs first
        assert a.wait(timeout=10) != 0
        assert "(epoch 1) is over" in a.stderr.read()
        assert b.read()["holder"] == "node-b/test"      # and wrote nothing on waking
    finally:
        if a.poll() is None:
            a.send_signal(signal.SIGCONT)
            a.kill()
        a.wait()


def test_the_renewer_ends_a_holder_that_woke_after_its_term(tmp_path):
    """Nothing else in the process looks at the lease: its renewer ends it (exit 75)."""
    a = _holder(tmp_path, "idle")
    try:
        a.send_signal(signal.SIGSTOP)
        time.sleep(TTL + 0.2)
        a.send_signal(signal.SIGCONT)
        assert a.wait(timeout=10) == 75
        assert "(epoch 1) is over; stopping" in a.stderr.read()
    finally:
        if a.poll() is None:
            a.kill()
        a.wait()


def test_a_holder_whose_lease_was_taken_cannot_renew_or_fence(tmp_path):
    a = Lease(tmp_path, "acct", "a", ttl=0.6, skew=0.1)
    b = Lease(tmp_path, "acct", "b", ttl=0.6, skew=0.1)
    assert a.try_acquire() and a.valid() and a.fence() == 1
    assert not b.try_acquire()
    time.sleep(0.8)
    assert not a.valid()                        # by its own clock, before anyone took it
    with pytest.raises(LeaseLost):
        a.check()
    assert b.try_acquire() and b.epoch == 2
    with pytest.raises(LeaseLost, match="held by b"):
        a.renew()
    with pytest.raises(LeaseLost):
        a.fence()
    a.release()                                 # not its term: changes nothing
    assert b.read()["holder"] == "b" and b.read()["expires"] > time.time()


def test_release_stops_the_renewer_first_so_no_renewal_follows_it(tmp_path):
    a = Lease(tmp_path, "acct", "a", ttl=2.0, skew=0.2)
    a.acquire(wait=1)
    a.keep(on_lost=lambda exc: None)
    time.sleep(0.6)                             # a renewal or two meanwhile
    a.release()
    time.sleep(0.7)                             # past the renewer's next turn
    assert a.read()["expires"] == 0.0
    assert Lease(tmp_path, "acct", "b", ttl=2.0, skew=0.2).try_acquire()


def test_a_released_lease_is_free_at_once_and_epochs_only_grow(tmp_path):
    a = Lease(tmp_path, "acct", "a", ttl=30, skew=1)
    b = Lease(tmp_path, "acct", "b", ttl=30, skew=1)
    epochs = []
    for _ in range(3):
        epochs.append(a.acquire(wait=1))
        assert not b.try_acquire()
        a.release()
        assert not a.valid()
        epochs.append(b.acquire(wait=1))
        b.release()
    assert epochs == sorted(set(epochs)) == list(range(1, 7))


def test_a_damaged_lease_file_is_a_clear_error_and_is_left_alone(tmp_path):
    (tmp_path / "acct.lease").write_bytes(b'{"holder": 3}')
    lease = Lease(tmp_path, "acct", "a")
    with pytest.raises(LeaseDamaged, match=r"acct[.]lease is damaged.*remove it"):
        lease.try_acquire()
    assert (tmp_path / "acct.lease").read_bytes() == b'{"holder": 3}'


def test_a_term_must_outlast_twice_the_clock_skew():
    with pytest.raises(ValueError, match="twice its skew"):
        Lease(Path("/nonexistent"), "acct", "a", ttl=2, skew=1)


def test_a_run_whose_lease_moved_on_writes_no_checkpoint(tmp_path):
    """The lease fences the chat checkpoints (``lock.fenced``, set by a run with --lease):
    once another holder took the lease, ChatStore.commit refuses and the checkpoint on disk
    stays as it was."""
    from engine import model as m
    from engine.archive.lock import fenced
    from engine.archive.store import ChatStore
    from engine.model.chat import ChatMeta

    mine = Lease(tmp_path / "leases", "key-1", "node-a/1", ttl=2.5, skew=0.25)
    assert mine.try_acquire()
    store = ChatStore.open(tmp_path / "out", ChatMeta(m.PeerRef("channel", 7), "c", "chat"))
    checkpoint = store.state / "checkpoint.json"
    with fenced(mine.fence):
        store.commit()                              # within the term: written
        before = checkpoint.read_bytes()
        time.sleep(2.5 + 0.3)
        theirs = Lease(tmp_path / "leases", "key-1", "node-b/2", ttl=2.5, skew=0.25)
        assert theirs.try_acquire()
        store.cp.output.settled = "moved on"
        with pytest.raises(LeaseLost):
            store.commit()
    assert checkpoint.read_bytes() == before
    store.commit()                                  # no lease fences this process any more
    assert checkpoint.read_bytes() != before
