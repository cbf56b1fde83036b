"""fakedc's record of who used which authorization key when (engine/fakedc/keyuse.py), and
its ping_delay_disconnect: what issue 16's tests read to show an account's key was never
live in two client processes at once. Real Telethon clients in their own processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from engine.fakedc.keyuse import KeyLog
from tests._export import ROOT, served

CLIENT = textwrap.dedent("""
    import asyncio, os, sys
    from telethon import TelegramClient, functions
    from telethon.sessions import StringSession

    async def main(delay, every):
        client = TelegramClient(StringSession(os.environ["TGARC_SESSION"]), 1, "x",
                                receive_updates=False)
        await client.connect()
        await client.get_me()
        if delay:
            await client(functions.PingDelayDisconnectRequest(ping_id=1,
                                                              disconnect_delay=delay))
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        line = loop.run_in_executor(None, sys.stdin.readline)
        while every and not line.done():      # keep the connection: ping again in time
            await asyncio.sleep(every)
            await client(functions.PingDelayDisconnectRequest(ping_id=2,
                                                              disconnect_delay=delay))
        await line
        await client.disconnect()

    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
""")


def _client(dc, delay: int = 0, every: float = 0.0) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", CLIENT, str(delay), str(every)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env={**os.environ, **dc.env(dc.session),
                                         "PYTHONPATH": str(ROOT)})
    assert p.stdout.readline().strip() == "ready", p.stderr.read()
    return p


def _end(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGCONT)
        p.communicate("\n", timeout=30)


@pytest.fixture
def dc():
    with served(50) as dc:
        dc.keys = KeyLog()
        yield dc


def test_two_processes_on_one_key_at_once_are_an_overlap_one_after_another_are_not(dc):
    a = _client(dc)
    _end(a)
    b = _client(dc)
    try:
        assert dc.keys.overlaps() == []              # a had closed before b opened
        c = _client(dc)
        _end(c)
    finally:
        _end(b)
    pids = {u.pid for u in dc.keys.uses}
    assert {a.pid, b.pid, c.pid} <= pids
    [(x, y)] = dc.keys.overlaps()
    assert {x.pid, y.pid} == {b.pid, c.pid} and x.key_id == y.key_id


def test_a_client_that_stops_pinging_loses_its_connection_after_the_delay(dc):
    frozen = _client(dc, delay=1)
    armed = time.monotonic()
    frozen.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2.5)
        use = next(u for u in dc.keys.uses if u.pid == frozen.pid)
        assert use.closed is not None, "the server closed the frozen client's connection"
        assert 0.5 < use.closed - armed < 2.0
    finally:
        frozen.kill()
        frozen.wait()


def test_a_client_that_pings_in_time_keeps_its_connection(dc):
    alive = _client(dc, delay=1, every=0.3)
    try:
        time.sleep(2.5)
        uses = [u for u in dc.keys.uses if u.pid == alive.pid]
        assert uses and all(u.closed is None for u in uses)
    finally:
        _end(alive)
