"""The native TL decoder (native/tl.pyx) against its twin, Telethon's reader + convert.py
(engine/telegram/rawpage.py): equal Structs, TL bytes included, for every page of the fakedc
corpus, for hypothesis-made messages serialized by Telethon itself, and for hand-built
exotic ones — with the messages the native one hands to Telethon mixed in, so the reading
must go on at the right byte after each."""

from __future__ import annotations

import datetime as dt
import os
import types as pytypes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telethon.tl import types
from telethon.tl.types import messages as tm

from engine import model as m
from engine.fakedc.corpus import Corpus
from engine.fakedc.rpc_history import messages_result
from engine.telegram import rawpage, tl

CHAT = m.PeerRef("channel", 777)


def _native():
    try:
        from engine._native import tl as native
    except ImportError:
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            pytest.fail("TGARC_REQUIRE_NATIVE=1 but engine._native.tl is not built")
        pytest.skip("native TL decoder not built on this machine (CI requires it)")
    return native


def both(data: bytes, lo: int = 0, hi: int = 2**31) -> tuple[m.Batch, m.Batch]:
    return (rawpage.decode_page(data, CHAT, lo, hi),
            tl.Native(_native()).decode_page(data, CHAT, lo, hi))


def page(msgs: list, users: list | None = None, chats: list | None = None) -> bytes:
    return bytes(tm.ChannelMessages(pts=1, count=len(msgs), messages=msgs, topics=[],
                                    chats=chats or [], users=users or []))


# ---- the corpus ------------------------------------------------------------------------------
@pytest.mark.parametrize("text_only", [True, False])
def test_every_page_of_the_corpus_decodes_the_same(text_only):
    native = _native()
    dc = pytypes.SimpleNamespace(corpus=Corpus(messages=3000, text_only=text_only))
    pages = 0
    before = native.counts()
    for chat in dc.corpus.chats.values():
        top = chat.top_id + 1
        while True:
            ids = dc.corpus.history(chat, offset_id=top)
            if not ids:
                break
            try:
                msgs = [dc.corpus.message(chat, i) for i in ids]
            except StopIteration:        # a text-only corpus has no group it migrated from
                break
            twin, got = both(bytes(messages_result(dc, chat, msgs, 3000)))
            assert got == twin, chat.key
            assert [x.raw for x in got.messages] == [x.raw for x in twin.messages]
            pages += 1
            top = ids[-1]
    read, handed = (a - b for a, b in zip(native.counts(), before, strict=True))
    assert pages > 30 and read > 2500
    if text_only:
        assert handed < 0.01 * read          # the channel's one service message
    else:
        assert handed > 100                  # media and services took Telethon's path


# ---- hand-built exotic messages --------------------------------------------------------------
D = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
ALL_ENTITIES = [
    types.MessageEntityUnknown(0, 1), types.MessageEntityMention(1, 2),
    types.MessageEntityHashtag(2, 3), types.MessageEntityBotCommand(3, 4),
    types.MessageEntityUrl(4, 5), types.MessageEntityEmail(5, 6),
    types.MessageEntityBold(6, 7), types.MessageEntityItalic(7, 8),
    types.MessageEntityCode(8, 9), types.MessageEntityPre(9, 10, "python"),
    types.MessageEntityPre(9, 10, ""), types.MessageEntityTextUrl(10, 11, "https://e.xample/ü"),
    types.MessageEntityMentionName(11, 12, 2**40 + 5), types.MessageEntityPhone(12, 13),
    types.MessageEntityCashtag(13, 14), types.MessageEntityUnderline(14, 15),
    types.MessageEntityStrike(15, 16), types.MessageEntityBlockquote(16, 17, collapsed=True),
    types.MessageEntityBlockquote(16, 17), types.MessageEntityBankCard(17, 18),
    types.MessageEntitySpoiler(18, 19), types.MessageEntityCustomEmoji(19, 20, -(2**62)),
    types.MessageEntityDiffInsert(0, 1), types.MessageEntityDiffDelete(1, 1),
    types.MessageEntityDiffReplace(2, 1, "old"),
    types.MessageEntityFormattedDate(3, 4, D, relative=True),
]
FWD = types.MessageFwdHeader(
    date=D, imported=True, saved_out=True, from_id=types.PeerChannel(5), from_name="Hidden",
    channel_post=77, post_author="Ed", saved_from_peer=types.PeerChat(9), saved_from_msg_id=3,
    saved_from_id=types.PeerUser(4), saved_from_name="S", saved_date=D, psa_type="covid")
