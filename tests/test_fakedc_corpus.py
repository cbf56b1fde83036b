"""The synthetic corpus on its own: history semantics against a brute-force model,
determinism, counts, mutations and the cost of a huge channel."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fakedc.corpus import Corpus, utf16_len


def model_history(chat, offset_id, offset_date, add_offset, limit, max_id, min_id):
    """Telegram's getHistory, written the slow obvious way."""
    window = [i for i in range(chat.top_id, chat.base, -1)
              if chat.exists(i) and i > min_id and (max_id <= 0 or i < max_id)]
    if offset_id > 0:
        p = next((k for k, i in enumerate(window) if i < offset_id), len(window))
    elif offset_date > 0:
        p = next((k for k, i in enumerate(window) if chat.date_of(i) < offset_date),
                 len(window))
    else:
        p = 0
    s = p + add_offset
    e = s + max(0, min(limit, 100))
    return window[max(0, s):max(0, e)]


CORPUS = Corpus(messages=400)
CHAT = CORPUS.chats["channel"]


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(["channel", "group", "oldgroup", "discussion"]),
       offset_id=st.integers(0, 460), use_date=st.booleans(), add_offset=st.integers(-150, 150),
       limit=st.integers(0, 120), max_id=st.integers(0, 460), min_id=st.integers(0, 460))
def test_history_matches_the_model(key, offset_id, use_date, add_offset, limit, max_id, min_id):
    """Ids count from the chat's ``base`` (a basic group's), dates from its ``epoch``."""
    chat = CORPUS.chats[key]
    offset_id, max_id, min_id = (chat.base + i if i else 0 for i in (offset_id, max_id, min_id))
    offset_date = chat.date_of(offset_id) if use_date and offset_id else 0
    if offset_date:
        offset_id = 0
    got = CORPUS.history(chat, offset_id, offset_date, add_offset, limit, max_id, min_id)
    assert got == model_history(chat, offset_id, offset_date, add_offset, limit, max_id, min_id)


def test_dates_make_sense_across_chats():
    """Each chat's dates rise with its ids; a migrated group's history ends before the
    supergroup that continues it begins; no chat is dated after the channel's last post by
    more than a day's worth of its messages (Saved Messages were in 2027); a discussion
    group's copy of a post comes right after the post."""
    chats = CORPUS.chats
    for chat in chats.values():
        dates = [chat.date_of(i) for i in range(chat.first_id, chat.top_id + 1)]
        assert dates == sorted(set(dates)), chat.key
        assert chat.date_of(chat.first_id) >= chat.epoch - 86400
    old, sup = chats["oldgroup"], chats["supergroup"]
    assert old.date_of(old.top_id) < sup.date_of(sup.first_id)
    last = max(c.date_of(c.top_id) for c in chats.values())
    assert last - min(c.date_of(c.first_id) for c in chats.values()) < 40 * 86400
    disc, chan = chats["discussion"], chats["channel"]
    copy = CORPUS.message(disc, 1)
    post = copy.fwd_from.channel_post
    assert 0 < copy.date.timestamp() - chan.date_of(post) < 60


def test_the_same_seed_gives_the_same_messages_and_another_seed_does_not():
    a, b, c = Corpus(seed=3, messages=50), Corpus(seed=3, messages=50), Corpus(seed=4, messages=50)
    ids = a.history(a.chats["channel"], limit=50)
    assert [a.message(a.chats["channel"], i)._bytes() for i in ids] == \
        [b.message(b.chats["channel"], i)._bytes() for i in ids]
    assert [a.message(a.chats["channel"], i).message for i in ids] != \
        [c.message(c.chats["channel"], i).message for i in ids]


def test_entities_fall_on_utf16_boundaries_of_the_text():
    corpus = Corpus(messages=300)
    chat = corpus.chats["supergroup"]
    seen = 0
    for i in range(1, chat.top_id + 1):
        msg = corpus.message(chat, i)
        for ent in getattr(msg, "entities", None) or []:
            units = msg.message.encode("utf-16-le")
            assert ent.offset >= 0 and ent.offset + ent.length <= len(units) // 2
            piece = units[ent.offset * 2:(ent.offset + ent.length) * 2].decode("utf-16-le")
            assert utf16_len(piece) == ent.length
            seen += 1
    assert seen > 10


def test_counts_follow_gaps_and_mutations():
    corpus = Corpus(messages=1000)
    chat = corpus.chats["channel"]
    brute = sum(chat.exists(i) for i in range(1, chat.top_id + 1))
    assert chat.count() == brute < 1000
    new = corpus.add_message("channel", "hello")
    corpus.delete_messages("channel", [2, 3, new])
    corpus.edit_message("channel", 4, "edited")
    assert chat.count() == brute - 2
    assert corpus.message(chat, 4).message == "edited"
    assert corpus.message(chat, 2) is None


def test_a_five_million_message_channel_costs_no_memory_per_message():
    tracemalloc.start()
    corpus = Corpus(messages=5_000_000, text_only=True)
    chat = corpus.chats["channel"]
    page = corpus.history(chat, offset_id=2_500_000, limit=100)
    msgs = [corpus.message(chat, i) for i in page]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(msgs) == 100 and chat.count() > 4_900_000
    assert peak < 20 * 1024 * 1024


def test_the_rich_corpus_carries_every_kind_the_exporter_must_handle():
    from telethon.tl import types

    from engine.fakedc import files

    corpus = Corpus(messages=3000)
    found = set()
    names = set()
    for chat in corpus.chats.values():
        for i in range(1, chat.top_id + 1):
            m = corpus.message(chat, i)
            if m is None:
                continue
            m._bytes()                                   # every message serializes
            if isinstance(m, types.MessageService):
                found.add(type(m.action).__name__)
                continue
            media = m.media
            if isinstance(media, types.MessageMediaDocument):
                found.add(files.decode_id(media.document.id)[0])
                for a in media.document.attributes:
                    if isinstance(a, types.DocumentAttributeFilename):
                        names.add(a.file_name)
            elif media is not None:
                found.add(type(media).__name__)
            for e in m.entities or ():
                found.add(type(e).__name__)
            for r in (m.reactions.results if m.reactions else ()):
                found.add(type(r.reaction).__name__)
            found.update(k for k in ("grouped_id", "fwd_from", "reply_to", "edit_date",
                                     "post_author") if getattr(m, k, None))
    expected = {
        "MessageActionChannelCreate", "MessageActionChatCreate", "MessageActionChatAddUser",
        "MessageActionPinMessage", "MessageActionChatEditTitle", "MessageActionTopicCreate",
        "MessageMediaPhoto", "MessageMediaPoll", "MessageMediaGeo", "MessageMediaVenue",
        "MessageMediaContact", "MessageMediaWebPage", "MessageMediaDice",
        "video", "round", "voice", "sticker", "animation", "audio", "file", "big",
        "MessageEntityBold", "MessageEntityItalic", "MessageEntityCode", "MessageEntityTextUrl",
        "MessageEntitySpoiler", "MessageEntityUrl",
        "ReactionEmoji", "ReactionCustomEmoji", "ReactionPaid",
        "grouped_id", "fwd_from", "reply_to", "edit_date", "post_author",
    }
    assert expected <= found, expected - found
    assert set(files.HOSTILE_NAMES) <= names
