"""Small, valid, deterministic media files for the fake DC's synthetic corpus.

Every generator returns ``bytes`` and takes a ``seed`` that picks colours, shapes and tones, so a
corpus of thousands of messages can carry media that differ from one another yet are cheap to make
(each file is a few KB to a few tens of KB, a few milliseconds to tens of milliseconds to encode).

The same arguments give byte-identical output with the same PyAV/FFmpeg build on any x86-64
CPU (the golden files in tests/golden record these files' sizes): media_pin.py says how.
The pieces: media_scenes.py (pixels and tones), media_encode.py (PyAV encoding and muxing),
media_pin.py (the SIMD pin), media_probe.py (``probe``).

``probe`` opens any bytes with PyAV and reports the container and its streams; it raises
``MediaProbeError`` (a ``ValueError``) for data FFmpeg cannot read.
"""

from __future__ import annotations

import io
from fractions import Fraction
from functools import lru_cache

from .media_encode import MUX_OPTS, damaged_audio, encode_audio, h264, rgb_frame, single_thread
from .media_pin import pinned, pyav, simd_pin, simd_pinned
from .media_probe import MediaProbeError, probe
from .media_scenes import Scene, even, positive, seeded_rng, sticker_rgba, tone

__all__ = [
    "MediaProbeError",
    "bad_audio_mp4",
    "clear_caches",
    "document",
    "gif_animation",
    "h264_mp4",
    "jpeg_photo",
    "mp3_audio",
    "opus_voice",
    "probe",
    "round_video",
    "simd_pin",
    "simd_pinned",
    "webp_sticker",
]

_CACHE_SIZE = 64


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def jpeg_photo(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A baseline JPEG (mjpeg encoder, full-range 4:2:0): a gradient with a disc and a bar."""
    av = pyav()
    even("width", width)
    even("height", height)
    rgb = rgb_frame(Scene(seed, "photo", width, height).frame(), width, height)
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuvj420p"
    ctx.color_range = 2  # AVCOL_RANGE_JPEG
    ctx.time_base = Fraction(1, 1)
    ctx.qmin = ctx.qmax = 4
    ctx.flags |= av.codec.context.Flags.qscale
    ctx.global_quality = 4 * 118  # qscale 4 (x FF_QP2LAMBDA): fixed quantiser, no rate control
    single_thread(ctx)
    frame = rgb.reformat(format="yuvj420p", threads=1)
    frame.pts = 0
    packets = [*ctx.encode(frame), *ctx.encode(None)]
    return b"".join(bytes(p) for p in packets)


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def h264_mp4(
    seed: int,
    width: int = 320,
    height: int = 240,
    seconds: float = 1.0,
    fps: int = 15,
    audio: bool = False,
) -> bytes:
    """An H.264 (libx264, yuv420p, main profile) MP4 with the moov atom first (``+faststart``).

    ``audio=True`` adds a mono AAC track with a tone, as most real Telegram videos have one.
    """
    frames = max(1, round(positive("seconds", seconds) * fps))
    return h264(seed, "video", width, height, frames, fps, seconds if audio else None)


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def bad_audio_mp4(seed: int, width: int = 640, height: int = 360, seconds: float = 2.0) -> bytes:
    """``h264_mp4(..., audio=True)`` whose AAC packets are junk (same sizes and times): it
    probes, its video decodes and copies, its audio does not decode (a copy of it does not
    verify: tests of ``--transcode-replace``)."""
    return damaged_audio(h264_mp4(seed, width, height, seconds, audio=True), seed)


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def round_video(seed: int, size: int = 240, seconds: float = 1.0, audio: bool = False) -> bytes:
    """A square H.264 MP4, as Telegram's round "video message" (``round_message=True``)."""
    fps = 15
    frames = max(1, round(positive("seconds", seconds) * fps))
    return h264(seed, "round", size, size, frames, fps, seconds if audio else None)


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def gif_animation(seed: int, size: int = 160, frames: int = 8, fps: int = 10) -> bytes:
    """A Telegram "GIF": a silent H.264 MP4 (no audio stream at all), square ``size``."""
    return h264(seed, "gif", size, size, frames, fps, None)


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def opus_voice(seed: int, seconds: float = 1.0) -> bytes:
    """A voice note: Opus (libopus, 48 kHz mono, 24 kb/s VoIP mode) in Ogg."""
    av = pyav()
    rate = 48000
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg", options=MUX_OPTS) as out:
        stream = out.add_stream("libopus", rate=rate, layout="mono")
        stream.bit_rate = 24000
        stream.codec_context.options = {"application": "voip", "vbr": "on"}
        single_thread(stream.codec_context)
        encode_audio(
            out, stream, tone(seed, "voice", rate, positive("seconds", seconds)), rate, 960
        )
    return buf.getvalue()


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def mp3_audio(seed: int, seconds: float = 1.0, title: str | None = None) -> bytes:
    """An MP3 (libmp3lame, 44.1 kHz mono, 64 kb/s CBR) with ID3 title/artist tags and a Xing header.

    ``title`` defaults to ``"Tone <seed>"``; the artist is always ``"tgarc fakedc"``.
    """
    av = pyav()
    rate = 44100
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", options=MUX_OPTS) as out:
        out.metadata["title"] = title if title is not None else f"Tone {seed}"
        out.metadata["artist"] = "tgarc fakedc"
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = 64000
        single_thread(stream.codec_context)
        encode_audio(
            out, stream, tone(seed, "mp3", rate, positive("seconds", seconds)), rate, 1152
        )
    return buf.getvalue()


@lru_cache(maxsize=_CACHE_SIZE)
@pinned
def webp_sticker(seed: int, size: int = 512) -> bytes:
    """A static WebP sticker (libwebp, lossy + alpha), ``size`` x ``size`` (Telegram wants 512)."""
    av = pyav()
    even("size", size)
    rgba = rgb_frame(sticker_rgba(seed, size), size, size, "rgba")
    ctx = av.CodecContext.create("libwebp", "w")
    ctx.width = ctx.height = size
    ctx.pix_fmt = "yuva420p"
    ctx.time_base = Fraction(1, 1)
    ctx.options = {"quality": "60", "lossless": "0", "compression_level": "4"}
    single_thread(ctx)
    frame = rgba.reformat(format="yuva420p", threads=1)
    frame.pts = 0
    packets = [*ctx.encode(frame), *ctx.encode(None)]
    return b"".join(bytes(p) for p in packets)


@lru_cache(maxsize=_CACHE_SIZE)
def document(seed: int, size: int = 2048) -> bytes:
    """``size`` bytes that start like a PDF (``%PDF-1.4``) followed by seeded random bytes.

    Not a parseable PDF: the corpus only needs a stable payload with a recognisable magic number.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    tail = b"\n%%EOF\n"
    if size < len(head) + len(tail):
        return seeded_rng(seed, "document").randbytes(size)
    body = seeded_rng(seed, "document").randbytes(size - len(head) - len(tail))
    return head + body + tail


def clear_caches() -> None:
    """Drops every generator's cached outputs (tests use it to prove determinism)."""
    for fn in (
        jpeg_photo,
        h264_mp4,
        bad_audio_mp4,
        round_video,
        gif_animation,
        opus_voice,
        mp3_audio,
        webp_sticker,
        document,
    ):
        fn.cache_clear()