REACTIONS = types.MessageReactions(
    results=[types.ReactionCount(types.ReactionEmoji("👍"), 5, chosen_order=1),
             types.ReactionCount(types.ReactionCustomEmoji(123), 2),
             types.ReactionCount(types.ReactionPaid(), 9),
             types.ReactionCount(types.ReactionEmpty(), 1)],
    min=True, can_see_list=True,
    recent_reactions=[types.MessagePeerReaction(types.PeerUser(8), D, types.ReactionEmoji("👍"),
                                                big=True, unread=True),
                      types.MessagePeerReaction(types.PeerChannel(3), D,
                                                types.ReactionCustomEmoji(123))],
    top_reactors=[types.MessageReactor(12, top=True, peer_id=types.PeerUser(1)),
                  types.MessageReactor(3, anonymous=True)])


def _msg(i: int, **kw) -> types.Message:
    kw.setdefault("message", f"m{i}")
    return types.Message(id=i, peer_id=types.PeerChannel(CHAT.id), date=D, **kw)


SIZES = [types.PhotoStrippedSize("i", b"\x01\x02"), types.PhotoSize("s", 90, 90, 1500),
         types.PhotoCachedSize("m", 320, 320, b"x" * 700), types.PhotoPathSize("j", b"p"),
         types.PhotoSizeProgressive("y", 1280, 1280, [10, 900, 5000]),
         types.PhotoSizeProgressive("w", 1280, 1280, []), types.PhotoSizeEmpty("e"),
         types.PhotoSize("x", 0, 0, 0)]
PHOTO = types.Photo(id=-7, access_hash=8, file_reference=b"ref\x00" * 70, date=D, sizes=SIZES,
                    dc_id=4, has_stickers=True,
                    video_sizes=[types.VideoSize("u", 640, 640, 99, video_start_ts=1.5),
                                 types.VideoSize("v", 1, 1, 2)])


def _doc(*attributes, **kw) -> types.Document:
    return types.Document(id=11, access_hash=-12, file_reference=b"r", date=D,
                          mime_type="video/mp4", size=2**40, dc_id=5,
                          attributes=list(attributes), **kw)


