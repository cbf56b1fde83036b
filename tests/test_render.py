"""The result.json (Telegram Desktop) and JSONL renderers over the whole fakedc corpus, with
golden files: a change to the output shows up as a diff of tests/golden/.
Set TGARC_UPDATE_GOLDEN=1 to rewrite them after an intended change (and review the diff)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from engine import model as m
from engine.fakedc.corpus import Corpus
from engine.telegram import convert
from engine.worker import render_jsonl, render_td

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
    ctx = render_td.RenderContext(ref, tz, peers)
    doc = render_td.document(peers[ref], chat.kind, [render_td.render(x, ctx) for x in msgs])
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
            assert out["photo"] == render_td.NOT_INCLUDED
            assert out["photo_file_size"] == msg.media.size and out["width"] == 320
        if isinstance(msg.media, m.Document):
            assert out["file"] == render_td.NOT_INCLUDED and out["mime_type"]
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
    ctx = render_td.RenderContext(target, dt.UTC, peers)
    out = orjson.loads(render_td.render(old[0], ctx))
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
    ctx = render_td.RenderContext(m.PeerRef("channel", 1))
    msg = m.Message(5, m.PeerRef("channel", 1), 0, text="x", buttons=[[
        m.Button("callback", "Go", data=b"\xff\x00"), m.Button("url", "Site",
                                                             url="https://e.org")]])
    out = orjson.loads(render_td.render(msg, ctx))
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
    lines = [render_jsonl.render(x) for x in msgs]
    for line, msg in zip(lines, msgs, strict=True):
        assert line.startswith(b'{"v":1,') and line.endswith(b"\n") and line.count(b"\n") == 1
        assert render_jsonl.parse(line) == (1, msg)
    blob = b"".join(lines)
    path = GOLDEN / "messages_channel.jsonl"
    if os.environ.get("TGARC_UPDATE_GOLDEN") == "1":
        path.write_bytes(blob)
    assert blob == path.read_bytes()
    with_raw = m.Message(1, m.PeerRef("user", 2), 3, raw=b"tl bytes")
    assert b"raw" not in render_jsonl.render(with_raw)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe",
                                  "America/St_Johns", "Asia/Kathmandu"])
def test_local_clock_agrees_with_strftime_across_zones_and_dst(zone):
    import random

    tz = ZoneInfo(zone)
    clock = render_td.LocalClock(tz)
    rnd = random.Random(zone)
    for _ in range(3000):
        ts = rnd.randrange(0, 2_000_000_000)
        want = dt.datetime.fromtimestamp(ts, tz)
        assert clock.stamp(ts) == want.strftime("%Y-%m-%dT%H:%M:%S")
        assert (clock.hm(ts), clock.date(ts)) == (want.strftime("%H:%M"), want.date())
