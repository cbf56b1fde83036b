"""``serve --warm``: a channel's pages served from bytes made before the timed runs are the
pages fakedc builds as it is asked, byte for byte, until the corpus changes."""

from __future__ import annotations

import pytest

from engine.fakedc.corpus import Corpus
from engine.fakedc.rpc_history import history_page
from engine.fakedc.server import FakeDC
from engine.fakedc.warm import Warm
from tests._export import served, tgarc


def _keys(chat, version: int) -> list[tuple]:
    top = chat.top_id
    return [(chat.id, offset, 0, add, limit, max_id, min_id, version)
            for offset in (0, top, top + 5, 1500, 57, 1)
            for add in (0, -100, -37, 20)
            for limit in (100, 13)
            for max_id, min_id in ((0, 0), (1800, 0), (0, 900), (1200, 1150))]


def test_warm_pages_are_the_pages_fakedc_builds():
    corpus = Corpus(messages=2_000, text_only=True)
    dc = FakeDC(corpus)
    chat = corpus.chats["channel"]
    keys = _keys(chat, corpus.version)
    built = [history_page(dc, chat, k) for k in keys]
    dc.warm[chat.id] = Warm(corpus, chat)
    assert [history_page(dc, chat, k) for k in keys] == built
    assert dc.warm[chat.id].messages([chat.top_id], corpus.version)


def test_a_change_to_the_corpus_turns_the_warm_pages_off():
    corpus = Corpus(messages=300, text_only=True)
    dc = FakeDC(corpus)
    chat = corpus.chats["channel"]
    dc.warm[chat.id] = Warm(corpus, chat)
    new = corpus.add_message("channel", "after the warming")
    key = (chat.id, 0, 0, 0, 100, 0, 0, corpus.version)
    assert dc.warm[chat.id].messages([new - 1], corpus.version) is None
    page, ids = history_page(dc, chat, key)
    assert ids[0] == new and b"after the warming" in page


def test_a_chat_whose_messages_name_other_peers_cannot_be_warmed():
    corpus = Corpus(messages=300)           # forwards, replies elsewhere, reactions
    with pytest.raises(ValueError, match="cannot be warmed"):
        Warm(corpus, corpus.chats["discussion"])


def test_an_export_from_a_warm_server_equals_one_from_a_cold_one(tmp_path):
    outs = {}
    for warm in (False, True):
        with served(messages=1_200, text_only=True) as dc:
            if warm:
                chat = dc.corpus.chats["channel"]
                dc.warm[chat.id] = Warm(dc.corpus, chat)
            out = tmp_path / f"warm{warm}"
            r = tgarc(dc, out)
            assert r.returncode == 0, r.stderr
            if warm:
                assert dc.prefetch_hits > 0
        folder = next(p for p in out.iterdir() if p.is_dir())
        outs[warm] = {p.relative_to(out).as_posix(): p.read_bytes()
                      for p in folder.rglob("*") if p.is_file()
                      and p.suffix in (".json", ".jsonl", ".md")
                      and "metrics" not in p.name and "state" not in p.parts
                      and p.name not in ("manifest.json", "chat.json")}
    assert len(outs[False]) >= 3 and outs[True] == outs[False]
