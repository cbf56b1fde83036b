"""``tgarc export --transcode``: a compact copy of every downloaded video, made by the worker
pool with PyAV, beside originals that stay the archive of record (issue 13).

The real CLI in a subprocess against fakedc, whose videos are real PyAV encodes
(engine/fakedc/media.py): ``talk_video`` (640x360, 2 s, with AAC audio),
``bad_audio_video`` (its audio does not decode), ``garbage_video`` (not media) and
``broken_video`` (the first half of an MP4) come through ``Corpus.add_copies``. Copies are
decoded back here with PyAV, independently of engine/media/transcode.py's own check.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

av = pytest.importorskip("av", reason="transcoding needs PyAV")

from engine.fakedc import files as fake_files  # noqa: E402
from tests._export import CHANNEL_DIR, served, tgarc  # noqa: E402

MESSAGES = 60       # the corpus's own videos, round videos and GIFs come along
VIDEO_TYPES = ("video_file", "video_message", "animation")


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr


def _lines(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "messages.jsonl").read_text().splitlines()]


def _videos(root: Path) -> list[dict]:
    return [x for x in _lines(root) if x.get("media", {}).get("media_type") in VIDEO_TYPES
            and "file" in x]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decoded(path: Path) -> tuple[int, float, int]:
    """(height, video duration in seconds, audio frames) of a file, every frame decoded."""
    with av.open(str(path)) as f:
        v = f.streams.video[0]
        streams = [v, *f.streams.audio[:1]]
        height, end, audio = 0, 0, 0
        for packet in f.demux(*streams):
            for frame in packet.decode():
                if packet.stream is v:
                    height = frame.height
                    end = max(end, (frame.pts or 0) + (frame.duration or 0))
                else:
                    audio += 1
        return height, float(end * v.time_base), audio


def _getfile_ok(dc) -> int:
    return sum(c.outcome == "ok" for c in dc.calls_to("GetFileRequest"))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def copied(tmp_path_factory):
    """One export with copies at 240 p by two workers, and what fakedc served."""
    out = tmp_path_factory.mktemp("transcode")
    with served(MESSAGES) as dc:
        talk = dc.corpus.add_copies(2, kind="talk_video")
        dc.corpus.add_copies(1, kind="round")
        dc.corpus.add_copies(1, kind="animation")
        r = tgarc(dc, out, "--media", "all", "--workers", "2", "--transcode", "h264",
                  "--max-height", "240")
        _ok(r)
        fetched = _getfile_ok(dc)
        again = tgarc(dc, out, "--media", "all", "--workers", "2", "--transcode", "h264",
                      "--max-height", "240")
        _ok(again)
        refetched = _getfile_ok(dc) - fetched
    return out, set(talk), r, again, refetched


def test_every_video_gets_a_copy_that_decodes_back_and_the_originals_stay(copied):
    out, talk, _, _, _ = copied
    root = out / CHANNEL_DIR
    videos = _videos(root)
    assert {x["media"]["media_type"] for x in videos} == set(VIDEO_TYPES), \
        "the corpus has videos, round videos and GIFs"
    assert talk <= {x["id"] for x in videos}
    for x in videos:
        rec, media = x["file"], x["media"]
        original = root / rec["path"]
        assert original.read_bytes() == fake_files.content(media["id"])     # untouched
        assert rec["sha256"] == _sha(original)
        copy = rec["transcoded"]
        assert copy["path"] == f"transcoded/{rec['path']}"                 # mirrors the name
        assert copy["sha256"] == _sha(root / copy["path"])
        assert copy["size"] == (root / copy["path"]).stat().st_size
        assert copy["encoder"] == "libx264" and copy["settings"] == \
            "h264 crf=23 max_height=240"
        height, duration, audio = _decoded(root / copy["path"])
        src_height, src_duration, src_audio = _decoded(original)
        assert height == min(240, src_height)
        assert (copy["width"], copy["height"]) == (
            max(2, round(media["width"] * height / media["height"] / 2) * 2), height)
        assert duration == pytest.approx(src_duration, abs=0.1)
        assert (audio > 0) == (src_audio > 0)
        if x["id"] in talk:
            assert (src_height, height) == (360, 240) and audio > 0


def test_result_json_keeps_the_originals_and_the_vault_embeds_the_copies(copied):
    out, _, _, _, _ = copied
    root = out / CHANNEL_DIR
    videos = {x["id"]: x["file"] for x in _videos(root)}
    result = json.loads((root / "result.json").read_text())
    pointed = {m["id"]: m.get("file") for m in result["messages"] if m["id"] in videos}
    assert pointed == {i: rec["path"] for i, rec in videos.items()}
    notes = "\n".join(p.read_text() for p in (root / "markdown").rglob("*.md"))
    for rec in videos.values():
        assert f"![[{rec['transcoded']['path']}]]" in notes
        assert f"![[{rec['path']}]]" not in notes


def _summary(r) -> dict:
    [line] = [x for x in r.stderr.splitlines() if x.startswith('{"event":"summary"')]
    return json.loads(line)


def test_metrics_report_the_copies_and_the_detection(copied):
    out, _, r, again, _ = copied
    root = out / CHANNEL_DIR
    videos = _videos(root)
    distinct = {x["file"]["sha256"] for x in videos}
    tc = _summary(r)["transcode"]                   # the first run's
    # identical originals (the two talk_video re-uploads) are copied once, then linked
    assert tc["files"] == len(distinct) and tc["linked"] == len(videos) - len(distinct) >= 1
    assert tc["failed"] == 0 and tc["encoders"] == {"libx264": len(distinct)}
    assert tc["encoder"] == "libx264" and tc["fallbacks"] == 0
    firsts = {}
    for x in videos:
        firsts.setdefault(x["file"]["sha256"], x["file"])
    assert tc["bytes_in"] == sum(f["size"] for f in firsts.values())
    assert tc["bytes_out"] == sum(f["transcoded"]["size"] for f in firsts.values())
    assert tc["bytes_saved"] == tc["bytes_in"] - tc["bytes_out"]
    assert tc["seconds"] > 0 and tc["fps"] > 0 and tc["realtime_factor"] > 0
    steps = [s["step"] for s in tc["hwaccel"]["steps"]]
    assert steps[0] == "force" and steps[-1] == "chosen" and "vaapi.build" in steps
    assert "compact copies of videos made with libx264" in r.stderr
    m = json.loads((out / "export_metrics.json").read_text())    # the second run's
    assert m["transcode"]["files"] == 0 and m["media"]["transcoded"] == 0
    assert m["media"]["hwaccel"] == m["transcode"]["hwaccel"]["hwaccel"] == "none"
    assert m["stages"]["transcode"]["count"] == 0
    assert "compact cop" not in again.stderr


def test_a_rerun_fetches_and_copies_nothing(copied):
    _, _, _, again, refetched = copied
    assert refetched == 0
    assert _summary(again)["transcode"]["files"] == 0


def test_copies_are_byte_identical_for_one_or_two_workers(tmp_path):
    trees = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        with served(MESSAGES) as dc:
            dc.corpus.add_copies(2, kind="talk_video")
            _ok(tgarc(dc, out, "--media", "all", "--workers", workers, "--transcode", "h264",
                      "--max-height", "240"))
        trees.append(_tree(out / CHANNEL_DIR / "transcoded"))
    assert trees[0] and trees[0] == trees[1]


def test_corrupt_and_truncated_videos_are_recorded_and_the_export_completes(tmp_path):
    with served(MESSAGES) as dc:
        garbage = dc.corpus.add_copies(1, kind="garbage_video")
        cut = dc.corpus.add_copies(1, kind="broken_video")
        dc.corpus.add_copies(1, kind="talk_video")
        r = tgarc(dc, tmp_path, "--media", "all", "--transcode", "h264")
        _ok(r)
    root = tmp_path / CHANNEL_DIR
    by_id = {x["id"]: x for x in _videos(root)}
    for i in garbage + cut:
        rec = by_id[i]["file"]
        assert rec["corrupt"].startswith("corrupt: ") and "transcoded" not in rec
        assert (root / rec["path"]).read_bytes() == fake_files.content(by_id[i]["media"]["id"])
    good = [x for i, x in by_id.items() if i not in garbage + cut]
    assert good and all("path" in x["file"]["transcoded"] for x in good)
    assert "2 do not read as media" in r.stderr


def test_replace_swaps_only_copies_that_verified(tmp_path):
    """--transcode-replace: a copy that decodes back as its original takes its place (the
    ledger, messages.jsonl and `tgarc verify` follow); an original whose copy does not
    decode back (its audio is damaged) is never touched."""
    args = ("--media", "all", "--transcode", "h264", "--max-height", "180", "--crf", "35",
            "--transcode-replace")
    with served(MESSAGES) as dc:
        talk = dc.corpus.add_copies(1, kind="talk_video")
        bad = dc.corpus.add_copies(1, kind="bad_audio_video")
        r = tgarc(dc, tmp_path, *args)
        _ok(r)
        fetched = _getfile_ok(dc)
        again = tgarc(dc, tmp_path, *args)            # nothing to copy or fetch again
        _ok(again)
        assert _getfile_ok(dc) == fetched
    root = tmp_path / CHANNEL_DIR
    by_id = {x["id"]: x for x in _videos(root)}
    [t], [b] = (by_id[i] for i in talk), (by_id[i] for i in bad)
    served_talk = fake_files.content(t["media"]["id"])
    rec = t["file"]
    assert rec["transcoded"]["replaced"] is True and "path" not in rec["transcoded"]
    assert rec["transcoded"]["original_sha256"] == hashlib.sha256(served_talk).hexdigest()
    assert rec["transcoded"]["original_size"] == len(served_talk)
    on_disk = root / rec["path"]
    assert on_disk.read_bytes() != served_talk and rec["sha256"] == _sha(on_disk)
    assert rec["size"] == on_disk.stat().st_size < len(served_talk)
    height, duration, audio = _decoded(on_disk)
    assert height == 180 and duration == pytest.approx(2.0, abs=0.1) and audio > 0
    assert not (root / "transcoded" / rec["path"]).exists()      # moved, not copied
    rec = b["file"]
    assert (root / rec["path"]).read_bytes() == fake_files.content(b["media"]["id"])
    assert "audio" in rec["transcoded"]["not_replaced"]
    assert (root / rec["transcoded"]["path"]).is_file()          # the copy stays a copy
    assert "kept (not replaced by its copy)" in r.stderr + (tmp_path / "tgarc.log").read_text()
    verified = _verify(tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _verify(out: Path):
    import subprocess
    import sys

    from tests._export import ROOT

    return subprocess.run([sys.executable, "-m", "engine", "verify", str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_transcode_given_later_copies_what_earlier_runs_downloaded(tmp_path):
    with served(MESSAGES) as dc:
        dc.corpus.add_copies(1, kind="talk_video")
        dc.corpus.add_copies(1, kind="round")
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        fetched = _getfile_ok(dc)
        root = tmp_path / CHANNEL_DIR
        assert all("transcoded" not in x["file"] for x in _videos(root))
        r = tgarc(dc, tmp_path, "--media", "all", "--transcode", "h264")
        _ok(r)
        assert _getfile_ok(dc) == fetched                 # copies of files on disk
    videos = _videos(root)
    assert len(videos) == 2
    assert all((root / x["file"]["transcoded"]["path"]).is_file() for x in videos)
    # the messages rendered by the first run now show their copies
    notes = "\n".join(p.read_text() for p in (root / "markdown").rglob("*.md"))
    assert all(f"![[{x['file']['transcoded']['path']}]]" in notes
               for x in videos)
    assert "2 compact copies of videos made" in r.stderr


def test_hwaccel_off_and_force_cpu_transcode_choose_the_cpu_without_touching_hardware(
        tmp_path):
    from tests._export import env_for

    with served(MESSAGES) as dc:
        dc.corpus.add_copies(1, kind="talk_video")
        off = tgarc(dc, tmp_path / "off", "--media", "all", "--transcode", "h264",
                    "--hwaccel", "off")
        forced = tgarc(dc, tmp_path / "forced", "--media", "all", "--transcode", "h264",
                       env=env_for(dc, FORCE_CPU_TRANSCODE="1"))
    for r, why in ((off, "CPU forced by --hwaccel off"),
                   (forced, "CPU forced by FORCE_CPU_TRANSCODE=1")):
        _ok(r)
        tc = _summary(r)["transcode"]
        assert [(s["step"], s["ok"]) for s in tc["hwaccel"]["steps"]] == \
            [("force", True), ("chosen", True)]
        assert tc["hwaccel"]["steps"][0]["reason"] == why
        assert tc["encoders"] == {"libx264": 1} and tc["files"] == 1