MEDIA = [
    types.MessageMediaPhoto(photo=PHOTO, spoiler=True, ttl_seconds=30),
    types.MessageMediaPhoto(photo=types.Photo(id=1, access_hash=2, file_reference=b"",
                                              date=D, sizes=[], dc_id=2)),
    types.MessageMediaPhoto(photo=types.PhotoEmpty(3)), types.MessageMediaPhoto(),
    types.MessageMediaDocument(document=_doc(
        types.DocumentAttributeFilename("clip ü.mp4"),
        types.DocumentAttributeVideo(12.25, 640, 360, round_message=True, nosound=True,
                                     preload_prefix_size=9, video_start_ts=0.5,
                                     video_codec="h264"),
        types.DocumentAttributeImageSize(10, 20), types.DocumentAttributeHasStickers(),
        thumbs=SIZES, video_thumbs=[types.VideoSize("u", 1, 2, 3)]), spoiler=True,
        video_timestamp=4, ttl_seconds=7, video=True, round=True),
    types.MessageMediaDocument(document=_doc(
        types.DocumentAttributeAudio(61, voice=True, title="T", performer="P",
                                     waveform=b"\x00\x11"),
        types.DocumentAttributeAudio(3))),
    types.MessageMediaDocument(document=_doc(
        types.DocumentAttributeSticker("😀", types.InputStickerSetID(1, 2), mask=True,
                                       mask_coords=types.MaskCoords(1, 0.5, 0.25, 2.0)),
        types.DocumentAttributeAnimated())),
    types.MessageMediaDocument(document=_doc(
        types.DocumentAttributeSticker("", types.InputStickerSetShortName("pack")))),
    types.MessageMediaDocument(document=_doc(
        types.DocumentAttributeSticker("", types.InputStickerSetEmpty()),
        types.DocumentAttributeAnimated())),
    types.MessageMediaDocument(document=_doc(types.DocumentAttributeAnimated(),
                                             types.DocumentAttributeVideo(1.0, 2, 3))),
    types.MessageMediaDocument(document=types.DocumentEmpty(9)), types.MessageMediaDocument(),
]
MEDIA_TO_TELETHON = [        # each read by Telethon: the message after it still from its byte
    types.MessageMediaDocument(document=_doc(types.DocumentAttributeCustomEmoji(
        "x", types.InputStickerSetEmpty(), free=True))),
    types.MessageMediaDocument(document=_doc(), alt_documents=[_doc()]),
    types.MessageMediaDocument(document=_doc(), video_cover=PHOTO),
    types.MessageMediaPhoto(photo=PHOTO, live_photo=True, video=_doc()),
    types.MessageMediaDocument(document=_doc(types.DocumentAttributeSticker(
        "a", types.InputStickerSetDice("🎲")))),
]


def test_photos_and_documents_decode_the_same():
    native = _native()
    msgs = [_msg(100 + k, media=md) for k, md in enumerate(MEDIA + MEDIA_TO_TELETHON)]
    before = native.counts()
    twin, got = both(page(list(reversed(msgs))))
    assert got == twin and len(got.messages) == len(msgs)
    read, handed = (a - b for a, b in zip(native.counts(), before, strict=True))
    assert (read, handed) == (len(MEDIA), len(MEDIA_TO_TELETHON))
    first = got.messages[0].media
    assert (first.width, first.height, first.size, first.thumb_type) == (1280, 1280, 5000, "y")
    assert first.ttl_seconds == 30 and first.spoiler


def exotic() -> list:
    return [
        _msg(1, entities=ALL_ENTITIES, from_id=types.PeerUser(2**33), out=True, silent=True,
             post=True, pinned=True, noforwards=True, mentioned=True, legacy=True),
        _msg(2, fwd_from=FWD, via_bot_id=99, via_business_bot_id=98, views=0, forwards=3,
             edit_date=D, post_author="Ann", grouped_id=-5, ttl_period=86400,
             reactions=REACTIONS, from_boosts_applied=2, from_rank="admin",
             saved_peer_id=types.PeerUser(1), quick_reply_shortcut_id=4, effect=5,
             report_delivery_until_date=D, paid_message_stars=6, schedule_repeat_period=7,
             summary_from_language="en", offline=True, video_processing_pending=True),
        _msg(3, reply_to=types.MessageReplyHeader(
            reply_to_msg_id=2, reply_to_top_id=1, forum_topic=True, quote=True,
            reply_to_peer_id=types.PeerChannel(6), reply_from=FWD, quote_text="quoted",
            quote_entities=[types.MessageEntityBold(0, 3)], quote_offset=4, todo_item_id=2,
            poll_option=b"\x01\x02")),
        _msg(4, reply_to=types.MessageReplyHeader(reply_to_msg_id=3, forum_topic=True)),
        _msg(5, reply_to=types.MessageReplyStoryHeader(types.PeerUser(3), 44)),
        _msg(6, replies=types.MessageReplies(
            replies=12, replies_pts=5, comments=True, channel_id=2**35,
            recent_repliers=[types.PeerUser(1), types.PeerChannel(2)], max_id=10,
            read_max_id=9)),
        _msg(7, replies=types.MessageReplies(replies=0, replies_pts=1)),
        _msg(8, restriction_reason=[types.RestrictionReason("ios", "porn", "no")],
             media=types.MessageMediaEmpty(), message=""),
        types.MessageEmpty(9, peer_id=types.PeerChannel(CHAT.id)),
        types.MessageEmpty(10, None),
        # handed to Telethon: the next one must still be read from the right byte
        _msg(11, media=types.MessageMediaGeo(types.GeoPoint(1.5, 2.5, 7))),
        _msg(12, message="ünïcödé \U0001f600" * 40),           # a long (254-prefixed) string
        types.MessageService(id=13, peer_id=types.PeerChannel(CHAT.id), date=D,
                             action=types.MessageActionPinMessage()),
        _msg(14, reply_markup=types.ReplyInlineMarkup([types.KeyboardInlineButtonRow(
            [types.KeyboardInlineButton("go", types.InlineButtonTypeUrl("https://e.xample"))])])),
        _msg(15, reply_to=types.MessageReplyHeader(reply_to_msg_id=1,
                                                   reply_media=types.MessageMediaEmpty())),
        _msg(16, entities=[types.InputMessageEntityMentionName(0, 1, types.InputUserSelf())]),
        _msg(17, message=""),
    ]


