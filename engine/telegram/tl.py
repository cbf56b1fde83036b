"""The workers' decoder of history pages: native/tl.pyx (``engine._native.tl``) when it loads
and was written for the layer this Telethon speaks, else its twin, rawpage.py (Telethon's
reader, then convert.py); ``WHY`` says which and why (``tgarc doctor``).

At import the native one is checked against Telethon: the same layer, and every
constructor id it reads equal to Telethon's (an entity kind named as convert.py names it).
Any difference and the twin decodes everything, which is slower, never wrong.
``TGARC_TL_IMPL=pure`` asks for the twin; ``TGARC_REQUIRE_NATIVE=1`` makes a refusal an
error. ``counts()``: (messages decoded natively, messages Telethon read) in this process.
"""

from __future__ import annotations

import datetime as dt
import os

from telethon.tl import alltlobjects, types

from engine import model as m
from engine._native.native_or_twin import NativeRequired, choose
from engine.telegram import convert, rawpage


class Twin:
    """rawpage under the decoder's names; every message it reads is Telethon's."""
    IMPLEMENTATION = "pure"
    read = 0

    @staticmethod
    def decode_pages(pages: list[bytes], chat, lo: int, hi: int):
        batch = rawpage.decode_pages(pages, chat, lo, hi)
        Twin.read += len(batch.messages)
        return batch

    @staticmethod
    def counts() -> tuple[int, int]:
        return 0, Twin.read


def mismatch(native) -> str | None:
    """Why the native decoder does not fit this Telethon, or None."""
    if alltlobjects.LAYER != native.LAYER:
        return f"written for layer {native.LAYER}, Telethon speaks layer {alltlobjects.LAYER}"
    for name, cid in native.tl_ids().items():
        cls = types
        for part in name.split("."):
            cls = getattr(cls, part, None)
        if cls is None or cid != cls.CONSTRUCTOR_ID:
            return f"{name}: constructor {cid:#x} is not Telethon's"
    for cid, kind in native.simple_entities().items():
        cls = alltlobjects.tlobjects.get(cid)
        if cls is None or (convert.ENTITY_KINDS.get(cls)
                           or convert.snake(cls.__name__, "MessageEntity")) != kind:
            return f"entity constructor {cid:#x} is not Telethon's {kind}"
    return None


class Native:
    """``engine._native.tl`` given rawpage, for the messages it leaves to Telethon."""
    IMPLEMENTATION = "native"

    def __init__(self, native):
        self.native = native
        self.counts = native.counts

    def decode_page(self, data: bytes, chat, lo: int, hi: int):
        return self.native.decode_page(data, chat, lo, hi, rawpage)

    def decode_pages(self, pages: list[bytes], chat, lo: int, hi: int):
        return self.native.decode_pages(pages, chat, lo, hi, rawpage)


def self_test() -> str:
    """The chosen decoder against Telethon's reader on one page of one message
    (``tgarc doctor``)."""
    msg = types.Message(id=5, peer_id=types.PeerChannel(1), message="tgarc ok",
                        date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                        entities=[types.MessageEntityBold(0, 5)])
    data = bytes(types.messages.ChannelMessages(pts=1, count=1, messages=[msg], topics=[],
                                                chats=[], users=[]))
    chat = m.PeerRef("channel", 1)
    got, want = decode_pages([data], chat, 0, 10), rawpage.decode_pages([data], chat, 0, 10)
    return "ok" if got == want else f"FAILED: {got!r} != {want!r}"


def _choose():
    choice = choose("tl", Twin, "TL decoder")
    if choice.module is Twin:
        return Twin, choice.why
    why = mismatch(choice.module)
    if why is None:
        return Native(choice.module), choice.why
    if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
        raise NativeRequired(f"TGARC_REQUIRE_NATIVE=1 but the native TL decoder {why}")
    return Twin, f"native TL decoder refused ({why}); using Telethon's reader"


_IMPL, WHY = _choose()
IMPLEMENTATION: str = _IMPL.IMPLEMENTATION
decode_pages = _IMPL.decode_pages
counts = _IMPL.counts
