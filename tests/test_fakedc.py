"""The loopback server through the plain Telethon client (no tgarc code on the client side)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
from telethon import TelegramClient, errors
from telethon.network import (
    ConnectionTcpAbridged,
    ConnectionTcpFull,
    ConnectionTcpIntermediate,
)
from telethon.sessions import StringSession
from telethon.tl import functions, types

from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Budget, Rule
from engine.fakedc.keys import PUBLIC_KEY_ENV
from engine.fakedc.server import FakeDC
from engine.telegram.client import dc_key


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def served(corpus=None, **kw):
    async with FakeDC(corpus or Corpus(messages=300), **kw) as dc:
        yield dc


@contextlib.asynccontextmanager
async def client_of(dc, session=None, connection=ConnectionTcpFull, **kw):
    client = TelegramClient(StringSession(session or dc.new_session()), 1, "fakedc-test",
                            receive_updates=False, connection=connection, **kw)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


def channel_input(dc):
    ch = dc.corpus.chats["channel"]
    return types.InputPeerChannel(ch.id, ch.access_hash)


@pytest.mark.parametrize("connection", [ConnectionTcpFull, ConnectionTcpIntermediate,
                                        ConnectionTcpAbridged])
def test_every_transport_carries_a_session(connection):
    async def body():
        async with served() as dc, client_of(dc, connection=connection) as client:
            me = await client.get_me()
            assert (me.id, me.username) == (Corpus.ME, "archivist")
            # a large page exercises the long-length forms of each framing
            page = await client.get_messages("tgarc_demo", limit=100)
            assert len(page) == 100
    run(body())


def test_iterating_100k_messages_gives_every_id_once_in_order():
    async def body():
        corpus = Corpus(messages=100_000, text_only=True)
        chat = corpus.chats["channel"]
        async with served(corpus) as dc, client_of(dc) as client:
            ids = [m.id async for m in client.iter_messages("tgarc_demo", limit=None,
                                                           wait_time=0)]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        assert len(ids) == chat.count() == sum(chat.exists(i) for i in range(1, 100_001))
        assert 98_000 < len(ids) < 100_000, "gaps (deleted ids) are part of the corpus"
    run(body(), timeout=170)


def test_get_history_paging_arguments_follow_telegram():
    async def body():
        async with served() as dc, client_of(dc) as client:
            chat = dc.corpus.chats["channel"]
            existing = [i for i in range(chat.top_id, 0, -1) if chat.exists(i)]

            async def hist(**kw):
                args = dict(offset_id=0, offset_date=None, add_offset=0, limit=100, max_id=0,
                            min_id=0, hash=0)
                args.update(kw)
                r = await client(functions.messages.GetHistoryRequest(
                    peer=channel_input(dc), **args))
                assert r.count == len(existing)
                return [m.id for m in r.messages]

            assert await hist(limit=5) == existing[:5]
            assert await hist(offset_id=200, limit=3) == [i for i in existing if i < 200][:3]
            below = [i for i in existing if i < 200]
            above = [i for i in existing if i >= 200][::-1]
            assert await hist(offset_id=200, add_offset=-2, limit=5) == \
                above[:2][::-1] + below[:3]
            assert await hist(offset_id=200, add_offset=3, limit=2) == below[3:5]
            assert await hist(min_id=295, limit=100) == [i for i in existing if i > 295]
            assert await hist(max_id=4, limit=100) == [i for i in existing if i < 4]
            date = dc.corpus.message(chat, 100).date
            assert await hist(offset_date=date, limit=2) == [i for i in existing if i < 100][:2]
            assert await hist(limit=0) == []
    run(body())


def test_reverse_iteration_with_bounds():
    async def body():
        async with served() as dc, client_of(dc) as client:
            chat = dc.corpus.chats["channel"]
            got = [m.id async for m in client.iter_messages(
                "tgarc_demo", reverse=True, min_id=10, max_id=260, wait_time=0)]
            assert got == [i for i in range(11, 260) if chat.exists(i)]
    run(body())


def test_messages_by_id_missing_ones_are_none_and_dialogs_list_every_chat():
    async def body():
        async with served() as dc, client_of(dc) as client:
            chat = dc.corpus.chats["channel"]
            gap = next(i for i in range(2, 300) if not chat.exists(i))
            got = await client.get_messages("tgarc_demo", ids=[2, gap, 99999])
            assert got[0].id == 2 and got[1] is None and got[2] is None
            dialogs = [d async for d in client.iter_dialogs()]
            # the migrated basic group (-400002) is hidden, as Telegram hides it; the
            # account's own chat (Saved Messages, 1000001) is listed
            assert {d.id for d in dialogs} == {-1001500000001, -1001500000002, -1001500000003,
                                               -400001, 1000100, 1000001}
            paged = [d.id async for d in client.iter_dialogs(limit=3)]
            assert paged == [d.id for d in dialogs][:3]
            full = await client(functions.channels.GetFullChannelRequest(
                await client.get_input_entity("tgarc_demo")))
            assert "Synthetic channel" in full.full_chat.about
            basic = await client(functions.messages.GetFullChatRequest(400001))
            assert len(basic.full_chat.participants.participants) == 21
            user = await client(functions.users.GetFullUserRequest("synthetic_user_3"))
            assert user.users[0].username == "synthetic_user_3"
            private = [m async for m in client.iter_messages(1000100, limit=5)]
            assert len(private) == 5
    run(body())


def test_an_account_with_many_chats_pages_its_dialogs_without_drops_or_repeats():
    """``Corpus(chats=N)``: N more channels of 50-2,000 messages, listed in the dialogs,
    newest first; Telethon's pager and tgarc's walk (resolve.dialog_entities, 100 a page)
    both see each one once, with its newest message."""
    from engine.telegram.dialogs import walk_dialogs

    async def body():
        async with served(Corpus(messages=100, text_only=True, chats=230)) as dc, \
                client_of(dc) as client:
            extra = {-(10**12) - c.id: c for c in dc.corpus.chats.values()
                     if c.key.startswith("extra")}
            assert len(extra) == 230
            assert all(50 <= c.top_id <= 2000 for c in extra.values())
            dialogs = [d async for d in client.iter_dialogs()]
            ids = [d.id for d in dialogs]
            assert len(ids) == len(set(ids)) and set(extra) <= set(ids)
            assert all(d.message.id == dc.corpus.history(extra[d.id], limit=1)[0]
                       for d in dialogs if d.id in extra)
            walked = await walk_dialogs(client, page=100)
            assert [d.id for d in walked] == ids
    run(body())


def test_wrong_names_and_hashes_are_telegram_errors():
    async def body():
        async with served() as dc, client_of(dc) as client:
            with pytest.raises(ValueError, match="nobody_here"):
                await client.get_entity("@nobody_here")
            ch = dc.corpus.chats["channel"]
            with pytest.raises(errors.ChannelInvalidError):
                await client(functions.channels.GetChannelsRequest(
                    [types.InputChannel(ch.id, ch.access_hash ^ 1)]))
            with pytest.raises(errors.RPCError, match="METHOD_NOT_SUPPORTED"):
                await client(functions.messages.GetAllStickersRequest(hash=0))
    run(body())


def test_a_revoked_session_gets_auth_key_unregistered():
    async def body():
        async with served() as dc:
            session = dc.new_session()
            async with client_of(dc, session) as client:
                assert (await client.get_me()).id == Corpus.ME
                dc.revoke(session)
                with pytest.raises(errors.AuthKeyUnregisteredError):
                    await client(functions.users.GetUsersRequest([types.InputUserSelf()]))
    run(body())


def test_an_unknown_auth_key_is_refused_at_the_transport():
    async def body():
        async with served() as dc:
            other = FakeDC(Corpus(messages=1))
            session = other.new_session()       # a key this server never saw
            s = StringSession(session)
            s.set_dc(2, "127.0.0.1", dc.port)
            client = TelegramClient(s, 1, "x", receive_updates=False)
            with pytest.raises((errors.AuthKeyNotFound, ConnectionError)):
                await client.connect()
                await asyncio.wait_for(client.get_me(), 10)
            await client.disconnect()
    run(body())


def test_mutations_show_up_while_serving():
    async def body():
        async with served() as dc, client_of(dc) as client:
            corpus, chat = dc.corpus, dc.corpus.chats["channel"]
            before = chat.count()
            new_id = corpus.add_message("channel", "fresh news")
            corpus.edit_message("channel", 10, "corrected text")
            corpus.delete_messages("channel", [12])
            top = await client.get_messages("tgarc_demo", limit=1)
            assert (top[0].id, top[0].message, top.total) == (new_id, "fresh news", before)
            edited, deleted = await client.get_messages("tgarc_demo", ids=[10, 12])
            assert edited.message == "corrected text" and edited.edit_date is not None
            assert deleted is None
    run(body())


def test_takeout_sessions_wrap_requests():
    async def body():
        async with served() as dc, client_of(dc) as client:
            takeout = await client(functions.account.InitTakeoutSessionRequest(
                message_users=True, message_chats=True, message_megagroups=True,
                message_channels=True))
            r = await client(functions.InvokeWithTakeoutRequest(
                takeout.id, functions.messages.GetHistoryRequest(
                    peer=channel_input(dc), offset_id=0, offset_date=None, add_offset=0,
                    limit=3, max_id=0, min_id=0, hash=0)))
            assert len(r.messages) == 3
            with pytest.raises(errors.TakeoutInvalidError):
                await client(functions.InvokeWithTakeoutRequest(
                    12345, functions.help.GetNearestDcRequest()))
            assert await client(functions.account.FinishTakeoutSessionRequest()) is True
    run(body())


def test_concurrent_requests_in_containers_and_gzip_both_ways():
    async def body():
        async with served(gzip_min_bytes=64) as dc, client_of(dc) as client:
            pages = await asyncio.gather(*(client.get_messages("tgarc_demo", limit=20,
                                                              offset_id=300 - 20 * k)
                                           for k in range(6)))
            assert [len(p) for p in pages] == [20] * 6
            # > 512 bytes of ids: Telethon gzips the request itself
            many = await client.get_messages("tgarc_demo", ids=list(range(1, 301)))
            assert sum(m is not None for m in many) == dc.corpus.chats["channel"].count()
    run(body())


def test_reconnecting_starts_a_new_session_on_the_same_key():
    async def body():
        async with served() as dc:
            session = dc.new_session()
            for _ in range(2):
                async with client_of(dc, session) as client:
                    assert (await client.get_me()).id == Corpus.ME
    run(body())


# ---- faults -------------------------------------------------------------------------------

def _history_call(client, dc, limit=5):
    return client(functions.messages.GetHistoryRequest(
        peer=channel_input(dc), offset_id=0, offset_date=None, add_offset=0, limit=limit,
        max_id=0, min_id=0, hash=0))


@pytest.mark.parametrize(("kind", "error"), [
    ("flood_wait", errors.FloodWaitError),
    ("flood_premium", errors.FloodPremiumWaitError),
    ("takeout_delay", errors.TakeoutInitDelayError),
    ("file_ref", errors.FileReferenceExpiredError),
])
def test_error_rules_raise_what_telegram_would(kind, error):
    async def body():
        rule = Rule("GetHistoryRequest", kind, nth=1, seconds=120)
        async with served(rules=[rule]) as dc, client_of(dc) as client:
            with pytest.raises(error) as err:
                await _history_call(client, dc)
            if kind != "file_ref":
                assert err.value.seconds == 120
            assert len((await _history_call(client, dc)).messages) == 5
            outcomes = [c.outcome for c in dc.calls_to("GetHistoryRequest")]
            assert outcomes[0].startswith("rpc_error") and outcomes[-1] == "ok"
    run(body())


def test_a_short_flood_wait_is_slept_through_by_telethon():
    async def body():
        rule = Rule("GetHistoryRequest", "flood_wait", nth=1, seconds=1)
        async with served(rules=[rule]) as dc, client_of(dc) as client:
            t0 = time.monotonic()
            assert len((await _history_call(client, dc)).messages) == 5
            assert time.monotonic() - t0 >= 0.9
            assert [c.outcome for c in dc.calls_to("GetHistoryRequest")] == \
                ["rpc_error 420 FLOOD_WAIT_1", "ok"]
    run(body())


def test_server_errors_and_custom_errors():
    async def body():
        rules = [Rule("GetFullChannelRequest", "error", every=1, code=400,
                      message="CHANNEL_PRIVATE"),
                 Rule("GetNearestDcRequest", "server_error", nth=1)]
        async with served(rules=rules) as dc, client_of(dc, request_retries=0) as client:
            with pytest.raises(errors.ChannelPrivateError):
                await client(functions.channels.GetFullChannelRequest(
                    await client.get_input_entity("tgarc_demo")))
            with pytest.raises((errors.ServerError, ValueError)):
                await client(functions.help.GetNearestDcRequest())
    run(body())


def test_dropped_connections_are_survived_by_resending():
    async def body():
        rules = [Rule("GetHistoryRequest", "drop_before", nth=1),
                 Rule("GetHistoryRequest", "drop_after", nth=3)]
        async with served(rules=rules) as dc, client_of(dc) as client:
            for _ in range(3):
                assert len((await asyncio.wait_for(_history_call(client, dc), 30)).messages) == 5
            outcomes = [c.outcome for c in dc.calls_to("GetHistoryRequest")]
            assert outcomes[0] == "dropped before reply" and outcomes.count("ok") >= 3
    run(body())


def test_a_reply_that_never_comes_needs_the_callers_own_timeout():
    async def body():
        rules = [Rule("GetHistoryRequest", "no_reply", nth=1)]
        async with served(rules=rules) as dc, client_of(dc) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(_history_call(client, dc), 1.0)
            assert len((await _history_call(client, dc)).messages) == 5
            assert dc.calls_to("GetHistoryRequest")[0].outcome == "no reply"
    run(body())


def test_a_salt_change_mid_session_is_followed_by_the_client():
    async def body():
        rules = [Rule("GetHistoryRequest", "bad_salt", nth=2)]
        async with served(rules=rules) as dc, client_of(dc) as client:
            for _ in range(4):
                assert len((await _history_call(client, dc)).messages) == 5
    run(body())


def test_probability_rules_are_seeded():
    a = Rule("*", "server_error", probability=0.3, seed=7)
    b = Rule("*", "server_error", probability=0.3, seed=7)
    pattern = [a.matches("X") for _ in range(200)]
    assert pattern == [b.matches("X") for _ in range(200)]
    assert 30 < sum(pattern) < 90
    every = Rule("X", "server_error", every=3)
    assert [every.matches("X") for _ in range(6)] == [False, False, True] * 2
    assert not Rule("Y", "server_error", every=1).matches("X")
    with pytest.raises(ValueError):
        Rule("X", "server_error")
    with pytest.raises(ValueError):
        Rule("X", "explode", nth=1)


def test_budget_is_a_token_bucket_per_method():
    budget = Budget(rate=30)
    t = 1000.0
    waits = [budget.take("M", t + i / 60) for i in range(120)]      # 60 req/s for 2 s
    assert sum(w > 0 for w in waits) > 30 and all(w in (0, 1) for w in waits)
    calm = Budget(rate=30)
    assert all(calm.take("M", t + i / 25) == 0 for i in range(100))  # 25 req/s for 4 s
    assert calm.take("Other", t) == 0


def test_over_budget_clients_get_flood_wait_and_calm_ones_never():
    async def body():
        async with served(budget=Budget(rate=30)) as dc, client_of(dc) as client:
            client.flood_sleep_threshold = 0

            async def pace(rate, seconds):
                floods = 0
                start = time.monotonic()
                for i in range(int(rate * seconds)):
                    await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
                    try:
                        await client(functions.help.GetNearestDcRequest())
                    except errors.FloodWaitError:
                        floods += 1
                return floods

            assert await pace(20, 1.5) == 0
            await asyncio.sleep(1.1)      # let the bucket refill
            assert await pace(60, 1.5) > 0
    run(body())


def test_round_trip_latency_is_emulated():
    async def body():
        async with served(rtt_ms=80) as dc, client_of(dc) as client:
            await _history_call(client, dc)
            t0 = time.monotonic()
            await _history_call(client, dc)
            assert 0.07 < time.monotonic() - t0 < 0.5
    run(body())


def test_only_loopback_is_ever_bound():
    with pytest.raises(ValueError, match="loopback"):
        FakeDC(host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        FakeDC(host="10.1.2.3")


def test_serve_command_prints_what_a_client_needs_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "engine.fakedc", "serve", "--messages", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[1])
        key_line = proc.stdout.readline().strip()
        dc_line = proc.stdout.readline().strip()
        session = proc.stdout.readline().strip().split("=", 1)[1]
        assert key_line == f"TGARC_DC_KEY={PUBLIC_KEY_ENV}"      # before TGARC_DC (the demo)
        assert dc_line == f"TGARC_DC=127.0.0.1:{port}"
        assert "BEGIN RSA PUBLIC KEY" in dc_key(key_line.split("=", 1)[1])   # tgarc takes it

        async def body():
            client = TelegramClient(StringSession(session), 1, "x", receive_updates=False)
            await client.connect()
            n = len([m async for m in client.iter_messages("tgarc_demo", limit=None)])
            await client.disconnect()
            return n
        assert run(body()) == Corpus(messages=50).chats["channel"].count()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    assert "Traceback" not in proc.stderr.read()


def test_fakedc_needs_no_network_beyond_loopback():
    assert os.environ.get("TGARC_DC", "127.0.0.1").startswith("127.")


# ---- media, files, search, threads -----------------------------------------------------------

def test_every_media_file_downloads_byte_exact_through_telethon():
    from engine.fakedc import files

    async def body():
        async with served(Corpus(messages=250)) as dc, client_of(dc) as client:
            seen = set()
            async for m in client.iter_messages("tgarc_demo", limit=None):
                f = m.photo or m.document
                if f is None or f.id in seen:
                    continue
                seen.add(f.id)
                assert await client.download_media(m, file=bytes) == files.content(f.id)
            assert len(seen) >= 6
            big = await client.get_messages("tgarc_demo", ids=200)   # 3 MB: many parts
            assert await client.download_media(big, file=bytes) == \
                files.content(big.document.id)
            assert len(files.content(big.document.id)) > 3 * files.ONE_MB
    run(body())


def test_get_file_enforces_telegrams_offset_and_limit_rules():
    from engine.fakedc import files

    async def body():
        async with served() as dc, client_of(dc) as client:
            big = await client.get_messages("tgarc_demo", ids=200)
            doc = big.document
            loc = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")

            def get(offset, limit, precise=None):
                return client(functions.upload.GetFileRequest(loc, offset, limit,
                                                              precise=precise))
            data = files.content(doc.id)
            assert (await get(4096, 8192)).bytes == data[4096:12288]
            assert (await get(1024, 2048, precise=True)).bytes == data[1024:3072]
            with pytest.raises(errors.LimitInvalidError):
                await get(0, 5000)                       # not a multiple of 4096
            with pytest.raises(errors.LimitInvalidError):
                await get(0, 3 * 4096)                   # 1 MiB not divisible by it
            with pytest.raises(errors.OffsetInvalidError):
                await get(100, 4096)
            with pytest.raises(errors.LimitInvalidError):
                await get(files.ONE_MB - 4096, 8192)     # crosses a 1 MiB boundary
            hashes = await client(functions.upload.GetFileHashesRequest(loc, 0))
            import hashlib
            assert [h.hash for h in hashes[:2]] == [hashlib.sha256(data[:131072]).digest(),
                                                     hashlib.sha256(data[131072:262144]).digest()]
    run(body())


def test_expired_file_references():
    async def body():
        async with served() as dc, client_of(dc) as client:
            msgs = [m async for m in client.iter_messages("tgarc_demo", limit=60)]
            photo = next(m for m in msgs if m.photo)
            doc = next(m for m in msgs if m.document)
            dc.corpus.expire_file_references()
            # Telethon refetches the message for documents, not for photos
            assert len(await client.download_media(doc, file=bytes)) == doc.document.size
            with pytest.raises(errors.FileReferenceExpiredError):
                await client.download_media(photo, file=bytes)
            fresh = await client.get_messages("tgarc_demo", ids=photo.id)
            assert len(await client.download_media(fresh, file=bytes)) > 0
    run(body())


def test_search_filters_and_text():
    async def body():
        async with served() as dc, client_of(dc) as client:
            corpus = dc.corpus
            chat = corpus.chats["channel"]
            every = [corpus.message(chat, i) for i in range(chat.top_id, 0, -1)
                     if chat.exists(i)]
            for flt, want in [
                (types.InputMessagesFilterPhotos, lambda m: m.media.__class__.__name__
                 == "MessageMediaPhoto"),
                (types.InputMessagesFilterPoll, lambda m: m.media.__class__.__name__
                 == "MessageMediaPoll"),
            ]:
                got = [m.id async for m in client.iter_messages("tgarc_demo", filter=flt,
                                                               limit=None)]
                expect = [m.id for m in every if getattr(m, "media", None) and want(m)]
                assert got == expect and got
            word = "journalist"
            got = [m.id async for m in client.iter_messages("tgarc_demo", search=word,
                                                           limit=None)]
            assert got == [m.id for m in every if word in (getattr(m, "message", "") or "")]
    run(body())


def test_forum_topics_and_reply_threads():
    async def body():
        async with served() as dc, client_of(dc) as client:
            corpus = dc.corpus
            group = corpus.chats["supergroup"]
            r = await client(functions.messages.GetForumTopicsRequest(
                peer="tgarc_group", offset_date=None, offset_id=0, offset_topic=0, limit=10))
            assert [t.id for t in r.topics] == [1, 2, 3, 4] and r.count == 4
            for topic in (2, 3):
                got = [m.id async for m in client.iter_messages("tgarc_group", reply_to=topic)]
                assert got == [i for i in range(group.top_id, 0, -1) if group.exists(i)
                               and i != topic and corpus.topic_of(group, i) == topic]
                assert got
            # a reply thread in a plain supergroup: the discussion group's thread of post 30
            root = corpus.thread_root(corpus.chats["channel"], 30)
            thread = [m.id async for m in client.iter_messages("tgarc_comments", reply_to=root)]
            assert thread == [root + 3, root + 2, root + 1]
    run(body())


def test_comment_threads_of_a_channel_live_in_its_discussion_group():
    async def body():
        async with served() as dc, client_of(dc) as client:
            corpus = dc.corpus
            channel, disc = corpus.chats["channel"], corpus.chats["discussion"]
            full = await client(functions.channels.GetFullChannelRequest("tgarc_demo"))
            assert full.full_chat.linked_chat_id == disc.id
            post = await client.get_messages("tgarc_demo", ids=40)
            assert post.replies.comments and post.replies.channel_id == disc.id
            comments = [m async for m in client.iter_messages("tgarc_demo", reply_to=40)]
            root = corpus.thread_root(channel, 40)
            assert [m.id for m in comments] == [root + 3, root + 2, root + 1]
            assert all(m.peer_id.channel_id == disc.id for m in comments)
            discussion = await client(functions.messages.GetDiscussionMessageRequest(
                "tgarc_demo", 40))
            copy = discussion.messages[0]
            assert copy.id == root and copy.fwd_from.channel_post == 40
            assert copy.message == post.message
    run(body())


def test_a_migrated_basic_group_points_to_its_supergroup_and_back():
    async def body():
        async with served() as dc, client_of(dc) as client:
            old = dc.corpus.chats["oldgroup"]
            full = await client(functions.channels.GetFullChannelRequest("tgarc_group"))
            assert (full.full_chat.migrated_from_chat_id,
                    full.full_chat.migrated_from_max_id) == (old.id, old.top_id)
            first = await client.get_messages("tgarc_group", ids=1)
            assert isinstance(first.action, types.MessageActionChannelMigrateFrom)
            chats = await client(functions.messages.GetChatsRequest([old.id]))
            assert chats.chats[0].deactivated and chats.chats[0].migrated_to.channel_id == \
                full.full_chat.id
            history = [m async for m in client.iter_messages(types.PeerChat(old.id), limit=None)]
            assert isinstance(history[0].action, types.MessageActionChatMigrateTo)
            assert len(history) == old.count()
    run(body())


def test_private_chats_and_basic_groups_share_one_id_sequence():
    async def body():
        async with served() as dc, client_of(dc) as client:
            group, private = dc.corpus.chats["group"], dc.corpus.chats["private"]
            gid = next(i for i in range(group.top_id, group.base, -1) if group.exists(i))
            pid = next(i for i in range(private.top_id, private.base, -1) if private.exists(i))
            got = await client(functions.messages.GetMessagesRequest(
                [types.InputMessageID(gid), types.InputMessageID(pid)]))
            assert [(m.id, type(m.peer_id).__name__) for m in got.messages] == \
                [(gid, "PeerChat"), (pid, "PeerUser")]
            cross = [m async for m in client.iter_messages(types.PeerChat(group.id), limit=None)
                     if m.reply_to and m.reply_to.reply_to_peer_id]
            assert cross and all(m.reply_to.reply_to_peer_id.channel_id == 1500000001
                                 for m in cross)
    run(body())


def test_pings_are_answered():
    async def body():
        async with served() as dc, client_of(dc) as client:
            pong = await client(functions.PingRequest(ping_id=424242))
            assert pong.ping_id == 424242
    run(body())


def test_a_failing_handler_answers_an_error_instead_of_dropping_the_connection():
    from engine.fakedc import rpc

    def broken(dc, conn, req):
        raise KeyError("bug in a handler")

    async def body():
        rpc.HANDLERS[functions.help.GetNearestDcRequest] = broken
        try:
            async with served() as dc, client_of(dc, request_retries=0) as client:
                with pytest.raises((errors.ServerError, ValueError)):
                    await client(functions.help.GetNearestDcRequest())
                assert dc.calls_to("GetNearestDcRequest")[0].outcome == \
                    "rpc_error 500 FAKEDC_KEYERROR"
                assert (await client.get_me()).id == Corpus.ME      # connection still fine
        finally:
            rpc.HANDLERS[functions.help.GetNearestDcRequest] = rpc.get_nearest_dc
    run(body())


def test_bandwidth_cap_slows_big_replies():
    async def body():
        async with served(bandwidth=200_000) as dc, client_of(dc) as client:
            big = await client.get_messages("tgarc_demo", ids=200)
            t0 = time.monotonic()
            data = await client.download_media(big, file=bytes)     # ~3.2 MB at 200 kB/s
            elapsed = time.monotonic() - t0
            assert len(data) > 3_000_000 and elapsed > 10
    run(body(), timeout=60)


def test_update_state_calls_answer_an_empty_difference():
    async def body():
        async with served() as dc, client_of(dc) as client:
            state = await client(functions.updates.GetStateRequest())
            diff = await client(functions.updates.GetDifferenceRequest(
                pts=state.pts, date=state.date, qts=state.qts))
            assert isinstance(diff, types.updates.DifferenceEmpty)
            assert (await client(functions.help.GetConfigRequest())).dc_options[0].port == \
                dc.port
    run(body())


def test_invite_links_are_checked_without_joining():
    import datetime as dt

    async def body():
        async with served() as dc, client_of(dc) as client:
            check = functions.messages.CheckChatInviteRequest
            joined = await client(check("tgarcJoinedGroup"))
            assert isinstance(joined, types.ChatInviteAlready)
            assert joined.chat.id == dc.corpus.chats["supergroup"].id
            basic = await client(check("tgarcJoinedBasic"))
            assert isinstance(basic.chat, types.Chat) and basic.chat.id == 400001
            peek = await client(check("tgarcPeekChannel"))
            preview = dc.corpus.chats["preview"]
            assert isinstance(peek, types.ChatInvitePeek) and peek.chat.left
            assert 3000 < (peek.expires - dt.datetime.now(dt.UTC)).total_seconds() <= 3600
            # the preview's access hash reads the history; the channel is in no dialog list
            page = await client(functions.messages.GetHistoryRequest(
                types.InputPeerChannel(preview.id, preview.access_hash), 0, None, 0, 100, 0, 0,
                0))
            assert [m.id for m in page.messages] == list(range(preview.top_id, 0, -1))
            assert preview.id not in {d.entity.id async for d in client.iter_dialogs()}
            assert Corpus.ME not in preview.members
            closed = await client(check("tgarcClosedGroup"))
            assert type(closed) is types.ChatInvite
            assert (closed.title, closed.participants_count) == ("tgarc closed group", 42)
            with pytest.raises(errors.InviteHashExpiredError):
                await client(check("tgarcExpiredLink"))
            with pytest.raises(errors.InviteHashInvalidError):
                await client(check("tgarcjoinedgroup"))            # hashes are case-sensitive
            # another account that is in the preview channel gets chatInviteAlready
            other = dc.new_session(user_id=1_000_103)
            async with client_of(dc, other) as member:
                assert isinstance(await member(check("tgarcPeekChannel")),
                                  types.ChatInviteAlready)
    run(body())


def test_participants_are_paged_with_roles_and_a_channels_are_for_its_admins():
    async def body():
        async with served() as dc, client_of(dc) as client:
            corpus, group = dc.corpus, dc.corpus.chats["supergroup"]
            channel = types.InputChannel(group.id, group.access_hash)

            async def page(offset, limit, flt=None):
                return await client(functions.channels.GetParticipantsRequest(
                    channel, flt or types.ChannelParticipantsRecent(), offset, limit, hash=0))

            seen = []
            for offset in range(0, 30, 6):
                res = await page(offset, 6)
                assert res.count == 21 and {u.id for u in res.users} == \
                    {p.user_id for p in res.participants}
                seen += res.participants
            assert sorted(p.user_id for p in seen) == group.members
            kinds = {p.user_id: type(p).__name__ for p in seen}
            assert kinds[Corpus.ME] == "ChannelParticipantCreator"
            assert kinds[1_000_100] == kinds[1_000_101] == "ChannelParticipantAdmin"
            assert kinds[1_000_105] == "ChannelParticipant"
            assert isinstance(seen[0], types.ChannelParticipantCreator)    # recent: creator first
            admins = await page(0, 200, types.ChannelParticipantsAdmins())
            assert sorted(p.user_id for p in admins.participants) == [Corpus.ME, 1_000_100,
                                                                       1_000_101]
            found = await page(0, 200, types.ChannelParticipantsSearch("user1"))
            assert {p.user_id for p in found.participants} == {
                u for u in group.members if corpus.users[u].first_name.lower().startswith("user1")}
            demo = dc.corpus.chats["channel"]
            with pytest.raises(errors.ChatAdminRequiredError):
                await client(functions.channels.GetParticipantsRequest(
                    types.InputChannel(demo.id, demo.access_hash),
                    types.ChannelParticipantsRecent(), 0, 200, hash=0))
            basic = await client(functions.messages.GetFullChatRequest(400001))
            roles = {type(p).__name__ for p in basic.full_chat.participants.participants}
            assert roles == {"ChatParticipantCreator", "ChatParticipantAdmin", "ChatParticipant"}
    run(body())
