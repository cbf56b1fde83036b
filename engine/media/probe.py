"""What a downloaded media file holds, read with PyAV: ``probe(path) -> Probe`` (issue 13).

By default only the container's header and stream info are read (a few ms for a 720p MP4;
docs/media.md, "Probing"), plus a few packets at the end of each stream to see that the data
the header announces is there (half an MP4 whose ``moov`` comes first opens fine and is caught
there). ``decode=True`` decodes every packet, to catch a file that opens but whose frames are
garbage. Whatever goes wrong is one :class:`ProbeFailed` with a one-line reason.

Files come from strangers, so the probe is careful:

* Only regular files: the path is opened with ``O_NONBLOCK`` and checked with ``fstat`` before
  FFmpeg sees it, so a FIFO or a device node is refused at once instead of blocking forever.
* FFmpeg reads the bytes through a Python file object with no name: the demuxer is chosen
  by content, never by the file's extension, and only from :data:`FORMATS` (no playlists,
  no ``concat``, no ``image2`` sequences); any attempt to open a second file is refused.
* FFmpeg's log stays as the process set it (PyAV's default is silent); containers and files
  are closed on every path.
* A file that hangs or kills the decoder can still take the process with it: for those,
  :func:`probe_in_child` runs the probe in a child process (``python -m engine.media.probe``)
  under a timeout, and optionally a CPU-seconds limit.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec

# Demuxers a Telegram video, round video, GIF, voice note, audio file or image comes in.
# FFmpeg refuses any other ("format_whitelist"), whatever the bytes look like.
FORMATS = (
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg,mp3,wav,flac,aac,avi,asf,flv,mpegts,mpeg,"
    "amr,amrnb,amrwb,aiff,caf,w64,ape,wv,ac3,eac3,dts,m4v,gif,jpeg_pipe,png_pipe,webp_pipe,"
    "bmp_pipe,tiff_pipe,gif_pipe"
)
TAIL_PACKETS = 8  # packets read at the end of each stream by the default probe
OPEN_BUDGET = 32 << 20  # bytes FFmpeg may read to open a file (its probesize is 5 MB)
TAIL_BUDGET = 4 << 20  # bytes it may read looking for a stream's last packets
EXIT_FAILED = 3  # the child's exit status for a ProbeFailed (its reason on stderr)


class ProbeFailed(Exception):
    """The file is not media this FFmpeg can read (or its probe hung or crashed): one line."""


class Probe(msgspec.Struct, array_like=True, omit_defaults=True, frozen=True):
    """A media file's container and first video/audio stream, as the archive records it.

    ``format`` is FFmpeg's demuxer name (``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"ogg"``, ``"mp3"``,
    ``"jpeg_pipe"``…); ``streams`` counts every stream; ``duration`` is in seconds, the
    container's, else the longest stream's (None for a still image); ``width``/``height``
    and ``video_codec`` are the first video stream's, ``audio_codec``/``sample_rate``/
    ``channels`` the first audio stream's (an audio file's cover art is not a video stream
    here, though ``streams`` counts it); ``width``/``height`` are the coded frame size (a
    phone video's display rotation is not applied: PyAV 18.1 shows it only on decoded frames);
    codec names are FFmpeg's codec ids (``"h264"``,
    ``"aac"``, ``"opus"``, ``"mp3"``, ``"mjpeg"``, ``"webp"``); ``bitrate`` is the
    container's, in bits per second.
    """

    format: str
    streams: int
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bitrate: int | None = None


def _av() -> Any:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a dependency
        raise ProbeFailed("cannot probe media: PyAV is not installed (pip install av)") from exc
    return av


def _why(exc: BaseException) -> str:
    """FFmpeg's reason, without PyAV's errno and file name decorations."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def _refuse_nested(url: str, flags: int, options: dict) -> None:
    raise PermissionError(f"a media file may not open another file ({url})")


class _Budgeted:
    """The file as FFmpeg reads it: EOF once ``budget`` bytes were read (None: no limit).

    FFmpeg's demuxers resync over junk for as long as it lasts (an MP3 followed by a
    terabyte of zeros in a sparse file is read to the end); custom I/O gets no interrupt
    callback, so the default probe bounds what it reads here.
    """

    def __init__(self, fh: Any, budget: int | None) -> None:
        self.fh, self.budget, self.exhausted = fh, budget, False

    def read(self, n: int = -1) -> bytes:
        if self.budget is None:
            return self.fh.read(n)
        if self.budget <= 0:
            self.exhausted = True
            return b""
        data = self.fh.read(self.budget if n < 0 else min(n, self.budget))
        self.budget -= len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()


