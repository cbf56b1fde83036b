"""Encoding for engine/fakedc/media.py: frames and samples into PyAV, every encoder single-
threaded and bit-exact, H.264 MP4s (with an optional AAC track) muxed with the moov atom first.
x264's code path is pinned by ``media_pin.X264_ASM``, read at each encode.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from array import array
from fractions import Fraction
from typing import Any

from . import media_pin
from .media_pin import pyav
from .media_scenes import Scene, even, tone

# Options that keep muxers reproducible: no "Lavf..." encoder tags, no random Ogg serials.
MUX_OPTS = {"fflags": "+bitexact"}


def single_thread(ctx: Any) -> None:
    ctx.thread_count = 1
    ctx.thread_type = "NONE"
    ctx.flags |= pyav().codec.context.Flags.bitexact


def rgb_frame(pixels: bytes, width: int, height: int, fmt: str = "rgb24") -> Any:
    """Wraps packed pixels (``rgb24`` or ``rgba``) in a VideoFrame, honouring the plane's stride.

    (``VideoFrame.from_bytes`` only takes ``rgba`` in PyAV 18, and ``from_ndarray`` needs numpy.)
    """
    frame = pyav().VideoFrame(width, height, fmt)
    plane = frame.planes[0]
    row = len(pixels) // height
    if plane.line_size != row:
        pad = bytes(plane.line_size - row)
        pixels = b"".join(pixels[y * row : (y + 1) * row] + pad for y in range(height))
    plane.update(pixels)
    return frame


def mux(stream: Any, frame: Any, out: Any) -> None:
    for packet in stream.encode(frame):
        out.mux(packet)


def encode_audio(out: Any, stream: Any, samples: list[int], rate: int, frame_size: int) -> None:
    av = pyav()
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
        mux(stream, frame, out)
    mux(stream, None, out)


def aac_track(out: Any, seed: int, seconds: float) -> tuple[Any, list[int]]:
    rate = 48000
    stream = out.add_stream("aac", rate=rate, layout="mono")
    stream.bit_rate = 32000
    stream.codec_context.options = {"aac_coder": "fast"}  # 4x faster than twoloop, same size
    single_thread(stream.codec_context)
    return stream, tone(seed, "video-audio", rate, seconds)


def h264(
    seed: int,
    salt: str,
    width: int,
    height: int,
    frames: int,
    fps: int,
    audio_seconds: float | None,
) -> bytes:
    av = pyav()
    even("width", width)
    even("height", height)
    if frames < 1 or fps < 1:
        raise ValueError(f"need at least one frame and fps >= 1, got frames={frames} fps={fps}")
    scene = Scene(seed, salt, width, height)
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
    scene: Scene,
    frames: int,
    fps: int,
    seed: int,
    audio_seconds: float | None,
) -> None:
    width, height = scene.width, scene.height
    with av.open(path, "w", format="mp4", options={**MUX_OPTS, "movflags": "+faststart"}) as out:
        stream = out.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": "veryfast",
                "crf": "30",
                "profile": "main",
                "x264-params": (
                    f"{media_pin.X264_ASM}:threads=1:lookahead-threads=1:sliced-threads=0:"
                    f"keyint={fps * 2}"
                ),
            },
        )
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        single_thread(stream.codec_context)
        track = aac_track(out, seed, audio_seconds) if audio_seconds else None
        for i in range(frames):
            rgb = rgb_frame(scene.frame(i / frames), width, height)
            frame = rgb.reformat(format="yuv420p", threads=1)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            mux(stream, frame, out)
        mux(stream, None, out)
        if track is not None:
            encode_audio(out, track[0], track[1], 48000, track[0].codec_context.frame_size)


def damaged_audio(data: bytes, seed: int) -> bytes:
    """``data`` (an MP4 with video and audio) remuxed with every audio packet's payload
    replaced by seeded junk of the same size, timestamps kept: the container opens and
    lists both streams, the video decodes, the audio does not (FFmpeg's AAC decoder
    rejects the junk: ``InvalidDataError`` from ``avcodec_send_packet``, it conceals none)."""
    av = pyav()
    with tempfile.TemporaryDirectory(prefix="tgarc-media-") as tmp:
        src, dst = os.path.join(tmp, "in.mp4"), os.path.join(tmp, "out.mp4")
        with open(src, "wb") as fh:
            fh.write(data)
        with av.open(src) as inp, av.open(
                dst, "w", format="mp4", options={**MUX_OPTS, "movflags": "+faststart"}) as out:
            vin, ain = inp.streams.video[0], inp.streams.audio[0]
            vout, aout = out.add_stream_from_template(vin), out.add_stream_from_template(ain)
            n = 0
            for packet in inp.demux(vin, ain):
                if packet.dts is None:
                    continue
                if packet.stream is ain:
                    junk = b"".join(hashlib.sha256(f"{seed}:{n}:{i}".encode()).digest()
                                    for i in range(packet.size // 32 + 1))[:packet.size]
                    bad = av.Packet(junk)
                    bad.pts, bad.dts, bad.duration = packet.pts, packet.dts, packet.duration
                    bad.time_base = packet.time_base
                    bad.stream = aout
                    out.mux(bad)
                    n += 1
                else:
                    packet.stream = vout
                    out.mux(packet)
        with open(dst, "rb") as fh:
            return fh.read()
