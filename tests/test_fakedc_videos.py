"""The fake DC's videos for the ``--transcode`` tests (engine/fakedc/files.py): ``talk_video``
(640x360, 2 s, H.264 + mono AAC), ``garbage_video`` (20,000 seeded bytes that are no media)
and ``bad_audio_video`` (``talk_video`` with junk AAC packets: it probes and copies, and its
copy does not verify). Each is deterministic, appended to ``KINDS`` (no existing file id moves)
and described to clients as a video."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("av", reason="engine.fakedc.media needs PyAV")

import av
from telethon.tl import types

from engine.fakedc import files, media
from engine.media import copy_check, probe, transcode

ROOT = Path(__file__).resolve().parent.parent
NEW = ("talk_video", "garbage_video", "bad_audio_video")
# the kinds before these three, in order: their file ids must never change
OLD = ("photo", "video", "round", "voice", "sticker", "animation", "audio", "file", "big",
       "broken_video")


def _bytes(kind: str, seed: int = 0) -> bytes:
    return files.content(files.file_id(kind, seed))


def _sha(kind: str, seed: int = 0) -> str:
    return hashlib.sha256(_bytes(kind, seed)).hexdigest()


def _write(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.mp4"
    path.write_bytes(_bytes(kind))
    return path


def test_the_new_kinds_are_appended_so_no_file_id_moves():
    assert files.KIND_NAMES[: len(OLD)] == OLD
    assert files.KIND_NAMES[len(OLD) : len(OLD) + 3] == NEW
    assert files.file_id("talk_video", 0) == 11 << 48
    assert files.file_id("bad_audio_video", 3) == 13 << 48 | 3
    for kind in NEW:
        assert files.KINDS[kind][0] == "video/mp4"


@pytest.mark.parametrize("kind", NEW)
def test_bytes_are_the_same_on_every_call(kind):
    first = _sha(kind, 1)
    media.clear_caches()
    files.content.cache_clear()
    assert _sha(kind, 1) == first
    assert _sha(kind, 2) != first      # the seed matters


def test_bytes_are_the_same_in_another_process():
    code = (
        "import hashlib\n"
        "from engine.fakedc import files\n"
        f"for k in {NEW!r}:\n"
        "    print(hashlib.sha256(files.content(files.file_id(k, 0))).hexdigest())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == [_sha(kind) for kind in NEW]


def test_talk_video_is_640x360_two_seconds_of_h264_with_aac(tmp_path):
    got = probe.probe(_write(tmp_path, "talk_video"), decode=True)
    assert (got.width, got.height) == (640, 360)
    assert got.duration == pytest.approx(2.0, abs=0.1)
    assert (got.video_codec, got.audio_codec) == ("h264", "aac")
    assert (got.sample_rate, got.channels) == (48000, 1)


def test_garbage_video_is_20000_bytes_no_demuxer_opens(tmp_path):
    assert len(_bytes("garbage_video")) == 20_000
    with pytest.raises(probe.ProbeFailed, match="not media FFmpeg can read"):
        probe.probe(_write(tmp_path, "garbage_video"))


def test_bad_audio_video_probes_and_copies_but_its_copy_does_not_verify(tmp_path):
    src = _write(tmp_path, "bad_audio_video")
    assert len(src.read_bytes()) == len(_bytes("talk_video"))  # same packet sizes and times
    got = probe.probe(src)     # the header probe (no decode) passes
    assert (got.width, got.height, got.video_codec, got.audio_codec) == (640, 360, "h264", "aac")
    assert got.duration == pytest.approx(2.0, abs=0.1)
    with pytest.raises(probe.ProbeFailed, match="audio stream"):
        probe.probe(src, decode=True)

    out = tmp_path / "copy.mp4"
    result = transcode.transcode(src, out)     # AAC packets are copied as they are
    assert out.exists() and (result.width, result.height) == (640, 360)
    assert result.duration == pytest.approx(2.0, abs=0.1)
    with av.open(str(out)) as f:            # the copy's video decodes: only its audio is bad
        assert len(list(f.decode(video=0))) == 30
    with pytest.raises(transcode.TranscodeFailed, match="audio does not decode"):
        copy_check.verify(out, result.duration, audio=True)


def test_talk_video_copy_verifies_with_audio(tmp_path):
    out = tmp_path / "copy.mp4"
    result = transcode.transcode(_write(tmp_path, "talk_video"), out)
    assert copy_check.verify(out, result.duration, audio=True) == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(("kind", "duration", "w", "h", "streaming"), [
    ("talk_video", 2.0, 640, 360, True),
    ("garbage_video", 1.0, 320, 240, None),
    ("bad_audio_video", 2.0, 640, 360, None),
])
def test_documents_carry_video_attributes(kind, duration, w, h, streaming):
    m = files.media_for(kind, 0, 1_700_000_000, lambda fid: b"ref")
    assert isinstance(m, types.MessageMediaDocument)
    assert m.document.mime_type == "video/mp4"
    assert m.document.size == len(_bytes(kind))
    (attr,) = m.document.attributes
    assert isinstance(attr, types.DocumentAttributeVideo)
    assert (attr.duration, attr.w, attr.h, attr.supports_streaming) == (duration, w, h, streaming)
    assert m.video is (True if kind in ("talk_video", "bad_audio_video") else None)
    assert m.round is None and m.voice is None
