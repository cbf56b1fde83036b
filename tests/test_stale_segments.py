"""A segment a stale writer renames into archive/ late (issue 16): a frozen job's worker, or a
Ray task of a job the cluster gave up on, finishing after another run took the chat over.
The next run that opens the chat keeps every message once: such a segment, whole but over
ids the archive already holds, goes to quarantine/ with a line saying why, and the outputs
stay as they were."""

from __future__ import annotations

import json

import msgspec

from engine.archive.segment import (
    catalogue_order,
    history_name,
    read_segment_file,
    write_segment,
)
from tests._export import CHANNEL_DIR, outputs, served, tgarc


def _late(archive, seg, seq: int, upto: int | None = None) -> str:
    """A copy of segment ``seg`` under a name of its run no one used, its messages up to
    ``upto`` (all: None), as a late writer of the same pages would have left it."""
    batch = read_segment_file(seg)
    lo, hi, run = (int(x) for x in (seg.name[:10], seg.name[11:21], seg.name.split(".")[1]))
    if upto is not None:
        batch.messages = [x for x in batch.messages if x.id <= upto]
        hi = upto
    name = history_name(lo, hi, run, seq)
    write_segment(archive, name, msgspec.msgpack.encode(batch))
    return name


def test_a_late_segment_over_archived_ids_is_set_aside_and_nothing_doubles(tmp_path):
    with served(messages=2500, text_only=True) as dc:
        out = tmp_path / "out"
        r = tgarc(dc, out)
        assert r.returncode == 0, r.stderr
        before = outputs(out)
        chat = out / CHANNEL_DIR
        segs = sorted(chat.glob("archive/*.seg"), key=lambda p: catalogue_order(p.name))
        assert len(segs) >= 3
        first = segs[0]
        mid = read_segment_file(segs[1]).messages[5].id
        late = [_late(chat / "archive", first, 900), _late(chat / "archive", segs[1], 901, mid)]
        r = tgarc(dc, out)
        assert r.returncode == 0, r.stderr
    for name in late:
        assert f"archive/{name} repeats ids already in the archive; moved to quarantine/" \
            in r.stderr, r.stderr
        assert (chat / "quarantine" / name).exists() and not (chat / "archive" / name).exists()
    # the checkpoint's catalogue: segments as arrays, each led by its name
    listed = {s[0] for s in json.loads((chat / "state" / "checkpoint.json").read_bytes())
              ["segments"]}
    assert listed and not listed & set(late)
    assert outputs(out) == before
    ids = [x["id"] for x in json.loads(before["result.json"])["messages"]]
    assert len(ids) == len(set(ids))
