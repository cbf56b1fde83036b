"""fakedc serving files the way Telegram does, through the plain Telethon client: a connection's
bandwidth shared by the requests in flight on it, big files made per offset, every fault rule
on upload.getFile, and help.getAppConfig."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from telethon import TelegramClient, errors
from telethon.sessions import StringSession
from telethon.tl import functions, types

from engine.fakedc import bigfiles, files, keys
from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Budget, Link, Rule
from engine.fakedc.server import FakeDC
from tests.test_fakedc import run, served  # one server fixture for every fakedc test

PART = 128 * 1024
MIB = 1 << 20


@contextlib.asynccontextmanager
async def client_of(dc, session=None, **kw):
    client = TelegramClient(StringSession(session or dc.new_session()), 1, "fakedc-test",
                            receive_updates=False, **kw)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


async def location_of(client, msg_id=200, chat="tgarc_demo"):
    """The InputDocumentFileLocation of a message's document (200: the 3 MB file)."""
    doc = (await client.get_messages(chat, ids=msg_id)).document
    return types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")


def get_file(client, loc, offset, limit=PART, **kw):
    return client(functions.upload.GetFileRequest(loc, offset, limit, **kw))


async def timed(coro):
    t0 = time.monotonic()
    result = await coro
    return result, time.monotonic() - t0


# ---- bandwidth ------------------------------------------------------------------------------

def test_a_link_books_bytes_in_order_and_refills_up_to_its_burst():
    link = Link(1000.0)
    assert link.reserve(500, now=10.0) == 0.5
    assert link.reserve(500, now=10.0) == 1.0          # behind the first: waits for it too
    assert link.reserve(100, now=11.5) == 0.1          # the debt was paid at 11.0
    burst = Link(1000.0, burst=300)
    assert burst.reserve(200, now=0.0) == 0.0          # an idle link sends its burst at once
    assert burst.reserve(200, now=0.0) == 0.1
    assert burst.reserve(300, now=100.0) == 0.0        # refilled, but never past the burst
    assert burst.reserve(1, now=100.0) == 0.001


def test_requests_in_flight_on_one_connection_share_its_bandwidth():
    cap, n = 1_000_000, 8

    async def body():
        async with served(bandwidth=cap) as dc, client_of(dc) as client:
            loc = await location_of(client)
            data = files.content(loc.id)
            one, t_one = await timed(get_file(client, loc, 0))
            parts, t_many = await timed(asyncio.gather(
                *(get_file(client, loc, i * PART) for i in range(n))))
            assert one.bytes == data[:PART]
            assert [p.bytes for p in parts] == [data[i * PART:(i + 1) * PART] for i in range(n)]
            assert len({c.connection for c in dc.calls_to("GetFileRequest")}) == 1
            assert t_one >= 0.9 * PART / cap
            # n replies through one link take n times as long as one, not the same time
            assert 0.75 * n * t_one <= t_many <= 1.6 * n * t_one, (t_one, t_many)
            assert n * PART / t_many <= 1.1 * cap
    run(body())


def test_each_connection_gets_the_cap():
    cap, n = 1_000_000, 6

    async def batch(client, loc):
        return await asyncio.gather(*(get_file(client, loc, i * PART) for i in range(n)))

    async def body():
        async with served(bandwidth=cap) as dc, client_of(dc) as a, client_of(dc) as b:
            loc_a, loc_b = await location_of(a), await location_of(b)
            _, t_one = await timed(batch(a, loc_a))
            both, t_two = await timed(asyncio.gather(batch(a, loc_a), batch(b, loc_b)))
            assert all(len(p.bytes) == PART for parts in both for p in parts)
            single, double = n * PART / t_one, 2 * n * PART / t_two
            assert 1.6 <= double / single <= 2.4, (single, double)
            assert single <= 1.1 * cap and double <= 2.2 * cap
    run(body())


# ---- big files, made per offset ---------------------------------------------------------------

def shake_stream(fid, offset, length):
    """The documented stream, written out again without bigfiles.py's help."""
    out = b"".join(hashlib.shake_128(struct.pack("<QQ", fid, k)).digest(1 << 16)
                   for k in range(offset >> 16, ((offset + length - 1) >> 16) + 1))
    start = offset - (offset >> 16 << 16)
    return out[start:start + length]


