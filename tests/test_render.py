"""The result.json (Telegram Desktop) and JSONL renderers over the whole fakedc corpus, with
golden files: a change to the output shows up as a diff of tests/golden/.
Set TGARC_UPDATE_GOLDEN=1 to rewrite them after an intended change (and review the diff)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import model as m
from engine.fakedc.corpus import Corpus
from engine.render import day_notes, messages_jsonl, renderer, result_json
from engine.telegram import convert
from engine.text import kinds

GOLDEN = Path(__file__).parent / "golden"
NAME_FIELDS = {"from", "actor", "forwarded_from", "saved_from", "name", "inviter"}
ORDER = ["id", "type", "date", "date_unixtime", "edited", "edited_unixtime", "actor",
         "actor_id", "action", "from", "from_id", "author", "forwarded_from", "saved_from",
         "reply_to_message_id", "reply_to_peer_id", "via_bot", "text", "text_entities",
         "inline_bot_buttons", "reactions"]


def corpus_chat(key: str, n: int = 600, seed: int = 1):
    corpus = Corpus(seed=seed, messages=n)
    chat = corpus.chats[key]
    ref = convert.peer_ref(chat.peer())
    peers = {}
    for obj in [*corpus.users.values(), *(corpus.chat_object(c) for c in corpus.chats.values())]:
        info = convert.peer_info(obj)
        peers[info.ref] = info
    msgs = [convert.message(x, ref) for x in
            (corpus.message(chat, i) for i in range(chat.first_id, chat.top_id + 1))
            if x is not None]
    return corpus, chat, ref, peers, msgs


def render_chat(key: str, tz=dt.UTC, n: int = 600, seed: int = 1) -> tuple[bytes, list]:
    _, chat, ref, peers, msgs = corpus_chat(key, n, seed)
    ctx = result_json.RenderContext(ref, tz, peers)
    doc = result_json.document(peers[ref], chat.kind, [renderer.fragment(x, ctx) for x in msgs])
    return doc, msgs


@pytest.mark.parametrize("key", ["channel", "supergroup", "group", "private", "discussion"])
def test_result_json_is_strict_json_in_telegram_desktops_shape(key):
    doc, msgs = render_chat(key)
    root = json.loads(doc)                      # the strict stdlib parser
    assert list(root) == ["name", "type", "id", "messages"]
    assert root["type"] in ("public_channel", "public_supergroup", "private_group",
                            "personal_chat")
    assert [x["id"] for x in root["messages"]] == [x.id for x in msgs]
    for out, msg in zip(root["messages"], msgs, strict=True):
        keys = [k for k in out if k in ORDER]
        assert keys == sorted(keys, key=ORDER.index), (msg.id, list(out))
        for k, v in out.items():
            assert v is not None or k in NAME_FIELDS, (msg.id, k)
        assert out["date_unixtime"] == str(msg.date)
        assert "".join(e["text"] for e in out["text_entities"]) == msg.text
        if isinstance(out["text"], str):
            assert out["text"] == msg.text
        else:
            assert "".join(p if isinstance(p, str) else p["text"] for p in out["text"]) == \
                msg.text
        if isinstance(msg.media, m.Photo):
            assert out["photo"] == result_json.NOT_INCLUDED
            assert out["photo_file_size"] == msg.media.size and out["width"] == 320
        if isinstance(msg.media, m.Document):
            assert out["file"] == result_json.NOT_INCLUDED and out["mime_type"]
            assert out["file_size"] == msg.media.size


def test_service_actions_use_telegram_desktops_names():
    seen = {}
    for key in ("channel", "supergroup", "group", "oldgroup"):
        doc, _ = render_chat(key)
        for out in json.loads(doc)["messages"]:
            if out["type"] == "service":
                seen[out["action"]] = out
    assert seen["create_channel"]["title"] == "tgarc demo channel"
    assert seen["create_group"]["members"][0] == "Archivist Test"
    assert isinstance(seen["pin_message"]["message_id"], int)
    assert seen["migrate_to_supergroup"]["actor_id"].startswith("user")
    assert seen["migrate_from_group"]["title"] == "Old basic group"
    assert seen["topic_created"]["title"].startswith("Topic")
    assert seen["invite_members"]["members"]
    assert seen["edit_group_title"]["title"].endswith("(renamed)")


def test_dates_follow_the_chosen_time_zone():
    utc, _ = render_chat("channel", n=50)
    berlin, _ = render_chat("channel", tz=ZoneInfo("Europe/Berlin"), n=50)
    a, b = json.loads(utc)["messages"][3], json.loads(berlin)["messages"][3]
    assert a["date_unixtime"] == b["date_unixtime"]
    assert dt.datetime.fromisoformat(b["date"]) - dt.datetime.fromisoformat(a["date"]) == \
        dt.timedelta(hours=1)                   # January: CET is UTC+1


def test_history_from_a_migrated_basic_group_is_shifted_like_telegram_desktop():
    _, _, _, peers, old = corpus_chat("oldgroup")
    target = m.PeerRef("channel", 1_500_000_002)
    ctx = result_json.RenderContext(target, dt.UTC, peers)
    out = orjson.loads(renderer.fragment(old[0], ctx))
    assert out["id"] == old[0].id - 1_000_000_000


def test_reactions_buttons_and_forwards_render():
    doc, _ = render_chat("supergroup")
    msgs = json.loads(doc)["messages"]
    reacted = next(x for x in msgs if "reactions" in x and any("recent" in r
                                                               for r in x["reactions"]))
    kinds = {r["type"] for x in msgs for r in x.get("reactions", ())}
    assert {"emoji", "custom_emoji"} <= kinds
    assert reacted["reactions"][0]["recent"][0]["from_id"].startswith("user")
    assert any(x.get("forwarded_from") == "Somebody Else" for x in msgs)
    ctx = result_json.RenderContext(m.PeerRef("channel", 1))
    msg = m.Message(5, m.PeerRef("channel", 1), 0, text="x", buttons=[[
        m.Button("callback", "Go", data=b"\xff\x00"), m.Button("url", "Site",
                                                             url="https://e.org")]])
    out = orjson.loads(renderer.fragment(msg, ctx))
    assert out["inline_bot_buttons"] == [[{"type": "callback", "text": "Go",
                                           "dataBase64": "/wA="},
                                          {"type": "url", "text": "Site",
                                           "data": "https://e.org"}]]


@pytest.mark.parametrize("key", ["channel", "supergroup"])
def test_result_json_golden(key):
    doc, _ = render_chat(key, n=150)
    path = GOLDEN / f"result_{key}.json"
    if os.environ.get("TGARC_UPDATE_GOLDEN") == "1":
        path.write_bytes(doc)
    assert doc == path.read_bytes(), f"{path.name} changed; review and TGARC_UPDATE_GOLDEN=1"


def test_jsonl_lines_round_trip_and_match_golden():
    _, _, _, _, msgs = corpus_chat("channel", n=150)
    lines = [renderer.jsonl_line(x) for x in msgs]
    for line, msg in zip(lines, msgs, strict=True):
        assert line.startswith(b'{"v":1,') and line.endswith(b"\n") and line.count(b"\n") == 1
        assert messages_jsonl.parse(line) == (1, msg)
    blob = b"".join(lines)
    path = GOLDEN / "messages_channel.jsonl"
    if os.environ.get("TGARC_UPDATE_GOLDEN") == "1":
        path.write_bytes(blob)
    assert blob == path.read_bytes()
    with_raw = m.Message(1, m.PeerRef("user", 2), 3, raw=b"tl bytes")
    assert b"raw" not in renderer.jsonl_line(with_raw)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe",
                                  "America/St_Johns", "Asia/Kathmandu"])
def test_local_clock_agrees_with_strftime_across_zones_and_dst(zone):
    import random

    tz = ZoneInfo(zone)
    clock = result_json.LocalClock(tz)
    rnd = random.Random(zone)
    for _ in range(3000):
        ts = rnd.randrange(0, 2_000_000_000)
        want = dt.datetime.fromtimestamp(ts, tz)
        assert clock.stamp(ts) == want.strftime("%Y-%m-%dT%H:%M:%S")
        assert (clock.hm(ts), clock.date(ts)) == (want.strftime("%H:%M"), want.date())


# --------------------------------------------------------------------------- native and twin
#
# renderer.fragment / fragments run in the native renderer (engine._native.render, behind the
# façade that hands it the rare parts and routes what it leaves to the twin) when it is built;
# result_json's own fragment/fragments (message_dict + orjson) are its twin.  The
# golden files above hold for both, and the two agree byte for byte on the corpus and on
# random messages -- including the ones the native writer hands back to the twin.


def _native_render_available() -> bool:
    try:
        from engine._native import render  # noqa: F401
    except ImportError:
        return False
    return True


def _need_native() -> None:
    if not _native_render_available():
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            pytest.fail("TGARC_REQUIRE_NATIVE=1 but engine._native.render is not built")
        pytest.skip("native renderer not built on this machine (CI requires it)")


@pytest.fixture(scope="module", params=["native", "pure"])
def render_impl(request):
    """The renderer under test: the native build (through the façade, which hands the twin
    what the build leaves), then its pure twins (fragment/fragments, day_note/days and
    jsonl_line/jsonl_lines)."""
    if request.param == "native":
        _need_native()
        return renderer.by_name("native")
    return None


def td_of(impl):
    return result_json if impl is None else impl


def jsonl_of(impl):
    return messages_jsonl if impl is None else impl


@pytest.mark.parametrize("key", ["channel", "supergroup"])
def test_result_json_golden_both_renderers(render_impl, key):
    _, chat, ref, peers, msgs = corpus_chat(key, n=150)
    ctx = result_json.RenderContext(ref, dt.UTC, peers)
    impl = td_of(render_impl)
    one = [impl.fragment(x, ctx) for x in msgs]
    assert impl.fragments(msgs, ctx) == one
    doc = result_json.document(peers[ref], chat.kind, one)
    assert doc == (GOLDEN / f"result_{key}.json").read_bytes()


def test_jsonl_golden_both_renderers(render_impl):
    _, _, _, _, msgs = corpus_chat("channel", n=150)
    impl = jsonl_of(render_impl)
    lines = impl.jsonl_lines(msgs)
    assert lines == [impl.jsonl_line(x) for x in msgs]
    assert b"".join(lines) == (GOLDEN / "messages_channel.jsonl").read_bytes()
    with_raw = m.Message(1, m.PeerRef("user", 2), 3, raw=b"tl bytes")
    assert impl.jsonl_line(with_raw) == messages_jsonl.jsonl_line(with_raw)
    assert b"raw" not in impl.jsonl_line(with_raw)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kathmandu"])
def test_native_renders_the_whole_corpus_itself_and_like_the_twin(zone):
    """Every corpus message (services too) is written by the native code, not handed back,
    and every fragment equals the twin's, in several zones and both chat histories."""
    _need_native()
    native = renderer.by_name("native")

    tz = dt.UTC if zone == "UTC" else ZoneInfo(zone)
    for key in ("channel", "supergroup", "group", "oldgroup", "private", "discussion"):
        _, _, ref, peers, msgs = corpus_chat(key, n=400)
        ctx = result_json.RenderContext(ref, tz, peers)
        assert all(native.covers(x, ctx) for x in msgs), key
        assert any(x.buttons for x in msgs) or key != "channel"
        assert native.fragments(msgs, ctx) == result_json.fragments(msgs, ctx), key
        assert native.jsonl_lines(msgs) == messages_jsonl.jsonl_lines(msgs), key
        # messages from raw pages carry their TL bytes, which JSONL leaves out
        raw = [msgspec.structs.replace(x, raw=b"\x15\xc4\xb5\x1c" * 40) for x in msgs]
        assert native.jsonl_lines(raw) == messages_jsonl.jsonl_lines(msgs), key
        assert native.fragments(raw, ctx) == result_json.fragments(msgs, ctx), key


