"""result.json and messages.jsonl extended in place (engine/render/outfiles.py ``ResultTail``,
``Appending``), from a document with messages and from the empty document (a topic none of
whose messages is left): the extension equals the document written whole, and an aborted
one leaves the file as it was."""

from __future__ import annotations

import pytest

from engine import model as m
from engine.model.chat import ChatMeta
from engine.render.outfiles import Appending, ResultDoc, ResultTail

META = ChatMeta(m.PeerRef("channel", 7), "channel", "a channel")
INFO = m.PeerInfo(META.ref, "a channel / a topic", None)
FRAGS = [b'{"id":%d,"type":"message"}' % i for i in range(1, 6)]


def _whole(path, frags):
    doc = ResultDoc(path, META, INFO)
    doc.add(frags)
    doc.commit()
    return path.read_bytes()


@pytest.mark.parametrize("before", [0, 2])
@pytest.mark.parametrize("batches", [[3], [1, 2]])
def test_an_extension_equals_the_document_written_whole(tmp_path, before, batches):
    path = tmp_path / "result.json"
    old = _whole(path, FRAGS[:before])
    tail = ResultTail.open(path, META, INFO, len(old))
    assert tail is not None
    at = before
    for n in batches:
        tail.add(FRAGS[at:at + n])
        at += n
    tail.commit()
    assert path.read_bytes() == _whole(tmp_path / "fresh.json", FRAGS[:at])


@pytest.mark.parametrize("before", [0, 2])
def test_an_aborted_extension_puts_the_file_back(tmp_path, before):
    path = tmp_path / "result.json"
    old = _whole(path, FRAGS[:before])
    tail = ResultTail.open(path, META, INFO, len(old))
    tail.add(FRAGS[before:])
    tail.abort()
    assert path.read_bytes() == old


def test_nothing_added_leaves_an_empty_document_untouched(tmp_path):
    path = tmp_path / "result.json"
    old = _whole(path, [])
    mtime = path.stat().st_mtime_ns
    tail = ResultTail.open(path, META, INFO, len(old))
    tail.commit()
    assert path.read_bytes() == old and path.stat().st_mtime_ns == mtime


def test_a_file_not_as_recorded_is_refused(tmp_path):
    path = tmp_path / "result.json"
    old = _whole(path, [])
    assert ResultTail.open(path, META, INFO, len(old) + 1) is None
    path.write_bytes(old[:-1] + b" ")                   # same length, not the document
    assert ResultTail.open(path, META, INFO, len(old)) is None


def test_an_empty_jsonl_is_appended_to_and_cut_back(tmp_path):
    path = tmp_path / "messages.jsonl"
    path.write_bytes(b"")
    app = Appending.open(path, 0)
    app.f.write(b"{}\n")
    app.abort()
    assert path.read_bytes() == b""
    app = Appending.open(path, 0)
    app.f.write(b"{}\n")
    app.commit()
    assert path.read_bytes() == b"{}\n"
    assert Appending.open(path, 0) is None               # not the length recorded
