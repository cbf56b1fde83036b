"""The fake DC's synthetic media: valid, small, deterministic, and probed back correctly."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("av", reason="engine.fakedc.media needs PyAV")

from engine.fakedc import media

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 100 * 1024
MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


# name -> (generator, its keyword arguments, container format,
#          [(type, codec, width, height, duration, sample_rate) per stream])
# Durations are checked with a generous tolerance (encoder priming, last-frame rounding).
CASES: dict[str, tuple[Callable[..., bytes], dict[str, Any], str, list[tuple]]] = {
    "jpeg_photo": (media.jpeg_photo, {}, "jpeg_pipe", [("video", "mjpeg", 320, 240, None, None)]),
    "h264_mp4": (media.h264_mp4, {}, MP4, [("video", "h264", 320, 240, 1.0, None)]),
    "h264_mp4_audio": (
        media.h264_mp4,
        {"width": 256, "height": 144, "seconds": 2.0, "fps": 10, "audio": True},
        MP4,
        [("video", "h264", 256, 144, 2.0, None), ("audio", "aac", None, None, 2.0, 48000)],
    ),
    "round_video": (media.round_video, {}, MP4, [("video", "h264", 240, 240, 1.0, None)]),
    # 8 frames at 10 fps, and no audio stream at all
    "gif_animation": (media.gif_animation, {}, MP4, [("video", "h264", 160, 160, 0.8, None)]),
    "opus_voice": (media.opus_voice, {}, "ogg", [("audio", "opus", None, None, 1.0, 48000)]),
    "opus_voice_long": (
        media.opus_voice,
        {"seconds": 2.5},
        "ogg",
        [("audio", "opus", None, None, 2.5, 48000)],
    ),
    "mp3_audio": (media.mp3_audio, {}, "mp3", [("audio", "mp3float", None, None, 1.0, 44100)]),
    "webp_sticker": (
        media.webp_sticker,
        {},
        "webp_pipe",
        [("video", "webp", 512, 512, None, None)],
    ),
}
MEDIA = sorted(CASES)
SEEDS = (0, 1, 2**40)  # the generators' lru_cache shares these outputs between tests


def gen(name: str, seed: int, *, fresh: bool = False) -> bytes:
    """One case's output; ``fresh`` bypasses the lru_cache, so the file is really encoded again."""
    fn, kwargs = CASES[name][:2]
    return fn.__wrapped__(seed, **kwargs) if fresh else fn(seed, **kwargs)


# ---------------------------------------------------------------------------------------------
# Each generator: right container, codec, size, duration; small; deterministic; seed-dependent
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MEDIA)
def test_probes_back_as_generated(name):
    fmt, want = CASES[name][2:]
    info = media.probe(gen(name, SEEDS[0]))
    assert info["format"] == fmt
    got = info["streams"]
    assert [(s["type"], s["codec"]) for s in got] == [(w[0], w[1]) for w in want]
    for s, (_type, _codec, width, height, duration, rate) in zip(got, want, strict=True):
        assert (s["width"], s["height"], s["sample_rate"]) == (width, height, rate)
        if duration is None:
            assert s["duration"] is None
        else:
            assert s["duration"] == pytest.approx(duration, abs=0.15), s


@pytest.mark.parametrize("name", MEDIA)
def test_decodes_fully(name):
    """Every packet decodes, and each video stream yields as many frames as it announces."""
    media.probe(gen(name, SEEDS[1]), decode=True)


@pytest.mark.parametrize("name", MEDIA)
def test_small_and_seed_dependent(name):
    outputs = [gen(name, seed) for seed in SEEDS]
    assert all(0 < len(out) < MAX_BYTES for out in outputs), [len(out) for out in outputs]
    assert len(set(outputs)) == len(SEEDS)


@pytest.mark.parametrize("name", MEDIA)
def test_deterministic(name):
    """Two real encodes of the same arguments give the same bytes.

    The cached copy came from its own encode (earlier in the session, or right here), and the
    second call bypasses the lru_cache, so this compares two independent encodes.
    """
    cached = gen(name, SEEDS[0])
    assert gen(name, SEEDS[0], fresh=True) == cached


