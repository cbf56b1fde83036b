"""Issue 13: what a copy costs, through the worker pool as `tgarc export --transcode` makes
it, in 1 and 2 workers, beside ``transcode()`` itself and a plain PyAV loop.

    .venv/bin/python -m pytest bench/test_transcode.py -p no:cacheprovider -s

The clip is made here with PyAV: lavfi ``testsrc2`` 1280×720 at 30 fps for 10 s, libx264
ultrafast crf 18 (a phone-like bitrate), plus a 440 Hz AAC tone, in an MP4. Each case turns it
into H.264 at ``transcode()``'s defaults (libx264 veryfast, crf 23, source height, one encoder
thread, audio copied). fps = video frames / wall seconds:

* ``TranscodeJob``s through a real worker pool (engine/supervisor/dispatch.py) of 1 and of 2
  workers taking turns, 4 copies a round (each pool started and warmed first);
* ``transcode()`` in this process, and in 2 spawned processes at once (both together);
* a plain PyAV loop (decode, ``reformat`` to yuv420p, encode, copy no audio) with the same
  encoder options, at one thread and at FFmpeg's automatic thread count.

``TGARC_BENCH_QUICK=1``: a 1 s 320×240 clip, to check that it runs (figures meaningless).
Figures: docs/transcode.md, "Speed". Measured 2026-12-05 02:03 UTC on the 2-vCPU dev box
(AVX-512; load 0.4), the clip 15,787,624 bytes → 3,379,122, medians of 3 rounds, one run:

    --transcode through 1 worker        82.6 fps  (2.75x realtime)
    --transcode through 2 workers      162.1 fps  (5.40x; 1.96x one worker)
    transcode() in 1 process            80.4 fps  (2.68x)
    transcode() in 2 processes at once 148.3 fps  (4.94x)
    plain PyAV loop, 1 thread           91.9 fps  (3.06x)
    plain PyAV loop, auto threads      114.5 fps  (3.82x; not byte-reproducible)

Since 2026-12-05 07:52 the two pools take turns round by round (one run: 70.8 and 125.8 fps,
1.78x); docs/transcode.md has that run's other rows.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from pathlib import Path

import pytest

av = pytest.importorskip("av")

import _clips  # noqa: E402

from engine.media.copy_check import verify  # noqa: E402
from engine.media.transcode import transcode  # noqa: E402

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
WIDTH, HEIGHT, SECONDS = (320, 240, 1) if QUICK else (1280, 720, 10)
FRAMES = 30 * SECONDS
ROUNDS = 1 if QUICK else 3


def make_clip() -> bytes:
    return _clips.make_clip(WIDTH, HEIGHT, SECONDS, crf=18)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("transcode") / "clip720.mp4"
    path.write_bytes(make_clip())
    return path


def _timed(benchmark, fn, *args):
    """Run ``fn`` ROUNDS times under the benchmark; (last result, median wall seconds)."""
    walls: list[float] = []

    def once():
        t = time.perf_counter()
        got = fn(*args)
        walls.append(time.perf_counter() - t)
        return got
    got = benchmark.pedantic(once, rounds=ROUNDS, iterations=1)
    return got, statistics.median(walls)


def _report(benchmark, name: str, fps: float, **extra) -> None:
    benchmark.extra_info.update(fps=round(fps, 1), frames=FRAMES, **extra)
    print(f"\n{name}: {fps:.1f} fps ({fps / 30:.2f}x realtime) {extra}")


def _one(args: tuple[str, str]) -> float:
    got = transcode(*args)
    return got.fps


def test_transcode_one_process(benchmark, clip, tmp_path):
    dest = tmp_path / "out.mp4"
    got, wall = _timed(benchmark, transcode, clip, dest)
    verify(dest, SECONDS, HEIGHT, audio=True)
    _report(benchmark, "transcode() x1", FRAMES / wall,
            bytes_in=got.bytes_in, bytes_out=got.bytes_out, encoder=got.encoder)


def test_transcode_two_processes(benchmark, clip, tmp_path):
    jobs = [(str(clip), str(tmp_path / f"out{n}.mp4")) for n in range(2)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_one, jobs)                        # warm: interpreters started, av imported

        def both() -> list[float]:
            return pool.map(_one, jobs)
        _, wall = _timed(benchmark, both)
    assert Path(jobs[0][1]).read_bytes() == Path(jobs[1][1]).read_bytes()
    _report(benchmark, "transcode() x2 processes", 2 * FRAMES / wall)


def plain(src: Path, dest: Path, threads: int) -> int:
    """The shortest PyAV transcode loop: no scaling, no audio, no guards."""
    frames = 0
    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        vs = out.add_stream("libx264", rate=vin.average_rate,
                            options={"preset": "veryfast", "crf": "23"})
        vs.width, vs.height, vs.pix_fmt = vin.codec_context.width, vin.codec_context.height, \
            "yuv420p"
        vs.codec_context.thread_count = threads
        vs.time_base = vs.codec_context.time_base = vin.time_base
        vin.codec_context.thread_count = threads
        for frame in inp.decode(vin):
            frame = frame.reformat(format="yuv420p")
            frames += 1
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    return frames


JOBS = 4       # copies of the clip per round through the pool


async def _through_pool(root: Path, workers: int) -> float:
    """Seconds for ``JOBS`` TranscodeJobs through a real worker pool of ``workers`` (started and
    warmed first: spawned, PyAV imported, so only the copies are timed)."""
    import asyncio

    from engine.model import events as ev
    from engine.supervisor.dispatch import Dispatch
    from engine.supervisor.outcome import Outcome
    from engine.supervisor.tally import Tally

    dispatch = Dispatch(workers, 1, root, "UTC", Tally(workers), Outcome(), asyncio.Event())
    try:
        await asyncio.gather(*(dispatch.probe("clip.mp4") for _ in range(workers)))
        t = time.perf_counter()
        got = await asyncio.gather(*(dispatch.transcode(ev.TranscodeJob(
            0, "clip.mp4", f"out/{n}.mp4", "h264")) for n in range(JOBS)))
        wall = time.perf_counter() - t
    finally:
        await dispatch.close()
    assert all(isinstance(g, ev.Transcoded) and not g.error for g in got), got
    return wall


def test_transcode_through_the_worker_pool(benchmark, clip, tmp_path):
    """What ``tgarc export --transcode`` does: TranscodeJobs on the rings to the workers, a
    pool of 1 and a pool of 2 taking turns round by round (this machine's speed drifts by
    a third between minutes; turns keep the two comparable)."""
    import asyncio
    import shutil

    shutil.copy(clip, tmp_path / "clip.mp4")
    walls: dict[int, list[float]] = {1: [], 2: []}

    def both() -> None:
        for workers in (1, 2):
            walls[workers].append(asyncio.run(_through_pool(tmp_path, workers)))
    benchmark.pedantic(both, rounds=ROUNDS, iterations=1)
    outs = {(tmp_path / "out" / f"{n}.mp4").read_bytes() for n in range(JOBS)}
    assert len(outs) == 1                               # any worker, the same bytes
    fps = {w: JOBS * FRAMES / statistics.median(v) for w, v in walls.items()}
    for workers in (1, 2):
        print(f"\n--transcode through {workers} worker(s): {fps[workers]:.1f} fps "
              f"({fps[workers] / 30:.2f}x realtime), {JOBS} copies a round, "
              f"rounds {[round(x, 2) for x in walls[workers]]} s")
        benchmark.extra_info[f"fps_{workers}_workers"] = round(fps[workers], 1)
    print(f"2 workers / 1 worker: {fps[2] / fps[1]:.2f}x")
    benchmark.extra_info["scaling"] = round(fps[2] / fps[1], 2)


@pytest.mark.parametrize("threads", [1, 0], ids=["1thread", "auto"])
def test_plain_pyav_loop(benchmark, clip, tmp_path, threads):
    frames, wall = _timed(benchmark, plain, clip, tmp_path / "plain.mp4", threads)
    assert frames == FRAMES
    _report(benchmark, f"plain PyAV loop, threads={threads or 'auto'}", FRAMES / wall)


