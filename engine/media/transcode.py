"""A compact copy of a video, made with PyAV: ``transcode(src, dest)`` (issue 13).

Run by the workers for ``tgarc export --transcode`` (engine/worker/main.py, a ``TranscodeJob``):
docs/transcode.md.

* Video: decoded, scaled on the CPU when ``max_height`` is below the source height (aspect kept,
  even dimensions, never upscaled), ``yuv420p``, encoded with libx264 (``h264``), libx265
  (``h265``) or SVT-AV1 / libaom (``av1``) where the PyAV build has them, at a constant-quality
  ``crf`` (:data:`DEFAULT_CRF`). Anything else is one :class:`TranscodeFailed`.
* Audio: the first audio stream is copied packet for packet when MP4 takes its codec
  (:data:`COPY_AUDIO`), else re-encoded to AAC (mono stays mono, anything else becomes stereo).
* Deterministic: libx264's bytes depend on its thread count, so each encode uses exactly one
  thread (parallelism comes from worker processes), and the muxer is ``+bitexact`` (no Lavf
  version string; PyAV copies no metadata, so no creation time). x264's AVX-512 code gives a
  different file from one encode to the next in one process (docs/fakedc.md, issue 18), so on
  a CPU with AVX-512 x264 is held to its AVX2 code (:func:`x264_params`; same speed here). The
  same source, options, PyAV build and kind of CPU give byte-identical files in any process
  (x264's SSE2, AVX2 and AVX-512 paths differ from one another).
* Written to ``dest + ".part"``, fsynced and renamed: ``dest`` is whole or absent. Any failure
  removes the ``.part`` and raises :class:`TranscodeFailed` with a one-line reason.
* On a hardware encoder (``hwaccel="vaapi"`` or ``"cuda"``; :func:`hardware_encoder` picks it
  from ``hwaccel.detected()``'s verdict): scaled on the CPU as above, reformatted to ``nv12``,
  uploaded by PyAV and encoded on the device at a constant QP (:func:`hardware_options`). Not
  byte-reproducible (the bytes are the driver's). :func:`transcode_auto` tries it and, on any
  failure, makes the file on the CPU instead, with the hardware's reason in ``Result.fallback``.

``engine/media/copy_check.py`` ``verify`` decodes a copy back and checks it, for
``--transcode-replace``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from pathlib import Path
from typing import Any

import msgspec

# codec -> encoders to try, in order, with their options for one thread and a fixed preset
ENCODERS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    "h264": (("libx264", {"preset": "veryfast", "threads": "1"}),),
    "h265": (("libx265", {"preset": "veryfast",
                          "x265-params": "pools=1:frame-threads=1:log-level=error"}),),
    "av1": (("libsvtav1", {"preset": "10", "svtav1-params": "lp=1"}),
            ("libaom-av1", {"cpu-used": "8", "row-mt": "0", "threads": "1"})),
}
# constant-quality default per codec: x264's and x265's own defaults, SVT-AV1's middle
DEFAULT_CRF = {"h264": 23, "h265": 28, "av1": 35}
# hardware encoders: PyAV device type (hwaccel.Verdict.hwaccel) -> codec -> encoder
HW_ENCODERS: dict[str, dict[str, str]] = {
    "vaapi": {"h264": "h264_vaapi", "h265": "hevc_vaapi", "av1": "av1_vaapi"},
    "cuda": {"h264": "h264_nvenc", "h265": "hevc_nvenc", "av1": "av1_nvenc"},
}
HW_DEVICE_TYPE = {enc: dt for dt, family in HW_ENCODERS.items() for enc in family.values()}
# AV1's constant-QP scale is the 0-255 q index; a CRF (SVT-AV1's and libaom's 0-63 quantizer
# scale) is about a quarter of it (libaom's quantizer_to_qindex: 0, 4, 8, ..., 249, 255)
AV1_QINDEX_PER_CRF = 4
# audio codecs FFmpeg's MP4 muxer takes as they are; others are re-encoded to AAC
COPY_AUDIO = frozenset({"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"})
AUDIO_BITRATE = 128_000
MUX_OPTIONS = {"fflags": "+bitexact", "movflags": "+faststart"}


class TranscodeFailed(Exception):
    """The copy could not be made or did not verify: one line."""


class Result(msgspec.Struct, frozen=True):
    """One transcode: the encoder used, the copy's size and duration, and what it cost.

    ``hwaccel`` is the device type the video was encoded on (``"none"``: the CPU);
    ``fallback`` is why a hardware encode failed before this CPU one (``""``: none did)."""

    encoder: str
    width: int
    height: int
    duration: float     # seconds, of the copy's video as decoded-encoded
    bytes_in: int
    bytes_out: int
    seconds: float      # wall time of the transcode
    fps: float          # video frames per wall second
    hwaccel: str = "none"   # "none" (the CPU), "vaapi" or "cuda"
    fallback: str = ""      # transcode_auto: the hardware encoder's one-line failure, if any


def _av() -> Any:
    import av  # heavy, and only workers transcode

    return av


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


@functools.lru_cache(maxsize=1)
def x264_params() -> str:
    """``asm=AVX2`` on a CPU with AVX-512 (deterministic there), else x264's own choice."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return ""
    return "asm=AVX2" if "avx512f" in flags and "avx2" in flags else ""