def test_facade_uses_the_native_renderer_when_built():
    assert renderer.RENDERER in ("native", "pure") and renderer.WHY
    if _native_render_available() and os.environ.get("TGARC_RENDER_IMPL") != "pure":
        assert renderer.RENDERER == "native"
        assert renderer.fragment == renderer.by_name("native").fragment
        assert renderer.day_note == renderer.by_name("native").day_note
    pure = renderer.by_name("pure")
    assert (pure.fragment, pure.jsonl_line, pure.day_note, pure.days) == (
        result_json.fragment, messages_jsonl.jsonl_line, day_notes.day_note, day_notes.days)
    assert renderer.by_name(None).IMPLEMENTATION == renderer.RENDERER


def test_the_native_build_never_sees_a_context_it_does_not_know():
    """A RenderContext subclass may answer differently: the façade gives it to the twin."""
    class Named(result_json.RenderContext):
        def name(self, ref):
            return "always this"

    ctx = Named(m.PeerRef("channel", 1))
    msg = m.Message(7, m.PeerRef("user", 5), 1700000000, text="hi")
    assert orjson.loads(renderer.fragment(msg, ctx))["from"] == "always this"
    assert renderer.fragments([msg], ctx) == [renderer.fragment(msg, ctx)]


def test_render_impl_pure_forces_the_twin():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TGARC_REQUIRE_NATIVE"}
    env["TGARC_RENDER_IMPL"] = "pure"
    code = ("from engine.render import renderer as r, messages_jsonl as j; "
            "print(r.RENDERER, r.by_name(None).IMPLEMENTATION, r.jsonl_line is j.jsonl_line)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["pure", "pure", "True"]


# ---- random messages: the two renderers agree byte for byte (or fail alike) -----------------

CHAT = m.PeerRef("channel", 7)
_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
_WORDS = st.sampled_from(["", "plain", "café", "👨‍👩‍👧 family", "русский", "日本語", "a\nb",
                          "  edge ", "*bold* _x_ [y](z) #tag", "\x00\x1f\"\\", "1. item",
                          "- dash", "e\u0301", "🏳️‍🌈", "\u2028\u00a0", "x" * 50])
TEXTS = _TEXT | _WORDS
REFS = st.sampled_from([m.PeerRef("user", 1), m.PeerRef("user", 2), m.PeerRef("chat", 3),
                        m.PeerRef("channel", 7), m.PeerRef("channel", 8)])
INTS = st.integers(-3, 3_000_000) | st.sampled_from([0, 1, 2**31, 2**62, 2**63 - 1, 2**63,
                                                     -(2**63) - 1])
SMALL = st.integers(0, 2_000)
DATES = st.integers(1_400_000_000, 1_800_000_000) | st.sampled_from([0, -1, 86399, 2**31])
FLOATS = st.floats(allow_nan=False, width=64) | st.sampled_from(
    [0.0, -0.0, 1e-05, 1e16, 52.5200066, -179.99, 1e-7, float("inf")])
MAYBE_TEXT = st.none() | TEXTS


def entities(max_size=4):
    return st.lists(st.builds(
        m.Entity, kind=st.sampled_from([*kinds.TD_NAMES, "weird"]),
        offset=st.integers(-2, 45), length=st.integers(-2, 45),
        url=st.none() | st.sampled_from(["https://e.org/a b", "javascript:x", "", "t.me/(x)"]),
        language=st.none() | st.sampled_from(["", "py", "c++", "bad lang"]),
        user_id=st.none() | INTS, document_id=st.none() | INTS,
        collapsed=st.none() | st.booleans()), max_size=max_size)


MEDIA = st.one_of(
    st.none(),
    st.builds(m.Photo, id=SMALL, width=SMALL, height=SMALL, size=INTS,
              spoiler=st.booleans(), ttl_seconds=st.none() | SMALL),
    st.builds(m.Document, id=SMALL, mime_type=st.sampled_from(["", "video/mp4"]), size=INTS,
              file_name=MAYBE_TEXT,
              media_type=st.none() | st.sampled_from(["sticker", "voice_message", "video_file",
                                                     "audio_file", "video_message"]),
              duration=st.none() | st.sampled_from([0.0, 1.5, 59.99, 3600.0]),
              width=st.none() | SMALL, height=st.none() | SMALL, performer=MAYBE_TEXT,
              title=MAYBE_TEXT, sticker_emoji=MAYBE_TEXT, has_thumb=st.booleans(),
              spoiler=st.booleans(), ttl_seconds=st.none() | SMALL),
    st.builds(m.Geo, latitude=FLOATS, longitude=FLOATS, live_period=st.none() | SMALL),
    st.builds(m.Venue, latitude=FLOATS, longitude=FLOATS, title=TEXTS, address=TEXTS),
    st.builds(m.Contact, phone_number=TEXTS, first_name=TEXTS, last_name=TEXTS,
              vcard=st.sampled_from(["", "BEGIN:VCARD"])),
    st.builds(m.Poll, id=SMALL, question=TEXTS, closed=st.booleans(), total_voters=SMALL,
              answers=st.lists(st.builds(m.PollAnswer, text=TEXTS, option=st.just(b"\x00"),
                                         voters=SMALL, chosen=st.booleans()), max_size=3)),
    st.builds(m.WebPage, url=st.sampled_from(["https://e.org/p", "http://x y"]),
              title=MAYBE_TEXT, description=MAYBE_TEXT),
    st.builds(m.Game, title=TEXTS, description=TEXTS),
    st.builds(m.Invoice, title=TEXTS, description=TEXTS, currency=st.sampled_from(["EUR", ""]),
              total_amount=INTS, receipt_msg_id=st.none() | SMALL),
    st.builds(m.Dice, emoticon=st.sampled_from(["🎲", "", " x"]), value=SMALL),
    st.builds(m.OtherMedia, kind=st.sampled_from(["story", "paid_media", "giveaway_x"])),
)
REACTIONS = st.lists(st.builds(
    m.Reaction, kind=st.sampled_from(["emoji", "custom_emoji", "paid"]), count=INTS,
    emoji=MAYBE_TEXT, document_id=st.none() | INTS,
    recent=st.lists(st.builds(m.Reactor, peer=REFS, date=DATES), max_size=2)), max_size=3)
BUTTONS = st.lists(st.lists(st.builds(
    m.Button, kind=st.sampled_from(["callback", "url", "switch_inline", "buy"]), text=TEXTS,
    data=st.none() | st.binary(max_size=6) | st.sampled_from([b"ok", "ü".encode()]),
    url=st.none() | st.sampled_from(["", "https://e.org/?a=1&b=\"2\""]),
    forward_text=MAYBE_TEXT, button_id=st.none() | INTS), max_size=3), max_size=2)
ACTIONS = st.builds(
    m.Action, kind=st.sampled_from(["chat_create", "pin_message", "chat_edit_title",
                                    "custom_action", "phone_call", "topic_edit", "weird_one",
                                    "chat_add_user", "boost_apply", "set_messages_ttl"]),
    fields=st.fixed_dictionaries({}, optional={
        "title": TEXTS, "users": st.lists(SMALL, max_size=2), "message": TEXTS,
        "duration": SMALL, "reason": st.just({"_": "PhoneCallDiscardReasonMissed"}),
        "period": SMALL, "boosts": SMALL}))


@st.composite
def messages(draw, msg_id=None, chat=None, date=None):
    kind = draw(st.sampled_from(["message"] * 8 + ["service", "empty"]))
    text = draw(TEXTS)
    return m.Message(
        id=msg_id if msg_id is not None else draw(INTS),
        chat=chat if chat is not None else draw(st.sampled_from([CHAT, CHAT, m.PeerRef(
            "chat", 3), m.PeerRef("user", 2)])),
        date=date if date is not None else draw(DATES),
        type=kind,
        from_peer=draw(st.none() | REFS),
        post=draw(st.booleans()),
        text=text,
        entities=draw(entities()),
        reply_to=draw(st.none() | st.builds(
            m.ReplyTo, msg_id=st.none() | SMALL, top_id=st.none() | SMALL,
            peer=st.none() | REFS, forum_topic=st.booleans())),
        forward=draw(st.none() | st.builds(m.Forward, from_peer=st.none() | REFS,
                                           from_name=MAYBE_TEXT,
                                           saved_from_peer=st.none() | REFS)),
        media=draw(MEDIA) if kind == "message" else None,
        action=draw(ACTIONS) if kind == "service" else None,
        edit_date=draw(st.none() | DATES),
        grouped_id=draw(st.none() | st.sampled_from([5, 6])),
        post_author=draw(MAYBE_TEXT),
        via_bot_id=draw(st.none() | st.sampled_from([1, 2, 99])),
        topic_id=draw(st.none() | SMALL),
        reactions=draw(REACTIONS),
        buttons=draw(BUTTONS),
        raw=draw(st.none() | st.binary(max_size=12)),
        deleted_at=draw(st.none() | DATES),
    )


PEERS = st.dictionaries(REFS, st.builds(m.PeerInfo, ref=REFS, name=MAYBE_TEXT,
                                        username=st.none() | st.sampled_from(["bot", ""])))
ZONES = st.sampled_from([dt.UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Kathmandu"),
                         ZoneInfo("America/St_Johns")])
FILES = st.dictionaries(SMALL, st.sampled_from(["photos/a.jpg", result_json.NOT_INCLUDED,
                                                "files/x y.pdf", ""]), max_size=3)


def contexts():
    return st.builds(result_json.RenderContext, chat=st.just(CHAT), tz=ZONES, peers=PEERS,
                     files=FILES)


def outcome(fn, *args):
    """What a call gives: its value, or the type of what it raised."""
    try:
        return fn(*args)
    except Exception as exc:  # the twins must fail alike too
        return type(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msgs=st.lists(messages(), min_size=1, max_size=4), ctx=contexts())
def test_native_and_twin_write_the_same_result_json(msgs, ctx):
    _need_native()
    native = renderer.by_name("native")

    for x in msgs:
        assert outcome(native.fragment, x, ctx) == outcome(result_json.fragment, x, ctx)
        assert outcome(native.jsonl_line, x) == outcome(messages_jsonl.jsonl_line, x)
    assert outcome(native.fragments, msgs, ctx) == outcome(result_json.fragments, msgs, ctx)


@pytest.mark.parametrize("seconds, want", [(0.4, None), (0.0, None), (1.0, 1), (2.9, 2),
                                           (7, 7)])
def test_durations_are_whole_seconds_as_telegram_desktop_writes_them(render_impl, seconds,
                                                                    want):
    """Telegram Desktop keeps a duration as whole seconds and writes none for 0: a 0.4 s
    voice note has no duration_seconds (issue 15 point 5)."""
    ref = m.PeerRef("channel", 7)
    doc = m.Document(id=5, access_hash=1, file_reference=b"", dc_id=2, date=1_700_000_000,
                     mime_type="audio/ogg", size=900, media_type="voice_message",
                     duration=seconds)
    msg = m.Message(3, ref, 1_700_000_000, media=doc)
    ctx = result_json.RenderContext(ref, dt.UTC, {})
    got = json.loads(td_of(render_impl).fragment(msg, ctx))
    assert got.get("duration_seconds") == want


def test_saved_messages_have_no_name_as_in_telegram_desktop():
    me = m.PeerInfo(m.PeerRef("user", 42), "Archivist Test", "archivist")
    doc = json.loads(result_json.document(me, "user", [], me=42))
    assert list(doc) == ["type", "id", "messages"] and doc["type"] == "saved_messages"
    other = json.loads(result_json.document(me, "user", [], me=43))
    assert other["name"] == "Archivist Test" and other["type"] == "personal_chat"


def test_an_incoming_self_destructing_file_is_unavailable_as_in_telegram_desktop(render_impl):
    """Telegram Desktop resets the file of an incoming message's self-destructing media:
    "(File unavailable, …)" with size 0, thumbnail too, whatever the settings asked; an
    outgoing one is exported as any other (issue 15 point 5)."""
    ref, files = m.PeerRef("user", 7), {5: "photos/p.jpg", 6: "video_files/v.mp4",
                                        -6: "video_files/v.mp4_thumb.jpg"}
    photo = m.Photo(id=5, access_hash=1, file_reference=b"", dc_id=2, date=1_700_000_000,
                    width=320, height=240, size=2048, ttl_seconds=10)
    video = m.Document(id=6, access_hash=1, file_reference=b"", dc_id=2, date=1_700_000_000,
                       mime_type="video/mp4", size=9000, media_type="video_file",
                       duration=3.0, width=64, height=48, has_thumb=True, thumb_size=700,
                       ttl_seconds=10)
    ctx = result_json.RenderContext(ref, dt.UTC, {}, files)
    td = td_of(render_impl)
    got = json.loads(td.fragment(m.Message(3, ref, 1_700_000_000, media=photo), ctx))
    assert (got["photo"], got["photo_file_size"], got["width"]) == \
        (result_json.UNAVAILABLE, 0, 320)
    assert got["self_destruct_period_seconds"] == 10
    got = json.loads(td.fragment(m.Message(4, ref, 1_700_000_000, media=video), ctx))
    assert [(k, got[k]) for k in ("file", "file_size", "thumbnail", "thumbnail_file_size")] \
        == [("file", result_json.UNAVAILABLE), ("file_size", 0),
            ("thumbnail", result_json.UNAVAILABLE), ("thumbnail_file_size", 0)]
    assert got["duration_seconds"] == 3 and got["media_type"] == "video_file"
    mine = json.loads(td.fragment(m.Message(5, ref, 1_700_000_000, out=True, media=photo),
                                  ctx))
    assert (mine["photo"], mine["photo_file_size"]) == ("photos/p.jpg", 2048)
