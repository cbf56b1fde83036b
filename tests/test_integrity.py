"""The archive is the user's only copy: locks, nothing deleted on a guess, verify stays honest.

Each test starts from a state a user can reach (a render during an export, a lost or
damaged checkpoint, a tampered output or segment, a change of zone) and checks that no
archived message or stored version is lost, that damage is reported and never blessed,
and that the folder ends up equal to a fresh export. The last test interleaves all of
it at random (seeded).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from engine.archive.store import (
    QUARANTINE,
    SEG_MAGIC,
    ChatStore,
    read_segment_file,
)
from tests._export import (
    CHANNEL_DIR,
    ROOT,
    env_for,
    kill_group,
    outputs,
    served,
    start,
    tgarc,
    wait_for,
)


def ok(r) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr[-3000:]}"


def cli(*args: str, dc=None) -> subprocess.CompletedProcess:
    env = env_for(dc) if dc is not None else {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def notices(r) -> list[str]:
    """stderr lines that are not JSON progress records."""
    return [x for x in r.stderr.splitlines() if x and not x.startswith("{")]


def versions(root: Path) -> set[tuple[int, str, bool]]:
    """Every message version the chat's archive (and quarantine) holds."""
    out = set()
    for folder in (root / "archive", root / QUARANTINE):
        for p in sorted(folder.glob("*.seg")) if folder.is_dir() else []:
            try:
                batch = read_segment_file(p)
            except Exception:           # a damaged file in quarantine: kept, unreadable
                continue
            out.update((x.id, x.text, x.deleted_at is not None) for x in batch.messages)
    return out


def history_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "archive").glob("*.seg") if not p.name.startswith("refresh"))


def flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) - 7 if at is None else at
    data[i] ^= 0x20
    path.write_bytes(bytes(data))


def test_segments_carry_their_own_checksum(tmp_path):
    with served(120) as dc:
        ok(tgarc(dc, tmp_path))
    root = tmp_path / CHANNEL_DIR
    for p in (root / "archive").glob("*.seg"):
        assert p.read_bytes().startswith(SEG_MAGIC)
        read_segment_file(p)


def test_render_during_an_export_is_refused_and_breaks_nothing(tmp_path):
    """Finding 1: `render` took no lock and deleted the segments the export had just
    written (the checkpoint did not list them yet)."""
    with served(6000, text_only=True, rtt_ms=50) as dc:
        ok(tgarc(dc, tmp_path / "reference"))
        proc = start(dc, tmp_path / "run", "--fetch-streams", "1")
        try:
            root = tmp_path / "run" / CHANNEL_DIR
            assert wait_for(lambda: len(list((root / "archive").glob("*.seg"))) >= 1, 30)
            r = cli("render", str(tmp_path / "run"), "--tz", "UTC")
            assert proc.poll() is None, "the export ended before the render: nothing shown"
            assert r.returncode == 4, r.stderr
            assert notices(r) == [f"tgarc: another tgarc run is writing {root} "
                                  f"(it holds {root}/state/.lock)"]
            _, err = proc.communicate(timeout=120)
        finally:
            kill_group(proc)
        assert proc.returncode == 0, err[-3000:]
        ok(tgarc(dc, tmp_path / "run"))
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")
    assert cli("verify", str(tmp_path / "run")).returncode == 0


def _archive_with_versions(dc, out: Path) -> tuple[Path, set]:
    """An export, then an edit and a deletion kept by --refresh-edits, then the message
    is gone from Telegram too: only the archive holds its versions now."""
    ok(tgarc(dc, out))
    chat = dc.corpus.chats["channel"]
    alive = [i for i in range(chat.top_id - 20, chat.top_id + 1) if chat.exists(i)]
    dc.corpus.edit_message("channel", alive[-2], "edited once")
    dc.corpus.delete_messages("channel", [alive[-4]])
    ok(tgarc(dc, out, "--refresh-edits", "20"))
    root = out / CHANNEL_DIR
    held = versions(root)
    assert (alive[-2], "edited once", False) in held
    assert any(i == alive[-4] and deleted for i, _, deleted in held)
    return root, held


