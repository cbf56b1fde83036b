"""A lost connection to Telegram, through the real Telethon client over TCP to fakedc (its
``outage`` and ``blackhole`` faults): waited out — "reconnecting" in the progress — with
the archive and outputs exactly those of a run without it; past ``--reconnect-timeout``,
exit 3 with one line, a consistent checkpoint, and the next run completes."""

from __future__ import annotations

import asyncio
import itertools
import time

import orjson
import pytest
from telethon.tl import functions, types

from engine.aggregator.display import JsonDisplay, TtyDisplay
from engine.aggregator.fold import Fold
from engine.archive.store import ChatStore, read_segment_file
from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Rule
from engine.fakedc.server import FakeDC
from engine.model.events import LinkState
from engine.telegram import client as tgclient
from engine.telegram.middleware import Link, NetworkLost, TelegramStats, stack
from tests._export import CHANNEL_DIR, outputs, served, tgarc

RESUME = "run the same command again to resume"


def ok(r) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr


def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def progress(stderr: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            rec = orjson.loads(line)
            if rec.get("event") == "progress":
                out.append(rec)
    return out


def archived(root) -> tuple[int, list[tuple[int, int]]]:
    """Messages the checkpoint lists and its history ranges, each segment read back."""
    cp = ChatStore.read_checkpoint(root)
    ranges, n = [], 0
    for seg in cp.segments:
        read_segment_file(root / "archive" / seg.name)
        if seg.kind == "history":
            ranges.append((seg.lo, seg.hi))
            n += seg.count
    return n, sorted(ranges)


def disjoint(ranges: list[tuple[int, int]]) -> bool:
    return all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


# ---- through the command line ---------------------------------------------------------------
def test_an_outage_is_waited_out_shown_and_changes_nothing(tmp_path):
    with served(1500) as dc:
        ok(tgarc(dc, tmp_path / "reference", "--quiet"))
        # mid-fetch the server drops every connection and refuses new ones for 3 s
        dc.rules.append(Rule("GetHistoryRequest", "outage", nth=6, seconds=3))
        t0 = time.monotonic()
        r = tgarc(dc, tmp_path / "run", timeout=60)
        took = time.monotonic() - t0
        assert dc.outages == 1
    ok(r)
    assert took < 20, took
    waiting = [x["reconnecting"] for x in progress(r.stderr) if "reconnecting" in x]
    assert waiting, r.stderr[-3000:]
    assert all(0 < w["offline_s"] < 15 and w["limit_s"] == 600 for w in waiting), waiting
    assert "reconnecting" not in progress(r.stderr)[-1]
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")
    n, ranges = archived(tmp_path / "run" / CHANNEL_DIR)
    assert disjoint(ranges) and n == archived(tmp_path / "reference" / CHANNEL_DIR)[0]
    tg = orjson.loads((tmp_path / "run" / "export_metrics.json").read_bytes())["telegram"]
    assert tg["reconnects"] >= 1 and 2 <= tg["offline_seconds"] < 15, tg
    log = (tmp_path / "run" / "tgarc.log").read_text()
    assert "lost the connection to Telegram" in log and "reconnected to Telegram" in log


def test_a_link_gone_silent_is_found_by_a_ping_and_waited_out(tmp_path):
    with served(1500) as dc:
        ok(tgarc(dc, tmp_path / "reference", "--quiet"))
        # nothing is answered for 4 s, connections stay open: no reset tells the client
        dc.rules.append(Rule("GetHistoryRequest", "blackhole", nth=6, seconds=4))
        r = tgarc(dc, tmp_path / "run", "--request-timeout", "1", timeout=60)
        assert dc.outages == 1
    ok(r)
    assert any("reconnecting" in x for x in progress(r.stderr)), r.stderr[-3000:]
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")
    assert "no reply to a ping" in (tmp_path / "run" / "tgarc.log").read_text()


def test_past_the_reconnect_timeout_exit_3_in_one_line_and_the_next_run_resumes(tmp_path):
    with served(1500) as dc:
        ok(tgarc(dc, tmp_path / "reference", "--quiet"))
        dc.rules.append(Rule("GetHistoryRequest", "outage", nth=6, seconds=3600))
        t0 = time.monotonic()
        r = tgarc(dc, tmp_path / "run", "--quiet", "--reconnect-timeout", "3", timeout=60)
        took = time.monotonic() - t0
        assert r.returncode == 3, r.stderr
        line = one_line(r)
        assert line.startswith("tgarc: lost the connection to Telegram") and \
            line.endswith(RESUME), line
        assert "within 3 s" in line
        assert 3 <= took < 15, took
        root = tmp_path / "run" / CHANNEL_DIR
        n, ranges = archived(root)                   # every listed segment is whole
        assert 0 < n < 1500 and disjoint(ranges)
        assert ChatStore.read_checkpoint(root).runs[-1].status == "failed"
        assert not (root / "result.json").exists()
        dc.online()
        ok(tgarc(dc, tmp_path / "run", "--quiet"))
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")


def test_a_lost_network_stops_all_chats_at_once(tmp_path):
    with served(600) as dc:
        dc.rules.append(Rule("GetHistoryRequest", "outage", nth=3, seconds=3600))
        r = tgarc(dc, tmp_path, "--quiet", "--all", "--reconnect-timeout", "2", target="",
                  timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith(RESUME), r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("lost the connection") == 1


def test_reconnect_timeout_must_be_positive(tmp_path):
    with served(20) as dc:
        r = tgarc(dc, tmp_path, "--quiet", "--reconnect-timeout", "0")
    assert r.returncode == 2
    assert one_line(r) == "tgarc: --reconnect-timeout must be above 0, not 0"


# ---- the layer, in process ------------------------------------------------------------------
def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def history(dc):
    ch = dc.corpus.chats["channel"]
    return functions.messages.GetHistoryRequest(
        peer=types.InputPeerChannel(ch.id, ch.access_hash), offset_id=0, offset_date=None,
        add_offset=0, limit=3, max_id=0, min_id=0, hash=0)


async def linked(patience: float):
    dc = await FakeDC(Corpus(messages=200)).start()
    env = dc.env(dc.new_session())
    client = tgclient.make_client(tgclient.open_session(None, env), *tgclient.credentials(env))
    stats = TelegramStats()
    link = Link(client, stats, patience, timeout=5)
    await link.open()
    return dc, client, link, stats, stack(client, stats, timeout=5, link=link)


def test_calls_in_flight_wait_for_one_reconnect_and_are_sent_again():
    async def body():
        dc, client, link, stats, call = await linked(patience=20)
        try:
            assert len((await call(history(dc))).messages) == 3
            dc.offline(1.5)
            got = await asyncio.gather(*(call(history(dc)) for _ in range(4)))
            assert [len(r.messages) for r in got] == [3] * 4
            assert stats.reconnects == 1 and stats.retries == 0, stats
            assert stats.offline_since is None and 1.0 <= stats.offline_seconds < 10
            assert link.epoch == 1
        finally:
            await client.disconnect()
            await dc.stop()
    run(body())


def test_past_the_patience_every_call_fails_at_once():
    async def body():
        dc, client, _link, _stats, call = await linked(patience=1.5)
        try:
            dc.offline()
            t0 = time.monotonic()
            with pytest.raises(NetworkLost, match=RESUME):
                await call(history(dc))
            assert 1.5 <= time.monotonic() - t0 < 6
            dc.online()
            t0 = time.monotonic()
            with pytest.raises(NetworkLost):          # no second wait: the run is ending
                await call(history(dc))
            assert time.monotonic() - t0 < 0.5
        finally:
            await client.disconnect()
            await dc.stop()
    run(body())


# ---- the progress display -------------------------------------------------------------------
def test_the_displays_say_reconnecting(capsys):
    fold = Fold(started_mono=0.0)
    fold.apply(LinkState(12.4, 600.0, 12.4), 1.0)
    JsonDisplay(0.0).tick(fold, 2.0)
    rec = orjson.loads(capsys.readouterr().err.splitlines()[-1])
    assert rec["reconnecting"] == {"offline_s": 12.4, "limit_s": 600.0}
    tty = TtyDisplay(0.0, force_terminal=True)
    tty.tick(fold, 2.0)
    tty.stop(None)
    assert "reconnecting (12 s)" in capsys.readouterr().err
    fold.apply(LinkState(0.0, 600.0, 12.4), 3.0)
    JsonDisplay(0.0).tick(fold, 4.0)
    assert "reconnecting" not in capsys.readouterr().err
    assert fold.sections(5.0)["telegram"]["offline_seconds"] == 12.4
