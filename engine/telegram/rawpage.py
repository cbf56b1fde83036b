"""Raw-page mode: history pages travel undecoded from the supervisor to the workers.

Parsing a page of TL into Telethon objects costs ≈ 70 µs a message (FACTS.md), as much
as everything else an export does together; in the supervisor it would cap the whole
export at one core. So the supervisor asks for a page with ``Raw(request)`` — a request
whose result Telethon hands back as bytes instead of decoding it (Telethon calls the
request's own ``read_result``; nothing of Telethon is patched) — reads only the page's
header and its first message (to know how far the page reaches), and ships the bytes. A
worker decodes them with ``decode_page``, keeping each message's original TL bytes in
``Message.raw`` on the way, so nothing Telegram sent is lost where the model is thin.
"""

from __future__ import annotations

from telethon.extensions import BinaryReader
from telethon.tl import functions, types
from telethon.tl.tlobject import TLRequest

from engine import model as m
from engine.telegram import convert

_CHANNEL = types.messages.ChannelMessages.CONSTRUCTOR_ID
_SLICE = types.messages.MessagesSlice.CONSTRUCTOR_ID
_ALL = types.messages.Messages.CONSTRUCTOR_ID
# bytes between a message's constructor and its id (flags, flags2): peek reads no more
_ID_AT = {types.Message.CONSTRUCTOR_ID: 8, types.MessageService.CONSTRUCTOR_ID: 4,
          types.MessageEmpty.CONSTRUCTOR_ID: 4}


class Raw(TLRequest):
    """``inner`` sent as is; its result returned as the undecoded bytes of the result.

    Telethon's ``client(request)`` would wrap it in invokeWithoutUpdates, whose own
    reader decodes the result, so ``send_via`` hands a Raw straight to the client's
    sender, wrapped in invokeWithoutUpdates here: the same bytes on the wire."""

    def __init__(self, inner: TLRequest):
        self.inner = inner
        self.CONSTRUCTOR_ID = inner.CONSTRUCTOR_ID
        self.SUBCLASS_OF_ID = inner.SUBCLASS_OF_ID

    async def resolve(self, client, utils):
        await self.inner.resolve(client, utils)

    def _bytes(self) -> bytes:
        return self.inner._bytes()

    def read_result(self, reader) -> bytes:
        return reader.read()          # the result, possibly followed by unrelated bytes

    def to_dict(self) -> dict:
        return self.inner.to_dict()


def send_via(client):
    """The bottom of the middleware stack: Raw requests to the sender, others as usual."""

    async def send(request):
        if isinstance(request, Raw):
            return await client._sender.send(request)
        return await client(request)

    return send


def raw(request: TLRequest) -> Raw:
    return Raw(functions.InvokeWithoutUpdatesRequest(request))


def _open(data: bytes) -> tuple[BinaryReader, int] | None:
    """A reader positioned at the first message, and how many messages follow; None for
    result types without a plain message list (fall back to a full decode)."""
    r = BinaryReader(data)
    ctor = r.read_int(signed=False)
    if ctor == _CHANNEL:
        flags = r.read_int()
        r.read_int()                  # pts
        r.read_int()                  # count
        if flags & 4:
            r.read_int()              # offset_id_offset
    elif ctor == _SLICE:
        flags = r.read_int()
        r.read_int()                  # count
        if flags & 1:
            r.read_int()              # next_rate
        if flags & 4:
            r.read_int()              # offset_id_offset
        if flags & 8:
            r.tgread_object()         # search_flood
    elif ctor != _ALL:
        return None
    r.read_int()                      # vector
    return r, r.read_int()


def peek(data: bytes) -> tuple[int, int]:
    """(messages in the page, id of its first — newest — message; 0 if none)."""
    opened = _open(data)
    if opened is None:
        res = BinaryReader(data).tgread_object()
        msgs = getattr(res, "messages", [])
        return len(msgs), (msgs[0].id if msgs else 0)
    r, n = opened
    if not n:
        return 0, 0
    at = r.tell_position()
    skip = _ID_AT.get(r.read_int(signed=False))
    if skip is None:                  # another constructor: Telethon reads it whole
        r.set_position(at)
        return n, r.tgread_object().id
    r.read(skip)
    return n, r.read_int()


def decode_page(data: bytes, chat: m.PeerRef, lo: int, hi: int) -> m.Batch:
    """The page's messages with ids in lo..hi (oldest first, each with its TL bytes) and
    the peers it mentions."""
    opened = _open(data)
    if opened is None:
        batch = convert.page(BinaryReader(data).tgread_object(), chat, 0)
        batch.messages = [x for x in batch.messages if lo <= x.id <= hi]
        return batch
    r, n = opened
    tl, spans = [], []
    for _ in range(n):
        start = r.tell_position()
        tl.append(r.tgread_object())
        spans.append((start, r.tell_position()))
    peers = peers_at(r)
    msgs = [convert.message(x, chat, data[a:b]) for x, (a, b) in zip(tl, spans, strict=True)
            if lo <= x.id <= hi]
    msgs.reverse()
    return m.Batch(0, chat, msgs, peers)


def peers_at(r: BinaryReader) -> list[m.PeerInfo]:
    """The peers of the vectors that follow a page's messages (topics, chats, users)."""
    vectors = []
    for _ in range(3):
        r.read_int()
        vectors.append([r.tgread_object() for _ in range(r.read_int())])
    return [p for p in map(convert.peer_info, [*vectors[1], *vectors[2]]) if p is not None]


def message_at(data: bytes, start: int, chat: m.PeerRef) -> tuple[m.Message, int]:
    """The message whose TL starts at ``start``, read by Telethon, and where it ends: what the
    native decoder (native/tl.pyx) hands over for a constructor it does not read itself."""
    r = BinaryReader(data)
    r.set_position(start)
    obj = r.tgread_object()
    end = r.tell_position()
    return convert.message(obj, chat, data[start:end]), end


def peers_from(data: bytes, pos: int) -> list[m.PeerInfo]:
    r = BinaryReader(data)
    r.set_position(pos)
    return peers_at(r)


def decode_pages(pages: list[bytes], chat: m.PeerRef, lo: int, hi: int) -> m.Batch:
    """Several consecutive pages of one range as one Batch, oldest message first."""
    batches = [decode_page(p, chat, lo, hi) for p in pages]
    peers: dict[m.PeerRef, m.PeerInfo] = {}
    msgs: list[m.Message] = []
    for b in sorted(batches, key=lambda b: b.messages[0].id if b.messages else 0):
        msgs += b.messages
        peers.update((p.ref, p) for p in b.peers)
    return m.Batch(0, chat, msgs, list(peers.values()))
