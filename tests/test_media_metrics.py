"""Media downloads in export_metrics.json (``media_download``), in the progress lines and in
``tgarc tune``: the real CLI against fakedc, and the aggregator fed synthetic events."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import orjson
import pytest

from engine.aggregator import Aggregator, recommend, tune_report, validate
from engine.model.events import Finish, MediaSnapshot, Plan, Progress, WorkerBusy
from tests._export import CHANNEL_DIR, served, tgarc, wait_said

MEDIA_DIRS = ("photos", "video_files", "animations", "stickers", "voice_messages",
              "round_video_messages", "files", "contacts")
MIB = 1 << 20


def _records(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def _on_disk(root: Path) -> list[Path]:
    """Every file the pass downloaded (thumbnails too); not the vCards, written from the
    messages themselves."""
    return [p for d in MEDIA_DIRS if (root / d).is_dir() and d != "contacts"
            for p in sorted((root / d).iterdir())
            if p.is_file() and not p.name.endswith(".part")]


# ---- the real CLI against fakedc ----------------------------------------------------------------
@pytest.fixture(scope="module")
def media_run(tmp_path_factory):
    """--media all over a throttled link (2 MB/s a connection) with one 12 MiB file, so the
    pass lasts long enough for progress lines; then the same again (nothing to fetch)."""
    pytest.importorskip("av", reason="engine.fakedc.media needs PyAV")
    out = tmp_path_factory.mktemp("media-metrics")
    with served(150, big_files=((1, 12 * MIB),), bandwidth=2_000_000) as dc:
        first = tgarc(dc, out, "--media", "all")
        assert first.returncode == 0, first.stderr
        metrics = orjson.loads((out / "export_metrics.json").read_bytes())
        again = tgarc(dc, out, "--media", "all")
        assert again.returncode == 0, again.stderr
        metrics_again = orjson.loads((out / "export_metrics.json").read_bytes())
    return out, first, metrics, metrics_again


def test_the_section_counts_the_files_on_disk(media_run):
    out, _r, m, _again = media_run
    assert validate(m) == []
    md = m["media_download"]
    files = _on_disk(out / CHANNEL_DIR)
    sizes = sum(p.stat().st_size for p in files)
    assert files and any(p.stat().st_size == 12 * MIB for p in files)
    assert md["files"] == len(files) and md["failed"] == 0
    assert md["bytes_done"] == md["bytes_total"] == sizes
    assert md["bytes_fetched"] == sizes                      # a fresh run resumed nothing
    assert sum(md["bytes_by_dc"].values()) == md["bytes_fetched"]
    assert set(md["bytes_by_dc"]) == {"2"}                   # fakedc's home DC
    # identical files are stored once: hard links to the first copy
    inodes: dict[int, list[Path]] = {}
    for p in files:
        inodes.setdefault(p.stat().st_ino, []).append(p)
    linked = [ps for ps in inodes.values() if len(ps) > 1]
    assert md["dedup_files"] == sum(len(ps) - 1 for ps in linked)
    assert md["dedup_bytes"] == sum((len(ps) - 1) * ps[0].stat().st_size for ps in linked)
    assert md["reference_refreshes"] == 0 and md["retries"] == 0
    # the corpus's videos, round videos, GIFs, voice notes and audio files, each read once
    probed = [p for p in files if (p.parent.name in ("video_files", "round_video_messages",
                                                     "voice_messages", "animations")
              and not p.name.endswith("_thumb.jpg")) or p.suffix == ".mp3"]
    assert md["probed"] == len(probed) > 0
    assert md["corrupt"] == 0 and md["probe_seconds"] > 0
    assert 0 < md["seconds"] < m["wall_seconds"]
    assert md["mb_per_second"] == pytest.approx(md["bytes_fetched"] / MIB / md["seconds"],
                                                rel=1e-3)
    assert m["media"] == {"downloaded": len(files), "bytes": sizes,
                          "deduplicated": md["dedup_files"], "transcoded": 0, "failed": 0,
                          "hwaccel": "none"}
    assert m["recommendation"]["media_fraction"] == pytest.approx(
        md["seconds"] / m["wall_seconds"], abs=0.01)


def test_progress_lines_show_the_bytes_while_the_pass_runs(media_run):
    _out, r, m, _again = media_run
    records = _records(r.stderr)
    progress = [x for x in records if x["event"] == "progress"]
    media = [x["media"] for x in progress if "media" in x]
    assert media, r.stderr                        # a 12 MiB file at ~4 MB/s: 3 s of ticks
    done = [x["bytes_done"] for x in media]
    assert done == sorted(done) and all(0 <= d <= x["bytes_total"] for x in media
                                            for d in [x["bytes_done"]])
    assert media[-1]["bytes_total"] == m["media_download"]["bytes_total"]
    assert any(x["mb_per_second"] > 0 and x["eta_s"] is not None for x in media), media
    assert all(set(x) == {"files", "failed", "bytes_done", "bytes_total", "mb_per_second",
                          "eta_s"} for x in media)
    summary = [x for x in records if x["event"] == "summary"]
    assert summary and summary[0]["media_download"] == m["media_download"]


def test_a_rerun_with_nothing_new_reports_zero_downloads(media_run):
    _out, _r, _m, again = media_run
    md = again["media_download"]
    assert md["files"] == md["bytes_fetched"] == md["bytes_total"] == 0
    assert md["bytes_by_dc"] == {} and md["mb_per_second"] == 0.0


def test_media_none_has_no_media_download_section(tmp_path):
    with served(150) as dc:
        r = tgarc(dc, tmp_path, "--media", "none")
    assert r.returncode == 0, r.stderr
    m = orjson.loads((tmp_path / "export_metrics.json").read_bytes())
    assert validate(m) == []
    assert "media_download" not in m and "media_fraction" not in m["recommendation"]
    assert m["media"] == {"downloaded": 0, "bytes": 0, "deduplicated": 0, "transcoded": 0,
                          "failed": 0, "hwaccel": "none"}
    assert not m["recommendation"]["reason"].startswith("download-bound")
    records = _records(r.stderr)
    assert records and not any("media" in x or "media_download" in x for x in records)


# ---- the aggregator fed synthetic events --------------------------------------------------------
def _snap(active: bool, done: int, total: int, seconds: float, **kw) -> MediaSnapshot:
    fields = dict(files=kw.get("files", 0), failed=kw.get("failed", 0), bytes_total=total,
                  bytes_done=done, bytes_fetched=kw.get("fetched", done),
                  dedup_files=kw.get("dedup_files", 0), dedup_bytes=kw.get("dedup_bytes", 0),
                  refreshes=kw.get("refreshes", 0), seconds=seconds,
                  retries=kw.get("retries", 0), by_dc=kw.get("by_dc", {}))
    return MediaSnapshot(active, **fields)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agg-media")
    path, err = tmp / "export_metrics.json", tmp / "aggregator.err"
    agg = Aggregator.start(path, progress="json", interval=10.0, stderr_path=err)
    try:
        agg.send(Plan("Media", 100, 2, 4096))
        agg.send(Progress(100))
        agg.send(_snap(False, 0, 0, 0.0))                    # asked for, not started yet
        wait_said(err, '"event":"progress"')
        agg.send(_snap(True, 1 * MIB, 10 * MIB, 0.5))
        wait_said(err, f'"bytes_done":{MIB},')
        agg.send(_snap(True, 5 * MIB, 10 * MIB, 1.6))
        wait_said(err, f'"bytes_done":{5 * MIB},', count=2)  # the rate is judged over 2 ticks
        agg.send(WorkerBusy(0, 0.3))
        agg.send(_snap(False, 10 * MIB, 12 * MIB, 4.0, files=7, failed=1, fetched=9 * MIB,
                       dedup_files=2, dedup_bytes=3000, refreshes=1, retries=2,
                       by_dc={2: 8 * MIB, 4: MIB}))
        metrics = agg.finish(Finish("done", 100))
    finally:
        agg.close()
    return metrics, err.read_text()


def test_synthetic_section_is_the_latest_totals(synthetic):
    m, _err = synthetic
    assert validate(m) == []
    assert m["media_download"] == {
        "files": 7, "failed": 1, "bytes_total": 12 * MIB, "bytes_done": 10 * MIB,
        "bytes_fetched": 9 * MIB, "seconds": 4.0, "mb_per_second": 2.25,
        "bytes_by_dc": {"2": 8 * MIB, "4": MIB}, "dedup_files": 2, "dedup_bytes": 3000,
        "reference_refreshes": 1, "retries": 2, "probed": 0, "corrupt": 0,
        "probe_seconds": 0.0}
    assert m["media"]["downloaded"] == 7 and m["media"]["failed"] == 1


def test_synthetic_progress_has_media_only_while_active(synthetic):
    _m, err = synthetic
    progress = [x for x in _records(err) if x["event"] == "progress"]
    with_media = [x["media"] for x in progress if "media" in x]
    assert "media" not in progress[0]                        # not active yet
    assert len(with_media) >= 2, err
    assert with_media[0]["bytes_done"] == MIB and with_media[0]["bytes_total"] == 10 * MIB
    last = with_media[-1]
    assert last["bytes_done"] == 5 * MIB
    assert 1.0 < last["mb_per_second"] < 5.0        # 4 MiB more, one or two ticks later
    assert last["eta_s"] == pytest.approx(5 / last["mb_per_second"], rel=0.05)


def test_terminal_line_shows_media_while_active(tmp_path):
    path, err = tmp_path / "export_metrics.json", tmp_path / "aggregator.err"
    agg = Aggregator.start(path, progress="tty", stderr_path=err)
    try:
        agg.send(Plan("Terminal", 50, 1, 4096))
        agg.send(Progress(50))
        agg.send(_snap(True, 3 * MIB, 8 * MIB, 1.0))
        wait_said(err, "media 3.0/8.0 MB")
        metrics = agg.finish(Finish("done", 50))
    finally:
        agg.close()
    assert metrics["media_download"]["bytes_done"] == 3 * MIB
    assert "media 3.0/8.0 MB, 0.0 MB/s" in err.read_text()


# ---- tgarc tune -------------------------------------------------------------------------------
def _shape(m: dict, *, wall, busy, blocked, fetch, media_s=None) -> dict:
    m = copy.deepcopy(m)
    m["wall_seconds"], m["messages"] = wall, 10_000
    m["workers"]["count"], m["workers"]["busy_fraction"] = len(busy), busy
    m["queues"]["producer_blocked_seconds"] = blocked
    m["stages"]["fetch"]["total_seconds"] = fetch
    if media_s is None:
        m.pop("media_download", None)
    else:
        m["media_download"]["seconds"] = media_s
    return m


def test_download_time_does_not_count_as_idle_workers(synthetic):
    base = synthetic[0]
    shape = dict(wall=100, busy=[0.2] * 4, blocked=1, fetch=10)
    without = recommend(_shape(base, **shape), 8)
    assert without["workers"] == 2 and "media_fraction" not in without   # idle: fewer
    # the same run, 75 s of it downloading: over the other 25 s workers were busy 80 %
    bound = recommend(_shape(base, **shape, media_s=75), 8)
    assert bound["workers"] == 4, bound
    assert bound["reason"].startswith("download-bound: media downloads took 75 % of the wall")
    assert "balanced" in bound["reason"]
    assert bound["media_fraction"] == 0.75 and bound["mean_busy_fraction"] == 0.8
    # a short download changes the figures, not the wording
    short = recommend(_shape(base, wall=100, busy=[0.9, 0.9], blocked=30, fetch=10,
                             media_s=10), 8)
    assert short["reason"].startswith("worker-bound") and short["media_fraction"] == 0.1
    # nothing but downloads: too little data, keep the count
    only = recommend(_shape(base, wall=100, busy=[0.001] * 3, blocked=0, fetch=0,
                            media_s=99.5), 8)
    assert only["workers"] == 3 and "too little data" in only["reason"]
    assert only["reason"].startswith("download-bound")


def test_tune_reads_the_media_section(synthetic, tmp_path):
    doc = _shape(synthetic[0], wall=100, busy=[0.2] * 4, blocked=1, fetch=10, media_s=75)
    path = tmp_path / "export_metrics.json"
    path.write_bytes(orjson.dumps(doc))
    report = tune_report(path)
    cap = max(1, (os.cpu_count() or 1) - 1)               # tune uses this machine's CPUs
    assert report["workers"] == min(4, cap) and report["reason"].startswith("download-bound")
    assert report["media_fraction"] == 0.75


# ---- --transcode ------------------------------------------------------------------------------
VERDICT = {"encoder": "libx264", "hwaccel": "none", "device": None,
           "steps": [{"step": "force", "ok": False, "reason": "not forced"},
                     {"step": "chosen", "ok": True, "reason": "libx264 (CPU): no GPU"}]}


def test_the_transcode_section_and_the_detection(tmp_path):
    path = tmp_path / "export_metrics.json"
    agg = Aggregator.start(path, progress="off", interval=10.0,
                           stderr_path=tmp_path / "aggregator.err")
    try:
        agg.send(Plan("Media", 10, 2, 4096))
        agg.send(Progress(10))
        snap = _snap(False, MIB, MIB, 1.0, files=3)
        snap.transcoded, snap.transcode_failed, snap.fallbacks = 3, 1, 1
        snap.transcode_seconds, snap.transcode_frames = 4.0, 360
        snap.transcode_video_seconds, snap.replaced, snap.not_replaced = 12.0, 2, 1
        snap.transcode_bytes_in, snap.transcode_bytes_out = 9_000_000, 3_000_000
        snap.encoders, snap.hwaccel = {"libx264": 2, "h264_nvenc": 1}, VERDICT
        agg.send(snap)
        metrics = agg.finish(Finish("done", 10))
    finally:
        agg.close()
    assert validate(metrics) == []
    tc = metrics["transcode"]
    assert (tc["files"], tc["failed"], tc["fallbacks"]) == (3, 1, 1)
    assert (tc["fps"], tc["realtime_factor"], tc["video_seconds"]) == (90.0, 3.0, 12.0)
    assert (tc["encoder"], tc["encoders"]) == ("libx264", {"h264_nvenc": 1, "libx264": 2})
    assert (tc["bytes_saved"], tc["replaced"], tc["not_replaced"]) == (6_000_000, 2, 1)
    assert tc["hwaccel"] == VERDICT
    assert metrics["media"]["transcoded"] == 3 and metrics["media"]["hwaccel"] == "none"


def test_a_run_without_transcode_has_no_transcode_section(synthetic):
    metrics, _ = synthetic
    assert "transcode" not in metrics and metrics["media"]["transcoded"] == 0


def test_copies_that_keep_the_workers_busy_ask_for_one_worker_per_cpu(synthetic):
    base = _shape(synthetic[0], wall=100, busy=[0.95, 0.95], blocked=0, fetch=5)
    assert recommend(base, 8)["reason"].startswith("balanced")      # without copies
    doc = copy.deepcopy(base)
    doc["transcode"] = {"files": 40, "seconds": 160.0, "fps": 85.0, "encoder": "libx264"}
    got = recommend(doc, 8)
    assert got["workers"] == 8 and got["transcode_fraction"] == 0.8
    assert got["reason"].startswith("transcode-bound: video copies kept the workers busy 80 %")
    light = copy.deepcopy(base)
    light["transcode"] = {"files": 1, "seconds": 10.0}
    assert not recommend(light, 8)["reason"].startswith("transcode-bound")
    assert recommend(light, 8)["transcode_fraction"] == 0.05


@pytest.mark.parametrize("progress", ["tty", "json"])
def test_progress_shows_the_copies_while_the_media_pass_runs(tmp_path, progress):
    path, err = tmp_path / "export_metrics.json", tmp_path / "aggregator.err"
    agg = Aggregator.start(path, progress=progress, stderr_path=err)
    try:
        agg.send(Plan("Copies", 50, 1, 4096))
        agg.send(Progress(50))
        snap = _snap(True, 3 * MIB, 8 * MIB, 1.0)
        snap.hwaccel, snap.transcode_wanted = VERDICT, 7
        snap.transcoded, snap.transcode_linked, snap.transcode_failed = 2, 1, 1
        agg.send(snap)
        wait_said(err, "copies 4/7" if progress == "tty" else '"copies":4,')
        agg.finish(Finish("done", 50))
    finally:
        agg.close()
    said = err.read_text()
    if progress == "tty":
        assert "copies 4/7" in said
    else:
        lines = [orjson.loads(x) for x in said.splitlines() if x.startswith('{"event":"progress"')]
        assert any(x.get("media", {}).get("copies") == 4
                   and x["media"]["copies_wanted"] == 7 for x in lines), said