def pick_encoder(codec: str, encoder: str | None = None) -> tuple[str, dict[str, str]]:
    """The encoder for ``codec`` (or the one named) and its options; TranscodeFailed if absent."""
    if codec not in ENCODERS:
        raise TranscodeFailed(f"unknown codec {codec!r} (h264, h265 or av1)")
    have = _av().codecs_available
    for name, options in ENCODERS[codec]:
        if (encoder is None or encoder == name) and name in have:
            options = dict(options)
            if name == "libx264" and x264_params():
                options["x264-params"] = x264_params()
            return name, options
    if encoder is not None and encoder in have:
        return encoder, {"threads": "1"}
    wanted = encoder or " or ".join(n for n, _ in ENCODERS[codec])
    raise TranscodeFailed(f"this PyAV build has no {wanted} encoder for {codec}")


def hardware_encoder(codec: str, verdict: Any,
                     codecs: Any = None) -> tuple[str, str, str | None] | None:
    """(encoder, device type, device) for ``codec`` on ``verdict``'s hardware, or None.

    ``verdict`` is a :class:`engine.media.hwaccel.Verdict`; None for a CPU verdict, an unknown
    codec, or a build (``codecs``, by default ``av.codecs_available``) without the encoder."""
    name = HW_ENCODERS.get(verdict.hwaccel, {}).get(codec)
    if name is None:
        return None
    have = _av().codecs_available if codecs is None else codecs
    return (name, verdict.hwaccel, verdict.device) if name in have else None


def hardware_options(name: str, codec: str, crf: int | None = None) -> dict[str, str]:
    """The constant-QP options of the hardware encoder ``name`` for ``crf`` (default: the CPU
    codec's :data:`DEFAULT_CRF`). NVENC: ``rc=constqp``, ``qp``; VA-API: ``rc_mode=CQP``,
    ``qp`` (h264, hevc; 0 there means "unset", so at least 1) or ``global_quality`` (av1,
    which has no ``qp`` option). AV1's QP is a q index: :data:`AV1_QINDEX_PER_CRF` × crf."""
    crf = DEFAULT_CRF[codec] if crf is None else crf
    qp = min(255, crf * AV1_QINDEX_PER_CRF) if codec == "av1" else min(51, crf)
    qp = max(0, qp)
    if HW_DEVICE_TYPE.get(name) == "cuda":
        return {"rc": "constqp", "qp": str(qp)}
    if name == "av1_vaapi":
        return {"rc_mode": "CQP", "global_quality": str(max(1, qp))}
    return {"rc_mode": "CQP", "qp": str(max(1, qp))}


def pick_hardware(codec: str, encoder: str | None, hwaccel: str) -> str:
    """The hardware encoder for ``codec`` on device type ``hwaccel`` (checked against
    ``encoder`` when named); TranscodeFailed when unknown, mismatched or not in the build."""
    if codec not in ENCODERS:
        raise TranscodeFailed(f"unknown codec {codec!r} (h264, h265 or av1)")
    if hwaccel not in HW_ENCODERS:
        raise TranscodeFailed(f"unknown hwaccel {hwaccel!r} (vaapi or cuda)")
    name = HW_ENCODERS[hwaccel][codec]
    if encoder is not None and encoder != name:
        raise TranscodeFailed(f"{encoder} is not the {hwaccel} encoder for {codec} ({name})")
    if name not in _av().codecs_available:
        raise TranscodeFailed(f"this PyAV build has no {name} encoder")
    return name


