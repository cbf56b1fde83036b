"""Whether a compact copy decodes back as its source: ``verify`` (``--transcode-replace``).

Every frame of the copy is decoded (engine/media/transcode.py makes it): its video lasts the
source's (within ``DURATION_TOLERANCE``), is the height asked for, and has decodable audio
when the source had audio. Anything else is one TranscodeFailed line naming what failed.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.media.transcode import TranscodeFailed, _av, _why

DURATION_TOLERANCE = 0.1  # seconds


def _decoded(path: Path) -> tuple[int, float, bool]:
    """(video height, decoded video duration in seconds, has audio) of a file."""
    av = _av()
    with av.open(str(path)) as inp:
        vin = inp.streams.video[0]
        ain = next((s for s in inp.streams.audio), None)
        height, end, sound = 0, 0, False
        for packet in inp.demux(*(s for s in (vin, ain) if s is not None)):
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                what = "video" if packet.stream is vin else "audio"
                raise TranscodeFailed(f"{path.name}: its {what} does not decode: "
                                      f"{_why(exc)}") from exc
            for frame in frames:
                if packet.stream is vin:
                    height = frame.height
                    end = max(end, (frame.pts or 0) + (frame.duration or 0))
                else:
                    sound = True
        return height, float(end * vin.time_base), sound


def verify(dest: str | os.PathLike, src_duration: float, height: int | None = None, *,
           audio: bool = False) -> float:
    """Decode ``dest`` back: its video lasts ``src_duration`` (± 0.1 s), is ``height`` high,
    and has decodable audio when ``audio``; its duration, else TranscodeFailed."""
    dest = Path(dest)
    try:
        got_height, duration, sound = _decoded(dest)
    except (_av().FFmpegError, OSError, ValueError, IndexError) as exc:
        raise TranscodeFailed(f"{dest.name} does not decode: {_why(exc)}") from exc
    if abs(duration - src_duration) > DURATION_TOLERANCE:
        raise TranscodeFailed(
            f"{dest.name} lasts {duration:.3f} s, the source {src_duration:.3f} s")
    if height is not None and got_height != height:
        raise TranscodeFailed(f"{dest.name} is {got_height} p high, not {height} p")
    if audio and not sound:
        raise TranscodeFailed(f"{dest.name} has no decodable audio, the source had")
    return duration

