"""engine/media/probe.py on real files: fakedc's generated media probe back as generated, and
broken, hostile or non-media files are one ProbeFailed with a readable one-line reason."""

from __future__ import annotations

import io
import os
import random
import threading
import time
from pathlib import Path

import msgspec
import pytest

av = pytest.importorskip("av", reason="engine.media.probe needs PyAV")

from engine.fakedc import media  # noqa: E402  (tests may use fakedc; engine code may not)
from engine.media.probe import Probe, ProbeFailed, probe, probe_in_child  # noqa: E402

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
# name -> (bytes, format, streams, duration, width, height, video codec, audio codec,
#          sample rate, channels); every figure is what the generator was asked to make.
CASES = {
    "h264_mp4": (lambda: media.h264_mp4(3), MP4, 1, 1.0, 320, 240, "h264", None, None, None),
    "h264_mp4_audio": (
        lambda: media.h264_mp4(3, width=256, height=144, seconds=2.0, fps=10, audio=True),
        MP4, 2, 2.0, 256, 144, "h264", "aac", 48000, 1,
    ),
    "round_video": (lambda: media.round_video(3), MP4, 1, 1.0, 240, 240, "h264", None, None, None),
    "gif_animation": (
        lambda: media.gif_animation(3), MP4, 1, 0.8, 160, 160, "h264", None, None, None,
    ),
    "opus_voice": (
        lambda: media.opus_voice(3, seconds=2.5), "ogg", 1, 2.5, None, None, None, "opus", 48000, 1,
    ),
    "mp3_audio": (lambda: media.mp3_audio(3), "mp3", 1, 1.0, None, None, None, "mp3", 44100, 1),
    "jpeg_photo": (
        lambda: media.jpeg_photo(3), "jpeg_pipe", 1, None, 320, 240, "mjpeg", None, None, None,
    ),
    "webp_sticker": (
        lambda: media.webp_sticker(3), "webp_pipe", 1, None, 512, 512, "webp", None, None, None,
    ),
}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def failure(path: Path, **kw) -> str:
    """probe's reason for ``path``; checks it is one readable line, no PyAV decorations."""
    with pytest.raises(ProbeFailed) as info:
        probe(path, **kw)
    reason = str(info.value)
    assert reason and "\n" not in reason and "Traceback" not in reason
    assert "Errno" not in reason and str(path) not in reason, reason
    return reason


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("decode", [False, True])
def test_every_fakedc_kind_probes_back_as_generated(tmp_path, name, decode):
    make, fmt, streams, seconds, width, height, vcodec, acodec, rate, channels = CASES[name]
    got = probe(write(tmp_path, name, make()), decode=decode)
    assert (got.format, got.streams, got.width, got.height) == (fmt, streams, width, height)
    assert (got.video_codec, got.audio_codec) == (vcodec, acodec)
    assert (got.sample_rate, got.channels) == (rate, channels)
    if seconds is None:
        assert got.duration is None and got.bitrate is None
    else:
        assert got.duration == pytest.approx(seconds, abs=0.1)
        assert got.bitrate and got.bitrate > 1000


def test_probe_is_a_compact_array_for_the_archive(tmp_path):
    got = probe(write(tmp_path, "v.ogg", media.opus_voice(1)))
    raw = msgspec.json.decode(msgspec.json.encode(got))
    assert raw == ["ogg", 1, 1.0065, None, None, None, "opus", 48000, 1, got.bitrate]
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(got), type=Probe) == got
    photo = msgspec.json.decode(msgspec.json.encode(probe(write(
        tmp_path, "p.jpg", media.jpeg_photo(1)))))
    # msgspec 0.23 keeps every field of an array_like Struct (omit_defaults applies to maps)
    assert photo == ["jpeg_pipe", 1, None, 320, 240, "mjpeg", None, None, None, None]


def with_cover_art(mp3: bytes, jpeg: bytes) -> bytes:
    """The MP3 remuxed with ``jpeg`` as its cover (an attached picture, as ID3 APIC)."""
    buf = io.BytesIO()
    with av.open(io.BytesIO(mp3)) as src, av.open(buf, "w", format="mp3") as out:
        audio = out.add_stream_from_template(src.streams.audio[0])
        cover = out.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 320, 240, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.Packet(jpeg)
        picture.stream, picture.pts, picture.dts = cover, 0, 0
        out.mux(picture)
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = audio
                out.mux(packet)
    return buf.getvalue()


