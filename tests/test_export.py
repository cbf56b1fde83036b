"""`tgarc export` end to end: the CLI as a subprocess against a fakedc in this process."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import orjson
import pytest

from engine import model as m
from engine.aggregator import validate
from engine.archive.store import ChatStore
from engine.fakedc.faults import Rule
from tests._export import (
    CHANNEL_DIR,
    descendants,
    kill_group,
    outputs,
    served,
    start,
    tgarc,
    wait_for,
    workers_of,
)

GOLDEN = Path(__file__).parent / "golden"


def ok(r) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr[-3000:]}"


def segments(out: Path) -> list[m.Message]:
    with ChatStore.load(out / CHANNEL_DIR) as store:
        return [x for s in store.cp.segments for x in store.read_segment(s.name).messages]


def test_export_of_the_corpus_matches_the_golden_files(tmp_path):
    with served(150) as dc:
        ok(tgarc(dc, tmp_path))
    files = outputs(tmp_path)
    assert files["result.json"] == (GOLDEN / "result_channel.json").read_bytes()
    assert files["messages.jsonl"] == (GOLDEN / "messages_channel.jsonl").read_bytes()
    # The renderer's golden note (folder "channel1500000001-channel": the same note key)
    note = files["markdown/2024/2024-01-01 channel1500000001.md"]
    golden = GOLDEN / "vault_channel1500000001-channel__markdown__2024__2024-01-01.md"
    assert note == golden.read_bytes()
    json.loads(files["result.json"])


def test_worker_count_does_not_change_a_byte(tmp_path):
    with served(700) as dc:
        results = {}
        for n in (1, 2, 4):
            ok(tgarc(dc, tmp_path / f"w{n}", "--workers", str(n)))
            results[n] = outputs(tmp_path / f"w{n}")
    assert results[1] == results[2] == results[4]
    assert len(json.loads(results[1]["result.json"])["messages"]) > 600


def test_metrics_validate_and_count_what_was_exported(tmp_path):
    with served(400) as dc:
        r = tgarc(dc, tmp_path, "--workers", "2")
        ok(r)
        expected = sum(1 for i in range(1, dc.corpus.chats["channel"].top_id + 1)
                       if dc.corpus.chats["channel"].exists(i))
        pages = sum(1 for c in dc.calls if c.method == "GetHistoryRequest"
                    and c.args.get("add_offset") == -100)
    metrics = orjson.loads((tmp_path / "export_metrics.json").read_bytes())
    assert validate(metrics) == []
    assert metrics["messages"] == expected
    batches = len(ChatStore.read_checkpoint(tmp_path / CHANNEL_DIR).segments)
    for stage in ("decode", "render", "write"):
        assert metrics["stages"][stage]["count"] == batches
    assert metrics["stages"]["fetch"]["count"] == pages >= batches
    assert metrics["workers"]["count"] == 2
    assert metrics["recommendation"]["workers"] >= 1
    tune = subprocess.run([sys.executable, "-m", "engine", "tune",
                           str(tmp_path / "export_metrics.json"), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert tune.returncode == 0, tune.stderr
    assert orjson.loads(tune.stdout)["workers"] == metrics["recommendation"]["workers"]
    # progress went to stderr as JSON lines, nothing to stdout
    lines = [orjson.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    assert any(x.get("event") == "progress" for x in lines)
    assert r.stdout == ""


def test_kill_9_at_random_moments_then_rerun_gives_identical_outputs(tmp_path):
    """20 seeded kills: the whole process group (a crash) or the supervisor alone (its
    workers and aggregator must then exit by themselves); after each chain of kills the
    same command finishes with outputs identical to an uninterrupted run."""
    rnd = random.Random(20261129)
    print("seed 20261129")
    with served(2500) as dc:
        ok(tgarc(dc, tmp_path / "reference"))
        reference = outputs(tmp_path / "reference")
        kills = 0
        for chain in range(4):
            out = tmp_path / f"chain{chain}"
            for _ in range(5):
                proc = start(dc, out)
                time.sleep(rnd.uniform(0.3, 2.5))
                kills += 1
                if kills % 2:
                    kill_group(proc)
                else:
                    children = descendants(proc.pid)
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.communicate(timeout=30)
                    assert wait_for(lambda c=children: not any(p.is_running() and
                                                               p.status() != "zombie"
                                                               for p in c), 10), \
                        "workers/aggregator outlived their supervisor"
            ok(tgarc(dc, out))
            assert outputs(out) == reference, f"chain {chain} differs"
            assert not list(out.rglob("*.tmp")), "temporaries left behind"
            # the archive may be segmented differently but holds each message once
            ids = [x.id for x in segments(out)]
            assert len(ids) == len(set(ids))
    assert kills == 20


def test_incremental_run_fetches_only_the_new_range(tmp_path):
    with served(600) as dc:
        ok(tgarc(dc, tmp_path / "a"))
        notes = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").rglob("*.md")}
        top = dc.corpus.chats["channel"].top_id
        for i in range(150):
            dc.corpus.add_message("channel", f"new message {i}")
        before = len(dc.calls)
        ok(tgarc(dc, tmp_path / "a"))
        history = [c for c in dc.calls[before:] if c.method == "GetHistoryRequest"]
        windows = [(c.args.get("min_id", 0), c.args.get("max_id", 0)) for c in history
                   if c.args.get("min_id") or c.args.get("max_id")]
        assert windows and all(lo >= top for lo, _ in windows), windows
        ok(tgarc(dc, tmp_path / "fresh"))
    assert outputs(tmp_path / "a") == outputs(tmp_path / "fresh")
    # day notes that did not change were not rewritten
    unchanged = [p for p, t in notes.items() if p.stat().st_mtime_ns == t]
    assert len(unchanged) >= len(notes) - 2


def _assembly_log(out: Path) -> list[str]:
    return [x for x in (out / "tgarc.log").read_text().splitlines() if ": assembled " in x]


def test_resumed_assemblies_between_kills_equal_a_fresh_export(tmp_path):
    """Rounds of new messages, each round's first run killed at a seeded moment and the
    next one finishing: the resumed assemblies (result.json extended, messages.jsonl
    appended, the last day's note rewritten) leave the outputs a fresh export writes."""
    rnd = random.Random(20261205)
    out = tmp_path / "a"
    with served(1500) as dc:
        ok(tgarc(dc, out))
        for n in range(4):
            for i in range(rnd.randint(20, 300)):
                dc.corpus.add_message("channel", f"round {n} message {i}")
            proc = start(dc, out)
            time.sleep(rnd.uniform(0.3, 2.0))
            kill_group(proc)
            ok(tgarc(dc, out))
        ok(tgarc(dc, tmp_path / "fresh"))
    assert outputs(out) == outputs(tmp_path / "fresh")
    said = _assembly_log(out)
    assert sum("result.json extended" in x for x in said) >= 2, said
    assert not list(out.rglob("*.tmp"))
    assert subprocess.run([sys.executable, "-m", "engine", "verify", str(out)],
                          capture_output=True, timeout=60).returncode == 0


def test_an_extension_the_checkpoint_never_recorded_is_written_whole(tmp_path):
    """A crash after result.json was extended and messages.jsonl appended, before the
    checkpoint moved (its output state put back by hand): the next run must not extend
    them a second time; it writes them whole."""
    out = tmp_path / "a"
    cp_path = out / CHANNEL_DIR / "state" / "checkpoint.json"
    with served(600) as dc:
        ok(tgarc(dc, out))
        before = orjson.loads(cp_path.read_bytes())["output"]
        for i in range(80):
            dc.corpus.add_message("channel", f"late {i}")
        ok(tgarc(dc, out))
        assert "result.json extended" in _assembly_log(out)[-1]
        cp = orjson.loads(cp_path.read_bytes())
        cp["output"] = before
        cp_path.write_bytes(orjson.dumps(cp))
        ok(tgarc(dc, out))
        said = _assembly_log(out)[-1]
        assert "result.json rewritten" in said and "messages.jsonl rewritten" in said, said
        ok(tgarc(dc, tmp_path / "fresh"))
    assert outputs(out) == outputs(tmp_path / "fresh")


def test_refresh_edits_keeps_deleted_and_every_version(tmp_path):
    with served(300) as dc:
        ok(tgarc(dc, tmp_path))
        chat = dc.corpus.chats["channel"]
        alive = [i for i in range(chat.top_id - 30, chat.top_id + 1) if chat.exists(i)]
        edited, deleted = alive[-3], alive[-5]
        dc.corpus.edit_message("channel", edited, "edited text ✍️")
        dc.corpus.delete_messages("channel", [deleted])
        ok(tgarc(dc, tmp_path, "--refresh-edits", "40"))
    root = tmp_path / CHANNEL_DIR
    doc = json.loads((root / "result.json").read_bytes())
    by_id = {x["id"]: x for x in doc["messages"]}
    assert by_id[edited]["text"] == "edited text ✍️" and "edited" in by_id[edited]
    assert deleted in by_id                                  # kept
    lines = {json.loads(x)["id"]: json.loads(x) for x in (root / "messages.jsonl").open()}
    assert lines[deleted].get("deleted_at")
    assert "deleted_at" not in lines[edited]
    versions = [x for x in segments(tmp_path) if x.id == edited]
    assert [v.text != "edited text ✍️" for v in versions] == [True, False]
    assert sum(x.id == deleted for x in segments(tmp_path)) == 2
    notes = b"".join(p.read_bytes() for p in (root / "markdown").rglob("*.md"))
    assert "edited text ✍️".encode() in notes


def test_a_worker_killed_mid_run_is_replaced_and_the_export_is_correct(tmp_path):
    with served(6000, text_only=True, rtt_ms=15) as dc:
        ok(tgarc(dc, tmp_path / "reference"))
        proc = start(dc, tmp_path / "run", "--workers", "2", "--fetch-streams", "1")
        victims = wait_for(lambda: workers_of(proc.pid), 20)
        assert victims, "no worker process seen"
        time.sleep(0.5)
        assert proc.poll() is None, "the export ended before the worker could be killed"
        victims[0].kill()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")


def test_ctrl_c_exits_130_and_the_next_run_resumes(tmp_path):
    with served(6000, text_only=True, rtt_ms=15) as dc:
        ok(tgarc(dc, tmp_path / "reference"))
        proc = start(dc, tmp_path / "run", "--fetch-streams", "1")
        assert wait_for(lambda: (tmp_path / "run" / CHANNEL_DIR / "state" /
                                 "checkpoint.json").exists(), 20)
        time.sleep(0.5)
        assert proc.poll() is None, "the export ended before Ctrl-C"
        os.killpg(proc.pid, signal.SIGINT)          # a terminal's Ctrl-C reaches the group
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-3000:]
        assert "Traceback" not in err and "interrupted" in err
        cp = ChatStore.read_checkpoint(tmp_path / "run" / CHANNEL_DIR)
        assert cp.runs[-1].status == "interrupted"
        done = sum(s.count for s in cp.segments)
        assert done > 0
        ok(tgarc(dc, tmp_path / "run"))
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")


