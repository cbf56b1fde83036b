"""The resumable, parallel file download (engine/telegram/download*.py), through the real
Telethon client and the middleware stack against fakedc: bit-exact files, resumes that
fetch only what is missing, faults that cost one part, and no finished-looking file that
is not the file."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telethon import functions

from engine import model as m
from engine.fakedc import files
from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Rule
from engine.fakedc.server import FakeDC
from engine.telegram import client as tgclient
from engine.telegram.download import (
    DownloadFailed,
    ReferenceExpired,
    SizeMismatch,
    WrongDC,
    download,
    location_of,
)
from engine.telegram.download_journal import HEADER, RECORD, Journal
from engine.telegram.download_lanes import Lanes
from engine.telegram.download_plan import ONE_MB, PART_SIZES, legal, plan
from engine.telegram.middleware import Link, NetworkLost, TelegramStats, stack

BIG = files.file_id("big", 1)          # 3 MiB + 12345 bytes: 4 parts of 1 MiB, 7 of 512 KiB
HALF = 512 * 1024



# ---- planning ---------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 8 << 30), st.sampled_from(PART_SIZES))
def test_parts_cover_the_file_once_and_obey_telegrams_rules(size, part):
    parts = plan(size, part)
    assert sum(p.length for p in parts) == size
    end = 0
    for i, p in enumerate(parts):
        assert (p.index, p.offset, p.limit) == (i, end, part)
        assert 0 < p.length <= p.limit and (p.length == p.limit or i == len(parts) - 1)
        assert legal(p.offset, p.limit)
        assert files.check_range(p.offset, p.limit, precise=False) is None   # fakedc agrees
        end += p.length
    assert len(parts) == -(-size // part)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 64 << 20).map(lambda x: x - x % 1024), st.integers(1, 2 * ONE_MB))
def test_legal_is_telegrams_rule(offset, limit):
    assert legal(offset, limit) == (files.check_range(offset, limit, precise=False) is None)


def test_a_part_size_telegram_would_refuse_is_refused():
    for bad in (4096, 3 * 4096, 2 * ONE_MB):
        with pytest.raises(ValueError):
            plan(10, bad)


# ---- against fakedc -------------------------------------------------------------------------
def run(coro, timeout=90):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Served:
    """A fakedc, a tgarc-built client on it and the standard stack with a Link."""

    def __init__(self, rules=(), timeout=5.0, patience=20.0, **dc):
        self.rules, self.timeout, self.dc_kw = list(rules), timeout, dc
        self.patience = patience

    async def __aenter__(self):
        self.dc = await FakeDC(Corpus(messages=20), rules=self.rules, **self.dc_kw).start()
        self.session = self.dc.new_session()
        env = self.dc.env(self.session)
        self.client = tgclient.make_client(tgclient.open_session(None, env),
                                           *tgclient.credentials(env))
        self.stats = TelegramStats()
        self.link = link = Link(self.client, self.stats, self.patience, timeout=self.timeout,
                                backoff=0.05)
        await link.open()
        self.call = stack(self.client, self.stats, timeout=self.timeout, backoff=0.01,
                          link=link)
        return self

    async def __aexit__(self, *exc):
        await self.client.disconnect()
        await self.dc.stop()

    def location(self, fid=BIG):
        return location_of(m.Document(id=fid, access_hash=files.access_hash(fid),
                                      file_reference=self.dc.corpus.file_reference()))

    def got(self) -> int:
        """upload.getFile requests answered with bytes so far."""
        return sum(c.outcome == "ok" for c in self.dc.calls_to("GetFileRequest"))


def sha(fid=BIG) -> str:
    return hashlib.sha256(files.content(fid)).hexdigest()


def leftovers(tmp_path) -> list[str]:
    return sorted(os.listdir(tmp_path))


def records(journal) -> int:
    return (os.path.getsize(journal) - HEADER.size) // RECORD.size


@pytest.mark.parametrize(("part", "parallel"), [(HALF, 4), (ONE_MB, 1), (ONE_MB, 8)])
def test_a_file_arrives_bit_exact(tmp_path, part, parallel):
    async def body():
        async with Served() as s:
            dest = tmp_path / "big.bin"
            got = await download(s.call, s.location(), len(files.content(BIG)), dest,
                                 part=part, parallel=parallel)
            n = len(plan(len(files.content(BIG)), part))
            assert (got.parts, got.fetched, got.sha256) == (n, n, sha())
            assert dest.read_bytes() == files.content(BIG)
            assert leftovers(tmp_path) == ["big.bin"]
            assert s.got() == n
            assert {c.args["limit"] for c in s.dc.calls_to("GetFileRequest")} == {part}
            again = await download(s.call, s.location(), len(files.content(BIG)), dest)
            assert (again.fetched, again.sha256, s.got()) == (0, sha(), n)
    run(body())


def test_a_photo_and_a_small_file_arrive_too(tmp_path):
    async def body():
        async with Served() as s:
            fid = files.file_id("photo", 2)
            photo = m.Photo(id=fid, access_hash=files.access_hash(fid), thumb_type="y",
                            file_reference=s.dc.corpus.file_reference())
            got = await download(s.call, location_of(photo), len(files.content(fid)),
                                 tmp_path / "p.jpg")
            assert (got.parts, got.sha256) == (1, sha(fid))
            small = files.file_id("file", 3)
            got = await download(s.call, s.location(small), len(files.content(small)),
                                 tmp_path / "f.bin")
            assert (tmp_path / "f.bin").read_bytes() == files.content(small)
    run(body())


def test_a_cancelled_download_resumes_with_the_missing_parts_only(tmp_path):
    async def body():
        async with Served() as s:
            dest, size = tmp_path / "big.bin", len(files.content(BIG))
            done = []

            def on_part(offset, length):
                done.append(offset)
                if len(done) == 3:
                    task.cancel()              # Ctrl-C, three parts in
            task = asyncio.create_task(download(s.call, s.location(), size, dest, part=HALF,
                                                parallel=2, on_part=on_part))
            with pytest.raises(asyncio.CancelledError):
                await task
            assert leftovers(tmp_path) == ["big.bin.part", "big.bin.part.done"]
            durable = records(str(dest) + ".part.done")
            assert 3 <= durable < 7
            journal = (tmp_path / "big.bin.part.done").read_bytes()
            kept = sum(RECORD.unpack_from(journal, HEADER.size + k * RECORD.size)[1]
                       for k in range(durable))              # the parts' own lengths
            before = s.got()
            got = await download(s.call, s.location(), size, dest, part=HALF, parallel=2)
            assert (got.fetched, s.got() - before) == (7 - durable, 7 - durable)
            # the parts still missing, whichever they are (the short tail may be done
            # already when the parts in flight at the cancel finished)
            assert got.fetched_bytes == size - kept
            assert got.sha256 == sha() and dest.read_bytes() == files.content(BIG)
            assert leftovers(tmp_path) == ["big.bin"]
    run(body())


KILLED = textwrap.dedent("""
    import asyncio, os, resource, signal, sys
    from engine import model as m
    from engine.telegram import client as tgclient
    from engine.telegram.download import download, location_of
    from engine.telegram.middleware import TelegramStats, stack

    async def main(fid, access_hash, ref, size, dest):
        env = os.environ
        client = tgclient.make_client(tgclient.open_session(None, env),
                                      *tgclient.credentials(env))
        await client.connect()
        loc = location_of(m.Document(id=fid, access_hash=access_hash,
                                     file_reference=bytes.fromhex(ref)))
        kw = {} if a[6] == "-" else {"part": 512 * 1024, "parallel": int(a[6])}
        await download(stack(client, TelegramStats()), loc, size, dest, **kw)

    a = sys.argv
    if len(a) > 7:                 # a disk that is full past this many bytes of a file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(a[7]), int(a[7])))
    asyncio.run(main(int(a[1]), int(a[2]), a[3], int(a[4]), a[5]))