def test_a_big_files_bytes_are_a_counter_mode_stream_over_its_id():
    size = 3 * MIB + 777
    fid = bigfiles.big_id(5, size)
    assert bigfiles.decode(fid) == (5, size) and files.known(fid) and files.size(fid) == size
    assert files.decode_id(fid) is None and bigfiles.decode(files.file_id("big", 0)) is None
    for offset, length in [(0, 100), (65_500, 200), (MIB - 1024, 2048), (size - 10, 4096)]:
        want = shake_stream(fid, offset, min(length, size - offset))
        assert bigfiles.read(fid, offset, length) == files.read(fid, offset, length) == want
    whole = b"".join(bigfiles.chunks(fid, 300_000))
    assert len(whole) == size and whole[MIB:MIB + 99] == shake_stream(fid, MIB, 99)
    assert bigfiles.sha256(fid) == hashlib.sha256(whole).hexdigest()
    assert bigfiles.read(bigfiles.big_id(6, size), 0, 64) != whole[:64]


@pytest.mark.parametrize(("spec", "want"), [
    ("1:200M", (1, 200 * MIB)), ("3:4096", (3, 4096)), ("2:1.5G", (2, 3 << 29)),
    ("1:10MiB", (1, 10 * MIB)), ("2:5k", (2, 5120)), ("1:3M@4", (1, 3 * MIB, 4)),
])
def test_big_file_specs(spec, want):
    assert bigfiles.parse_spec(spec) == want


@pytest.mark.parametrize("spec", ["200M", "0:1M", "x:1M", "1:", "1:0", "1:2T", "1:1M@",
                                  "1:1M@x", "1:1M@0"])
def test_bad_big_file_specs_are_refused(spec):
    with pytest.raises(ValueError):
        bigfiles.parse_spec(spec)


def test_big_files_join_the_corpus_only_when_asked_and_download_whole():
    size = 20 * MIB + 12_345

    async def body():
        async with served() as plain:
            assert plain.big_messages == [] and plain.corpus.chats["channel"].top_id == 300
        async with served(big_files=((2, size),)) as dc, client_of(dc) as client:
            assert dc.big_messages == [301, 302]
            msgs = await client.get_messages("tgarc_demo", ids=dc.big_messages)
            docs = [m.document for m in msgs]
            assert [d.size for d in docs] == [size, size]
            assert [m.file.name for m in msgs] == ["big0.bin", "big1.bin"]
            assert docs[0].id != docs[1].id
            data = await client.download_media(msgs[1], file=bytes)
            assert hashlib.sha256(data).hexdigest() == bigfiles.sha256(docs[1].id)
            loc = types.InputDocumentFileLocation(docs[0].id, docs[0].access_hash,
                                                  docs[0].file_reference, "")
            hashes = await client(functions.upload.GetFileHashesRequest(loc, 10 * MIB))
            assert hashes[0].offset == 10 * MIB and hashes[0].hash == \
                hashlib.sha256(bigfiles.read(docs[0].id, 10 * MIB, PART)).digest()
            old = (await client.get_messages("tgarc_demo", ids=200)).document
            assert files.read(old.id, 0, 4096) == files.content(old.id)[:4096]
    run(body())


