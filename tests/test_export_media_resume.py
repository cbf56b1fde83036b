"""``tgarc export --media all`` stopped mid-file -- kill -9 of its process group, or Ctrl-C --
and run again: the file comes whole and bit-exact, and only the parts that were in flight
at the kill are fetched a second time (issue 12). The measured version (a 200 MB file,
refetched bytes and peak memory) is bench/test_media.py.

Real parts only: the CLI in its own process group (tests/_export.start) against fakedc
served from this process, whose call log shows every part it answered; fakedc's bandwidth
cap (per connection) makes the file take seconds, so the signal lands mid-file.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from engine.archive.manifest import sha256 as file_sha256
from engine.archive.media_ledger import DONE, Ledger
from engine.fakedc import bigfiles
from engine.telegram.download import PARALLEL, PART
from tests._export import (
    CHANNEL_DIR,
    durable_parts,
    kill_group,
    served,
    start,
    tgarc,
    wait_for,
)

SIZE = 4 * 1024 * 1024 + 12345            # 9 parts of 512 KiB, the last a short one
PARTS = -(-SIZE // PART)
# 2 lanes x 1 MB/s: about 4.5 s for the file, so polling every 20 ms lands mid-file
SERVE = {"messages": 30, "text_only": True, "rtt_ms": 10, "bandwidth": 1e6,
         "big_files": ((1, SIZE),)}


def _parts(calls, fid: int) -> list[int]:
    """Indexes of the parts of ``fid`` that fakedc answered with bytes."""
    return [c.args["offset"] // PART for c in calls
            if c.args.get("file") == fid and c.outcome == "ok"]


def _finished(dc, out: Path, fid: int) -> None:
    """The file is in the chat folder, bit-exact, ``done`` in the ledger, nothing left over."""
    root = out / CHANNEL_DIR
    with Ledger.open(root, compact=False) as ledger:
        (entry,) = [e for e in ledger.entries() if e.id == fid]
    assert entry.status == DONE and entry.size == SIZE
    assert entry.sha256 == bigfiles.sha256(fid) == file_sha256(root / entry.path)
    leftovers = [p for p in root.rglob("*") if p.name.endswith((".part", ".part.done"))]
    assert leftovers == []


def _mid_file(proc, root: Path) -> set[int]:
    """Wait until the download is between a third and two thirds done; its durable parts."""
    got = wait_for(lambda: proc.poll() is not None or len(durable_parts(root)) >= PARTS // 3,
                   timeout=60, step=0.02)
    assert got and proc.poll() is None, "the export ended before the signal"
    return durable_parts(root)


def test_kill_9_mid_file_refetches_only_the_parts_in_flight(tmp_path):
    with served(**SERVE) as dc:
        (fid,) = dc.corpus.attached.values()
        root = tmp_path / CHANNEL_DIR
        proc = start(dc, tmp_path, "--media", "all")
        seen = _mid_file(proc, root)
        kill_group(proc)
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.3)                       # replies on their way when it died still log
        durable = durable_parts(root)
        assert seen <= durable and len(durable) < PARTS, "killed mid-file"
        split = len(dc.calls_to("GetFileRequest"))

        r = tgarc(dc, tmp_path, "--media", "all")
        assert r.returncode == 0, r.stderr
        log = dc.calls_to("GetFileRequest")
    before, after = _parts(log[:split], fid), _parts(log[split:], fid)
    assert sorted(set(before) | set(after)) == list(range(PARTS))
    assert not set(after) & durable, "a part on disk was fetched again"
    assert len(after) == len(set(after)) == PARTS - len(durable)
    twice = set(before) & set(after)            # served, but not durable at the kill
    assert len(twice) <= PARALLEL, (sorted(before), sorted(durable), sorted(after))
    _finished(dc, tmp_path, fid)


@pytest.mark.parametrize("to_group", [True, False], ids=["group", "leader"])
def test_ctrl_c_mid_file_exits_130_and_the_rerun_completes_it(tmp_path, to_group):
    """A terminal's Ctrl-C reaches the whole foreground group; ``kill -INT pid`` only tgarc."""
    with served(**SERVE) as dc:
        (fid,) = dc.corpus.attached.values()
        root = tmp_path / CHANNEL_DIR
        proc = start(dc, tmp_path, "--media", "all")
        _mid_file(proc, root)
        (os.killpg if to_group else os.kill)(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-3000:]
        kept = durable_parts(root)
        assert 0 < len(kept) < PARTS, "Ctrl-C kept the parts on disk, and came mid-file"
        split = len(dc.calls_to("GetFileRequest"))

        r = tgarc(dc, tmp_path, "--media", "all")
        assert r.returncode == 0, r.stderr
        after = _parts(dc.calls_to("GetFileRequest")[split:], fid)
    assert not set(after) & kept and sorted(set(after) | kept) == list(range(PARTS))
    _finished(dc, tmp_path, fid)