def test_hand_built_exotic_messages_decode_the_same():
    native = _native()
    msgs = exotic()
    users = [types.User(id=2**33, first_name="Ann", last_name="B", username="ann", bot=True,
                        bot_info_version=1),
             types.User(id=5, deleted=True)]
    chats = [types.Channel(id=CHAT.id, title="C", photo=types.ChatPhotoEmpty(), date=D,
                           username="c"), types.Chat(id=9, title="G",
                                                     photo=types.ChatPhotoEmpty(),
                                                     participants_count=1, date=D, version=1)]
    data = page(list(reversed(msgs)), users, chats)
    before = native.counts()
    twin, got = both(data)
    assert got == twin
    assert len(got.messages) == len(msgs) and {p.ref.id for p in got.peers} == {2**33, 5,
                                                                                  CHAT.id, 9}
    read, handed = (a - b for a, b in zip(native.counts(), before, strict=True))
    assert (read, handed) == (12, 5)
    by_id = {x.id: x for x in got.messages}
    assert [e.kind for e in by_id[1].entities][-4:] == ["diff_insert", "diff_delete",
                                                       "diff_replace", "formatted_date"]
    assert by_id[4].topic_id == 3 and by_id[3].topic_id == 1
    assert by_id[2].reactions[0].recent[0].peer == m.PeerRef("user", 8)
    # only ids in lo..hi, as the twin
    assert both(data, 3, 8)[1] == both(data, 3, 8)[0]
    assert [x.id for x in both(data, 3, 8)[1].messages] == [3, 4, 5, 6, 7, 8]


def test_a_page_of_another_shape_is_the_twins_and_a_truncated_one_fails_alike():
    _native()
    other = bytes(tm.MessagesSlice(count=1, messages=[_msg(1)], topics=[], chats=[], users=[],
                                   search_flood=types.SearchPostsFlood(
                                       total_daily=1, remains=1, stars_amount=0,
                                       query_is_free=True)))
    twin, got = both(other)
    assert got == twin and len(got.messages) == 1
    whole = page([_msg(2, entities=ALL_ENTITIES), _msg(1)])
    for cut in (len(whole) - 3, 40, 9):
        with pytest.raises(Exception) as a:
            rawpage.decode_page(whole[:cut], CHAT, 0, 100)
        with pytest.raises(Exception) as b:
            tl.Native(_native()).decode_page(whole[:cut], CHAT, 0, 100)
        assert type(a.value) is type(b.value)


