"""``probe``: what FFmpeg reads in media bytes (container, duration, tags, streams), and
``MediaProbeError`` for bytes it cannot read; tests use it to check the fake DC's files.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

from .media_pin import pyav


class MediaProbeError(ValueError):
    """The bytes given to :func:`probe` are not media FFmpeg can open (truncated or garbage)."""


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _why(exc: BaseException) -> str:
    """FFmpeg's message without PyAV's ``: '<none>'`` filename suffix."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _decode_all(container: Any, nbytes: int) -> None:
    """Demuxes and decodes every packet; raises MediaProbeError on any error or missing frame."""
    av = pyav()
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
    av = pyav()
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
