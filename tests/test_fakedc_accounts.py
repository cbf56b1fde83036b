"""fakedc serves several accounts as Telegram does (issue 16): each sees only the chats in
its dialogs, may read only their history, and has request budgets of its own."""

from __future__ import annotations

import asyncio

from telethon import TelegramClient, errors, functions
from telethon.sessions import StringSession

from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Budget
from engine.fakedc.server import FakeDC


async def _with(dc, session: str, work):
    client = TelegramClient(StringSession(session), 1, "x", receive_updates=False,
                            flood_sleep_threshold=0)
    await client.connect()
    try:
        return await work(client)
    finally:
        await client.disconnect()


def test_an_account_sees_and_reads_only_its_chats():
    dc = FakeDC(Corpus(messages=200, chats=4))
    with dc.run_in_thread():
        keys = sorted(k for k in dc.corpus.chats if k.startswith("extra"))[:2] or ["channel"]
        session = dc.new_session(user_id=sorted(dc.corpus.users)[1], sees=["channel", *keys])

        async def work(client):
            names = sorted(d.entity.id for d in await client.get_dialogs())
            other = dc.corpus.chats["group"]
            try:
                await client.get_messages(dc.corpus.chat_object(dc.corpus.chats["discussion"]),
                                          limit=1)
                refused = None
            except errors.RPCError as exc:
                refused = type(exc).__name__
            mine = await client.get_messages(dc.corpus.chat_object(dc.corpus.chats["channel"]),
                                              limit=1)
            return names, refused, len(mine), other.id

        names, refused, got, group = asyncio.run(_with(dc, session, work))
        want = sorted(dc.corpus.chats[k].id for k in ["channel", *keys])
        assert names == want and group not in names
        assert refused == "ChannelPrivateError"
        assert got == 1


def test_each_account_has_budgets_of_its_own():
    budget = Budget(5)
    t = 100.0
    first = [budget.take("GetHistory", t, account=1) for _ in range(8)]
    second = [budget.take("GetHistory", t, account=2) for _ in range(8)]
    assert first.count(0) == 5 and second.count(0) == 5      # the burst, each
    assert budget.take("GetHistory", t + 1.0, account=1) == 0
    dc = FakeDC(Corpus(messages=100),
                budget=Budget(0.1, burst=3, methods=("GetStateRequest",)))
    with dc.run_in_thread():
        a, b = dc.new_session(), dc.new_session(user_id=sorted(dc.corpus.users)[1])

        async def burst(client):
            n = 0
            for _ in range(5):
                try:
                    await client(functions.updates.GetStateRequest())
                    n += 1
                except errors.FloodWaitError:
                    pass
            return n

        na = asyncio.run(_with(dc, a, burst))
        nb = asyncio.run(_with(dc, b, burst))     # a token comes back every 10 s
        # a spent its burst and was held back; b, right after, still had a burst of its own
        # (one shared bucket would have held b back at once)
        assert 2 <= na < 5 and nb == na