def test_deterministic_across_processes_and_fast():
    """A fresh interpreter (new Ogg serial seed, new clock) produces the very same bytes.

    It also times one encode of the whole set there, without the cache: the brief asks for
    "well under 2 s on 2 cores" (≈ 0.6 s measured, with x264 and FFmpeg on their C code since
    issue 18); the bound is loose for noisy CI machines.
    """
    script = f"""
import hashlib, json, sys, time
from engine.fakedc import media
calls = {[(CASES[n][0].__name__, CASES[n][1]) for n in MEDIA]!r}
media.jpeg_photo.__wrapped__(1)  # warm up PyAV's lazily loaded pieces
t0 = time.perf_counter()
out = [getattr(media, fn).__wrapped__({SEEDS[0]}, **kw) for fn, kw in calls]
out.append(media.document.__wrapped__({SEEDS[0]}))
seconds = time.perf_counter() - t0
json.dump({{"seconds": seconds, "sha": [hashlib.sha256(b).hexdigest() for b in out]}}, sys.stdout)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    there = json.loads(proc.stdout)
    here = [hashlib.sha256(gen(n, SEEDS[0])).hexdigest() for n in MEDIA]
    here.append(hashlib.sha256(media.document(SEEDS[0])).hexdigest())
    assert there["sha"] == here
    assert there["seconds"] < 4.0, there["seconds"]


# ---------------------------------------------------------------------------------------------
# Format details a Telegram client (or a picky player) relies on
# ---------------------------------------------------------------------------------------------


def _top_level_atoms(data: bytes) -> list[bytes]:
    atoms, i = [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        atoms.append(kind)
        assert size >= 8
        i += size
    assert i == len(data)
    return atoms


def test_jpeg_markers():
    data = media.jpeg_photo(1, width=64, height=48)
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    info = media.probe(data)
    assert (info["streams"][0]["width"], info["streams"][0]["height"]) == (64, 48)


@pytest.mark.parametrize(
    "make", [media.h264_mp4, media.round_video, media.gif_animation], ids=lambda f: f.__name__
)
def test_mp4_faststart_and_no_wall_clock(make):
    data = make(2)
    atoms = _top_level_atoms(data)
    assert atoms[0] == b"ftyp"
    assert atoms.index(b"moov") < atoms.index(b"mdat"), atoms  # +faststart
    assert media.probe(data)["tags"].get("creation_time") is None
    assert b"Lavf" not in data  # bitexact muxer: no library version tag


def test_gif_has_no_audio_and_round_is_square():
    assert [s["type"] for s in media.probe(media.gif_animation(4))["streams"]] == ["video"]
    assert [s["type"] for s in media.probe(media.round_video(4))["streams"]] == ["video"]
    rv = media.probe(media.round_video(4, size=120, seconds=0.5, audio=True))["streams"]
    assert [(s["type"], s["codec"]) for s in rv] == [("video", "h264"), ("audio", "aac")]
    assert rv[0]["width"] == rv[0]["height"] == 120
    assert rv[0]["duration"] == pytest.approx(0.5, abs=0.1)


def test_gif_frame_count():
    data = media.gif_animation(1, size=96, frames=5, fps=5)
    info = media.probe(data, decode=True)
    assert info["streams"][0]["duration"] == pytest.approx(1.0, abs=0.05)


def test_opus_is_ogg_opus():
    data = media.opus_voice(1)
    assert data[:4] == b"OggS" and b"OpusHead" in data[:64]


def test_mp3_tags():
    assert media.mp3_audio(1)[:3] == b"ID3"
    assert media.probe(media.mp3_audio(1))["tags"] == {"title": "Tone 1", "artist": "tgarc fakedc"}
    tags = media.probe(media.mp3_audio(1, title="Song"))["tags"]
    assert tags["title"] == "Song"


def test_webp_container():
    data = media.webp_sticker(1)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert data[12:16] == b"VP8X" and b"ALPH" in data  # extended format with a transparent margin
    small = media.probe(media.webp_sticker(1, size=128))["streams"][0]
    assert (small["width"], small["height"]) == (128, 128)


def test_document():
    doc = media.document(3)
    assert len(doc) == 2048 and doc.startswith(b"%PDF-") and doc.endswith(b"%%EOF\n")
    assert media.document(3) == doc and media.document(4) != doc
    assert [len(media.document(1, n)) for n in (0, 1, 5, 100_000)] == [0, 1, 5, 100_000]
    media.clear_caches()
    assert media.document(3) == doc


@pytest.mark.parametrize(
    "call",
    [
        lambda: media.jpeg_photo(1, width=321),
        lambda: media.h264_mp4(1, height=7),
        lambda: media.h264_mp4(1, seconds=0),
        lambda: media.h264_mp4(1, fps=0),
        lambda: media.round_video(1, size=99),
        lambda: media.gif_animation(1, frames=0),
        lambda: media.opus_voice(1, seconds=-1.0),
        lambda: media.mp3_audio(1, seconds=0.0),
        lambda: media.webp_sticker(1, size=15),
        lambda: media.document(1, size=-1),
    ],
)
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


def test_missing_pyav_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    with pytest.raises(ImportError, match="pip install av"):
        media.jpeg_photo(1)
    with pytest.raises(ImportError, match="pip install av"):
        media.probe(b"anything")


# ---------------------------------------------------------------------------------------------
# probe() on bad input: MediaProbeError (a ValueError) with FFmpeg's reason, quickly
# ---------------------------------------------------------------------------------------------


def _garbage() -> list[tuple[str, bytes]]:
    rng = random.Random(2024)
    cases = [(f"random{n}", rng.randbytes(n)) for n in (1, 7, 100, 4096, 200_000)]
    cases += [
        ("zeros", bytes(10_000)),
        ("text", b"not a media file\n" * 50),
        ("document", media.document(1)),
    ]
    return cases


@pytest.mark.parametrize(("label", "data"), _garbage(), ids=[g[0] for g in _garbage()])
def test_probe_rejects_garbage(label, data):
    t0 = time.perf_counter()
    with pytest.raises(media.MediaProbeError, match="cannot probe media") as err:
        media.probe(data)
    assert isinstance(err.value, ValueError)
    assert "<none>" not in str(err.value)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("name", MEDIA)
@pytest.mark.parametrize("keep", [1, 16, 64, 200])
def test_probe_rejects_truncated_header(name, keep):
    data = gen(name, SEEDS[1])[:keep]
    with pytest.raises(media.MediaProbeError, match="cannot probe media"):
        media.probe(data)


@pytest.mark.parametrize("name", ["h264_mp4", "h264_mp4_audio", "round_video", "gif_animation"])
def test_probe_decode_catches_truncated_payload(name):
    """An MP4 cut inside mdat keeps its (faststart) header: only decode=True notices."""
    data = gen(name, SEEDS[1])
    cut = data[: len(data) * 2 // 3]
    assert media.probe(cut)["streams"]  # headers alone look fine
    with pytest.raises(media.MediaProbeError, match=r"(corrupt|truncated) media"):
        media.probe(cut, decode=True)


def test_probe_empty_and_wrong_type():
    with pytest.raises(media.MediaProbeError, match="empty"):
        media.probe(b"")
    with pytest.raises(TypeError):
        media.probe("not bytes")  # type: ignore[arg-type]
    assert media.probe(bytearray(media.opus_voice(1)))["format"] == "ogg"
    assert media.probe(memoryview(media.opus_voice(1)))["format"] == "ogg"


_LENIENT = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=30, deadline=None, suppress_health_check=_LENIENT)
@given(st.binary(min_size=0, max_size=3000))
def test_probe_never_fails_otherwise(data):
    """Arbitrary bytes either probe (some formats accept almost anything) or raise ValueError."""
    try:
        info = media.probe(data)
    except media.MediaProbeError:
        return
    assert info["streams"]


@settings(max_examples=20, deadline=None, suppress_health_check=_LENIENT)
@given(st.sampled_from(MEDIA), st.integers(0, 2**16), st.data())
def test_probe_on_damaged_media(name, seed, data):
    """Cut or flip bytes of real media: probe returns or raises MediaProbeError, nothing else."""
    blob = bytearray(gen(name, SEEDS[seed % len(SEEDS)]))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    else:
        for _ in range(data.draw(st.integers(1, 20))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(media.MediaProbeError):
        media.probe(bytes(blob), decode=data.draw(st.booleans()))


def test_cache_and_clear_caches():
    """Last in the file: clearing the caches makes later tests encode again."""
    assert media.h264_mp4(5) is media.h264_mp4(5)
    media.clear_caches()
    assert media.h264_mp4.cache_info().currsize == 0
    assert media.document.cache_info().currsize == 0