def test_flood_waits_drops_and_lost_replies_are_survived_and_counted(tmp_path):
    rules = [Rule("GetHistoryRequest", "flood_wait", nth=3, seconds=1),
             Rule("GetHistoryRequest", "drop_before", nth=6),
             Rule("GetHistoryRequest", "no_reply", nth=9),
             Rule("GetHistoryRequest", "server_error", nth=12)]
    with served(1200, rules=rules) as dc:
        r = tgarc(dc, tmp_path, "--request-timeout", "2", "--fetch-streams", "1")
        ok(r)
        ok(tgarc(dc, tmp_path / "reference"))
    assert outputs(tmp_path) == outputs(tmp_path / "reference")
    tg = orjson.loads((tmp_path / "export_metrics.json").read_bytes())["telegram"]
    assert tg["flood_waits"] == 1 and tg["flood_wait_seconds"] >= 1
    assert tg["timeouts"] >= 1 and tg["retries"] >= 2 and tg["reconnects"] >= 1, tg


def test_unknown_chat_is_one_line_and_exit_2(tmp_path):
    with served(50) as dc:
        r = tgarc(dc, tmp_path, target="@no_such_chat_here")
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if not x.startswith("{")
             and not x.startswith("tgarc: 0 messages") and "recommended" not in x]
    assert lines == ["tgarc: no chat or user is called @no_such_chat_here"], r.stderr
    assert not any((tmp_path).glob("channel*"))


