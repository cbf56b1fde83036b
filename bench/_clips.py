"""A test clip made with PyAV for the media benches: H.264 + AAC in MP4, from lavfi sources."""

from __future__ import annotations

import io

import av


def make_clip(width: int, height: int, seconds: int, crf: int = 23) -> bytes:
    """A ``seconds`` s ``width``×``height`` H.264 (ultrafast, ``crf``) + mono AAC MP4."""
    buf = io.BytesIO()
    video = av.open(f"testsrc2=size={width}x{height}:rate=30:duration={seconds}", format="lavfi")
    audio = av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi")
    with video, audio, av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": str(crf)})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        aus = out.add_stream("aac", rate=48000, layout="mono")
        for frame in video.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pts = None
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        for frame in audio.decode(audio=0):
            frame.pts = None
            out.mux(aus.encode(frame))
        out.mux(aus.encode())
    return buf.getvalue()
