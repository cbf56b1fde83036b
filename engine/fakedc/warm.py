"""A chat's messages serialized once, before a benchmark's timed runs (``serve --warm``).

Real Telegram spends none of our machine's CPU. fakedc does: building a page of Telethon
objects and serializing it costs ≈ 16 CPU-seconds per million messages, on the same two
cores as the client being measured. A bare sequential loop hardly notices (fakedc builds
the next page while the loop parses this one), but a pipelined exporter whose processes
want both cores pays it in wall time. Warming moves that cost before the timed runs: each
message's TL bytes are made once and kept in one blob, and a page is the messages' bytes
spliced into a result built around an empty vector.

Only a chat whose messages name no peer but the chat itself and the account's own user
can be warmed (then every page carries the same users and chats): the text-only channel
the benchmarks export. Any change to the corpus (``Corpus.version``) turns the warm pages
off; pages are then built as always.
"""

from __future__ import annotations

import struct
from array import array

from .corpus import Corpus, _referenced
from .world import Chat

_VECTOR = 0x1CB5C415
_EMPTY = struct.pack("<Ii", _VECTOR, 0)


class Warm:
    def __init__(self, corpus: Corpus, chat: Chat):
        users, chats = set(), set()
        parts, at = [], array("Q", [0])
        for msg_id in range(chat.base + 1, chat.top_id + 1):
            msg, size = corpus.message(chat, msg_id), 0
            if msg is not None:
                _referenced(msg, users, chats)
                parts.append(msg._bytes())
                size = len(parts[-1])
            at.append(at[-1] + size)
        if users - {corpus.ME} or chats - {("channel", chat.id), ("chat", chat.id)}:
            raise ValueError(f"chat {chat.id} names other peers: it cannot be warmed")
        self.chat, self.base, self.version = chat, chat.base, corpus.version
        self.blob, self.at = b"".join(parts), at

    def messages(self, ids: list[int], version: int) -> list[bytes] | None:
        """The TL bytes of the messages ``ids`` that exist; None once the corpus changed."""
        if version != self.version:
            return None
        blob, at, base = self.blob, self.at, self.base + 1
        out = []
        for i in ids:
            lo, hi = at[i - base], at[i - base + 1]
            if hi > lo:
                out.append(blob[lo:hi])
        return out


def splice(head: bytes, parts: list[bytes]) -> bytes:
    """``head`` (a result serialized with an empty messages vector, the first vector of
    every history result) with ``parts`` as its messages."""
    i = head.index(_EMPTY)
    return b"".join((head[:i], struct.pack("<Ii", _VECTOR, len(parts)), *parts,
                     head[i + len(_EMPTY):]))