@pytest.mark.parametrize("damage", ["rm-state", "truncated", "not-json"])
def test_a_lost_or_damaged_checkpoint_is_rebuilt_and_no_version_is_lost(tmp_path, damage):
    """Finding 2: a missing or damaged checkpoint used to delete every segment."""
    with served(300) as dc:
        root, held = _archive_with_versions(dc, tmp_path / "run")
        names = sorted(p.name for p in (root / "archive").iterdir())
        cp = root / "state" / "checkpoint.json"
        if damage == "rm-state":
            shutil.rmtree(root / "state")
        elif damage == "truncated":
            cp.write_bytes(cp.read_bytes()[:len(cp.read_bytes()) // 2])
        else:
            cp.write_bytes(b"\x00\x01garbage")
        r = tgarc(dc, tmp_path / "run")
        ok(r)
        said = notices(r)
        assert any("checkpoint.json" in x and "rebuilt from the archive" in x for x in said), \
            r.stderr
        assert sorted(p.name for p in (root / "archive").iterdir()) == names
        assert versions(root) == held
        if damage != "rm-state":
            assert list((root / "state").glob("checkpoint.json.damaged-*"))
        ok(tgarc(dc, tmp_path / "reference", "--refresh-edits", "20"))
        doc = json.loads((root / "result.json").read_bytes())
        assert len(doc["messages"]) > len(json.loads(
            (tmp_path / "reference" / CHANNEL_DIR / "result.json").read_bytes())["messages"])
    assert cli("verify", str(tmp_path / "run")).returncode == 0


def test_repair_rebuilds_the_checkpoint_offline(tmp_path):
    with served(300) as dc:
        root, held = _archive_with_versions(dc, tmp_path)
    before = ChatStore.read_checkpoint(root)
    shutil.rmtree(root / "state")
    r = cli("repair", str(tmp_path))
    ok(r)
    after = ChatStore.read_checkpoint(root)
    assert sorted(s.name for s in after.segments) == sorted(s.name for s in before.segments)
    assert after.covered() == before.covered()
    assert [r.status for r in after.runs] == [r.status for r in before.runs]
    assert after.output.tz == "UTC"
    assert versions(root) == held
    ok(cli("repair", str(tmp_path)))             # nothing to do: still exit 0
    assert cli("verify", str(tmp_path)).returncode == 0


def test_temporaries_a_killed_run_left_in_the_views_and_notes_go_when_the_chat_opens(tmp_path):
    """A kill while topic views or notes were being written leaves ``.<name>.<pid>.tmp``
    files (never whole files): the next open of the chat removes them, nested ones too."""
    with served(150) as dc:
        ok(tgarc(dc, tmp_path, "--quiet", target="@tgarc_group"))
        root = next(tmp_path.glob("channel1500000002-*"))
        left = [root / "topics" / "2-topic-2" / ".result.json.123.tmp",
                root / "topics" / "2-topic-2" / "markdown" / "2024" / ".2024-01-01.md.9.tmp",
                root / "markdown" / ".x.md.7.tmp", root / ".messages.jsonl.5.tmp"]
        for p in left:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"half a file")
        keep = root / "topics" / "2-topic-2" / "notes.tmp"          # not a temporary's name
        keep.write_bytes(b"the user's")
        ok(tgarc(dc, tmp_path, "--quiet", target="@tgarc_group"))
    assert not [p for p in left if p.exists()]
    assert keep.read_bytes() == b"the user's"


def test_segments_a_crash_left_unlisted_are_adopted_or_set_aside_never_deleted(tmp_path):
    with served(2500, text_only=True) as dc:
        ok(tgarc(dc, tmp_path / "reference"))
        ok(tgarc(dc, tmp_path / "run"))
        root = tmp_path / "run" / CHANNEL_DIR
        cp_path = root / "state" / "checkpoint.json"
        cp = msgspec.json.decode(cp_path.read_bytes())
        # a crash after the workers' fsync, before the checkpoint listed the last two
        # segments; one of them was then damaged
        cp["segments"], dropped = cp["segments"][:-2], cp["segments"][-2:]
        cp["output"]["assembled"] = len(cp["segments"])
        cp_path.write_bytes(msgspec.json.encode(cp))
        flip(root / "archive" / dropped[1][0])
        r = tgarc(dc, tmp_path / "run")
        ok(r)
        said = " ".join(notices(r))
        assert "1 archive segment(s) the checkpoint did not list were checked and kept" in said
        assert f"archive/{dropped[1][0]} is damaged" in said
        assert (root / QUARANTINE / dropped[1][0]).exists()
        assert (root / "archive" / dropped[0][0]).exists()
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")


def test_outputs_heal_and_damage_is_never_blessed(tmp_path):
    """Finding 3: each export re-baselined the manifest from the disk."""
    with served(300) as dc:
        ok(tgarc(dc, tmp_path / "reference"))
        ok(tgarc(dc, tmp_path / "run"))
        root = tmp_path / "run" / CHANNEL_DIR
        (root / "result.json").unlink()
        note = sorted((root / "markdown").rglob("*.md"))[0]
        note.write_text("vandalised")
        with open(root / "messages.jsonl", "ab") as f:
            f.write(b"{}\n")
        r = cli("verify", str(tmp_path / "run"))
        assert r.returncode == 1 and "missing: result.json" in r.stdout
        r = tgarc(dc, tmp_path / "run")
        ok(r)
        assert any("missing or changed" in x for x in notices(r)), r.stderr
        assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")
        ok(cli("verify", str(tmp_path / "run")))

        # one byte appended to a segment: flagged by verify, by every export, by render
        seg = history_files(root)[0]
        with open(seg, "ab") as f:
            f.write(b"\x00")
        for _ in range(2):
            r = cli("verify", str(tmp_path / "run"))
            assert r.returncode == 1 and f"damaged: archive/{seg.name}" in r.stdout, r.stdout
            r = tgarc(dc, tmp_path / "run")
            assert r.returncode == 1, r.stderr
            assert notices(r)[-1].startswith(f"tgarc: archive segment {seg} is damaged"), \
                r.stderr
            assert "tgarc repair" in notices(r)[-1] and "Traceback" not in r.stderr
        r = cli("render", str(tmp_path / "run"))
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert notices(r)[-1].startswith(f"tgarc: archive segment {seg} is damaged")
        r = tgarc(dc, tmp_path / "run", "--refresh-edits", "300")
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        # repair sets it aside; the next export fetches its ids again
        r = cli("repair", str(tmp_path / "run"))
        ok(r)
        assert "fetched again by the next export" in r.stderr
        assert (root / QUARANTINE / seg.name).exists() and not seg.exists()
        ok(tgarc(dc, tmp_path / "run"))
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")
    ok(cli("verify", str(tmp_path / "run")))


def test_render_tz_leaves_a_consistent_folder_and_the_chat_keeps_its_zone(tmp_path):
    """Finding 5: `render --tz` left the manifest stale and old-zone notes behind, and the
    next plain export switched the chat back."""
    with served(400) as dc:
        ok(tgarc(dc, tmp_path / "tokyo", "--tz", "Asia/Tokyo"))
        ok(tgarc(dc, tmp_path / "run", "--tz", "America/Los_Angeles"))
        r = cli("render", str(tmp_path / "run"), "--tz", "Asia/Tokyo")
        ok(r)
        assert "time zone changed from America/Los_Angeles to Asia/Tokyo" in r.stderr
        assert outputs(tmp_path / "run") == outputs(tmp_path / "tokyo")
        ok(cli("verify", str(tmp_path / "run")))
        # an export that names no zone keeps the chat's
        env = env_for(dc, TZ="Europe/Berlin")
        args = [sys.executable, "-m", "engine", "export", "@tgarc_demo", "--out",
                str(tmp_path / "run"), "--progress", "off", "--media", "none"]
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        ok(r)
        assert outputs(tmp_path / "run") == outputs(tmp_path / "tokyo")
        # even when the checkpoint is lost: the manifest remembers the zone
        shutil.rmtree(tmp_path / "run" / CHANNEL_DIR / "state")
        ok(subprocess.run(args, env=env, capture_output=True, text=True, timeout=120))
        assert outputs(tmp_path / "run") == outputs(tmp_path / "tokyo")
        # one that names another says so and switches
        r = tgarc(dc, tmp_path / "run", "--tz", "UTC")
        ok(r)
        assert any("time zone changed from Asia/Tokyo to UTC" in x for x in notices(r))
        ok(tgarc(dc, tmp_path / "utc"))
    assert outputs(tmp_path / "run") == outputs(tmp_path / "utc")
    ok(cli("verify", str(tmp_path / "run")))


def test_archives_are_private_unless_shared(tmp_path):
    """Finding 9: exported files were 0644 (readable by every local user)."""
    with served(60) as dc:
        ok(tgarc(dc, tmp_path / "private"))
        ok(tgarc(dc, tmp_path / "shared", "--shared"))
    for base, dirs, files in ((tmp_path / "private", 0o700, 0o600),
                              (tmp_path / "shared", 0o755, 0o644)):
        paths = [base / CHANNEL_DIR, *(base / CHANNEL_DIR).rglob("*")]
        assert len(paths) > 10
        for p in paths:
            mode = stat.S_IMODE(p.stat().st_mode)
            assert mode == (dirs if p.is_dir() else files), (p, oct(mode))


# ---- chaos ----------------------------------------------------------------------------------
OPS = ("export", "refresh", "render", "render-during-export", "kill", "rm-state", "rm-output",
       "edit-output", "flip-segment", "verify", "new-messages")


def damaged_files(root: Path) -> list[Path]:
    out = []
    for p in sorted((root / "archive").glob("*.seg")):
        try:
            read_segment_file(p)
        except Exception:
            out.append(p)
    return out


def listed(root: Path) -> set[str]:
    manifest = json.loads((root / "manifest.json").read_bytes())
    return set(manifest["files"])


@pytest.mark.parametrize("seed", [1, 2])
def test_chaos(tmp_path, seed):
    """Random interleavings of exports, renders, refreshes, crashes and tampering. After
    every step no archived message version is lost (but those of a damaged segment,
    which the next export fetches again); verify reports every tamper; at the end
    (repair, export) the folder equals a fresh export's."""
    rnd = random.Random(seed)
    run = tmp_path / "run"
    root = run / CHANNEL_DIR
    with served(1500, rtt_ms=2) as dc:
        chat = dc.corpus.chats["channel"]
        ok(tgarc(dc, run))
        first_top = chat.top_id
        held = versions(root)
        edited: set[int] = set()
        refetch: set[int] = set()          # ids of segments flipped: fetched again later
        steps: list[str] = []
        plan = [*OPS, *(rnd.choice(OPS) for _ in range(4))]   # every kind at least once
        rnd.shuffle(plan)
        for op in plan:
            steps.append(op)
            where = f"seed {seed}, steps {steps}"
            bad = bool(damaged_files(root))
            codes = (0, 1) if bad else (0,)
            if op == "export":
                r = tgarc(dc, run)
                assert r.returncode in codes, (where, r.stderr[-2000:])
            elif op == "refresh":
                # not the ids of a damaged segment: their archived version must come back
                alive = [i for i in range(1, first_top + 1)
                         if chat.exists(i) and i not in refetch][-60:]
                for i in rnd.sample(alive, min(2, len(alive))):
                    dc.corpus.edit_message("channel", i, f"edit {len(steps)} of {i}")
                    edited.add(i)
                r = tgarc(dc, run, "--refresh-edits", "100")
                assert r.returncode in codes, (where, r.stderr[-2000:])
            elif op == "new-messages":
                for k in range(rnd.randint(1, 30)):
                    dc.corpus.add_message("channel", f"new {len(steps)}.{k}")
            elif op == "render":
                r = cli("render", str(run), "--tz", rnd.choice(["UTC", "Asia/Tokyo"]))
                assert r.returncode in codes and "Traceback" not in r.stderr, (where, r.stderr)
            elif op == "render-during-export":
                dc.corpus.add_message("channel", f"new {len(steps)}")
                proc = start(dc, run)
                r = cli("render", str(run), "--tz", "UTC")
                assert r.returncode in (*codes, 4), (where, r.stderr)
                _, err = proc.communicate(timeout=120)
                assert proc.returncode in (*codes, 4), (where, err[-2000:])
            elif op == "kill":
                dc.corpus.add_message("channel", f"new {len(steps)}")
                proc = start(dc, run)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(rnd.uniform(0.3, 2.0))
                kill_group(proc)
            elif op == "rm-state":
                shutil.rmtree(root / "state", ignore_errors=True)
                r = cli("verify", str(run))
                assert r.returncode == 1 and "state/checkpoint.json" in r.stdout, where
            elif op in ("rm-output", "edit-output"):
                known = listed(root)
                files = [f for f in (root / "result.json", root / "messages.jsonl",
                                     *sorted((root / "markdown").rglob("*.md")))
                         if f.exists() and f.relative_to(root).as_posix() in known]
                victim = rnd.choice(files)
                if op == "rm-output":
                    victim.unlink()
                else:
                    with open(victim, "ab") as f:
                        f.write(b"tampered\n")
                r = cli("verify", str(run))
                assert r.returncode == 1, (where, r.stdout)
                assert victim.relative_to(root).as_posix() in r.stdout, (where, r.stdout)
            elif op == "flip-segment":
                # a history segment whose messages Telegram still has as they were: its
                # ids are fetched again; versions only the archive holds could not be
                broken = damaged_files(root)
                safe = [p for p in history_files(root) if p not in broken
                        and not {x.id for x in read_segment_file(p).messages} & edited]
                if not safe:
                    continue
                victim = rnd.choice(safe)
                refetch.update(x.id for x in read_segment_file(victim).messages)
                flip(victim, rnd.randrange(60, victim.stat().st_size))
                r = cli("verify", str(run))
                assert r.returncode == 1 and f"archive/{victim.name}" in r.stdout, \
                    (where, r.stdout)
            elif op == "verify":
                r = cli("verify", str(run))
                assert r.returncode in (0, 1) and "Traceback" not in r.stderr, where
            now = versions(root)
            lost = {v for v in held - now if v[0] not in refetch}
            assert not lost, (where, sorted(lost)[:5])
            held |= now
        ok(cli("repair", str(run)))
        r = tgarc(dc, run, "--refresh-edits", "100000")
        ok(r)
        ok(tgarc(dc, tmp_path / "fresh"))
        assert held <= versions(root), (steps, sorted(held - versions(root))[:5])
        print(f"seed {seed}: {steps}")
        assert not damaged_files(root)
    ok(cli("verify", str(run)))
    assert outputs(run) == outputs(tmp_path / "fresh"), steps
