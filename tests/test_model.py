"""The message schema and the TL -> model conversion: the fakedc corpus end to end, and
hand-built TL objects for what the corpus does not carry."""

from __future__ import annotations

import datetime as dt
import struct

import msgspec
from telethon.tl import types

from engine import model as m
from engine.fakedc.corpus import Corpus
from engine.telegram import convert

CHAN = m.PeerRef("channel", 77)
WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def corpus_messages(n=1500):
    corpus = Corpus(messages=n)
    for chat in corpus.chats.values():
        ref = convert.peer_ref(chat.peer())
        for i in range(chat.first_id, chat.top_id + 1):
            msg = corpus.message(chat, i)
            if msg is not None:
                yield msg, convert.message(msg, ref)


def test_every_corpus_message_converts_and_round_trips_through_msgpack_and_json():
    converted = [mm for _, mm in corpus_messages()]
    assert len(converted) > 2000
    packed = msgspec.msgpack.encode(converted)
    assert msgspec.msgpack.decode(packed, type=list[m.Message]) == converted
    as_json = msgspec.json.encode(converted)
    assert msgspec.json.decode(as_json, type=list[m.Message]) == converted


def test_conversion_keeps_what_the_message_carried():
    kinds = set()
    for tl, mm in corpus_messages():
        assert mm.id == tl.id
        if isinstance(tl, types.MessageService):
            assert mm.type == "service" and mm.action.kind
            kinds.add("action:" + mm.action.kind)
            continue
        assert mm.text == tl.message and len(mm.entities) == len(tl.entities or [])
        for e, te in zip(mm.entities, tl.entities or [], strict=True):
            assert (e.offset, e.length) == (te.offset, te.length)
        if mm.media is not None:
            kinds.add(type(mm.media).__name__ + ":" + str(getattr(mm.media, "media_type", "")))
        if tl.fwd_from:
            assert mm.forward.date == int(tl.fwd_from.date.timestamp())
        if tl.reactions:
            assert sum(r.count for r in mm.reactions) == sum(r.count for r in
                                                             tl.reactions.results)
        if tl.replies and tl.replies.comments:
            assert mm.comments_chat == tl.replies.channel_id
    for want in ("action:channel_create", "action:chat_migrate_to", "action:topic_create",
                 "Photo:", "Document:sticker", "Document:video_message",
                 "Document:voice_message", "Document:animation", "Document:video_file",
                 "Document:audio_file", "Document:None", "Poll:", "Geo:", "Venue:",
                 "Contact:", "WebPage:", "Dice:"):
        assert want in kinds, want


def test_hand_built_kinds_the_corpus_does_not_carry():
    game = types.MessageMediaGame(game=types.Game(
        id=1, access_hash=2, short_name="g", title="Game", description="d",
        photo=types.PhotoEmpty(id=0)))
    invoice = types.MessageMediaInvoice(title="T", description="D", currency="EUR",
                                        total_amount=500, start_param="x")
    story = types.MessageMediaStory(peer=types.PeerUser(5), id=9)
    live = types.MessageMediaGeoLive(geo=types.GeoPoint(long=1.5, lat=2.5, access_hash=0),
                                     period=900)
    quote = types.MessageReplyHeader(reply_to_msg_id=3, quote=True, quote_text="hi",
                                     quote_entities=[types.MessageEntityBold(0, 2)])
    markup = types.ReplyInlineMarkup(rows=[types.KeyboardInlineButtonRow(buttons=[
        types.KeyboardInlineButton("Go", types.InlineButtonTypeCallback(data=b"\x01\x02")),
        types.KeyboardInlineButton("Site", types.InlineButtonTypeUrl("https://example.org"))])])
    out = [convert.message(types.Message(id=i, peer_id=types.PeerChannel(77), date=WHEN,
                                         message="x", media=md, reply_to=quote,
                                         reply_markup=markup), CHAN)
           for i, md in enumerate((game, invoice, story, live), 1)]
    assert out[0].media == m.Game("Game", "d", "g")
    assert out[1].media == m.Invoice("T", "D", "EUR", 500)
    assert out[2].media.kind == "story" and out[2].media.fields["id"] == 9
    assert out[3].media == m.Geo(2.5, 1.5, 900)
    assert out[0].reply_to.quote_text == "hi" and out[0].reply_to.quote_entities[0].kind == \
        "bold"
    assert [[b.kind for b in row] for row in out[0].buttons] == [["callback", "url"]]
    assert out[0].buttons[0][0].data == b"\x01\x02"
    svc = convert.message(types.MessageService(
        id=5, peer_id=types.PeerChat(3), date=WHEN, from_id=types.PeerUser(8),
        action=types.MessageActionPhoneCall(call_id=1, video=True, duration=42,
                                            reason=types.PhoneCallDiscardReasonHangup())),
        m.PeerRef("chat", 3))
    assert svc.action.kind == "phone_call" and svc.action.fields["duration"] == 42
    assert svc.action.fields["reason"]["_"] == "PhoneCallDiscardReasonHangup"
    # Telethon patches MessageEmpty's constructor: read one from its TL bytes instead
    from telethon.extensions import BinaryReader
    tl_empty = BinaryReader(struct.pack("<IIi", 0x90A6CA84, 0, 12)).tgread_object()
    empty = convert.message(tl_empty, CHAN)
    assert (empty.type, empty.id) == ("empty", 12)


def test_every_action_and_entity_kind_telethon_knows_has_a_name():
    for name in dir(types):
        if name.startswith("MessageAction") and name != "MessageActionEmpty":
            assert convert.snake(name, "MessageAction")
    for cls in convert.ENTITY_KINDS:
        assert convert.ENTITY_KINDS[cls] in {
            "unknown", "mention", "hashtag", "bot_command", "link", "email", "bold", "italic",
            "code", "pre", "text_link", "mention_name", "phone", "cashtag", "underline",
            "strikethrough", "blockquote", "bank_card", "spoiler", "custom_emoji"}


def test_a_page_becomes_a_batch_oldest_first_with_its_peers():
    corpus = Corpus(messages=300)
    chat = corpus.chats["supergroup"]
    ids = corpus.history(chat, limit=20)
    msgs = [corpus.message(chat, i) for i in ids]
    result = types.messages.ChannelMessages(pts=1, count=chat.count(), messages=msgs,
                                            topics=[], chats=[corpus.chat_object(chat)],
                                            users=corpus.users_of(msgs))
    batch = convert.page(result, convert.peer_ref(chat.peer()), seq=7)
    assert [x.id for x in batch.messages] == sorted(ids)
    assert batch.seq == 7 and any(p.ref.kind == "channel" for p in batch.peers)
    assert m.schema.BATCH_DECODER.decode(m.schema.ENCODER.encode(batch)) == batch
