"""fakedc serving files the way Telegram does, through the plain Telethon client: a connection's
bandwidth shared by the requests in flight on it, big files made per offset, every fault rule
on upload.getFile, and help.getAppConfig."""

from __future__ import annotations

import asyncio
import contextlib
import time

from telethon import TelegramClient
from telethon.sessions import StringSession
from telethon.tl import functions, types

from engine.fakedc import files
from engine.fakedc.corpus import Corpus
from engine.fakedc.faults import Link
from engine.fakedc.server import FakeDC

PART = 128 * 1024


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def served(corpus=None, **kw):
    async with FakeDC(corpus or Corpus(messages=300), **kw) as dc:
        yield dc


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