def scaled(width: int, height: int, max_height: int | None) -> tuple[int, int]:
    """The output size: the source's (made even), or scaled down to ``max_height``."""
    if max_height is not None and max_height < height:
        width, height = width * max_height / height, max_height
    return max(2, round(width / 2) * 2), max(2, int(height) // 2 * 2)


def _video_stream(out: Any, src: Any, name: str, options: dict, size: tuple[int, int],
                  hw: tuple[str, str | None] | None) -> Any:
    """The output video stream; ``hw`` = (device type, device) for a hardware encoder."""
    rate = src.average_rate or src.guessed_rate or 30
    if hw is None:
        vs = out.add_stream(name, rate=rate, options=options)
    else:
        from av.codec.hwaccel import HWAccel

        # the device is created here: a missing driver or node fails now (MEDIA_NOTES 1.3)
        vs = out.add_stream(name, rate=rate, options=options, hwaccel=HWAccel(
            hw[0], device=hw[1], allow_software_fallback=False))
    vs.width, vs.height = size
    vs.pix_fmt = "yuv420p" if hw is None else "nv12"    # nv12: the upload's software format
    vs.time_base = src.time_base
    ctx = vs.codec_context
    ctx.time_base = src.time_base
    if hw is None:
        ctx.thread_count = 1
        ctx.thread_type = "NONE"
    return vs


def _audio_stream(out: Any, src: Any) -> tuple[Any, bool]:
    """(output stream, copied?) for the source's audio stream."""
    if src.codec_context.name in COPY_AUDIO:
        return out.add_stream_from_template(src), True
    mono = src.codec_context.channels == 1  # AAC gets mono or stereo (more is downmixed)
    aus = out.add_stream("aac", rate=src.codec_context.sample_rate or 48000,
                         layout="mono" if mono else "stereo")
    aus.bit_rate = AUDIO_BITRATE
    aus.codec_context.thread_count = 1
    return aus, False


def _encode(frame: Any, vs: Any, size: tuple[int, int], fmt: str = "yuv420p") -> Any:
    out = frame.reformat(width=size[0], height=size[1], format=fmt, threads=1)
    out.pict_type = 0  # AV_PICTURE_TYPE_NONE: the encoder places its own keyframes
    return vs.encode(out)


def _pump(inp: Any, out: Any, vin: Any, ain: Any, name: str, options: dict,
          size: tuple[int, int], hw: tuple[str, str | None] | None) -> tuple[int, float]:
    """Decode, encode and mux every packet; (video frames, video seconds)."""
    vs = _video_stream(out, vin, name, options, size, hw)
    fmt = "yuv420p" if hw is None else "nv12"
    aus, copy = _audio_stream(out, ain) if ain is not None else (None, False)
    frames, end = 0, 0
    for packet in inp.demux(*(s for s in (vin, ain) if s is not None)):
        if packet.stream is vin:
            for frame in packet.decode():
                frames += 1
                end = max(end, (frame.pts or 0) + (frame.duration or 0))
                out.mux(_encode(frame, vs, size, fmt))
        elif copy:
            if packet.dts is not None:
                packet.stream = aus
                out.mux(packet)
        else:
            for frame in packet.decode():
                frame.pts = None
                out.mux(aus.encode(frame))
    out.mux(vs.encode())
    if aus is not None and not copy:
        out.mux(aus.encode())
    if frames == 0:
        raise TranscodeFailed("the source has no decodable video frame")
    return frames, float(end * vin.time_base)


def _sync_rename(part: Path, dest: Path) -> None:
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, dest)
    dirfd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


@contextlib.contextmanager
def _ffmpeg_errors(errors: list[str]) -> Any:
    """Collect FFmpeg's error lines (not printed) while inside; the log level is restored."""
    import av.logging

    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    logs: list = []
    try:
        with av.logging.Capture(local=False) as captured:
            logs = captured
            yield
    finally:
        av.logging.set_level(previous)
        errors.extend(dict.fromkeys(line.strip() for _, _, line in logs if line.strip()))