# ---- hypothesis ------------------------------------------------------------------------------
ints = st.integers(-(2**31), 2**31 - 1)
longs = st.integers(-(2**63), 2**63 - 1)
texts = st.text(max_size=300)
peers = st.one_of(st.builds(types.PeerUser, longs), st.builds(types.PeerChat, longs),
                  st.builds(types.PeerChannel, longs))
dates = st.integers(0, 2**31 - 1).map(lambda t: dt.datetime.fromtimestamp(t, dt.UTC))
opt = st.none
entity = st.one_of(
    *[st.builds(cls, ints, ints) for cls in (
        types.MessageEntityBold, types.MessageEntityItalic, types.MessageEntityUnknown,
        types.MessageEntityMention, types.MessageEntityHashtag, types.MessageEntityCode,
        types.MessageEntitySpoiler, types.MessageEntityStrike, types.MessageEntityUrl)],
    st.builds(types.MessageEntityTextUrl, ints, ints, texts),
    st.builds(types.MessageEntityPre, ints, ints, texts),
    st.builds(types.MessageEntityMentionName, ints, ints, longs),
    st.builds(types.MessageEntityCustomEmoji, ints, ints, longs),
    st.builds(types.MessageEntityBlockquote, ints, ints, collapsed=st.booleans()))
fwd = st.builds(
    lambda saved, **kw: types.MessageFwdHeader(**kw, saved_from_peer=saved and saved[0],
                                               saved_from_msg_id=saved and saved[1]),
    opt() | st.tuples(peers, ints), date=dates, imported=st.booleans(), from_id=opt() | peers,
    from_name=opt() | texts, channel_post=opt() | ints, post_author=opt() | texts)
reply = st.one_of(
    st.builds(types.MessageReplyHeader, reply_to_msg_id=opt() | ints,
              reply_to_top_id=opt() | ints, forum_topic=st.booleans(),
              reply_to_peer_id=opt() | peers, quote_text=opt() | texts,
              quote_entities=opt() | st.lists(entity, max_size=3), reply_from=opt() | fwd),
    st.builds(types.MessageReplyStoryHeader, peers, ints))
reaction = st.one_of(st.builds(types.ReactionEmoji, texts),
                     st.builds(types.ReactionCustomEmoji, longs),
                     st.just(types.ReactionPaid()))
reactions = st.builds(
    types.MessageReactions,
    results=st.lists(st.builds(types.ReactionCount, reaction, ints,
                               chosen_order=opt() | ints), max_size=4),
    recent_reactions=opt() | st.lists(st.builds(types.MessagePeerReaction, peers, dates,
                                                reaction), max_size=4))
replies = st.builds(
    lambda channel, **kw: types.MessageReplies(**kw, channel_id=channel,
                                               comments=channel is not None),
    opt() | longs, replies=ints, replies_pts=ints,
    recent_repliers=opt() | st.lists(peers, max_size=2))
message = st.builds(
    types.Message, id=st.integers(1, 2**31 - 1), peer_id=peers, date=dates, message=texts,
    out=st.booleans(), silent=st.booleans(), post=st.booleans(), pinned=st.booleans(),
    noforwards=st.booleans(), from_id=opt() | peers, fwd_from=opt() | fwd,
    via_bot_id=opt() | longs, reply_to=opt() | reply, entities=opt() | st.lists(entity),
    views=opt() | ints, forwards=opt() | ints, replies=opt() | replies,
    edit_date=opt() | dates, post_author=opt() | texts, grouped_id=opt() | longs,
    reactions=opt() | reactions, ttl_period=opt() | ints,
    media=opt() | st.just(types.MessageMediaEmpty()) | st.builds(
        types.MessageMediaDice, value=ints, emoticon=texts))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, min_size=1, max_size=6))
def test_hypothesis_messages_decode_the_same(msgs):
    _native()
    for x in msgs:        # a page's messages share the chat; views and forwards go together
        x.peer_id, x.forwards = types.PeerChannel(CHAT.id), x.views
    twin, got = both(page(msgs))
    assert got == twin


