"""``tgarc export --lease DIR`` (issue 16's guard, on one machine or several): an account's
key live in one run at a time. A run frozen with SIGSTOP keeps its lease only for its term;
its connections are closed by the server before the lease can pass on (ping_delay_disconnect,
engine/telegram/keybound.py); a second run waits for the lease and then exports; the frozen
run, woken, stops with one line. fakedc records which process used the key when: no two at
once. Real processes, real Telethon over TCP."""

from __future__ import annotations

import os
import signal
import subprocess

from engine.fakedc.keyuse import KeyLog
from tests._export import (
    CHANNEL_DIR,
    env_for,
    export_args,
    kill_group,
    served,
    start,
    tgarc,
    wait_for,
)

TTL = "4"


def test_a_frozen_run_hands_the_key_over_only_after_its_lease_and_stops_on_waking(tmp_path):
    leases = tmp_path / "leases"
    with served(3000, rtt_ms=150) as dc:
        dc.keys = KeyLog()
        a = start(dc, tmp_path / "a", "--lease", str(leases), "--lease-ttl", TTL,
                  "--max-in-flight", "1")
        try:
            assert wait_for(lambda: any(u.pid == a.pid for u in dc.keys.uses), 60), \
                "the first run connects"
            # its connection is bounded from its first moments (the freeze comes after)
            first = next(u for u in dc.keys.uses if u.pid == a.pid)
            assert wait_for(lambda: first.bounded is not None, 10)
            assert first.bounded - first.opened < 3.0
            assert list(leases.glob("key-*.lease"))
            os.killpg(a.pid, signal.SIGSTOP)
            b = subprocess.Popen(export_args(tmp_path / "b", "--lease", str(leases),
                                             "--lease-ttl", TTL), env=env_for(dc),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
            try:
                assert wait_for(lambda: any(u.pid == b.pid for u in dc.keys.uses), 60), \
                    "the second run connects once the lease is free"
                os.killpg(a.pid, signal.SIGCONT)             # wakes while b holds the key
                _, a_err = a.communicate(timeout=30)
                _, b_err = b.communicate(timeout=120)
            finally:
                if b.poll() is None:
                    kill_group(b)
        finally:
            if a.poll() is None:
                os.killpg(a.pid, signal.SIGCONT)
                kill_group(a)
        assert b.returncode == 0, b_err[-3000:]
        assert "waiting for its lease" in b_err
        # the woken run stopped by itself, with one line, nothing half-said
        assert a.returncode in (4, 75), a_err[-3000:]
        assert "is over" in a_err and "Traceback" not in a_err
        assert dc.keys.overlaps() == [], "the key was live in two runs at once"
        a_uses = [u for u in dc.keys.uses if u.pid == a.pid]
        b_first = min(u.opened for u in dc.keys.uses if u.pid == b.pid)
        assert a_uses and all(u.closed is not None and u.closed <= b_first for u in a_uses)
    assert (tmp_path / "b" / CHANNEL_DIR / "result.json").is_file()


def test_a_second_run_on_one_key_waits_for_the_first_to_finish(tmp_path):
    leases = tmp_path / "leases"
    with served(300) as dc:
        dc.keys = KeyLog()
        first = tgarc(dc, tmp_path / "a", "--lease", str(leases), "--lease-ttl", TTL)
        assert first.returncode == 0, first.stderr[-2000:]
        # released at the end: the next run takes it at once
        again = tgarc(dc, tmp_path / "b", "--lease", str(leases), "--lease-ttl", TTL)
        assert again.returncode == 0 and "waiting for its lease" not in again.stderr
        assert dc.keys.overlaps() == []


def test_a_damaged_lease_file_is_one_line_and_exit_4(tmp_path):
    leases = tmp_path / "leases"
    with served(50) as dc:
        from telethon.sessions import StringSession

        key_id = StringSession(dc.session).auth_key.key_id
        leases.mkdir()
        (leases / f"key-{key_id:016x}.lease").write_text("not json")
        r = tgarc(dc, tmp_path / "a", "--lease", str(leases))
    assert r.returncode == 4
    assert "is damaged" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a" / CHANNEL_DIR).exists()


def test_listing_chats_with_the_lease_waits_for_another_holder(tmp_path):
    """``tgarc chats`` talks to Telegram with the key too: with --lease it waits its turn."""
    import sys
    import time

    from telethon.sessions import StringSession

    from engine.archive.lease import Lease

    leases = tmp_path / "leases"
    with served(50) as dc:
        key_id = StringSession(dc.session).auth_key.key_id
        other = Lease(leases, f"key-{key_id:016x}", "elsewhere/1", ttl=3.0, skew=0.3)
        assert other.try_acquire()
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "engine", "chats", "--json", "--lease",
                            str(leases)], env=env_for(dc), capture_output=True, text=True,
                           timeout=60)
        waited = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert "in use by elsewhere/1: waiting for its lease" in r.stderr
    assert waited >= 3.0 and '"tgarc demo channel"' in r.stdout
