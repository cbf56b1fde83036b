"""Bad input and refusals through the CLI: one readable line, the documented exit code,
nothing half-written, and a re-run after the fix succeeds."""

from __future__ import annotations

import os
import subprocess

import pytest

from engine.archive.store import ChatStore, read_segment_file
from engine.fakedc.faults import Rule
from tests._export import CHANNEL_DIR, env_for, outputs, served, tgarc


def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_no_session_is_exit_2(tmp_path):
    with served(20) as dc:
        env = env_for(dc)
        del env["TGARC_SESSION"]
        r = tgarc(dc, tmp_path, "--quiet", env=env)
    assert r.returncode == 2
    assert one_line(r).startswith("tgarc: no session: log in with `tgarc login`")
    assert not any(tmp_path.glob("channel*"))


def test_revoked_session_is_exit_3_and_a_new_session_works(tmp_path):
    with served(60) as dc:
        revoked = dc.session
        dc.revoke(revoked)
        r = tgarc(dc, tmp_path, "--quiet")
        assert r.returncode == 3
        assert "log in again with `tgarc login`" in one_line(r)
        dc.session = dc.new_session()
        assert tgarc(dc, tmp_path, "--quiet").returncode == 0


def test_unwritable_out_is_exit_4(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with served(20) as dc:
        r = tgarc(dc, blocker / "out", "--quiet")
    assert r.returncode == 4
    assert one_line(r).startswith("tgarc: Not a directory")


def test_flood_wait_past_the_ceiling_is_exit_3_with_a_consistent_checkpoint(tmp_path):
    with served(1500) as dc:
        assert tgarc(dc, tmp_path / "reference", "--quiet").returncode == 0
        dc.rules.append(Rule("GetHistoryRequest", "flood_wait", nth=8, seconds=4000))
        r = tgarc(dc, tmp_path / "run", "--quiet", "--fetch-streams", "1")
        assert r.returncode == 3
        assert one_line(r) == ("tgarc: Telegram asks to wait 4000 s before GetHistory again, "
                               "more than the 300 s ceiling; re-run later (progress is saved)")
        kept = sum(s.count for s in ChatStore.read_checkpoint(tmp_path / "run" /
                                                              CHANNEL_DIR).segments)
        assert kept > 0 and not (tmp_path / "run" / CHANNEL_DIR / "result.json").exists()
        dc.rules.clear()
        assert tgarc(dc, tmp_path / "run", "--quiet").returncode == 0
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")


def test_takeout_delayed_require_is_exit_3_auto_falls_back(tmp_path):
    with served(40, rules=[Rule("InitTakeoutSessionRequest", "takeout_delay", every=1,
                                seconds=86400)]) as dc:
        r = tgarc(dc, tmp_path, "--quiet", "--takeout", "require")
        assert r.returncode == 3
        assert "takeout session" in one_line(r) and "--takeout auto" in one_line(r)
        r = tgarc(dc, tmp_path, "--quiet", "--takeout", "auto")
        assert r.returncode == 0
        assert "exporting with the normal API instead" in one_line(r)


def test_takeout_is_used_when_granted(tmp_path):
    with served(40) as dc:
        assert tgarc(dc, tmp_path, "--quiet", "--takeout", "require").returncode == 0
        assert dc.takeouts and any(c.method == "FinishTakeoutSessionRequest" for c in dc.calls)


def test_bad_flags_are_exit_2(tmp_path):
    with served(20) as dc:
        for flags, says in ((["--since", "yesterday"], "not a date: 'yesterday'"),
                            (["--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
                            (["--format", "pdf"], "unknown format 'pdf'"),
                            (["--workers", "0"], "--workers must be a number")):
            r = tgarc(dc, tmp_path, "--quiet", *flags)
            assert r.returncode == 2, (flags, r.stderr)
            assert says in one_line(r), r.stderr
    assert not any(tmp_path.iterdir())


def test_a_bot_session_asked_for_history_is_exit_2(tmp_path):
    with served(20) as dc:
        dc.session = dc.new_session(bot=True)
        r = tgarc(dc, tmp_path, "--quiet")
    assert r.returncode == 2, r.stderr
    assert one_line(r) == ("tgarc: this is a bot session: Telegram does not give bots chat "
                           "history; log in as a user with `tgarc login`")


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs: a real full disk (ENOSPC), grown again with a remount."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        if os.environ.get("CI"):           # CI machines run as root: there it must run
            pytest.fail(f"cannot mount a tmpfs for the disk-full test: {r.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_exit_4_with_a_consistent_checkpoint_then_resumes(tmp_path, small_disk):
    with served(20000, text_only=True) as dc:
        assert tgarc(dc, tmp_path / "reference", "--quiet", "--format", "jsonl").returncode == 0
        r = tgarc(dc, small_disk / "out", "--quiet", "--format", "jsonl",
                  "--metrics", str(tmp_path / "metrics.json"))
        assert r.returncode == 4, r.stderr
        assert one_line(r).startswith("tgarc: No space left on device"), r.stderr
        root = small_disk / "out" / CHANNEL_DIR            # readable, consistent
        for seg in ChatStore.read_checkpoint(root).segments:
            read_segment_file(root / "archive" / seg.name)
        subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
        r = tgarc(dc, small_disk / "out", "--quiet", "--format", "jsonl")
        assert r.returncode == 0, r.stderr
    assert outputs(small_disk / "out") == outputs(tmp_path / "reference")


def test_one_takeout_session_serves_a_whole_run_of_chats(tmp_path):
    """--all: the takeout session is opened once and finished once, after the last chat
    (it was one per chat); a refusal is asked and warned about once too."""
    with served(40) as dc:
        r = tgarc(dc, tmp_path / "a", "--quiet", "--all", "--takeout", "require", target="")
        assert r.returncode == 0, r.stderr
        methods = [c.method for c in dc.calls]
        assert methods.count("InitTakeoutSessionRequest") == 1
        assert methods.count("FinishTakeoutSessionRequest") == 1
        assert methods.index("FinishTakeoutSessionRequest") > max(
            i for i, x in enumerate(methods) if x == "GetHistoryRequest")
        assert len(dc.takeouts) == 1
    with served(40, rules=[Rule("InitTakeoutSessionRequest", "takeout_delay", every=1,
                                seconds=86400)]) as dc:
        r = tgarc(dc, tmp_path / "b", "--all", "--takeout", "auto", target="")
        assert r.returncode == 0, r.stderr
        assert [c.method for c in dc.calls].count("InitTakeoutSessionRequest") == 1
        assert r.stderr.count("exporting with the normal API instead") == 1