def test_the_layer_and_the_constructors_are_checked_against_telethon():
    native = _native()
    assert tl.mismatch(native) is None
    wrong_layer = pytypes.SimpleNamespace(LAYER=native.LAYER - 1, tl_ids=native.tl_ids,
                                          simple_entities=native.simple_entities)
    assert "layer" in tl.mismatch(wrong_layer)
    ids = native.tl_ids()
    ids["Message"] ^= 1
    wrong_id = pytypes.SimpleNamespace(LAYER=native.LAYER, tl_ids=lambda: ids,
                                       simple_entities=native.simple_entities)
    assert "Message" in tl.mismatch(wrong_id)
    names = native.simple_entities()
    names[types.MessageEntityBold.CONSTRUCTOR_ID] = "italic"
    wrong_name = pytypes.SimpleNamespace(LAYER=native.LAYER, tl_ids=native.tl_ids,
                                         simple_entities=lambda: names)
    assert "bold" in tl.mismatch(wrong_name) or "italic" in tl.mismatch(wrong_name)
    assert tl.IMPLEMENTATION == "native" or os.environ.get("TGARC_TL_IMPL") == "pure"


# ---- through the CLI -------------------------------------------------------------------------
def test_exports_through_either_decoder_are_identical_and_counted(tmp_path):
    import orjson

    from tests._export import env_for, outputs, served, tgarc

    _native()
    with served(600) as dc:
        runs = {}
        for impl in ("native", "pure"):
            env = env_for(dc)
            if impl == "pure":           # the twin, asked for (CI's REQUIRE_NATIVE forbids it)
                env.pop("TGARC_REQUIRE_NATIVE", None)
                env["TGARC_TL_IMPL"] = "pure"
            r = tgarc(dc, tmp_path / impl, env=env)
            assert r.returncode == 0, r.stderr
            runs[impl] = orjson.loads((tmp_path / impl / "export_metrics.json").read_bytes())
    assert outputs(tmp_path / "native") == outputs(tmp_path / "pure")
    native, pure = runs["native"]["decoder"], runs["pure"]["decoder"]
    assert native["implementation"] == "native" and pure["implementation"] == "pure"
    assert native["native"] > 0.5 * runs["native"]["messages"] and native["telethon"] > 0
    assert pure["native"] == 0 and pure["telethon"] == runs["pure"]["messages"]


def test_peek_reads_the_first_id_of_every_kind_as_telethon():
    """The supervisor's peek (rawpage.peek) skips to the first message's id without reading
    it whole: the same (count, newest id) as Telethon's reading, whatever the kind."""
    from telethon.extensions import BinaryReader

    for first in (exotic()[1], exotic()[8], exotic()[12], exotic()[10], *exotic()[:1]):
        data = page([first, _msg(1)])
        got = rawpage.peek(data)
        whole = BinaryReader(data).tgread_object()
        assert got == (2, whole.messages[0].id)
    assert rawpage.peek(page([])) == (0, 0)


