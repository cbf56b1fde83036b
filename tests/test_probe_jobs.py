"""Probe jobs through the real worker pool (engine/supervisor/dispatch.py → workers →
engine/media/probe.py): a file's streams come back; a file that does not read as media comes
back as its reason; and a file whose probe never ends, whose worker is killed for it twice
(as the kernel's OOM killer or an operator would), comes back as the pool's reason while the
pool goes on with a fresh worker."""

from __future__ import annotations

import asyncio
import os
import signal

import msgspec
import psutil
import pytest

pytest.importorskip("av", reason="the probe reads files with PyAV")

from engine.fakedc import media as fake_media
from engine.model import events as ev
from engine.supervisor.dispatch import Dispatch
from engine.supervisor.outcome import Outcome
from engine.supervisor.tally import Tally


def _workers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if "tgarc-worker" in " ".join(p.cmdline()) or p.name().startswith("tgarc-worker")]


async def _probe_all(root, names: list[str], kill_hang: bool) -> list:
    dispatch = Dispatch(1, 1, root, "UTC", Tally(1), Outcome(), asyncio.Event())
    try:
        futures = [dispatch.probe(n, decode=n == "hang.mp3") for n in names]
        if kill_hang:
            for _ in range(2):            # the worker hangs on the file: kill it, twice
                await asyncio.sleep(1.5)
                for p in _workers():
                    os.kill(p.pid, signal.SIGKILL)
        return await asyncio.wait_for(asyncio.gather(*futures), 60)
    finally:
        await dispatch.close()


def test_probes_come_back_and_a_killed_worker_fails_only_its_file(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(fake_media.h264_mp4(1))
    (tmp_path / "notes.txt").write_text("not a video at all\n" * 50)
    hang = tmp_path / "hang.mp3"             # an MP3, then a 1 TiB hole: decode never ends
    hang.write_bytes(fake_media.mp3_audio(1))
    with open(hang, "r+b") as f:
        f.truncate(1 << 40)
    got = asyncio.run(_probe_all(tmp_path, ["clip.mp4", "notes.txt", "hang.mp3",
                                            "clip.mp4"], kill_hang=True))
    first, text, killed, again = got
    assert isinstance(first, ev.Probed) and not first.error
    fields = msgspec.msgpack.decode(first.probe)
    assert (fields["width"], fields["height"], fields["video_codec"]) == (320, 240, "h264")
    assert isinstance(text, ev.Probed) and text.error and not text.probe
    assert isinstance(killed, str) and "died twice" in killed
    assert isinstance(again, ev.Probed) and again.probe == first.probe   # the pool went on


async def _beside_a_hang(root) -> tuple[list, bool]:
    dispatch = Dispatch(2, 1, root, "UTC", Tally(2), Outcome(), asyncio.Event())
    try:
        hung = dispatch.probe("hang.mp3", decode=True)
        await asyncio.sleep(1.0)                  # a worker has taken it off its ring
        quick = [dispatch.probe("clip.mp4") for _ in range(3)]
        got = await asyncio.wait_for(asyncio.gather(*quick), 20)
        return got, hung.done()
    finally:
        dispatch.abort()            # the hung worker killed; its rings given back
        dispatch.pool.release()


def test_a_job_someone_awaits_never_queues_behind_a_long_one_while_a_worker_idles(tmp_path):
    """Probes and transcodes go to the worker with the fewest jobs in flight, not the one
    whose ring has the most room: a worker busy for minutes has an empty ring."""
    (tmp_path / "clip.mp4").write_bytes(fake_media.h264_mp4(1))
    hang = tmp_path / "hang.mp3"
    hang.write_bytes(fake_media.mp3_audio(1))
    with open(hang, "r+b") as f:
        f.truncate(1 << 40)
    got, hang_done = asyncio.run(_beside_a_hang(tmp_path))
    assert not hang_done                           # still decoding its hole
    assert all(isinstance(g, ev.Probed) and g.probe and not g.error for g in got)