""")


async def elsewhere(s: Served, dest, parallel: int | str, *extra: str, **kw):
    """The download in another process (KILLED), on the same DC and session; ``parallel``
    "-": the downloader's default part size and parallelism."""
    env = {**os.environ, **s.dc.env(s.session), "PYTHONPATH": os.pathsep.join(sys.path)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED, str(BIG), str(files.access_hash(BIG)),
        s.dc.corpus.file_reference().hex(), str(len(files.content(BIG))), str(dest),
        str(parallel), *extra, env=env, **kw)


def test_a_killed_process_leaves_parts_the_next_run_does_not_fetch_again(tmp_path):
    async def body():
        # 1 MB/s per connection: ~3 s for the file, time to kill it half way
        async with Served(bandwidth=1_000_000) as s:
            dest, size = tmp_path / "big.bin", len(files.content(BIG))
            journal = str(dest) + ".part.done"
            proc = await elsewhere(s, dest, "-")           # the defaults
            while not (os.path.exists(journal) and records(journal) >= 2):
                assert proc.returncode is None, "the download ended before it was killed"
                await asyncio.sleep(0.02)
            proc.kill()                        # SIGKILL: no finally, no clean-up
            await proc.wait()
            assert not dest.exists()
            durable, before = records(journal), s.got()
            assert durable < 7
            served = {c.args["offset"] for c in s.dc.calls_to("GetFileRequest")}
            got = await download(s.call, s.location(), size, dest)
            assert (got.fetched, s.got() - before) == (7 - durable, 7 - durable)
            assert got.sha256 == sha() and leftovers(tmp_path) == ["big.bin"]
            again = [c.args for c in s.dc.calls_to("GetFileRequest")[before:]
                     if c.args["offset"] in served]
            # issue 12's bar: at most 2 MiB fetched twice after a kill -9
            assert sum(min(a["limit"], size - a["offset"]) for a in again) <= 2 * ONE_MB
    run(body())


