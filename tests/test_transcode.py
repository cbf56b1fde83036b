"""engine/media/transcode.py: real PyAV encodes of small generated clips (issue 13 point 2)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

av = pytest.importorskip("av")

from engine.fakedc.media import h264_mp4  # noqa: E402
from engine.media.transcode import (  # noqa: E402
    TranscodeFailed,
    pick_encoder,
    scaled,
    transcode,
    verify,
)

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 3.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """640x360 H.264 + AAC, 3 s at 15 fps (the fake DC's deterministic generator)."""
    path = tmp_path_factory.mktemp("tx") / "clip.mp4"
    path.write_bytes(h264_mp4(7, 640, 360, seconds=SECONDS, fps=15, audio=True))
    return path


def _streams(path: Path) -> dict[str, str]:
    with av.open(str(path)) as c:
        return {s.type: s.codec_context.codec.canonical_name for s in c.streams}


def test_to_240p_decodes_back_with_audio(clip, tmp_path):
    dest = tmp_path / "out.mp4"
    got = transcode(clip, dest, max_height=240)
    assert (got.encoder, got.width, got.height) == ("libx264", 426, 240)
    assert got.duration == pytest.approx(SECONDS, abs=0.1)
    assert got.bytes_in == clip.stat().st_size and got.bytes_out == dest.stat().st_size
    assert got.fps > 0 and got.seconds > 0
    assert verify(dest, SECONDS, 240, audio=True) == pytest.approx(SECONDS, abs=0.1)
    assert _streams(dest) == {"video": "h264", "audio": "aac"}
    assert not dest.with_name("out.mp4.part").exists()
    with av.open(str(dest)) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height, frame.format.name) == (426, 240, "yuv420p")


def test_never_upscales(clip, tmp_path):
    got = transcode(clip, tmp_path / "out.mp4", max_height=720)
    assert (got.width, got.height) == (640, 360)
    assert scaled(642, 361, None) == (642, 360)
    assert scaled(1280, 720, 480) == (854, 480)


def test_audio_not_allowed_in_mp4_is_reencoded_to_aac(tmp_path):
    src = tmp_path / "pcm.mkv"
    with av.open(str(src), "w", format="matroska") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        for i in range(20):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([i * 10 % 256]) * plane.buffer_size)
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        for i in range(8):
            frame = av.AudioFrame(format="s16", layout="mono", samples=1000)
            frame.planes[0].update(bytes(2000))
            frame.sample_rate, frame.pts = 8000, i * 1000
            out.mux(aus.encode(frame))
        out.mux(aus.encode())
    dest = tmp_path / "out.mp4"
    transcode(src, dest)
    assert _streams(dest) == {"video": "h264", "audio": "aac"}
    verify(dest, 2.0, 48, audio=True)


HASH = """
import hashlib, sys
from engine.media.transcode import transcode
transcode(sys.argv[1], sys.argv[2], max_height=240)
print(hashlib.sha256(open(sys.argv[2], 'rb').read()).hexdigest())
"""


def test_byte_identical_across_processes(clip, tmp_path):
    shas = []
    for n in range(2):
        run = subprocess.run([sys.executable, "-c", HASH, str(clip), str(tmp_path / f"{n}.mp4")],
                             capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
        shas.append(run.stdout.strip())
    for _ in range(3):      # and again in this process (x264's AVX-512 code was not stable)
        transcode(clip, tmp_path / "here.mp4", max_height=240)
        shas.append(hashlib.sha256((tmp_path / "here.mp4").read_bytes()).hexdigest())
    assert len(shas[0]) == 64 and len(set(shas)) == 1, shas


def test_corrupt_source_leaves_nothing(clip, tmp_path):
    bad = tmp_path / "bad.mp4"
    data = bytearray(clip.read_bytes())
    bad.write_bytes(bytes(data[:64]) + bytes(len(data) - 64))   # header kept, the rest zeros
    dest = tmp_path / "out.mp4"
    with pytest.raises(TranscodeFailed) as err:
        transcode(bad, dest)
    assert "\n" not in str(err.value) and "bad.mp4" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]


def test_failure_mid_encode_removes_the_part(clip, tmp_path, monkeypatch):
    import engine.media.transcode as tx

    calls, seen = [], []
    real = tx._encode

    def failing(frame, vs, size):
        calls.append(1)
        if len(calls) == 10:
            seen.extend(p.name for p in tmp_path.iterdir())
            raise av.error.InvalidDataError(1094995529, "Invalid data found")
        return real(frame, vs, size)
    monkeypatch.setattr(tx, "_encode", failing)
    with pytest.raises(TranscodeFailed, match="InvalidDataError"):
        transcode(clip, tmp_path / "out.mp4")
    assert seen == ["out.mp4.part"]
    assert list(tmp_path.iterdir()) == []


def test_not_media_leaves_nothing(tmp_path):
    bad = tmp_path / "text.mp4"
    bad.write_text("not a video\n" * 100)
    with pytest.raises(TranscodeFailed):
        transcode(bad, tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.mp4"]


def test_verify_rejects_truncated_and_wrong(clip, tmp_path):
    dest = tmp_path / "out.mp4"
    transcode(clip, dest, max_height=240)
    data = dest.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(TranscodeFailed, match=r"cut\.mp4"):
        verify(cut, SECONDS, 240, audio=True)
    with pytest.raises(TranscodeFailed, match="not 360"):
        verify(dest, SECONDS, 360)
    with pytest.raises(TranscodeFailed, match="lasts"):
        verify(dest, SECONDS + 1)
    silent = tmp_path / "silent.mp4"
    silent.write_bytes(h264_mp4(7, 640, 360, seconds=SECONDS, fps=15))
    with pytest.raises(TranscodeFailed, match="no decodable audio"):
        verify(silent, SECONDS, 360, audio=True)


def test_unknown_or_missing_encoder(clip, tmp_path, monkeypatch):
    with pytest.raises(TranscodeFailed, match="unknown codec"):
        transcode(clip, tmp_path / "o.mp4", codec="vp9")
    monkeypatch.setattr(av, "codecs_available", {"aac", "h264"})
    with pytest.raises(TranscodeFailed, match="no libsvtav1 or libaom-av1"):
        pick_encoder("av1")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("codec", "encoder", "name"), [
    ("h265", "libx265", "hevc"), ("av1", "libsvtav1", "av1")])
def test_other_codecs_when_built_in(clip, tmp_path, codec, encoder, name):
    if encoder not in av.codecs_available:
        pytest.skip(f"no {encoder} in this PyAV build")
    shas = set()
    for n in range(2):
        got = transcode(clip, tmp_path / f"{n}.mp4", codec=codec, max_height=240)
        assert got.encoder == encoder and _streams(tmp_path / f"{n}.mp4")["video"] == name
        verify(tmp_path / f"{n}.mp4", SECONDS, 240, audio=True)
        shas.add(hashlib.sha256((tmp_path / f"{n}.mp4").read_bytes()).hexdigest())
    assert len(shas) == 1
