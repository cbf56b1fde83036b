"""The worker pool with real worker processes: acks, and a local I/O failure reported as such."""

from __future__ import annotations

import errno

from engine import model as m
from engine.model import events as ev
from engine.supervisor.pool import WorkerPool


def _run(root, jobs):
    acks, failed = [], []

    def on_failed(seq, error, local=None):
        failed.append((seq, error, local))

    pool = WorkerPool(1, str(root), "UTC", capacity=1 << 20, on_ack=acks.append,
                      on_failed=on_failed)
    try:
        for seq, job in jobs:
            pool.submit(seq, ev.ENCODER.encode(job))
        pool.end()
        assert pool.join(60)
        assert pool.error is None
    finally:
        pool.release()
    return acks, failed


def _job(seq: int) -> ev.BatchJob:
    chat = m.PeerRef("channel", 5)
    batch = m.Batch(0, chat, [m.Message(seq, chat, 1700000000 + seq, text=f"m{seq}")])
    return ev.BatchJob(seq, f"{seq:010d}-{seq:010d}.1.{seq}.seg", m.ENCODER.encode(batch))


def test_jobs_are_acknowledged_once_durable(tmp_path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "state" / "render").mkdir(parents=True)
    acks, failed = _run(tmp_path, [(1, _job(1)), (2, _job(2))])
    assert sorted(a.seq for a in acks) == [1, 2] and not failed
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [
        "0000000001-0000000001.1.1.seg", "0000000002-0000000002.1.2.seg"]


def test_a_worker_that_cannot_write_reports_the_errno_not_a_bad_batch(tmp_path):
    acks, failed = _run(tmp_path, [(1, _job(1))])          # no archive/ folder: ENOENT
    assert not acks
    [(seq, error, local)] = failed
    assert error == "No such file or directory"
    assert seq == 1 and isinstance(local, OSError) and local.errno == errno.ENOENT
    assert "archive" in str(local.filename)