def test_the_defaults_keep_2_mib_in_flight_and_2_parts_per_connection_of_2(tmp_path):
    async def body():
        # 2 MB/s per connection: the parts overlap long enough to be counted
        async with Served(bandwidth=2_000_000) as s:
            lanes = Lanes(s.client, s.call, 2, s.stats, link=s.link, timeout=5, backoff=0.01)
            flying, peak = {}, {}

            async def call(request):        # what the downloader asks of the stack
                flying[request.offset] = request.limit
                peak["bytes"] = max(peak.get("bytes", 0), sum(flying.values()))
                peak["parts"] = max(peak.get("parts", 0), len(flying))
                try:
                    return await lanes.call(request)
                finally:
                    del flying[request.offset]
            try:
                got = await download(call, s.location(), len(files.content(BIG)),
                                     tmp_path / "big.bin")
            finally:
                await lanes.close()
            assert got.sha256 == sha() and got.fetched == 7
            assert peak == {"bytes": 2 * ONE_MB, "parts": 4}
            ok = [c.connection for c in s.dc.calls_to("GetFileRequest") if c.outcome == "ok"]
            assert sorted(ok.count(c) for c in set(ok)) == [3, 4]     # dealt out in turn
    run(body())


def test_a_disk_full_mid_file_keeps_the_parts_written_before_it(tmp_path):
    async def body():
        async with Served() as s:
            dest, size = tmp_path / "big.bin", len(files.content(BIG))

            def on_part(offset, length):
                if offset == HALF:
                    task.cancel()              # two parts in
            task = asyncio.create_task(download(s.call, s.location(), size, dest, part=HALF,
                                                parallel=1, on_part=on_part))
            with pytest.raises(asyncio.CancelledError):
                await task
            # the .part has its full length; past 1.5 MiB the disk refuses writes
            proc = await elsewhere(s, dest, 1, str(3 * HALF),
                                   stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 1 and b"OSError: [Errno 27] File too large" in err
            assert records(str(dest) + ".part.done") == 3 and not dest.exists()
            before = s.got()
            got = await download(s.call, s.location(), size, dest, part=HALF)
            assert (got.fetched, s.got() - before, got.sha256) == (4, 4, sha())
    run(body())


@pytest.mark.parametrize(("rule", "counter"), [
    (Rule("GetFileRequest", "flood_wait", nth=3, seconds=1), "flood_waits"),
    (Rule("GetFileRequest", "drop_before", nth=3), "reconnects"),
    (Rule("GetFileRequest", "drop_after", nth=3), "reconnects"),
    (Rule("GetFileRequest", "no_reply", nth=3), "timeouts"),
    (Rule("GetFileRequest", "server_error", nth=3), "retries"),
])
def test_a_fault_mid_file_costs_a_retry_of_the_parts_in_flight_only(tmp_path, rule, counter):
    async def body():
        async with Served([rule], timeout=1.0) as s:
            dest, size = tmp_path / "big.bin", len(files.content(BIG))
            got = await download(s.call, s.location(), size, dest, part=HALF, parallel=3)
            assert rule.fired == 1 and getattr(s.stats, counter) >= 1, s.stats
            assert got.fetched == 7 and got.sha256 == sha()
            assert dest.read_bytes() == files.content(BIG)
            # a restart of the file would ask for ≥ 14 parts; only those in flight go again
            assert 7 <= len(s.dc.calls_to("GetFileRequest")) <= 7 + 3
            assert leftovers(tmp_path) == ["big.bin"]
    run(body())


def test_an_expired_reference_is_named_and_the_next_call_resumes(tmp_path):
    async def body():
        async with Served() as s:
            dest, size = tmp_path / "big.bin", len(files.content(BIG))
            old = s.location()
            s.dc.corpus.expire_file_references()
            with pytest.raises(ReferenceExpired) as caught:
                await download(s.call, old, size, dest, part=HALF)
            assert caught.value.__cause__ is None and caught.value.offset == 0
            assert not dest.exists()
            s.dc.rules.append(Rule("GetFileRequest", "file_ref", nth=4))
            with pytest.raises(ReferenceExpired):
                await download(s.call, s.location(), size, dest, part=HALF, parallel=1)
            assert records(str(dest) + ".part.done") == 3 and not dest.exists()
            got = await download(s.call, s.location(), size, dest, part=HALF, parallel=1)
            assert (got.fetched, got.sha256) == (4, sha())
    run(body())


def test_a_file_on_another_dc_or_a_refusal_is_named(tmp_path):
    async def body():
        async with Served([Rule("GetFileRequest", "error", nth=1, code=303,
                                message="FILE_MIGRATE_4"),
                           Rule("GetFileRequest", "error", nth=1, code=400,
                                message="FILE_ID_INVALID")]) as s:
            size = len(files.content(BIG))
            with pytest.raises(WrongDC) as caught:
                await download(s.call, s.location(), size, tmp_path / "a", parallel=1)
            assert caught.value.dc == 4
            with pytest.raises(DownloadFailed, match="FILE_ID_INVALID"):
                await download(s.call, s.location(), size, tmp_path / "a", parallel=1)
            assert not (tmp_path / "a").exists()
    run(body())


@pytest.mark.parametrize("wrong", [+5000, -5000, +HALF + 5000, -HALF])
def test_a_wrong_size_never_yields_a_finished_file(tmp_path, wrong):
    async def body():
        async with Served() as s:
            dest, size = tmp_path / "big.bin", len(files.content(BIG)) + wrong
            with pytest.raises(SizeMismatch):
                await download(s.call, s.location(), size, dest, part=HALF)
            assert not dest.exists()
            assert leftovers(tmp_path) == ["big.bin.part", "big.bin.part.done"]
            # the true size is another file: its parts start over, and it is right
            got = await download(s.call, s.location(), len(files.content(BIG)), dest,
                                 part=HALF)
            assert got.fetched == 7 and got.sha256 == sha()
    run(body())


def test_a_journal_is_believed_only_beside_its_part_file_and_up_to_a_torn_record(tmp_path):
    async def body():
        async with Served() as s:
            dest, size = tmp_path / "big.bin", len(files.content(BIG))
            lengths = [p.length for p in plan(size, HALF)]
            journal, _ = Journal.open(str(dest) + ".part.done", size, HALF, BIG, lengths)
            for i, n in enumerate(lengths):
                journal.add(i, n)              # "all on disk", but there is no .part
            journal.close()
            got = await download(s.call, s.location(), size, dest, part=HALF)
            assert (got.fetched, got.sha256) == (7, sha())
            # two records on disk, then a torn one: two parts are kept, the rest fetched
            dest.rename(str(dest) + ".part")
            journal, _ = Journal.open(str(dest) + ".part.done", size, HALF, BIG, lengths,
                                      reset=True)
            journal.add(0, lengths[0])
            journal.add(5, lengths[5])
            os.write(journal.fd, b"\x01\x00\x00\x00\x00")
            journal.close()
            got = await download(s.call, s.location(), size, dest, part=HALF)
            assert (got.fetched, got.sha256) == (5, sha())
    run(body())


def test_an_empty_file_needs_no_request(tmp_path):
    async def body():
        async with Served() as s:
            got = await download(s.call, s.location(), 0, tmp_path / "empty")
            assert (got.parts, got.sha256) == (0, hashlib.sha256(b"").hexdigest())
            assert (tmp_path / "empty").read_bytes() == b"" and s.got() == 0
    run(body())


@pytest.mark.parametrize("rules", [[], [Rule("GetFileRequest", "drop_before", nth=4)]])
def test_extra_connections_share_the_key_and_survive_a_drop(tmp_path, rules):
    async def body():
        async with Served(rules) as s:
            lanes = Lanes(s.client, s.call, 3, s.stats, timeout=5, backoff=0.01)
            try:
                got = await download(lanes.call, s.location(), len(files.content(BIG)),
                                     tmp_path / "big.bin", part=HALF, parallel=6)
            finally:
                await lanes.close()
            assert got.sha256 == sha() and got.fetched == 7
            ok = [c.connection for c in s.dc.calls_to("GetFileRequest") if c.outcome == "ok"]
            # a dropped lane's calls in flight (2) may be answered twice; the lane reopens
            assert 7 <= len(ok) <= 7 + 2 * bool(rules) and len(set(ok)) == 3 + bool(rules)
            assert (s.stats.retries >= 1) == bool(rules)
    run(body())


@pytest.mark.parametrize("n", [2, 4])
def test_lanes_wait_out_an_outage_with_the_main_connection(tmp_path, n):
    async def body():
        # 2 MB/s per connection: parts are still in flight when the network goes
        async with Served(bandwidth=2_000_000) as s:
            lanes = Lanes(s.client, s.call, n, s.stats, link=s.link, timeout=5, backoff=0.01)

            def on_part(offset, length):
                if offset == 0:
                    s.dc.offline(1.5)          # every connection dropped, none accepted
            try:
                got = await download(lanes.call, s.location(), len(files.content(BIG)),
                                     tmp_path / "big.bin", part=HALF, parallel=2 * n,
                                     on_part=on_part)
            finally:
                await lanes.close()
            assert got.sha256 == sha() and got.fetched == 7
            assert (tmp_path / "big.bin").read_bytes() == files.content(BIG)
            ok = [c for c in s.dc.calls_to("GetFileRequest") if c.outcome == "ok"]
            # the file never starts over: only the parts in flight are asked for again
            assert sum(c.args["offset"] == 0 for c in ok) == 1
            assert 7 <= len(ok) <= 7 + 2 * n
            # waited out, not retried away; one outage on the display, over now
            assert s.stats.retries == 0 and s.stats.reconnects >= 1, s.stats
            assert s.stats.offline_since is None and 1.0 <= s.stats.offline_seconds < 10
            assert len({c.connection for c in ok}) >= n + 1    # lanes reconnected
    run(body())


def test_lanes_past_the_reconnect_timeout_raise_network_lost(tmp_path):
    async def body():
        async with Served(bandwidth=2_000_000, patience=1.5) as s:
            lanes = Lanes(s.client, s.call, 3, s.stats, link=s.link, timeout=5, backoff=0.01)

            def on_part(offset, length):
                if offset == 0:
                    s.dc.offline()             # for good
            t0 = asyncio.get_running_loop().time()
            try:
                with pytest.raises(NetworkLost):
                    await download(lanes.call, s.location(), len(files.content(BIG)),
                                   tmp_path / "big.bin", part=HALF, parallel=6,
                                   on_part=on_part)
                assert 1.4 <= asyncio.get_running_loop().time() - t0 < 8
                # one verdict for the run: every connection fails at once from now on
                s.dc.online()
                for call in lanes.calls:
                    with pytest.raises(NetworkLost):
                        await asyncio.wait_for(call(functions.help.GetConfigRequest()), 0.5)
            finally:
                await lanes.close()
            assert not (tmp_path / "big.bin").exists()
    run(body())