def test_a_second_run_on_the_same_folder_exits_4_and_changes_nothing(tmp_path):
    import fcntl

    with served(50) as dc:
        ok(tgarc(dc, tmp_path))
        before = outputs(tmp_path)
        with open(tmp_path / ".lock", "a") as held:        # as a running export holds it
            fcntl.flock(held, fcntl.LOCK_EX)
            r = tgarc(dc, tmp_path)
        assert r.returncode == 4, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"tgarc: another tgarc run is writing {tmp_path} (it holds {tmp_path}/.lock)"]
        assert outputs(tmp_path) == before
        ok(tgarc(dc, tmp_path))


@pytest.mark.parametrize("fmt", ["json", "jsonl,md"])
def test_render_rebuilds_the_outputs_offline(tmp_path, fmt):
    with served(200) as dc:
        ok(tgarc(dc, tmp_path))
    before = outputs(tmp_path)
    root = tmp_path / CHANNEL_DIR
    for name in ("result.json", "messages.jsonl"):
        (root / name).unlink()
    import shutil
    shutil.rmtree(root / "markdown")
    r = subprocess.run([sys.executable, "-m", "engine", "render", str(tmp_path), "--tz", "UTC",
                        "--format", fmt], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    after = outputs(tmp_path)
    wanted = {k for k in before if (k == "result.json" and "json" in fmt.split(","))
              or (k == "messages.jsonl" and "jsonl" in fmt) or (k.startswith("markdown")
                                                                and "md" in fmt)}
    assert set(after) == wanted
    assert all(after[k] == before[k] for k in wanted)
    assert msgspec.json.decode((root / "state" / "checkpoint.json").read_bytes())


def test_id_and_date_windows_then_the_rest_fills_in(tmp_path):
    with served(3000, text_only=True) as dc:
        ok(tgarc(dc, tmp_path / "reference"))
        chat = dc.corpus.chats["channel"]
        ok(tgarc(dc, tmp_path / "run", "--min-id", "100", "--max-id", "199"))
        got = [x["id"] for x in json.loads(
            (tmp_path / "run" / CHANNEL_DIR / "result.json").read_bytes())["messages"]]
        assert got == [i for i in range(100, 200) if chat.exists(i)]
        # a date window (UTC): the corpus posts every 37 s from 2024-01-01 00:00
        ok(tgarc(dc, tmp_path / "days", "--since", "2024-01-02", "--until", "2024-01-02"))
        doc = json.loads((tmp_path / "days" / CHANNEL_DIR / "result.json").read_bytes())
        assert doc["messages"] and {x["date"][:10] for x in doc["messages"]} == {"2024-01-02"}
        notes = sorted(p.name for p in (tmp_path / "days" / CHANNEL_DIR).rglob("*.md"))
        assert notes == ["2024-01-02 channel1500000001.md"]
        ok(tgarc(dc, tmp_path / "hours", "--since", "2024-01-01T02:00",
                 "--until", "2024-01-01T03:00"))
        doc = json.loads((tmp_path / "hours" / CHANNEL_DIR / "result.json").read_bytes())
        assert {x["date"][:13] for x in doc["messages"]} == {"2024-01-01T02"}
        ok(tgarc(dc, tmp_path / "run"))                   # no window: the rest comes in
    assert outputs(tmp_path / "run") == outputs(tmp_path / "reference")


def test_render_in_another_zone_lets_the_workers_render_ahead(tmp_path):
    """`tgarc render --tz` of a chat whose cache holds another zone: a worker pool renders
    every segment's fragments while the assembly joins them (issue 17 point 4), and the
    outputs are byte for byte those of an export made in that zone, whatever the worker
    count."""
    with served(12_000, text_only=True) as dc:
        ok(tgarc(dc, tmp_path / "utc"))
        ok(tgarc(dc, tmp_path / "tokyo", "--tz", "Asia/Tokyo"))
    import shutil
    shutil.copytree(tmp_path / "utc", tmp_path / "two")
    said = {}
    for run, workers in (("utc", "1"), ("two", "2")):
        r = subprocess.run([sys.executable, "-m", "engine", "render", str(tmp_path / run),
                            "--tz", "Asia/Tokyo", "--workers", workers],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        said[run] = r.stderr
        assert outputs(tmp_path / run) == outputs(tmp_path / "tokyo")
    messages = len(json.loads((tmp_path / "tokyo" / CHANNEL_DIR / "result.json")
                              .read_bytes())["messages"])
    assert f"{messages} messages rendered (json, jsonl, md, Asia/Tokyo); {messages} of them " \
           f"by 1 worker(s) ahead of the assembly" in said["utc"]
    assert f"; {messages} of them by 2 worker(s) ahead" in said["two"]
    again = subprocess.run([sys.executable, "-m", "engine", "render", str(tmp_path / "two"),
                            "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "worker(s) ahead" not in again.stderr   # cache fits
