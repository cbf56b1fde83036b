"""Day notes from blocks (engine/render/blocks.py): what a worker renders per batch, with
placeholders, and the assembly fills and joins must be the note the whole day rendered at
once gives, byte for byte, wherever the batches are cut (albums and days split between
batches included), in every zone and with both renderers."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import model as m
from engine.archive.segment import Segment
from engine.fakedc.corpus import Corpus
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render import blocks, day_notes, renderer
from engine.render.context import RenderContext
from engine.render.stream import Piece
from engine.telegram import convert
from tests.test_render import _need_native

ZONES = ["UTC", "Europe/Berlin", "Asia/Kathmandu", "America/St_Johns"]


@pytest.fixture(params=["native", "pure"])
def impl(request, monkeypatch):
    """Blocks and notes rendered by the native build, then by the twin."""
    if request.param == "native":
        _need_native()
        chosen = renderer.by_name("native")
    else:
        chosen = renderer.by_name("pure")
    for name in ("days", "blocks", "day_note"):
        monkeypatch.setattr(renderer, name, getattr(chosen, name))
    return chosen


def _corpus(n=500):
    corpus = Corpus(messages=n)
    peers = {}
    for obj in [*corpus.users.values(), *(corpus.chat_object(c) for c in corpus.chats.values())]:
        info = convert.peer_info(obj)
        peers[info.ref] = info
    chats = []
    for chat in corpus.chats.values():
        ref = convert.peer_ref(chat.peer())
        msgs = [convert.message(x, ref) for x in
                (corpus.message(chat, i) for i in range(chat.first_id, chat.top_id + 1))
                if x is not None]
        if msgs:
            chats.append((chat, ref, msgs))
    return peers, chats


PEERS, CHATS = _corpus()
FOLDER = "channel7-news ü"


def _located(msgs, upto=None):
    known = {x.id: x.date for x in msgs}

    def locate(chat, msg_id, *, ref=msgs[0].chat):
        if chat != ref or (upto is not None and msg_id > upto):
            return None
        return known.get(msg_id)
    return locate


def _by_blocks(ref, username, msgs, cuts, tz, locate, *, shift=0, peers=PEERS):
    """The day notes of chat ``ref`` the assembly writes from batches cut at ``cuts`` (of
    its messages, or with ``shift`` of a migrated group's history)."""
    edges = [0, *sorted(set(cuts)), len(msgs)]
    batches = [msgs[a:b] for a, b in itertools.pairwise(edges) if a < b]
    segs = {}
    clock = RenderContext(ref, tz).clock

    def load(seg):
        return segs[seg.name], RenderContext(ref, tz, dict(peers))

    vctx = day_notes.VaultContext(RenderContext(ref, tz, dict(peers)), FOLDER, "News",
                                  username, locate=locate)
    filler = blocks.Filler(FOLDER, username, ref, locate, clock)
    pending = blocks.PendingBlocks(clock, None, load)
    for k, batch in enumerate(batches):
        seg = Segment(f"s{k}", "history", batch[0].id, batch[-1].id, len(batch))
        segs[seg.name] = batch
        md = blocks.render(batch, RenderContext(ref, tz, dict(peers)))
        piece = Piece(seg, [x.id for x in batch], [x.date for x in batch], [], [], md, shift)
        if md is None:
            piece.msgs, piece.ctx = batch, RenderContext(ref, tz, dict(peers))
        pending.add(piece)
    return {day: blocks.note(vctx, day, chunks, filler)
            for day, chunks in pending.complete(None)}


def _at_once(ref, username, msgs, tz, locate, peers=PEERS):
    vctx = day_notes.VaultContext(RenderContext(ref, tz, dict(peers)), FOLDER, "News",
                                  username, locate=locate)
    return {day: renderer.day_note(vctx, day, part)
            for day, part in renderer.days(msgs, tz).items()}


@pytest.mark.parametrize("zone", ZONES)
def test_every_corpus_chat_cut_every_which_way_gives_the_same_notes(impl, zone):
    tz = dt.UTC if zone == "UTC" else ZoneInfo(zone)
    for chat, ref, msgs in CHATS:
        locate = _located(msgs)
        want = _at_once(ref, chat.username, msgs, tz, locate)
        for step in (1, 7, 100, len(msgs)):
            got = _by_blocks(ref, chat.username, msgs, range(step, len(msgs), step), tz, locate)
            assert got == want, (chat.key, step)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(data=st.data())
def test_random_cuts_zones_and_catalogues(data):
    """Random batch edges (albums split between batches among them), zones, usernames,
    and a catalogue that knows only ids up to some point (the stream's limit)."""
    chat, ref, msgs = data.draw(st.sampled_from(CHATS))
    cuts = data.draw(st.lists(st.integers(1, max(1, len(msgs) - 1)), max_size=12))
    tz = ZoneInfo(data.draw(st.sampled_from(ZONES)))
    username = data.draw(st.sampled_from([chat.username, None, "x"]))
    upto = data.draw(st.none() | st.integers(msgs[0].id, msgs[-1].id))
    locate = _located(msgs, upto)
    assert _by_blocks(ref, username, msgs, cuts, tz, locate) == \
        _at_once(ref, username, msgs, tz, locate)


def test_albums_split_between_batches_are_one_block(impl):
    """The corpus has albums; a cut inside each one must still give one block."""
    split = 0
    for chat, ref, msgs in CHATS:
        cuts = [i for i in range(1, len(msgs)) if msgs[i].grouped_id
                and msgs[i].grouped_id == msgs[i - 1].grouped_id]
        split += len(cuts)
        locate = _located(msgs)
        assert _by_blocks(ref, chat.username, msgs, cuts, dt.UTC, locate) == \
            _at_once(ref, chat.username, msgs, dt.UTC, locate), chat.key
    assert split > 0                      # the corpus must exercise it


def test_text_posing_as_a_placeholder_gets_no_blocks_and_renders_as_itself(impl):
    """A message that holds the placeholders' lead: its batch's blocks are rendered by the
    assembly from the messages, so the text comes out as written."""
    chat, ref, msgs = next(c for c in CHATS if c[0].username)
    k = next(i for i, x in enumerate(msgs) if x.text and x.type == "message")
    hostile = f"{blocks.HOLE.decode()}5|reply to 5]] {blocks.NOTE} {blocks.USERNAME}"
    msgs = list(msgs)
    msgs[k] = msgspec.structs.replace(msgs[k], text=hostile, entities=[])
    assert not blocks.clean(m.Batch(0, ref, msgs[:k + 1]))
    assert blocks.clean(m.Batch(0, ref, msgs[:k]))
    locate = _located(msgs)
    got = _by_blocks(ref, chat.username, msgs, [k, k + 1], dt.UTC, locate)
    want = _at_once(ref, chat.username, msgs, dt.UTC, locate)
    assert got == want


def test_filler_fills_links_names_and_leaves_strangers_plain():
    ref = m.PeerRef("channel", 7)
    clock = RenderContext(ref, dt.UTC).clock
    f = blocks.Filler("channel7-news", None, ref,
                      lambda chat, i: 86400 * 3 if i == 5 else 86400 * 4 if i == 7 else None,
                      clock)
    hole = blocks.HOLE
    got = f.names(f.links(b"a " + hole + b"5|reply to 5]] b " + hole + b"6|message 6]] "
                          b"[t.me](https://t.me/" + blocks.USERNAME.encode() + b"/9) "
                          + hole + b"7|reply to 7]]", dt.date(1970, 1, 5)))
    # another day's note by its name; a message of the note's own day within it
    assert got == (b"a [[1970-01-04 channel7#^m5|reply to 5]] b message 6 "
                   b"[t.me](https://t.me/c/7/9) [[#^m7|reply to 7]]")
    # a migrated group's history: the vault's numbers, which the catalogue knows too
    old = blocks.Filler("channel7-news", None, ref,
                        lambda chat, i: 86400 * 3 if i == -999999995 else None, clock)
    assert old.links(hole + b"-999999995|reply to -999999995]]", dt.date(1970, 1, 4)) == \
        b"[[#^m-999999995|reply to -999999995]]"
    named = blocks.Filler("c7", "news", ref, lambda chat, i: None, clock)
    assert named.names(blocks.USERNAME.encode()) == b"news"
    assert f.names(b"plain") == b"plain"


def test_a_migrated_groups_replies_link_to_its_blocks_numbered_as_in_result_json(impl):
    """A basic group's history in the supergroup that continues it: its blocks, the reply
    links between them and the front matter number its messages id - 10^9, as result.json
    does, from the workers' blocks as from the whole day rendered at once."""
    _, _, msgs = next(c for c in CHATS if c[1].kind == "chat"
                     and any(x.reply_to and x.reply_to.msg_id for x in c[2]))
    other = m.PeerRef("channel", 99)           # the chat these notes are written for
    known = {x.id - MIGRATED_ID_SHIFT: x.date for x in msgs}

    def locate(chat, msg_id):                  # the catalogue (stream.Stream.locate)
        if chat != other:
            msg_id = msg_id - MIGRATED_ID_SHIFT if chat.kind == "chat" else None
        return known.get(msg_id)

    got = _by_blocks(other, None, msgs, [17, 31], dt.UTC, locate, shift=MIGRATED_ID_SHIFT)
    vctx = day_notes.VaultContext(RenderContext(other, dt.UTC, dict(PEERS)), FOLDER, "News",
                                  None, locate=locate)
    want = {day: renderer.day_note(vctx, day, part)
            for day, part in renderer.days(msgs, dt.UTC).items()}
    assert got == want
    text = b"".join(got.values()).decode()
    replies = [x for x in msgs if x.reply_to and x.reply_to.msg_id and x.reply_to.peer is None
               and x.reply_to.msg_id - MIGRATED_ID_SHIFT in known]
    assert replies
    for x in replies:
        n = x.reply_to.msg_id - MIGRATED_ID_SHIFT
        assert f"#^m{n}|reply to {n}]]" in text
    assert f"first_id: {msgs[0].id - MIGRATED_ID_SHIFT}" in text
    assert str(msgs[0].id) not in text


def test_tl_bytes_that_hold_the_lead_by_chance_keep_the_blocks():
    """A message's TL bytes (or a file reference) may hold NUL + "tg" by chance: only text
    can pose as a placeholder, so such a batch keeps its blocks."""
    _, ref, msgs = CHATS[0]
    x = msgspec.structs.replace(msgs[0], raw=b"\x05\x00\x00\x00tgabc\x00tgD\x00")
    assert blocks.LEAD in msgspec.msgpack.encode(m.Batch(0, ref, [x]))
    assert blocks.clean(m.Batch(0, ref, [x]))
    y = msgspec.structs.replace(msgs[0], text="a \x00tgD\x00 b")
    assert not blocks.clean(m.Batch(0, ref, [x, y]))
