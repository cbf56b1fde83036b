"""Raw-page mode: a worker decoding the page bytes gets what a full Telethon decode gives,
plus each message's own TL bytes."""

from __future__ import annotations

import msgspec
import pytest
from telethon.extensions import BinaryReader

from engine import model as m
from engine.fakedc.corpus import Corpus
from engine.fakedc.rpc_history import history_page
from engine.fakedc.server import FakeDC
from engine.telegram import convert, rawpage


def _pages(key: str, n: int = 400):
    dc = FakeDC(Corpus(messages=n))
    chat = dc.corpus.chats[key]
    ref = convert.peer_ref(chat.peer())
    offset, out = 0, []
    while True:
        data, ids = history_page(dc, chat, (chat.id, offset, 0, 0, 100, 0, 0, 0))
        if not ids:
            return ref, out
        out.append((data, ids))
        offset = ids[-1]


@pytest.mark.parametrize("key", ["channel", "supergroup", "group", "private"])
def test_decoding_raw_pages_equals_telethons_decode_and_keeps_tl_bytes(key):
    ref, pages = _pages(key)
    assert pages
    for data, ids in pages:
        assert rawpage.peek(data) == (len(ids), ids[0])
        full = convert.page(BinaryReader(data).tgread_object(), ref, 0)
        raw = rawpage.decode_page(data + b"\0" * 16, ref, 0, 1 << 40)   # trailing bytes ignored
        assert [msgspec.structs.replace(x, raw=None) for x in raw.messages] == full.messages
        assert {p.ref for p in raw.peers} == {p.ref for p in full.peers}
        for x in raw.messages:
            again = convert.message(BinaryReader(x.raw).tgread_object(), ref)
            assert again == msgspec.structs.replace(x, raw=None)


def test_decode_keeps_only_the_asked_window_and_merges_pages_in_order():
    ref, pages = _pages("channel")
    (a, ids_a), (b, ids_b) = pages[0], pages[1]       # newest page first
    lo, hi = ids_b[-1] + 5, ids_a[0] - 5
    batch = rawpage.decode_pages([a, b], ref, lo, hi)
    got = [x.id for x in batch.messages]
    assert got == sorted(i for i in ids_a + ids_b if lo <= i <= hi)
    assert isinstance(batch, m.Batch) and batch.peers