def test_an_mp3s_cover_art_is_not_its_video(tmp_path):
    path = write(tmp_path, "c.mp3", with_cover_art(media.mp3_audio(8), media.jpeg_photo(8)))
    with av.open(path) as c:  # the cover really is there, as a video stream
        assert [s.type for s in c.streams] == ["audio", "video"]
    for decode in (False, True):
        got = probe(path, decode=decode)
        assert (got.streams, got.audio_codec, got.sample_rate) == (2, "mp3", 44100)
        assert (got.video_codec, got.width, got.height) == (None, None, None)
        assert got.duration == pytest.approx(1.0, abs=0.1)


# Containers Telegram files come in besides fakedc's: (muxer, video codec, audio codec,
# the demuxer's name and the codec ids probe reports). Made here with PyAV from lavfi.
OTHERS = {
    "webm": ("webm", "libvpx-vp9", "libopus", "matroska,webm", "vp9", "opus"),
    "mkv": ("matroska", "libx264", "aac", "matroska,webm", "h264", "aac"),
    "ts": ("mpegts", "libx264", "aac", "mpegts", "h264", "aac"),
    "avi": ("avi", "mpeg4", "libmp3lame", "avi", "mpeg4", "mp3"),
    "mov": ("mov", "libx264", "aac", MP4, "h264", "aac"),
    "m4a": ("ipod", None, "aac", MP4, None, "aac"),
    "flac": ("flac", None, "flac", "flac", None, "flac"),
    "wav": ("wav", None, "pcm_s16le", "wav", None, "pcm_s16le"),
    "gif": ("gif", "gif", None, "gif", "gif", None),
}


def lavfi_clip(path: Path, muxer: str, vcodec: str | None, acodec: str | None) -> Path:
    """A 1 s 160x120 15 fps test pattern and/or 48 kHz tone, encoded and muxed by PyAV."""
    pix = "rgb8" if vcodec == "gif" else "yuv420p"
    with av.open(str(path), "w", format=muxer) as out:
        jobs = []  # every stream is added before the first packet is muxed
        if vcodec:
            vs = out.add_stream(vcodec, rate=15)
            vs.width, vs.height, vs.pix_fmt = 160, 120, pix
            if vcodec == "libvpx-vp9":
                vs.options = {"deadline": "realtime", "cpu-used": "8"}
            jobs.append((vs, "testsrc2=size=160x120:rate=15:duration=1", pix))
        if acodec:
            aus = out.add_stream(acodec, rate=48000, layout="mono")
            jobs.append((aus, "sine=sample_rate=48000:duration=1", None))
        for stream, source, fmt in jobs:
            with av.open(source, format="lavfi") as src:
                for frame in src.decode(src.streams[0]):
                    frame = frame.reformat(format=fmt) if fmt else frame
                    frame.pts = None
                    out.mux(stream.encode(frame))
            out.mux(stream.encode())
    return path


@pytest.mark.parametrize("ext", sorted(OTHERS))
def test_other_containers_probe_clean(tmp_path, ext):
    """No false alarm: e.g. seeking a WAV to its very end is EOF, not a missing tail."""
    muxer, vcodec, acodec, fmt, vid, aid = OTHERS[ext]
    path = lavfi_clip(tmp_path / f"clip.{ext}", muxer, vcodec, acodec)
    for decode in (False, True):
        got = probe(path, decode=decode)
        assert (got.format, got.video_codec, got.audio_codec) == (fmt, vid, aid)
        assert got.width == (160 if vcodec else None)
        assert got.duration == pytest.approx(1.0, abs=0.1)
    if ext == "wav":  # half a WAV: its header's data size says where the tail should be
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        assert "ends past the file" in failure(path)


def moov_at_end(data: bytes) -> bytes:
    """The same MP4 remuxed (stream copy) without +faststart: its moov after the mdat."""
    src = av.open(io.BytesIO(data))
    out_buf = io.BytesIO()
    with src, av.open(out_buf, "w", format="mp4") as out:
        pairs = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = pairs[packet.stream.index]
                out.mux(packet)
    return out_buf.getvalue()


