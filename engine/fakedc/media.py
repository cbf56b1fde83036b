"""Small, valid, deterministic media files for the fake DC's synthetic corpus.

Every generator returns ``bytes`` and takes a ``seed`` that picks colours, shapes and tones, so a
corpus of thousands of messages can carry media that differ from one another yet are cheap to make
(each file is a few KB to a few tens of KB, a few milliseconds to tens of milliseconds to encode).

Determinism: the same arguments give byte-identical output with the same PyAV/FFmpeg build
(pyproject pins the ``av`` wheel) on any x86-64 CPU, Intel or AMD, SSE2-only to AVX-512: the
golden files in tests/golden record these files' sizes. To get there every encoder (and swscale)
runs single-threaded, every muxer and encoder gets ``bitexact`` (no library version strings, no
random Ogg serial numbers), timestamps are fixed, no wall-clock metadata (``creation_time``) is
ever written, and the SIMD is pinned:

- libx264 and FFmpeg pick hand-written SIMD code by the CPU they run on, and those paths do not
  agree bit for bit. Measured with this wheel (issue 18): x264's SSE2, AVX2 and AVX-512 paths give
  three different files from the same frames, and its AVX-512 path a different file on most
  encodes within one process; its SSE2 ``mbtree_propagate_cost`` starts from ``rcpps``, whose
  approximation differs between Intel and AMD. FFmpeg's AAC encoder gives different bytes with
  SSE2, AVX and AVX2/FMA3, and swscale's SIMD rounds RGB to YUV differently from its C code.
- So x264 runs with ``asm=0`` (its C code: no CPU detection at all), and every generator runs
  inside :func:`simd_pinned`, which holds ``av_force_cpu_flags(0)`` (FFmpeg's C code for swscale,
  swresample, the aac and mjpeg encoders, av_tx) for the length of its encode. Cost: an H.264
  clip takes ~110 ms instead of ~55 ms; the corpus's 28 files ~1.2 s instead of ~0.8 s, once per
  process (lru_cache). :func:`simd_pin` says what is pinned.
- libmp3lame has no runtime CPU dispatch. libopus and libwebp have their own (libopus offers no
  switch for it), left alone because their SIMD gives the same bytes as their C code: 120 voice
  notes and 30 stickers came out the same on every simulated CPU, and so did stickers made with
  libwebp's SIMD switched off. tests/test_media_determinism.py runs the generators in processes
  whose ``cpuid`` is trapped and answered as an AVX-512, AVX2, AVX, SSE2-only or AMD CPU: every
  file comes out the same (and, with the pin taken off, the H.264 and AAC ones do not).

Output still differs between FFmpeg/x264/libopus versions, and may differ on other architectures
(compilers there fuse multiply-adds in C code): a new ``av`` wheel means new golden files.

Pixels and samples are built with plain Python (no numpy needed): a frame is assembled row by row
from ``bytes`` multiplication and splices, which is fast enough for these sizes.

``probe`` opens any bytes with PyAV and reports the container and its streams; it raises
``MediaProbeError`` (a ``ValueError``) for data FFmpeg cannot read.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import io
import math
import os
import random
import re
import tempfile
import threading
import warnings
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from functools import lru_cache
from typing import Any, TypeVar

__all__ = [
    "MediaProbeError",
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

_AV_HINT = (
    "engine.fakedc.media needs PyAV (FFmpeg bindings) to make media files: "
    "pip install av  (the PyPI wheel bundles FFmpeg with libx264, libopus, libmp3lame, libwebp)"
)

# Options that keep muxers reproducible: no "Lavf..." encoder tags, no random Ogg serials.
_MUX_OPTS = {"fflags": "+bitexact"}
_CACHE_SIZE = 64

# The SIMD pin (see the module docstring). x264 detects the CPU itself: "asm=0" sets its cpu
# mask to nothing, so it runs its C code. FFmpeg's own code (swscale, swresample, the aac and
# mjpeg encoders, av_tx) asks av_get_cpu_flags(); av_force_cpu_flags(0) makes that "no SIMD"
# while a generator runs.
X264_ASM = "asm=0"
FFMPEG_CPU_FLAGS = 0
_F = TypeVar("_F", bound=Callable[..., bytes])
_pin_lock = threading.RLock()


class MediaProbeError(ValueError):
    """The bytes given to :func:`probe` are not media FFmpeg can open (truncated or garbage)."""


def _av():
    """Imports PyAV lazily, so importing this module never fails; a missing PyAV says what to do."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_AV_HINT) from exc
    return av