def transcode(src: str | os.PathLike, dest: str | os.PathLike, *, codec: str = "h264",
              max_height: int | None = None, crf: int | None = None,
              encoder: str | None = None, hwaccel: str | None = None,
              device: str | None = None) -> Result:
    """Make ``dest`` (an MP4) from the video ``src``; see the module's docstring.

    With ``hwaccel`` (``"vaapi"`` or ``"cuda"``; implied by a hardware ``encoder``) the video
    is encoded on that device (``device``: VA-API's render node, CUDA's index; None: the
    default), at :func:`hardware_options`; any failure there is one TranscodeFailed too."""
    av = _av()
    if hwaccel is None and encoder in HW_DEVICE_TYPE:
        hwaccel = HW_DEVICE_TYPE[encoder]
    if hwaccel is None:
        name, options = pick_encoder(codec, encoder)
        crf = DEFAULT_CRF[codec] if crf is None else crf
        options, hw = {**options, "crf": str(crf)}, None
    else:
        name = pick_hardware(codec, encoder, hwaccel)
        options, hw = hardware_options(name, codec, crf), (hwaccel, device)
    src, dest = Path(src), Path(dest)
    part = dest.with_name(dest.name + ".part")
    started = time.perf_counter()
    errors: list[str] = []
    try:
        with av.open(str(src)) as inp:
            vin = next((s for s in inp.streams.video), None)
            if vin is None:
                raise TranscodeFailed(f"{src.name}: no video stream")
            ain = next((s for s in inp.streams.audio), None)
            vin.thread_count, vin.thread_type = 1, "NONE"
            size = scaled(vin.codec_context.width, vin.codec_context.height, max_height)
            with contextlib.ExitStack() as stack:
                if hw is not None:  # FFmpeg's log says why a device failed; the error does not
                    stack.enter_context(_ffmpeg_errors(errors))
                with av.open(str(part), "w", format="mp4", options=MUX_OPTIONS) as out:
                    frames, duration = _pump(inp, out, vin, ain, name, options, size, hw)
        _sync_rename(part, dest)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, TranscodeFailed):
            raise
        known = (av.FFmpegError, OSError, ValueError, RuntimeError, StopIteration)
        if isinstance(exc, known) or (hw is not None and isinstance(exc, Exception)):
            said = [e for e in errors if e not in str(exc)][-2:]
            log = f" (FFmpeg: {' | '.join(said)})" if said else ""
            raise TranscodeFailed(f"{src.name}: {_why(exc)}{log}") from exc
        raise
    seconds = time.perf_counter() - started
    return Result(encoder=name, width=size[0], height=size[1], duration=duration,
                  bytes_in=src.stat().st_size, bytes_out=dest.stat().st_size,
                  seconds=seconds, fps=frames / seconds if seconds else 0.0,
                  hwaccel=hwaccel or "none")


def transcode_auto(src: str | os.PathLike, dest: str | os.PathLike, *, codec: str = "h264",
                   max_height: int | None = None, crf: int | None = None,
                   hw: tuple[str, str, str | None] | None = None) -> Result:
    """:func:`transcode` on the hardware encoder ``hw`` = (encoder, device type, device), as
    :func:`hardware_encoder` gives it; if that fails in any way, on the CPU instead.

    The hardware attempt's leftovers are removed first (its ``.part``; ``dest`` if it made
    one), nothing is logged, and the CPU :class:`Result` carries the reason in ``fallback``
    (``"h264_nvenc on cuda: <why>"``). The CPU copy is the same bytes as a plain CPU
    :func:`transcode`. With ``hw`` None, it is that plain CPU transcode."""
    if hw is None:
        return transcode(src, dest, codec=codec, max_height=max_height, crf=crf)
    encoder, device_type, device = hw
    dest = Path(dest)
    existed = dest.exists()
    try:
        return transcode(src, dest, codec=codec, max_height=max_height, crf=crf,
                         encoder=encoder, hwaccel=device_type, device=device)
    except TranscodeFailed as exc:
        where = f"{encoder} on {device_type}" + (f" {device}" if device else "")
        reason = f"{where}: {exc}"
    dest.with_name(dest.name + ".part").unlink(missing_ok=True)
    if not existed:
        dest.unlink(missing_ok=True)
    try:
        result = transcode(src, dest, codec=codec, max_height=max_height, crf=crf)
    except TranscodeFailed as exc:
        raise TranscodeFailed(f"{exc}; before that, {reason}") from exc
    return msgspec.structs.replace(result, fallback=reason)