COLLECTIBLE = types.EmojiStatusCollectible(1, 2, "t", "s", 3, 4, 5, 6, 7, until=D)
PEERS_USERS = [
    types.User(id=1, access_hash=2, first_name="Ann", last_name="Bee", username="ann",
               phone="123", photo=types.UserProfilePhoto(5, 2, stripped_thumb=b"\x01" * 300),
               status=types.UserStatusOnline(D), bot=True, bot_info_version=3, deleted=True,
               restricted=True, restriction_reason=[types.RestrictionReason("all", "spam", "x")],
               bot_inline_placeholder="p", lang_code="en", emoji_status=COLLECTIBLE,
               usernames=[types.Username("ann2", active=True)],
               stories_max_id=types.RecentStory(max_id=9),
               color=types.PeerColor(color=3, background_emoji_id=4),
               profile_color=types.PeerColorCollectible(1, 2, 3, 4, [5, 6], 7, [8]),
               bot_active_users=5, bot_verification_icon=6, send_paid_messages_stars=7,
               linked_community_id=8),
    types.User(id=2, first_name="", last_name="Only", status=types.UserStatusOffline(D),
               photo=types.UserProfilePhotoEmpty(), emoji_status=types.EmojiStatus(9)),
    types.User(id=3, status=types.UserStatusRecently(by_me=True),
               emoji_status=types.EmojiStatusEmpty(), stories_max_id=types.RecentStory()),
    types.User(id=4, status=types.UserStatusLastWeek()), types.User(id=5,
                                                                     status=types.UserStatusEmpty()),
    types.User(id=6, status=types.UserStatusLastMonth(), color=types.PeerColor()),
    types.UserEmpty(7),
]
PEERS_CHATS = [
    types.Chat(id=10, title="G", photo=types.ChatPhoto(1, 2, stripped_thumb=b"t"),
               participants_count=3, date=D, version=1,
               migrated_to=types.InputChannel(11, 12), admin_rights=types.ChatAdminRights(),
               default_banned_rights=types.ChatBannedRights(D, send_messages=True)),
    types.Chat(id=13, title="", photo=types.ChatPhotoEmpty(), participants_count=0, date=D,
               version=0, migrated_to=types.InputChannelEmpty()),
    types.ChatForbidden(14, "F"), types.ChatEmpty(15),
    types.Channel(id=16, title="C", photo=types.ChatPhotoEmpty(), date=D, access_hash=1,
                  username="chan", restricted=True,
                  restriction_reason=[types.RestrictionReason("a", "b", "c")],
                  admin_rights=types.ChatAdminRights(post_messages=True),
                  banned_rights=types.ChatBannedRights(D), participants_count=9,
                  default_banned_rights=types.ChatBannedRights(None, view_messages=True),
                  usernames=[types.Username("c2")], stories_max_id=types.RecentStory(live=True),
                  color=types.PeerColorCollectible(1, 2, 3, 4, []), emoji_status=COLLECTIBLE,
                  profile_color=types.PeerColor(color=1), level=2, subscription_until_date=D,
                  bot_verification_icon=3, send_paid_messages_stars=4, linked_monoforum_id=5,
                  linked_community_id=6),
    types.ChannelForbidden(17, 18, "Gone", until_date=D), types.ChannelForbidden(19, 20, ""),
]


def test_the_chats_and_users_after_the_messages_decode_the_same():
    native = _native()
    data = page([_msg(1)], PEERS_USERS, PEERS_CHATS)
    before = native.tails()
    twin, got = both(data)
    assert got == twin
    assert [a - b for a, b in zip(native.tails(), before, strict=True)] == [1, 0]
    assert [p.ref.id for p in got.peers] == [10, 13, 14, 16, 17, 19, 1, 2, 3, 4, 5, 6]
    ann = got.peers[6]
    assert (ann.name, ann.username, ann.bot, ann.deleted) == ("Ann Bee", "ann", True, True)
    # a forum topic among them (or a peer of another layer): Telethon reads the whole tail
    topic = types.ForumTopic(
        id=1, date=D, peer=types.PeerChannel(CHAT.id), title="T", icon_color=1, top_message=1,
        read_inbox_max_id=0, read_outbox_max_id=0, unread_count=0, unread_mentions_count=0,
        unread_reactions_count=0, unread_poll_votes_count=0, from_id=types.PeerUser(1),
        notify_settings=types.PeerNotifySettings())
    data = bytes(tm.ChannelMessages(pts=1, count=1, messages=[_msg(1)], topics=[topic],
                                    chats=PEERS_CHATS, users=PEERS_USERS))
    before = native.tails()
    twin, got = both(data)
    assert got == twin and len(got.peers) == 12
    assert [a - b for a, b in zip(native.tails(), before, strict=True)] == [0, 1]