def test_broken_and_non_media_files_fail_with_a_reason(tmp_path):
    mp4 = media.h264_mp4(5, seconds=2.0, audio=True)
    late = moov_at_end(mp4)
    assert late.index(b"moov") > late.index(b"mdat") and probe(write(tmp_path, "l.mp4", late))
    flipped = bytearray(mp4)
    at = flipped.index(b"moov")
    flipped[at - 4: at + 64] = bytes(b ^ 0xFF for b in flipped[at - 4: at + 64])
    rng = random.Random(13)
    cases = {
        "zero bytes": (b"", "empty file"),
        "random bytes": (rng.randbytes(64 << 10), "not media"),
        "a text file": (b"Just some notes.\n" * 200, "not media"),
        "header flipped": (bytes(flipped), "not media"),
        "half a faststart MP4": (mp4[: len(mp4) // 2], "truncated"),
        "moov-at-end MP4 cut": (late[: len(late) * 2 // 3], "not media"),
        "a fakedc 'PDF'": (media.document(5), "not media"),
    }
    for label, (data, why) in cases.items():
        reason = failure(write(tmp_path, "f.bin", data))
        assert why in reason, (label, reason)
    assert "No such file" in failure(tmp_path / "missing.mp4")
    assert "not a regular file" in failure(tmp_path)


def garbage_frames(data: bytes) -> bytes:
    """An MP4 whose header is intact but whose mdat payload is random bytes."""
    at = data.index(b"mdat") + 4
    return data[:at] + random.Random(7).randbytes(len(data) - at)


def test_decode_catches_frames_that_are_garbage(tmp_path):
    path = write(tmp_path, "g.mp4", garbage_frames(media.h264_mp4(9, seconds=2.0)))
    assert probe(path).width == 320  # the header is fine: the quick probe cannot tell
    assert "corrupt" in failure(path, decode=True)


def test_a_fifo_is_refused_at_once_not_read_forever(tmp_path):
    fifo = tmp_path / "never.mp4"
    os.mkfifo(fifo)
    result: list[BaseException | Probe] = []
    thread = threading.Thread(target=lambda: result.append(_catch(fifo)), daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():  # unblock the open() a broken probe is stuck in, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("probe blocked on a FIFO")
    assert isinstance(result[0], ProbeFailed) and "not a regular file" in str(result[0])


def _catch(path: Path) -> BaseException | Probe:
    try:
        return probe(path)
    except BaseException as exc:
        return exc


def sparse_mp3(tmp_path: Path) -> Path:
    """A real 1 s MP3 followed by a 1 TiB hole: sparse, no disk used, zeros when read.

    FFmpeg's MP3 demuxer resyncs over the zeros for as long as they last: reading to the end
    takes hours. That is the honest stand-in for a file that hangs the decoder.
    """
    path = write(tmp_path, "hole.mp3", media.mp3_audio(4))
    os.truncate(path, 1 << 40)
    return path


def test_the_default_probe_reads_a_bounded_amount(tmp_path):
    path = sparse_mp3(tmp_path)
    start = time.monotonic()
    # in a child, so that a probe reading the whole hole fails this test instead of hanging it
    with pytest.raises(ProbeFailed, match=r"no audio packet in the 4 MiB read .* padding or garb"):
        probe_in_child(path, 20)
    assert time.monotonic() - start < 10


def test_child_gives_the_same_answer_and_reasons(tmp_path):
    good = write(tmp_path, "a.mp4", media.h264_mp4(2, audio=True))
    assert probe_in_child(good, 30) == probe(good)
    assert probe_in_child(good, 30, decode=True) == probe(good)
    bad = write(tmp_path, "t.txt", b"hello\n" * 50)
    with pytest.raises(ProbeFailed, match=r"^not media FFmpeg can read"):
        probe_in_child(bad, 30)


def test_child_contains_a_probe_that_never_ends(tmp_path):
    path = sparse_mp3(tmp_path)
    start = time.monotonic()
    with pytest.raises(ProbeFailed, match="timed out after 2 s"):
        probe_in_child(path, 2, decode=True)  # decode=True reads all 1 TiB
    assert time.monotonic() - start < 10
    with pytest.raises(ProbeFailed, match=r"crashed \(signal \d+, SIGXCPU\)"):
        probe_in_child(path, 60, decode=True, cpu_seconds=1)  # the kernel kills it


def test_no_descriptor_leaks_and_no_ffmpeg_noise(tmp_path, capfd):
    good = write(tmp_path, "a.mp4", media.h264_mp4(6, audio=True))
    bad = write(tmp_path, "b.mp4", garbage_frames(media.h264_mp4(6)))
    half = write(tmp_path, "h.mp4", media.h264_mp4(6)[:3000])
    probe(good)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(30):
        probe(good)
        probe(good, decode=True)
        for path, kw in ((bad, {"decode": True}), (half, {}), (tmp_path, {})):
            with pytest.raises(ProbeFailed):
                probe(path, **kw)
    assert len(os.listdir("/proc/self/fd")) == before
    out, err = capfd.readouterr()
    assert out == "" and err == ""