def _open_regular(path: str | os.PathLike) -> tuple[Any, int]:
    """The file opened for reading and its size; refuses anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ProbeFailed(f"cannot open: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ProbeFailed("not a regular file (a FIFO, device or folder is never probed)")
        if st.st_size == 0:
            raise ProbeFailed("empty file (0 bytes)")
    except BaseException:
        os.close(fd)
        raise
    # No name: PyAV would hand it to FFmpeg, which would guess the format by extension.
    return os.fdopen(fd, "rb"), st.st_size


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if not value or time_base is None:
        return None
    return float(value * time_base)


def _describe(container: Any, av: Any) -> Probe:
    """The Probe of an open container; ProbeFailed when it holds no usable audio/video."""
    fields: dict[str, Any] = {}
    longest = None
    for s in container.streams:
        if s.type not in ("video", "audio"):
            continue
        ctx = s.codec_context
        if ctx is None:
            raise ProbeFailed(f"{s.type} stream #{s.index} has a codec this FFmpeg cannot decode")
        seconds = _seconds(s.duration, s.time_base)
        if seconds is not None:
            longest = max(longest or 0.0, seconds)
        codec = ctx.codec.canonical_name
        if s.type == "video" and s.disposition & av.stream.Disposition.attached_pic:
            continue  # an audio file's cover art: not the file's picture size
        if s.type == "video" and "video_codec" not in fields:
            if not (ctx.width and ctx.height):
                raise ProbeFailed(f"video stream #{s.index} has no frame size (corrupt header)")
            fields.update(video_codec=codec, width=ctx.width, height=ctx.height)
        elif s.type == "audio" and "audio_codec" not in fields:
            if not ctx.sample_rate:
                raise ProbeFailed(f"audio stream #{s.index} has no sample rate (corrupt header)")
            channels = ctx.layout.nb_channels if ctx.layout is not None else 0
            fields.update(audio_codec=codec, sample_rate=ctx.sample_rate, channels=channels or None)
    if not fields:
        raise ProbeFailed("no audio or video stream")
    duration = container.duration / av.time_base if container.duration else longest
    return Probe(
        format=container.format.name,
        streams=len(container.streams),
        duration=duration,
        bitrate=container.bit_rate or None,
        **fields,
    )


def _check_tail(container: Any, size: int, reader: _Budgeted, av: Any) -> None:
    """Reads the last few packets of each timed stream: they must be there, whole."""
    for s in container.streams:
        reader.budget = TAIL_BUDGET
        if s.type not in ("video", "audio") or not s.duration:
            continue
        end = (s.start_time or 0) + s.duration - 1  # its last tick: the end itself is EOF
        try:
            container.seek(end, stream=s, any_frame=True, backward=True)
        except av.FFmpegError:
            continue  # a container that cannot seek: nothing more to learn cheaply
        seen = 0
        try:
            for packet in container.demux(s):
                if packet.size == 0:
                    continue
                past_end = packet.pos is not None and packet.pos + packet.size > size
                if packet.is_corrupt or past_end:
                    raise ProbeFailed(f"truncated: {s.type} stream #{s.index} ends past the file")
                seen += 1
                if seen >= TAIL_PACKETS:
                    break
        except av.FFmpegError as exc:
            raise ProbeFailed(f"corrupt {s.type} stream #{s.index}: {_why(exc)}") from None
        if not seen and reader.exhausted:
            raise ProbeFailed(
                f"no {s.type} packet in the {TAIL_BUDGET >> 20} MiB read at the end of stream "
                f"#{s.index} ({size} bytes): padding or garbage"
            )
        if not seen:
            raise ProbeFailed(
                f"truncated: {s.type} stream #{s.index} has no data at its end ({size} bytes)"
            )


def _decode_all(container: Any, av: Any) -> None:
    """Decodes every audio/video packet; ProbeFailed on an error or a stream with no frames."""
    streams = [s for s in container.streams if s.type in ("video", "audio")]
    frames = {s.index: 0 for s in streams}
    where = "demuxing"
    try:
        for packet in container.demux(*streams):
            where = f"{packet.stream.type} stream #{packet.stream.index}"
            for _ in packet.decode():
                frames[packet.stream.index] += 1
    except av.FFmpegError as exc:
        raise ProbeFailed(f"corrupt: {_why(exc)} ({where})") from None
    for s in streams:
        if not frames[s.index]:
            raise ProbeFailed(f"corrupt: {s.type} stream #{s.index} decodes to no frame")
        if s.type == "video" and s.frames and frames[s.index] < s.frames:
            raise ProbeFailed(f"truncated: {frames[s.index]} of {s.frames} video frames decode")


def probe(path: str | os.PathLike, *, decode: bool = False) -> Probe:
    """Describes the media file at ``path``; raises :class:`ProbeFailed` if it is not one.

    Reads the header, stream info and the last packets of each stream (a few ms, at most
    :data:`OPEN_BUDGET` + :data:`TAIL_BUDGET` per stream bytes); ``decode=True`` reads and
    decodes every frame instead, however long that takes (use :func:`probe_in_child` with a
    timeout for that on files from strangers).
    """
    av = _av()
    fh, size = _open_regular(path)
    reader = _Budgeted(fh, None if decode else OPEN_BUDGET)
    with fh:
        try:
            container = av.open(
                reader, "r", container_options={"format_whitelist": FORMATS}, io_open=_refuse_nested
            )
        except av.FFmpegError as exc:
            raise ProbeFailed(f"not media FFmpeg can read ({size} bytes): {_why(exc)}") from None
        except (OSError, ValueError, RuntimeError) as exc:
            raise ProbeFailed(f"cannot read ({size} bytes): {_why(exc)}") from None
        with container:
            try:
                info = _describe(container, av)
                if decode:
                    _decode_all(container, av)
                else:
                    _check_tail(container, size, reader, av)
            except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
                raise ProbeFailed(f"cannot read ({size} bytes): {_why(exc)}") from None
    return info


def _child_env() -> dict[str, str]:
    """The environment with this ``engine`` package first on the child's import path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"