def _loaded_avutil() -> list[str]:
    """Paths of the libavutil copies mapped into this process (Linux), PyAV's own first."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {p[5].strip() for p in (line.split(None, 5) for line in fh) if len(p) == 6}
    except OSError:
        paths = set()
    found = sorted(p for p in paths if re.match(r"(lib)?avutil[-.]", os.path.basename(p)))
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(_av().__file__)))
    return sorted(found, key=lambda p: not p.startswith(pkg))


@lru_cache(maxsize=1)
def _avutil() -> ctypes.CDLL | None:
    """The libavutil PyAV runs on, for av_force_cpu_flags (PyAV has no binding for it).

    Found among the libraries mapped into the process (PyAV's copy before any other, such as
    OpenCV's), else next to the package in a wheel (``av.libs``, ``av/.dylibs``); None when
    neither works, and then FFmpeg's SIMD stays unpinned.
    """
    av_dir = os.path.dirname(os.path.abspath(_av().__file__))
    candidates = _loaded_avutil() + sorted(
        glob.glob(os.path.join(av_dir + ".libs", "*avutil*"))
        + glob.glob(os.path.join(av_dir, ".dylibs", "*avutil*"))
    )
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            lib.av_force_cpu_flags.argtypes = [ctypes.c_int]
            lib.av_force_cpu_flags.restype = None
            lib.av_get_cpu_flags.argtypes = []
            lib.av_get_cpu_flags.restype = ctypes.c_int
        except (OSError, AttributeError):
            continue
        return lib
    warnings.warn(
        "engine.fakedc.media: PyAV's libavutil not found, FFmpeg's SIMD is not pinned: "
        "media bytes (and golden files) may differ between CPUs",
        RuntimeWarning,
        stacklevel=2,
    )
    return None


@contextmanager
def simd_pinned() -> Iterator[None]:
    """FFmpeg's SIMD off (``av_force_cpu_flags(FFMPEG_CPU_FLAGS)``) inside, restored after.

    The flags are process-wide and read when a codec or scaler context is set up, so the pin is
    held under a lock by every generator for its whole encode; anything else in the process
    (a decoder opened by :func:`probe` meanwhile) at worst runs FFmpeg's C code for a while.
    """
    lib = _avutil()
    with _pin_lock:
        if lib is None:
            yield
            return
        before = lib.av_get_cpu_flags()
        lib.av_force_cpu_flags(FFMPEG_CPU_FLAGS)
        try:
            yield
        finally:
            lib.av_force_cpu_flags(before)


def simd_pin() -> dict[str, Any]:
    """What pins the encoders' code paths here: ``{"x264": str, "ffmpeg_cpu_flags": int | None}``.

    ``ffmpeg_cpu_flags`` is None when libavutil could not be found (see :func:`_avutil`).
    """
    return {"x264": X264_ASM, "ffmpeg_cpu_flags": FFMPEG_CPU_FLAGS if _avutil() else None}


def _pinned(fn: _F) -> _F:
    """Runs the generator inside :func:`simd_pinned` (below ``lru_cache``, so cache misses only)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> bytes:
        with simd_pinned():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _rng(seed: int, salt: str) -> random.Random:
    # A string seed is hashed with sha512 by random.Random: stable across runs and processes
    # (unlike hash()), and distinct per generator so photo 1 and sticker 1 do not share colours.
    return random.Random(f"tgarc-fakedc-media:{salt}:{seed}")


def _colour(rng: random.Random, lo: int = 30, hi: int = 225) -> tuple[int, int, int]:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def _even(name: str, value: int) -> int:
    if value < 16 or value % 2:
        raise ValueError(f"{name} must be an even number >= 16 (yuv420p), got {value}")
    return value


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _splice(row: bytearray, x0: int, x1: int, pixel: bytes, width: int) -> None:
    """Paints pixels [x0, x1) of ``row`` (clipped to the row) with ``pixel``."""
    x0, x1 = max(0, x0), min(width, x1)
    if x1 > x0:
        n = len(pixel)
        row[x0 * n : x1 * n] = pixel * (x1 - x0)


# --------------------------------------------------------------------------------------------
# Pixel scenes (rgb24 / rgba bytes)
# --------------------------------------------------------------------------------------------


class _Scene:
    """A seed's picture: a vertical two-colour gradient, a disc and a bar, each of which can move.

    ``frame(t)`` with ``t`` in [0, 1) gives one rgb24 image; moving the disc and the bar with ``t``
    makes the video frames differ, so the encoder has real (but cheap) motion to code.
    """

    def __init__(self, seed: int, salt: str, width: int, height: int) -> None:
        rng = _rng(seed, salt)
        self.width, self.height = width, height
        top, bottom = _colour(rng), _colour(rng)
        self.rows = [
            bytes(
                round(a + (b - a) * y / max(1, height - 1))
                for a, b in zip(top, bottom, strict=True)
            )
            * width
            for y in range(height)
        ]
        self.disc = bytes(_colour(rng, 0, 255))
        self.bar = bytes(_colour(rng, 0, 255))
        self.radius = max(4, int(min(width, height) * rng.uniform(0.18, 0.3)))
        self.cx = rng.uniform(0.3, 0.7)
        self.cy = rng.uniform(0.3, 0.7)
        self.phase = rng.random()
        self.bar_w = max(2, width // rng.randint(8, 14))

    def frame(self, t: float = 0.0) -> bytes:
        w, h, r = self.width, self.height, self.radius
        angle = 2 * math.pi * (t + self.phase)
        cx = int(w * self.cx + 0.15 * w * math.cos(angle))
        cy = int(h * self.cy + 0.15 * h * math.sin(angle))
        bx = int((w + self.bar_w) * ((t + self.phase) % 1.0)) - self.bar_w
        out = bytearray()
        for y, base in enumerate(self.rows):
            row = bytearray(base)
            _splice(row, bx, bx + self.bar_w, self.bar, w)
            dy = y - cy
            if -r <= dy <= r:
                half = int(math.sqrt(r * r - dy * dy))
                _splice(row, cx - half, cx + half + 1, self.disc, w)
            out += row
        return bytes(out)


def _sticker_rgba(seed: int, size: int) -> bytes:
    """A sticker: transparent background, an opaque disc with a ring and an off-centre blob."""
    rng = _rng(seed, "sticker")
    fill, ring, blob = (bytes((*_colour(rng, 0, 255), 255)) for _ in range(3))
    clear = b"\x00\x00\x00\x00"
    c = size / 2
    r_out = size * rng.uniform(0.42, 0.48)
    r_in = r_out * rng.uniform(0.8, 0.9)
    bx, by = c + size * rng.uniform(-0.15, 0.15), c + size * rng.uniform(-0.15, 0.15)
    br = size * rng.uniform(0.1, 0.2)
    out = bytearray()
    for y in range(size):
        row = bytearray(clear * size)
        dy = y + 0.5 - c
        if abs(dy) <= r_out:
            half = math.sqrt(r_out * r_out - dy * dy)
            _splice(row, round(c - half), round(c + half), ring, size)
        if abs(dy) <= r_in:
            half = math.sqrt(r_in * r_in - dy * dy)
            _splice(row, round(c - half), round(c + half), fill, size)
        dy = y + 0.5 - by
        if abs(dy) <= br:
            half = math.sqrt(br * br - dy * dy)
            _splice(row, round(bx - half), round(bx + half), blob, size)
        out += row
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Encoding helpers
# --------------------------------------------------------------------------------------------


def _single_thread(ctx: Any) -> None:
    ctx.thread_count = 1
    ctx.thread_type = "NONE"
    ctx.flags |= _av().codec.context.Flags.bitexact


def _rgb_frame(pixels: bytes, width: int, height: int, fmt: str = "rgb24") -> Any:
    """Wraps packed pixels (``rgb24`` or ``rgba``) in a VideoFrame, honouring the plane's stride.

    (``VideoFrame.from_bytes`` only takes ``rgba`` in PyAV 18, and ``from_ndarray`` needs numpy.)
    """
    frame = _av().VideoFrame(width, height, fmt)
    plane = frame.planes[0]
    row = len(pixels) // height
    if plane.line_size != row:
        pad = bytes(plane.line_size - row)
        pixels = b"".join(pixels[y * row : (y + 1) * row] + pad for y in range(height))
    plane.update(pixels)
    return frame


def _mux(stream: Any, frame: Any, out: Any) -> None:
    for packet in stream.encode(frame):
        out.mux(packet)


def _tone(seed: int, salt: str, rate: int, seconds: float) -> list[int]:
    """A seed-dependent two-note tone with a short fade in/out, as signed 16-bit samples."""
    rng = _rng(seed, salt)
    f1 = rng.uniform(200.0, 500.0)  # continuous, so no two seeds share a tone
    f2 = f1 * rng.choice((1.25, 1.3348, 1.5))  # up a major third, a fourth or a fifth
    n = max(1, round(rate * seconds))
    amp, half = rng.randint(8000, 14000), n // 2
    sin = math.sin
    w1, w2 = 2 * math.pi * f1 / rate, 2 * math.pi * f2 / rate
    samples = [amp * sin(w1 * i) for i in range(half)]
    samples += [amp * sin(w2 * i) for i in range(half, n)]
    fade = max(1, min(n // 4, rate // 50))  # 20 ms ramps: no click at the ends
    for i in range(min(fade, n)):
        samples[i] *= i / fade
        samples[n - 1 - i] *= i / fade
    return [int(x) for x in samples]


def _encode_audio(out: Any, stream: Any, samples: list[int], rate: int, frame_size: int) -> None:
    av = _av()
    pcm = array("h", samples)
    pts = 0
    for start in range(0, len(pcm), frame_size):
        chunk = pcm[start : start + frame_size]
        if len(chunk) < frame_size:  # encoders with a fixed frame size want whole frames
            chunk.extend([0] * (frame_size - len(chunk)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=frame_size)
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = pts
        pts += frame_size
        _mux(stream, frame, out)
    _mux(stream, None, out)


def _aac_track(out: Any, seed: int, seconds: float) -> tuple[Any, list[int]]:
    rate = 48000
    stream = out.add_stream("aac", rate=rate, layout="mono")
    stream.bit_rate = 32000
    stream.codec_context.options = {"aac_coder": "fast"}  # 4x faster than twoloop, same size
    _single_thread(stream.codec_context)
    return stream, _tone(seed, "video-audio", rate, seconds)


def _h264(
    seed: int,
    salt: str,
    width: int,
    height: int,
    frames: int,
    fps: int,
    audio_seconds: float | None,
) -> bytes:
    av = _av()
    _even("width", width)
    _even("height", height)
    if frames < 1 or fps < 1:
        raise ValueError(f"need at least one frame and fps >= 1, got frames={frames} fps={fps}")
    scene = _Scene(seed, salt, width, height)
    # +faststart rewrites the file with the moov atom first; FFmpeg does that by reopening the
    # output by name, which a BytesIO does not have, so this one muxes into a temporary file.
    with tempfile.TemporaryDirectory(prefix="tgarc-media-") as tmp:
        path = os.path.join(tmp, "out.mp4")
        _mux_h264(av, path, scene, frames, fps, seed, audio_seconds)
        with open(path, "rb") as fh:
            return fh.read()


def _mux_h264(
    av: Any,
    path: str,
    scene: _Scene,
    frames: int,
    fps: int,
    seed: int,
    audio_seconds: float | None,
) -> None:
    width, height = scene.width, scene.height
    with av.open(path, "w", format="mp4", options={**_MUX_OPTS, "movflags": "+faststart"}) as out:
        stream = out.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": "veryfast",
                "crf": "30",
                "profile": "main",
                "x264-params": (
                    f"{X264_ASM}:threads=1:lookahead-threads=1:sliced-threads=0:keyint={fps * 2}"
                ),
            },
        )
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        _single_thread(stream.codec_context)
        track = _aac_track(out, seed, audio_seconds) if audio_seconds else None
        for i in range(frames):
            rgb = _rgb_frame(scene.frame(i / frames), width, height)
            frame = rgb.reformat(format="yuv420p", threads=1)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            _mux(stream, frame, out)
        _mux(stream, None, out)
        if track is not None:
            _encode_audio(out, track[0], track[1], 48000, track[0].codec_context.frame_size)


# --------------------------------------------------------------------------------------------
# Public generators
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
@_pinned
def jpeg_photo(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A baseline JPEG (mjpeg encoder, full-range 4:2:0): a gradient with a disc and a bar."""
    av = _av()
    _even("width", width)
    _even("height", height)
    rgb = _rgb_frame(_Scene(seed, "photo", width, height).frame(), width, height)
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuvj420p"
    ctx.color_range = 2  # AVCOL_RANGE_JPEG
    ctx.time_base = Fraction(1, 1)
    ctx.qmin = ctx.qmax = 4
    ctx.flags |= av.codec.context.Flags.qscale
    ctx.global_quality = 4 * 118  # qscale 4 (x FF_QP2LAMBDA): fixed quantiser, no rate control
    _single_thread(ctx)
    frame = rgb.reformat(format="yuvj420p", threads=1)
    frame.pts = 0
    packets = [*ctx.encode(frame), *ctx.encode(None)]
    return b"".join(bytes(p) for p in packets)


@lru_cache(maxsize=_CACHE_SIZE)
@_pinned
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
    frames = max(1, round(_positive("seconds", seconds) * fps))
    return _h264(seed, "video", width, height, frames, fps, seconds if audio else None)


@lru_cache(maxsize=_CACHE_SIZE)
@_pinned
def round_video(seed: int, size: int = 240, seconds: float = 1.0, audio: bool = False) -> bytes:
    """A square H.264 MP4, as Telegram's round "video message" (``round_message=True``)."""
    fps = 15
    frames = max(1, round(_positive("seconds", seconds) * fps))
    return _h264(seed, "round", size, size, frames, fps, seconds if audio else None)


@lru_cache(maxsize=_CACHE_SIZE)
@_pinned
def gif_animation(seed: int, size: int = 160, frames: int = 8, fps: int = 10) -> bytes:
    """A Telegram "GIF": a silent H.264 MP4 (no audio stream at all), square ``size``."""
    return _h264(seed, "gif", size, size, frames, fps, None)


@lru_cache(maxsize=_CACHE_SIZE)
@_pinned
def opus_voice(seed: int, seconds: float = 1.0) -> bytes:
    """A voice note: Opus (libopus, 48 kHz mono, 24 kb/s VoIP mode) in Ogg."""
    av = _av()
    rate = 48000
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg", options=_MUX_OPTS) as out:
        stream = out.add_stream("libopus", rate=rate, layout="mono")
        stream.bit_rate = 24000
        stream.codec_context.options = {"application": "voip", "vbr": "on"}
        _single_thread(stream.codec_context)
        _encode_audio(
            out, stream, _tone(seed, "voice", rate, _positive("seconds", seconds)), rate, 960
        )
    return buf.getvalue()


@lru_cache(maxsize=_CACHE_SIZE)
@_pinned
def mp3_audio(seed: int, seconds: float = 1.0, title: str | None = None) -> bytes:
    """An MP3 (libmp3lame, 44.1 kHz mono, 64 kb/s CBR) with ID3 title/artist tags and a Xing header.

    ``title`` defaults to ``"Tone <seed>"``; the artist is always ``"tgarc fakedc"``.
    """
    av = _av()
    rate = 44100
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", options=_MUX_OPTS) as out:
        out.metadata["title"] = title if title is not None else f"Tone {seed}"
        out.metadata["artist"] = "tgarc fakedc"
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = 64000
        _single_thread(stream.codec_context)
        _encode_audio(
            out, stream, _tone(seed, "mp3", rate, _positive("seconds", seconds)), rate, 1152
        )
    return buf.getvalue()


@lru_cache(maxsize=_CACHE_SIZE)
@_pinned
def webp_sticker(seed: int, size: int = 512) -> bytes:
    """A static WebP sticker (libwebp, lossy + alpha), ``size`` x ``size`` (Telegram wants 512)."""
    av = _av()
    _even("size", size)
    rgba = _rgb_frame(_sticker_rgba(seed, size), size, size, "rgba")
    ctx = av.CodecContext.create("libwebp", "w")
    ctx.width = ctx.height = size
    ctx.pix_fmt = "yuva420p"
    ctx.time_base = Fraction(1, 1)
    ctx.options = {"quality": "60", "lossless": "0", "compression_level": "4"}
    _single_thread(ctx)
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
        return _rng(seed, "document").randbytes(size)
    body = _rng(seed, "document").randbytes(size - len(head) - len(tail))
    return head + body + tail


def clear_caches() -> None:
    """Drops every generator's cached outputs (tests use it to prove determinism)."""
    for fn in (
        jpeg_photo,
        h264_mp4,
        round_video,
        gif_animation,
        opus_voice,
        mp3_audio,
        webp_sticker,
        document,
    ):
        fn.cache_clear()


# --------------------------------------------------------------------------------------------
# Probe
# --------------------------------------------------------------------------------------------


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _why(exc: BaseException) -> str:
    """FFmpeg's message without PyAV's ``: '<none>'`` filename suffix."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _decode_all(container: Any, nbytes: int) -> None:
    """Demuxes and decodes every packet; raises MediaProbeError on any error or missing frame."""
    av = _av()
    streams = [s for s in container.streams if s.type in ("video", "audio")]
    decoded = {s.index: 0 for s in streams}
    try:
        # Only audio/video: a damaged header can conjure a data stream, which has no decoder.
        # demux() ends each stream with an empty packet, whose decode() flushes the decoder.
        for packet in container.demux(*streams):
            for _ in packet.decode():
                decoded[packet.stream.index] += 1
    except av.FFmpegError as exc:
        raise MediaProbeError(f"corrupt media ({nbytes} bytes): {_why(exc)}") from exc
    for s in streams:
        if decoded[s.index] == 0:
            raise MediaProbeError(
                f"corrupt media ({nbytes} bytes): {s.type} stream decodes nothing"
            )
        # The container's frame count is exact for video; audio counts differ by encoder priming.
        if s.type == "video" and s.frames and decoded[s.index] < s.frames:
            raise MediaProbeError(
                f"truncated media ({nbytes} bytes): {decoded[s.index]} of {s.frames} video frames"
            )


def probe(data: bytes, *, decode: bool = False) -> dict[str, Any]:
    """Describes media bytes: container format, duration, tags and streams.

    Returns ``{"format": str, "duration": float | None, "tags": dict[str, str], "streams": [...]}``
    where each stream (video and audio only) is ``{"type", "codec", "width", "height",
    "duration", "sample_rate"}``; ``width``/``height`` are None for audio, ``sample_rate`` None for
    video, and ``duration`` is in seconds (the stream's own, else the container's, else None: still
    images have none). ``format`` is FFmpeg's demuxer name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``,
    ``"ogg"``, ``"mp3"``, ``"jpeg_pipe"``, ``"webp_pipe"``.

    Raises :class:`MediaProbeError` (a ``ValueError``) when FFmpeg cannot open the bytes, finds no
    audio/video stream, a stream it has no decoder for, or a video stream without a frame size; the
    message carries FFmpeg's reason. It never hangs: the input is a finite in-memory buffer, and
    probing stops at its end.

    By default only headers are read (≈ 1 ms), so a file cut inside its payload can still probe
    fine when its headers survive (an MP4 with ``+faststart``, an MP3, a JPEG). ``decode=True``
    also decodes every packet and raises MediaProbeError on a decode error or when fewer video
    frames decode than the container announces; FFmpeg still conceals a truncated JPEG or MP3.
    """
    av = _av()
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"probe() wants bytes, got {type(data).__name__}")
    nbytes = len(data)
    if not nbytes:
        raise MediaProbeError("cannot probe media: empty input")
    try:
        container = av.open(io.BytesIO(bytes(data)), "r")
    except Exception as exc:  # av.FFmpegError and kin: the input is bytes, so the data is at fault
        raise MediaProbeError(f"cannot probe media ({nbytes} bytes): {_why(exc)}") from exc
    with container:
        cont_duration = (
            container.duration / av.time_base if container.duration is not None else None
        )
        streams = []
        for s in container.streams:
            if s.type not in ("video", "audio"):
                continue
            ctx = s.codec_context
            if ctx is None:  # PyAV found no decoder for the codec id the header claims
                raise MediaProbeError(
                    f"cannot probe media ({nbytes} bytes): {s.type} stream #{s.index} has a codec "
                    "this FFmpeg cannot decode (corrupt header or unsupported codec)"
                )
            video = s.type == "video"
            if video and not (ctx.width and ctx.height):
                raise MediaProbeError(
                    f"cannot probe media ({nbytes} bytes): video stream without a frame size "
                    "(truncated or corrupt header)"
                )
            duration = _seconds(s.duration, s.time_base)
            streams.append(
                {
                    "type": s.type,
                    "codec": ctx.name,
                    "width": ctx.width if video else None,
                    "height": ctx.height if video else None,
                    "duration": duration if duration is not None else cont_duration,
                    "sample_rate": None if video else ctx.sample_rate,
                }
            )
        if not streams:
            raise MediaProbeError(f"cannot probe media ({nbytes} bytes): no audio/video stream")
        if decode:
            _decode_all(container, nbytes)
        return {
            "format": container.format.name,
            "duration": cont_duration,
            "tags": dict(container.metadata),
            "streams": streams,
        }
