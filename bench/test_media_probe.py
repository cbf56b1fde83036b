"""Issue 13 point 1: what probing a downloaded video costs, in the process and in a child.

    .venv/bin/python -m pytest bench/test_media_probe.py -p no:cacheprovider

The clip is made here with PyAV: lavfi ``testsrc2`` 1280×720 at 30 fps for 4 s, libx264
ultrafast crf 23, plus a 440 Hz AAC tone, in an MP4 (moov at the end, as a muxer writes it
unless asked for +faststart): about 5 MB. Cases: ``probe(path)`` (header, stream info and
the last packets of each stream), ``probe(path, decode=True)`` (every frame decoded) and
``probe_in_child(path)`` (a fresh ``python -m engine.media.probe``: interpreter start,
``import av``, the probe, msgpack back). ``TGARC_BENCH_QUICK=1``: a 1 s 320×240 clip, to
check that it runs (figures meaningless).

Measured 2026-12-05 00:04 UTC on the 2-vCPU dev box (load 0.3-0.8), the clip 4,899,178 bytes;
pytest-benchmark medians (docs/media.md, "Probing"):

    probe(path)                  2.48 ms   (391 rounds; measured apart: a plain av.open(path)
                                            + codec contexts 2.13 ms, guards 2.23, + tail 2.28)
    probe(path, decode=True)   162.6 ms    (120 frames + audio: every frame decoded)
    probe_in_child(path)       107.3 ms    (10 rounds; `python -c pass` 23 ms, `import av,
                                            msgspec` in a fresh interpreter 90 ms)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

av = pytest.importorskip("av")

import _clips  # noqa: E402

from engine.media.probe import probe, probe_in_child  # noqa: E402

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
WIDTH, HEIGHT, SECONDS = (320, 240, 1) if QUICK else (1280, 720, 4)


def make_clip() -> bytes:
    return _clips.make_clip(WIDTH, HEIGHT, SECONDS, crf=23)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("probe") / "clip720.mp4"
    path.write_bytes(make_clip())
    got = probe(path)
    assert (got.width, got.height, got.video_codec, got.audio_codec) == (
        WIDTH, HEIGHT, "h264", "aac")
    assert got.duration == pytest.approx(SECONDS, abs=0.1)
    return path


def _record(benchmark, clip: Path) -> None:
    benchmark.extra_info.update(bytes=clip.stat().st_size, size=f"{WIDTH}x{HEIGHT}",
                                seconds=SECONDS)


def test_probe_in_process(benchmark, clip):
    _record(benchmark, clip)
    got = benchmark(probe, clip)
    assert got.width == WIDTH


def test_probe_decode_all(benchmark, clip):
    _record(benchmark, clip)
    got = benchmark.pedantic(probe, args=(clip,), kwargs={"decode": True}, rounds=3)
    assert got.width == WIDTH


def test_probe_in_child(benchmark, clip):
    _record(benchmark, clip)
    got = benchmark.pedantic(probe_in_child, args=(clip, 60), rounds=1 if QUICK else 10)
    assert got == probe(clip)