def probe_in_child(
    path: str | os.PathLike,
    timeout: float,
    *,
    decode: bool = False,
    cpu_seconds: int | None = None,
) -> Probe:
    """:func:`probe` in a child process, so a file that hangs or crashes FFmpeg costs only it.

    Raises ProbeFailed with the probe's own reason, or "… timed out after N s" (the child is
    killed), or "… crashed (signal N, NAME)". ``cpu_seconds`` sets the child's RLIMIT_CPU: the
    kernel kills it with SIGXCPU when its decoding has used that much CPU time.
    """
    args = [sys.executable, "-m", "engine.media.probe"]
    if decode:
        args.append("--decode")
    if cpu_seconds is not None:
        args += ["--cpu", str(int(cpu_seconds))]
    args += ["--", os.fspath(path)]
    try:
        done = subprocess.run(
            args, capture_output=True, timeout=timeout, env=_child_env(), stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise ProbeFailed(f"probe timed out after {timeout:g} s (child killed)") from None
    if done.returncode == 0:
        try:
            return msgspec.msgpack.decode(done.stdout, type=Probe)
        except msgspec.DecodeError as exc:
            raise ProbeFailed(f"probe child answered garbage: {exc}") from None
    last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    if done.returncode == EXIT_FAILED:
        raise ProbeFailed(last)
    if done.returncode < 0:
        n = -done.returncode
        raise ProbeFailed(f"probe crashed (signal {n}, {_signal_name(n)})")
    raise ProbeFailed(f"probe crashed (exit {done.returncode}): {last[:200]}")


def main(argv: list[str]) -> int:
    """``python -m engine.media.probe [--decode] [--cpu N] -- PATH``: msgpack Probe on stdout."""
    decode = "--decode" in argv
    if "--cpu" in argv:
        import resource

        cpu = int(argv[argv.index("--cpu") + 1])
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    path = argv[-1]
    try:
        info = probe(path, decode=decode)
    except ProbeFailed as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.buffer.write(msgspec.msgpack.encode(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
