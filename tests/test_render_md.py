"""The Markdown vault: day notes over the fakedc corpus, every message a linkable block,
every reply link resolving inside the vault, and golden notes."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from engine import model as m
from engine.archive import layout
from engine.fakedc.corpus import Corpus
from engine.render import day_notes, messages_jsonl, renderer, result_json
from engine.telegram import convert
from tests.test_render import REFS, TEXTS, ZONES, _need_native, messages, outcome

GOLDEN = Path(__file__).parent / "golden"
LINK = re.compile(r"\[\[([^\]|#]*)#\^m(\d+)\|")      # [[<note name>#^mN| or [[#^mN|
BLOCK_ID = re.compile(rb"^\^m(\d+)$", re.M)            # a block id: a line of its own


def vault(n=600, tz=dt.UTC, impl=renderer):
    """Every chat of a corpus rendered into {relative path: note bytes} by ``impl`` (the
    renderer, or one with its day_note/days)."""
    corpus = Corpus(messages=n)
    peers = {}
    for obj in [*corpus.users.values(), *(corpus.chat_object(c) for c in corpus.chats.values())]:
        info = convert.peer_info(obj)
        peers[info.ref] = info
    dirs = {convert.peer_ref(c.peer()): f"{convert.peer_ref(c.peer()).kind}{c.id}-{c.key}"
            for c in corpus.chats.values()}
    by_ref = {convert.peer_ref(c.peer()): c for c in corpus.chats.values()}

    def locate(ref, msg_id):
        chat = by_ref.get(ref)
        return chat.date_of(msg_id) if chat is not None and chat.exists(msg_id) else None

    notes, ids = {}, {}
    for chat in corpus.chats.values():
        ref = convert.peer_ref(chat.peer())
        msgs = [convert.message(x, ref) for x in
                (corpus.message(chat, i) for i in range(chat.first_id, chat.top_id + 1))
                if x is not None]
        ids[dirs[ref]] = {x.id for x in msgs}
        vctx = day_notes.VaultContext(result_json.RenderContext(ref, tz, peers), dirs[ref],
                                      chat.title, chat.username, dirs, locate)
        for day, day_msgs in impl.days(msgs, tz).items():
            path = day_notes.note_path(day, layout.note_key(dirs[ref]))
            notes[f"{dirs[ref]}/{path}"] = impl.day_note(vctx, day, day_msgs)
    return notes, ids


@pytest.fixture(scope="module")
def notes():
    return vault()


def test_every_message_is_one_linkable_block(notes):
    rendered, ids = notes
    for folder, want in ids.items():
        found = []
        for path, note in rendered.items():
            if path.startswith(folder + "/"):
                found += [int(x) for x in BLOCK_ID.findall(note)]
        assert sorted(found) == sorted(want), folder


def test_every_reply_link_resolves_inside_the_vault(notes):
    """By note name (unique across the vault), or within the note for [[#^mN]]."""
    rendered, _ = notes
    names = [Path(p).stem for p in rendered]
    assert len(names) == len(set(names))
    blocks = {(Path(p).stem, int(i)) for p, n in rendered.items() for i in BLOCK_ID.findall(n)}
    links = [(target or Path(p).stem, int(i)) for p, n in rendered.items()
             for target, i in LINK.findall(n.decode())]
    assert len(links) > 50
    assert any(t == "" for n in rendered.values() for t, _ in LINK.findall(n.decode()))
    assert all(link in blocks for link in links), [x for x in links if x not in blocks][:5]


def test_front_matter_and_structure(notes):
    rendered, _ = notes
    md = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")
    for path, note in rendered.items():
        text = note.decode()
        head, body = text.split("\n---\n", 1)
        fields = dict(line.split(": ", 1) for line in head.splitlines()[1:])
        values = {k: json.loads(v) for k, v in fields.items()}
        assert Path(path).stem.startswith(values["date"] + " ")
        assert values["messages"] == len(BLOCK_ID.findall(body.encode()))
        tokens = md.parse(body)
        assert not [t for t in tokens if t.type == "heading_open"], path   # nothing promoted


def test_media_polls_reactions_forwards_and_services_show(notes):
    rendered, _ = notes
    everything = b"".join(rendered.values()).decode()
    for needle in ("*[photo 320×240", "voice message", "**Poll", "📍", "👤", "🎲",
                   "*Forwarded from Somebody Else*", "👍", "pinned a message",
                   "created the topic", "[t.me](https://t.me/tgarc_demo/"):
        assert needle in everything, needle
    album = re.search(r"> \*\[photo [^\n]*\n\n\^m\d+\n\n> \*\[photo [^\n]*\n\n\^m\d+",
                      everything)
    assert album, "an album's other photos follow its block, a block each"


def test_downloaded_media_is_embedded_with_a_vault_path():
    ref = m.PeerRef("channel", 9)
    ctx = result_json.RenderContext(ref, dt.UTC, files={77: "photos/photo_1@01-01-2024.jpg"})
    vctx = day_notes.VaultContext(ctx, "channel9-news", "News")
    msg = m.Message(5, ref, 1704067200, post=True, media=m.Photo(77, width=1, height=1))
    note = renderer.day_note(vctx, dt.date(2024, 1, 1), [msg]).decode()
    assert "> ![[photos/photo_1@01-01-2024.jpg]]" in note
    assert "[t.me](https://t.me/c/9/5)" in note


@pytest.mark.parametrize("name", ["channel1500000001-channel/markdown/2024/2024-01-01.md",
                                  "channel1500000002-supergroup/markdown/2024/2024-01-01.md"])
def test_vault_golden(name):
    rendered, _ = vault(n=150)
    path = GOLDEN / ("vault_" + name.replace("/", "__"))
    folder = name.partition("/")[0]
    name = f"{folder}/{layout.note(dt.date(2024, 1, 1), layout.note_key(folder))}"
    if os.environ.get("TGARC_UPDATE_GOLDEN") == "1":
        path.write_bytes(rendered[name])
    assert rendered[name] == path.read_bytes()


# --------------------------------------------------------------------------- native and twin
#
# renderer.day_note / days run in the native renderer (engine._native.render, behind the
# façade) when it is built; day_notes's own day_note/days are its twin.  Both give the golden
# notes, and they agree byte for byte on the corpus and on random days of messages.


@pytest.fixture(scope="module", params=["native", "pure"])
def render_impl(request):
    """The renderer under test: the native build, then day_notes itself (the twin)."""
    if request.param == "native":
        _need_native()
        return renderer.by_name("native")
    return day_notes


@pytest.mark.parametrize("name", ["channel1500000001-channel/markdown/2024/2024-01-01.md",
                                  "channel1500000002-supergroup/markdown/2024/2024-01-01.md"])
def test_vault_golden_both_renderers(render_impl, name):
    rendered, _ = vault(n=150, impl=render_impl)
    golden = (GOLDEN / ("vault_" + name.replace("/", "__"))).read_bytes()
    folder = name.partition("/")[0]
    assert rendered[f"{folder}/{layout.note(dt.date(2024, 1, 1), layout.note_key(folder))}"] \
        == golden


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kathmandu"])
def test_native_renders_every_corpus_block_itself_and_like_the_twin(zone):
    """Every block of every day note (service lines and replies that link across chats too)
    is written by the native code and equals the twin's."""
    _need_native()
    native = renderer.by_name("native")

    tz = dt.UTC if zone == "UTC" else ZoneInfo(zone)
    corpus = Corpus(messages=400)
    peers = {}
    for obj in [*corpus.users.values(), *(corpus.chat_object(c) for c in corpus.chats.values())]:
        info = convert.peer_info(obj)
        peers[info.ref] = info
    dirs = {convert.peer_ref(c.peer()): f"{c.kind}{c.id}-{c.key}" for c in corpus.chats.values()}
    by_ref = {convert.peer_ref(c.peer()): c for c in corpus.chats.values()}

    def locate(ref, msg_id):
        chat = by_ref.get(ref)
        return chat.date_of(msg_id) if chat is not None and chat.exists(msg_id) else None

    for chat in corpus.chats.values():
        ref = convert.peer_ref(chat.peer())
        msgs = [convert.message(x, ref) for x in
                (corpus.message(chat, i) for i in range(chat.first_id, chat.top_id + 1))
                if x is not None]
        vctx = day_notes.VaultContext(result_json.RenderContext(ref, tz, peers), dirs[ref],
                                      chat.title, chat.username, dirs, locate)
        days = native.days(msgs, tz)
        assert days == day_notes.days(msgs, tz)
        for day, day_msgs in days.items():
            for group in day_notes._groups(day_msgs):
                assert native.block_covered(vctx, group), (chat.key, group[0].id)
            assert native.day_note(vctx, day, day_msgs) == \
                day_notes.day_note(vctx, day, day_msgs), (chat.key, day)


CHAT = m.PeerRef("channel", 7)


@st.composite
def days_of_messages(draw):
    """A day's messages in id order, some sharing a grouped_id (albums)."""
    n = draw(st.integers(1, 6))
    base = draw(st.sampled_from([1704067200, 1711846800, 0]))
    return [draw(messages(msg_id=k + 1, chat=CHAT, date=base + 30 * k)) for k in range(n)]


def vault_contexts():
    base = st.builds(result_json.RenderContext, chat=st.just(CHAT), tz=ZONES,
                     peers=st.dictionaries(REFS, st.builds(
                         m.PeerInfo, ref=REFS, name=st.none() | TEXTS), max_size=4),
                     files=st.dictionaries(st.integers(0, 2000), st.sampled_from(
                         ["photos/a b.jpg", result_json.NOT_INCLUDED, "", "x"]), max_size=3))
    located = st.sampled_from([lambda chat, msg_id: None,
                               lambda chat, msg_id: 1704067200 + msg_id,
                               lambda chat, msg_id: msg_id if msg_id % 2 else None])
    return st.builds(day_notes.VaultContext, base=base,
                     chat_dir=st.sampled_from(["channel7-news", "c7 ü"]),
                     chat_title=TEXTS, username=st.none() | st.sampled_from(["news", ""]),
                     dirs=st.dictionaries(REFS, st.sampled_from(["user1-a", "chat3-b"]),
                                          max_size=3),
                     locate=located)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msgs=days_of_messages(), vctx=vault_contexts())
def test_native_and_twin_write_the_same_day_notes(msgs, vctx):
    _need_native()
    native = renderer.by_name("native")

    day = dt.date(2024, 1, 1)
    assert outcome(native.day_note, vctx, day, msgs) == \
        outcome(day_notes.day_note, vctx, day, msgs)
    assert outcome(native.days, msgs, vctx.base.tz) == outcome(day_notes.days, msgs,
                                                               vctx.base.tz)
    for x in msgs:
        assert outcome(native.jsonl_line, x) == outcome(messages_jsonl.jsonl_line, x)


# --------------------------------------------------------------------------- deleted messages


def test_a_message_deleted_on_telegram_says_so_before_its_block_id(render_impl):
    ref = m.PeerRef("channel", 9)
    vctx = day_notes.VaultContext(result_json.RenderContext(ref, dt.UTC), "channel9-news", "News",
                                  "news")
    kept = m.Message(5, ref, 1704067200, post=True, text="still here", edit_date=1704067300)
    gone = m.Message(6, ref, 1704067260, post=True, text="gone", deleted_at=1704100000)
    day = render_impl.day_note(vctx, dt.date(2024, 1, 1), [kept, gone])
    lines = day.decode().splitlines()
    assert "> **00:00** · [t.me](https://t.me/news/5) · *edited*" in lines
    assert "> **00:01** · [t.me](https://t.me/news/6) · *deleted on Telegram*" in lines
    assert lines.index("^m6") > lines.index("> gone") > lines.index("^m5")
    # result.json has no place for it (Telegram Desktop's format); JSONL keeps the field
    assert b"deleted" not in renderer.fragment(gone, vctx.base)
    assert b'"deleted_at":1704100000' in renderer.jsonl_line(gone)


def test_an_album_with_a_deleted_message_says_so_once(render_impl):
    ref = m.PeerRef("chat", 3)
    vctx = day_notes.VaultContext(result_json.RenderContext(ref, dt.UTC), "chat3-g", "G")
    album = [m.Message(i, ref, 1704067200, from_peer=m.PeerRef("user", 1), grouped_id=77,
                       media=m.Photo(i, width=2, height=1, size=2048),
                       deleted_at=1704070000 if i == 12 else None) for i in (11, 12, 13)]
    note = render_impl.day_note(vctx, dt.date(2024, 1, 1), album).decode()
    assert note.count("*deleted on Telegram*") == 1
    assert "> **00:00** · *deleted on Telegram*\n" in note
    assert "> *[photo 2×1, 2.0 KB, not downloaded]*\n\n^m12\n" in note


# --------------------------------------------------------------------------- one day rule


def test_a_reply_link_points_at_the_note_its_target_is_in(render_impl):
    """The note a message lands in and the links to it come from the same clock. Where the
    quarter-hour clock and datetime.fromtimestamp disagree (a zone change off the quarter
    hour that crosses midnight: St. John's fell back at 00:01 until 2010), the links once
    pointed at the other day's note."""
    ref, tz = m.PeerRef("channel", 9), ZoneInfo("America/St_Johns")
    target = m.Message(5, ref, 1257042900, post=True, text="at 02:35 UTC")   # 2009-11-01
    reply = m.Message(6, ref, 1257043000, post=True, text="re",
                      reply_to=m.ReplyTo(msg_id=5))
    days = render_impl.days([target, reply], tz)
    assert list(days) == [dt.date(2009, 11, 1)]
    vctx = day_notes.VaultContext(result_json.RenderContext(ref, tz), "channel9-news", "News",
                                  locate=lambda chat, msg_id: target.date if msg_id == 5 else None)
    note = render_impl.day_note(vctx, dt.date(2009, 11, 1), [target, reply]).decode()
    assert "[[#^m5|reply to 5]]" in note and "2009-10-31" not in note
    assert "**00:05**" in note