def _peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_200_mb_file_is_served_in_parts_without_holding_it():
    size = 200 * 1000 * 1000 + 4321
    proc = subprocess.Popen([sys.executable, "-m", "engine.fakedc", "serve", "--messages", "50",
                             "--big-files", f"1:{size}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline(), proc.stdout.readline(), proc.stdout.readline()
        session = proc.stdout.readline().strip().split("=", 1)[1]
        rnd = random.Random(12)
        last = size - size % MIB
        offsets = [last] + [rnd.randrange(0, size // MIB) * MIB for _ in range(40)]

        async def body():
            client = TelegramClient(StringSession(session), 1, "x", receive_updates=False)
            await client.connect()
            try:
                loc = await location_of(client, 51)
                assert (await client.get_messages("tgarc_demo", ids=51)).document.size == size
                before = _peak_rss(proc.pid)
                for offset in offsets:
                    part = await get_file(client, loc, offset, MIB)
                    assert part.bytes == shake_stream(loc.id, offset, min(MIB, size - offset))
                precise = rnd.randrange(0, size // MIB) * MIB + rnd.randrange(0, 1021) * 1024
                part = await get_file(client, loc, precise, 3072, precise=True)
                assert part.bytes == shake_stream(loc.id, precise, 3072)
                return before, _peak_rss(proc.pid)
            finally:
                await client.disconnect()
        before, after = run(body())
        # 41 MiB went out; the file is 200 MB. Parts come and go: the peak barely moves.
        assert after - before < 24 * MIB, (before, after)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    assert "Traceback" not in proc.stderr.read()


# ---- every fault rule on upload.getFile ---------------------------------------------------------

@pytest.mark.parametrize(("rule", "error", "check"), [
    (Rule("GetFileRequest", "flood_wait", nth=1, seconds=120), errors.FloodWaitError,
     lambda e: e.seconds == 120),
    (Rule("GetFileRequest", "flood_premium", nth=1, seconds=90), errors.FloodPremiumWaitError,
     lambda e: e.seconds == 90),
    (Rule("GetFileRequest", "file_migrate", nth=1, dc=4), errors.FileMigrateError,
     lambda e: e.new_dc == 4),
    (Rule("GetFileRequest", "file_ref", nth=1), errors.FileReferenceExpiredError, None),
    (Rule("GetFileRequest", "server_error", nth=1), errors.ServerError, None),
    (Rule("GetFileRequest", "error", nth=1, code=400, message="CHANNEL_PRIVATE"),
     errors.ChannelPrivateError, None),
])
def test_error_rules_refuse_a_part_and_the_retry_gets_it(rule, error, check):
    async def body():
        async with served(rules=[rule]) as dc, \
                client_of(dc, request_retries=0, raise_last_call_error=True) as client:
            loc = await location_of(client)
            with pytest.raises(error) as err:
                await get_file(client, loc, 2 * PART)
            assert check is None or check(err.value)
            assert (await get_file(client, loc, 2 * PART)).bytes == \
                files.read(loc.id, 2 * PART, PART)
            calls = dc.calls_to("GetFileRequest")
            assert [c.outcome.split()[0] for c in calls] == ["rpc_error", "ok"]
            assert calls[0].args == calls[1].args == {"offset": 2 * PART, "limit": PART,
                                                      "file": loc.id}
    run(body())


@pytest.mark.parametrize("kind", ["drop_before", "drop_after", "bad_salt", "outage"])
def test_lost_connections_and_salts_still_deliver_the_part(kind):
    async def body():
        rule = Rule("GetFileRequest", kind, nth=1, seconds=1)
        async with served(rules=[rule]) as dc, client_of(dc) as client:
            loc = await location_of(client)
            part = await get_file(client, loc, 5 * PART)
            assert part.bytes == files.read(loc.id, 5 * PART, PART)
            assert (await get_file(client, loc, 6 * PART)).bytes == \
                files.read(loc.id, 6 * PART, PART)
            first = dc.calls_to("GetFileRequest")[0].outcome
            assert first == {"drop_before": "dropped before reply", "drop_after": "ok",
                             "bad_salt": "ok", "outage": "outage 1 s"}[kind]
            if kind in ("drop_before", "outage"):     # Telethon sent it again
                assert dc.calls_to("GetFileRequest")[1].outcome == "ok"
            if kind == "outage":
                assert dc.outages == 1
    run(body())


def test_a_lost_reply_leaves_the_request_waiting_and_the_connection_usable():
    async def body():
        rule = Rule("GetFileRequest", "no_reply", nth=1)
        async with served(rules=[rule]) as dc, client_of(dc) as client:
            loc = await location_of(client)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(get_file(client, loc, 0), 0.5)
            assert (await get_file(client, loc, 0)).bytes == files.read(loc.id, 0, PART)
            assert [c.outcome for c in dc.calls_to("GetFileRequest")] == ["no reply", "ok"]
    run(body())


def test_the_budget_counts_file_parts():
    async def body():
        budget = Budget(0.2, burst=2, methods=("GetFileRequest",))
        async with served(budget=budget) as dc, \
                client_of(dc, flood_sleep_threshold=0) as client:
            loc = await location_of(client)
            await get_file(client, loc, 0)
            await get_file(client, loc, PART)
            with pytest.raises(errors.FloodWaitError) as err:
                await get_file(client, loc, 2 * PART)
            assert 1 <= err.value.seconds <= 5
    run(body())


def test_a_rule_for_one_file_leaves_the_others_alone():
    rule = Rule("GetFileRequest", "server_error", nth=2, file_id=77)
    assert not rule.matches("GetFileRequest", 78) and not rule.matches("GetFileRequest")
    assert [rule.matches("GetFileRequest", 77) for _ in range(3)] == [False, True, False]
    assert rule.calls == 3


def test_an_expired_reference_stays_expired_until_the_message_is_fetched_again():
    async def body():
        async with served() as dc, client_of(dc, request_retries=0) as client:
            loc = await location_of(client)
            rule = Rule("GetFileRequest", "expire_ref", nth=2, file_id=loc.id)
            dc.rules.append(rule)
            photo_msg = next(m for m in await client.get_messages("tgarc_demo", limit=20)
                             if m.photo)
            photo = types.InputPhotoFileLocation(photo_msg.photo.id, photo_msg.photo.access_hash,
                                                 photo_msg.photo.file_reference, "y")
            assert (await get_file(client, loc, 0)).bytes == files.read(loc.id, 0, PART)
            for _ in range(2):        # the rule fired once; the old reference stays refused
                with pytest.raises(errors.FileReferenceExpiredError):
                    await get_file(client, loc, PART)
            assert rule.fired == 1
            # other files keep their references
            assert (await get_file(client, photo, 0, 4096)).bytes == \
                files.read(photo.id, 0, 4096)
            fresh = (await client.get_messages("tgarc_demo", ids=200)).document
            assert fresh.file_reference != loc.file_reference
            page = await client.get_messages("tgarc_demo", limit=1, offset_id=201)
            assert page[0].document.file_reference == fresh.file_reference
            renewed = types.InputDocumentFileLocation(fresh.id, fresh.access_hash,
                                                      fresh.file_reference, "")
            assert (await get_file(client, renewed, PART)).bytes == \
                files.read(loc.id, PART, PART)
    run(body())


def test_telethon_refetches_a_documents_message_when_its_reference_expires_mid_download():
    async def body():
        async with served(big_files=((1, 3 * MIB),)) as dc, client_of(dc) as client:
            msg = await client.get_messages("tgarc_demo", ids=dc.big_messages[0])
            dc.rules.append(Rule("GetFileRequest", "expire_ref", nth=3,
                                 file_id=msg.document.id))
            data = await client.download_media(msg, file=bytes)
            assert hashlib.sha256(data).hexdigest() == bigfiles.sha256(msg.document.id)
            outcomes = [c.outcome for c in dc.calls_to("GetFileRequest")]
            assert outcomes[2] == "rpc_error 400 FILE_REFERENCE_EXPIRED"
            refused = next(i for i, c in enumerate(dc.calls) if c.outcome == outcomes[2])
            after = [c.method for c in dc.calls[refused:]]
            assert after.index("GetMessagesRequest") < len(after) - 1    # then more parts
            assert after[-1] == "GetFileRequest"
    run(body())


# ---- help.getAppConfig ------------------------------------------------------------------------

def test_app_config_names_the_download_queues_and_honours_its_hash():
    async def body():
        async with served() as dc, client_of(dc) as client:
            got = await client(functions.help.GetAppConfigRequest(hash=0))
            assert isinstance(got, types.help.AppConfig) and got.hash != 0
            config = {v.key: v.value.value for v in got.config.value}
            assert config["small_queue_max_active_operations_count"] == 5
            assert config["large_queue_max_active_operations_count"] == 2
            assert config["upload_premium_speedup_download"] == 10
            again = await client(functions.help.GetAppConfigRequest(hash=got.hash))
            assert isinstance(again, types.help.AppConfigNotModified)
            assert [c.outcome for c in dc.calls_to("GetAppConfigRequest")] == ["ok", "ok"]
    run(body())


# ---- a second DC: exported authorizations, files that live there ------------------------------

@pytest.fixture
def fresh_telethon_config():
    """Telethon caches help.getConfig on the class, for every client of the process: a DC
    list from an earlier server would send this test's clients to its ports."""
    keys.register_with_telethon()             # the borrowed sender's key exchange
    TelegramClient._config = None
    yield
    TelegramClient._config = None


def _dc_calls(dc, method):
    return [(c.dc, c.outcome) for c in dc.calls_to(method)]


def test_telethon_downloads_a_file_that_lives_on_another_dc(fresh_telethon_config):
    async def body():
        async with served(other_dcs=(4,), big_files=((1, 3 * MIB + 5, 4),)) as dc, \
                client_of(dc) as client:
            assert set(dc.dc_ports()) == {2, 4} and dc.dc_ports()[4] != dc.port
            msg = await client.get_messages("tgarc_demo", ids=dc.big_messages[0])
            assert msg.document.dc_id == 4
            want = bigfiles.sha256(msg.document.id)
            # given the Document, Telethon goes to its DC at once (_borrow_exported_sender)
            data = await client.download_file(msg.document, bytes)
            assert hashlib.sha256(data).hexdigest() == want
            assert _dc_calls(dc, "ExportAuthorizationRequest") == [(2, "ok")]
            assert _dc_calls(dc, "ImportAuthorizationRequest") == [(4, "ok")]
            parts = _dc_calls(dc, "GetFileRequest")
            assert len(parts) >= 7 and set(parts) == {(4, "ok")}
            # the key made on DC 4 is registered there only
            assert sorted(a.dc_id for a in dc.accounts.values()) == [2, 4]
            # download_media of a document (Telethon 1.45) does not pass the DC on: it asks
            # home, is told FILE_MIGRATE_4, and reuses the sender it borrowed for DC 4
            n = len(parts)
            data = await client.download_media(msg, file=bytes)
            assert hashlib.sha256(data).hexdigest() == want
            parts = _dc_calls(dc, "GetFileRequest")[n:]
            assert parts[0] == (2, "rpc_error 303 FILE_MIGRATE_4")
            assert set(parts[1:]) == {(4, "ok")}
            assert len(dc.calls_to("ImportAuthorizationRequest")) == 1
    run(body())


def test_a_wrong_guess_gets_file_migrate_and_telethon_follows_it(fresh_telethon_config):
    async def body():
        async with served(other_dcs=(4,), big_files=((1, MIB, 4),)) as dc, \
                client_of(dc, raise_last_call_error=True) as client:
            loc = await location_of(client, dc.big_messages[0])
            with pytest.raises(errors.FileMigrateError) as err:
                await get_file(client, loc, 0)
            assert err.value.new_dc == 4
            data = await client.download_file(loc, bytes, file_size=MIB)    # no dc_id: home
            assert data == bigfiles.read(loc.id, 0, MIB)
            parts = _dc_calls(dc, "GetFileRequest")
            assert parts[:2] == [(2, "rpc_error 303 FILE_MIGRATE_4")] * 2
            assert set(parts[2:]) == {(4, "ok")}
            # files of the home DC are still served at home, not on DC 4
            home = await location_of(client)
            assert (await get_file(client, home, 0)).bytes == files.read(home.id, 0, PART)
    run(body())


def test_exported_authorizations_are_checked(fresh_telethon_config):
    async def body():
        async with served(other_dcs=(4,)) as dc, \
                client_of(dc, raise_last_call_error=True) as client:
            export = functions.auth.ExportAuthorizationRequest
            for bad in (2, 5):                   # its own DC; a DC the server does not run
                with pytest.raises(errors.DcIdInvalidError):
                    await client(export(bad))
            auth = await client(export(4))
            with pytest.raises(errors.AuthBytesInvalidError):      # meant for DC 4, not here
                await client(functions.auth.ImportAuthorizationRequest(auth.id, auth.bytes))
            # the home key does not open DC 4
            session = StringSession(dc.new_session())
            session.set_dc(4, "127.0.0.1", dc.dc_ports()[4])
            stray = TelegramClient(session, 1, "x", receive_updates=False)
            with pytest.raises((errors.AuthKeyNotFound, ConnectionError)):
                await stray.connect()
                await asyncio.wait_for(stray.get_me(), 10)
            await stray.disconnect()
            assert [c for c in dc.calls if c.dc == 4] == []
    run(body())


@pytest.mark.parametrize("argv", [["--big-files", "1:1M@4"], ["--other-dc", "2"],
                                  ["--other-dc", "5", "--big-files", "1:1M@4"]])
def test_serve_refuses_dcs_it_would_not_run(argv, capsys):
    from engine.fakedc.__main__ import main
    with pytest.raises(SystemExit) as exit_:
        main(["serve", *argv])
    assert exit_.value.code == 2 and "DC" in capsys.readouterr().err


def test_other_dcs_are_named_in_the_config_and_refused_when_odd():
    async def body():
        async with served(other_dcs=(4, 5)) as dc, client_of(dc) as client:
            config = await client(functions.help.GetConfigRequest())
            assert {(o.id, o.port) for o in config.dc_options} == set(dc.dc_ports().items())
            assert config.this_dc == 2
    run(body())
    with pytest.raises(ValueError):
        FakeDC(Corpus(messages=10), other_dcs=(2,))
    with pytest.raises(ValueError):
        FakeDC(Corpus(messages=10), big_files=((1, MIB, 4),))
