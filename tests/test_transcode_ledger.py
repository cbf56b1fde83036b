"""Which files want a compact copy, and a ``--transcode-replace`` swap that a crash cut
short (engine/supervisor/media_transcode.py): a real ledger and real files, no workers."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import msgspec
import pytest

from engine.archive.media_ledger import DONE, FAILED, Entry, Ledger, file_key
from engine.config import ExportConfig
from engine.supervisor.media_transcode import (
    Transcoder,
    TranscodeTally,
    copy_path,
    record_of,
    settings_of,
)

VIDEO = msgspec.msgpack.encode({"format": "mov,mp4", "streams": 2, "duration": 2.0,
                                "width": 640, "height": 360, "video_codec": "h264",
                                "audio_codec": "aac"})
AUDIO = msgspec.msgpack.encode({"format": "mp3", "streams": 2, "duration": 3.0,
                                "audio_codec": "mp3"})
ORIGINAL, COPY = b"original video bytes " * 50, b"smaller copy " * 20


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cfg(tmp_path: Path, **kw) -> ExportConfig:
    return ExportConfig(targets=("@x",), out=str(tmp_path), transcode="h264", **kw)


def _entry(n: int, path: str, copy: dict | None = None, probe: bytes = VIDEO,
           status: str = DONE, data: bytes = ORIGINAL) -> Entry:
    return Entry("document", n, path=path, status=status, size=len(data), sha256=_sha(data),
                 probe=probe, copy=msgspec.msgpack.encode(copy) if copy else b"")


@pytest.fixture
def chat(tmp_path):
    root = tmp_path / "chat"
    (root / "video_files").mkdir(parents=True)
    ledger = Ledger.open(root)
    yield root, ledger
    ledger.close()


def _transcoder(tmp_path, root, ledger, **kw) -> Transcoder:
    return Transcoder(_cfg(tmp_path, **kw), root, ledger, TranscodeTally(), asyncio.Event(),
                      None)


def test_which_files_want_a_copy(tmp_path, chat):
    root, ledger = chat
    t = _transcoder(tmp_path, root, ledger, transcode_min_size=100)
    here = settings_of(t.cfg)
    assert here == "h264 crf=23 max_height=source"
    (root / "transcoded/video_files").mkdir(parents=True)
    (root / "transcoded/video_files/made.mp4").write_bytes(COPY)
    made = {"settings": here, "path": "transcoded/video_files/made.mp4"}
    cases = {
        "a video never copied": (_entry(1, "video_files/a.mp4"), True),
        "an audio file (its cover art is no video)": (_entry(2, "a.mp3", probe=AUDIO), False),
        "not probed (corrupt)": (_entry(3, "video_files/c.mp4", probe=b""), False),
        "not downloaded": (_entry(4, "video_files/d.mp4", status=FAILED), False),
        "smaller than --transcode-min-size": (_entry(5, "video_files/e.mp4", data=b"x"), False),
        "copied under these settings": (_entry(6, "video_files/made.mp4", made), False),
        "copied under others": (_entry(7, "video_files/made.mp4",
                                       {**made, "settings": "h265 crf=28 max_height=source"}),
                                True),
        "its copy deleted since": (_entry(8, "video_files/g.mp4",
                                          {**made, "path": "transcoded/gone.mp4"}), True),
        "its copy failed": (_entry(9, "video_files/h.mp4", {"settings": here, "error": "x"}),
                            True),
        "replaced by its copy": (_entry(10, "video_files/i.mp4",
                                        {"settings": "h265 crf=1 max_height=source",
                                         "replaced": True}), False),
    }
    for what, (entry, wanted) in cases.items():
        assert t.wants(entry) is wanted, what
    swap = _transcoder(tmp_path, root, ledger, transcode_replace=True)
    # copied before without --transcode-replace: copied again to be verified and swapped
    assert swap.wants(_entry(6, "video_files/made.mp4", made)) is True
    refused = {**made, "not_replaced": "the copy did not verify", "verified": False}
    assert swap.wants(_entry(6, "video_files/made.mp4", refused)) is False


def _interrupted(root: Path, ledger: Ledger, copy_there: bool, original: bytes) -> Entry:
    path = "video_files/clip.mp4"
    dest = copy_path(path)
    (root / path).write_bytes(original)
    if copy_there:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        (root / dest).write_bytes(COPY)
    rec = {"settings": "h264 crf=23 max_height=source", "path": dest, "size": len(COPY),
           "sha256": _sha(COPY), "encoder": "libx264", "replacing": True}
    e = _entry(1, path, rec)
    ledger.put([e])
    return e


@pytest.mark.parametrize("copy_there, original, says", [
    (True, ORIGINAL, "replaced by its verified copy (a crash had interrupted it)"),
    (False, COPY, "its replacement by its verified copy recorded"),
])
def test_a_swap_cut_short_is_finished(tmp_path, chat, copy_there, original, says):
    root, ledger = chat
    e = _interrupted(root, ledger, copy_there, original)
    t = _transcoder(tmp_path, root, ledger, transcode_replace=True)
    assert t.scan() == [f"{e.path}: {says}"]
    assert (root / e.path).read_bytes() == COPY
    assert not (root / copy_path(e.path)).exists()
    got = ledger.get(file_key("document", 1))
    assert (got.size, got.sha256) == (len(COPY), _sha(COPY))
    rec = record_of(got)
    assert rec["replaced"] is True and "replacing" not in rec and "path" not in rec
    assert (rec["original_size"], rec["original_sha256"]) == (len(ORIGINAL), _sha(ORIGINAL))
    assert not t.wants(got) and t.changed_old


def test_a_swap_cut_before_the_rename_with_its_copy_lost_is_undone(tmp_path, chat):
    root, ledger = chat
    e = _interrupted(root, ledger, copy_there=False, original=ORIGINAL)
    t = _transcoder(tmp_path, root, ledger, transcode_replace=True)
    assert t.scan() == [f"{e.path}: an interrupted replacement undone; it is copied again"]
    assert (root / e.path).read_bytes() == ORIGINAL               # never touched
    got = ledger.get(file_key("document", 1))
    assert got.copy == b"" and (got.size, got.sha256) == (len(ORIGINAL), _sha(ORIGINAL))
    assert t.wants(got)
