"""The Markdown vault: day notes over the fakedc corpus, every message a linkable block,
every reply link resolving inside the vault, and golden notes."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from engine import model as m
from engine.fakedc.corpus import Corpus, date_of
from engine.telegram import convert
from engine.worker import render_md, render_td

GOLDEN = Path(__file__).parent / "golden"
LINK = re.compile(r"\[\[([^\]|#]+)#\^m(\d+)\|")


def vault(n=600, tz=dt.UTC):
    """Every chat of a corpus rendered into {relative path: note bytes}."""
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
        return date_of(msg_id) if chat is not None and chat.exists(msg_id) else None

    notes, ids = {}, {}
    for chat in corpus.chats.values():
        ref = convert.peer_ref(chat.peer())
        msgs = [convert.message(x, ref) for x in
                (corpus.message(chat, i) for i in range(chat.first_id, chat.top_id + 1))
                if x is not None]
        ids[dirs[ref]] = {x.id for x in msgs}
        vctx = render_md.VaultContext(render_td.RenderContext(ref, tz, peers), dirs[ref],
                                      chat.title, chat.username, dirs, locate)
        for day, day_msgs in render_md.split_days(msgs, tz).items():
            notes[f"{dirs[ref]}/{render_md.note_path(day)}"] = \
                render_md.render_day(vctx, day, day_msgs)
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
                found += [int(x) for x in re.findall(rb" \^m(\d+)$", note, re.M)]
        assert sorted(found) == sorted(want), folder


def test_every_reply_link_resolves_inside_the_vault(notes):
    rendered, _ = notes
    blocks = {(p[:-3], int(i)) for p, n in rendered.items()
              for i in re.findall(r" \^m(\d+)$", n.decode(), re.M)}
    links = [(target, int(i)) for n in rendered.values()
             for target, i in LINK.findall(n.decode())]
    assert len(links) > 50
    assert all(link in blocks for link in links), [x for x in links if x not in blocks][:5]


def test_front_matter_and_structure(notes):
    rendered, _ = notes
    md = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")
    for path, note in rendered.items():
        text = note.decode()
        head, body = text.split("\n---\n", 1)
        fields = dict(line.split(": ", 1) for line in head.splitlines()[1:])
        values = {k: json.loads(v) for k, v in fields.items()}
        assert path.endswith(values["date"] + ".md")
        assert values["messages"] == len(re.findall(r" \^m\d+$", body, re.M))
        tokens = md.parse(body)
        assert not [t for t in tokens if t.type == "heading_open"], path   # nothing promoted


def test_media_polls_reactions_forwards_and_services_show(notes):
    rendered, _ = notes
    everything = b"".join(rendered.values()).decode()
    for needle in ("*[photo 320×240", "voice message", "**Poll", "📍", "👤", "🎲",
                   "*Forwarded from Somebody Else*", "👍", "pinned a message",
                   "created the topic", "[t.me](https://t.me/tgarc_demo/"):
        assert needle in everything, needle
    album = re.search(r"\*\[photo [^\n]*\n\n\*\[photo [^\n]* \^m(\d+)", everything)
    assert album, "an album's photos share one block"


def test_downloaded_media_is_embedded_with_a_vault_path():
    ref = m.PeerRef("channel", 9)
    ctx = render_td.RenderContext(ref, dt.UTC, files={77: "photos/photo_1@01-01-2024.jpg"})
    vctx = render_md.VaultContext(ctx, "channel9-news", "News")
    msg = m.Message(5, ref, 1704067200, post=True, media=m.Photo(77, width=1, height=1))
    note = render_md.render_day(vctx, dt.date(2024, 1, 1), [msg]).decode()
    assert "![[channel9-news/photos/photo_1@01-01-2024.jpg]]" in note
    assert "[t.me](https://t.me/c/9/5)" in note


@pytest.mark.parametrize("name", ["channel1500000001-channel/markdown/2024/2024-01-01.md",
                                  "channel1500000002-supergroup/markdown/2024/2024-01-01.md"])
def test_vault_golden(name):
    rendered, _ = vault(n=150)
    path = GOLDEN / ("vault_" + name.replace("/", "__"))
    if os.environ.get("TGARC_UPDATE_GOLDEN") == "1":
        path.write_bytes(rendered[name])
    assert rendered[name] == path.read_bytes()
