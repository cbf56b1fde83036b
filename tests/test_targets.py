"""Every way to name a chat: @username, t.me links, ids, me; --all with --kinds; chat.json;
secret chats refused with the reason."""

from __future__ import annotations

import json

import pytest

from engine.config import ConfigError
from engine.telegram.targets import SECRET_CHATS, Target, parse
from tests._export import CHANNEL_DIR, ROOT, outputs, served, tgarc


@pytest.mark.parametrize("text, want", [
    ("@durov", ("username", "durov")), ("durov", ("username", "durov")),
    ("https://t.me/durov", ("username", "durov")), ("t.me/durov/123", ("username", "durov")),
    ("http://telegram.me/s/durov?before=5", ("username", "durov")),
    ("https://t.me/c/1234567890/55", ("id", -1001234567890)),
    ("-1001234567890", ("id", -1001234567890)), ("777000", ("id", 777000)),
    ("https://t.me/+AbCdEf_12", ("invite", "AbCdEf_12")),
    ("t.me/joinchat/AbCdEf", ("invite", "AbCdEf")), ("me", ("me", "me")),
    (" @Some_Channel ", ("username", "Some_Channel")),
    ("@secret", ("username", "secret")), ("t.me/secret", ("username", "secret")),
    ("secretive", ("username", "secretive")),
])
def test_targets_parse(text, want):
    assert parse(text) == Target(*want, text)


@pytest.mark.parametrize("text", ["", "@ab", "t.me/", "https://t.me/c/abc", "two words",
                                  "../../etc"])
def test_bad_targets_are_input_errors(text):
    with pytest.raises(ConfigError):
        parse(text)


@pytest.mark.parametrize("text", ["secret", "Secret", " secret ", "secret:", "secret:12345",
                                  "secret:@durov", "SECRET:User Name"])
def test_secret_chats_are_refused_with_the_reason(text):
    with pytest.raises(ConfigError) as exc:
        parse(text)
    message = str(exc.value)
    assert message == f"cannot export {text.strip()!r}: {SECRET_CHATS}"
    assert "\n" not in message and "end-to-end encrypted" in message
    assert "no history" in message


def test_secret_chats_through_the_cli_are_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    with served(20) as dc:
        r = tgarc(dc, tmp_path / "one", "--quiet", target="secret:42")
        rk = subprocess.run([sys.executable, "-m", "engine", "export", "--all", "--kinds",
                             "channels,secrets", "--out", str(tmp_path / "all")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    for res, head in ((r, "tgarc: cannot export 'secret:42': "),
                      (rk, "tgarc: --kinds secrets: ")):
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
        assert lines[0].startswith(head + SECRET_CHATS), lines[0]
    assert not (tmp_path / "one").exists()          # refused before anything is written
    assert not (tmp_path / "all").exists()


def test_links_and_ids_reach_the_same_folder_and_chat_json_describes_it(tmp_path):
    with served(120) as dc:
        assert tgarc(dc, tmp_path / "ref", "--quiet").returncode == 0
        for target in ("https://t.me/tgarc_demo", "t.me/c/1500000001/7", "-1001500000001"):
            out = tmp_path / target.replace("/", "_").replace(":", "")
            r = tgarc(dc, out, "--quiet", target=target)
            assert r.returncode == 0, r.stderr
            assert outputs(out) == outputs(tmp_path / "ref")
        r = tgarc(dc, tmp_path / "x", "--quiet", target="https://t.me/+SomeInviteHash")
        assert r.returncode == 2 and "has expired or is not valid" in r.stderr
        r = tgarc(dc, tmp_path / "saved", "--quiet", target="me")     # Saved Messages
        assert r.returncode == 0, r.stderr
        saved = json.loads(next((tmp_path / "saved").glob("user1000001-*/result.json"))
                           .read_bytes())
        assert saved["type"] == "saved_messages" and saved["messages"]
    info = json.loads((tmp_path / "ref" / CHANNEL_DIR / "chat.json").read_bytes())
    doc = json.loads((tmp_path / "ref" / CHANNEL_DIR / "result.json").read_bytes())
    assert info["title"] == doc["name"] and info["username"] == "tgarc_demo"
    assert info["kind"] == "channel" and info["marked_id"] == -1001500000001
    assert info["messages"] == len(doc["messages"]) and info["about"]
    assert info["last_id"] >= doc["messages"][-1]["id"]
    assert [r["status"] for r in info["exports"]] == ["done"]


def test_all_exports_every_dialog_of_the_kinds_asked_each_on_its_own(tmp_path):
    with served(80) as dc:
        r = tgarc(dc, tmp_path, "--quiet", "--all", "--kinds", "channels", target="")
        assert r.returncode == 0, r.stderr
        assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir() if p.is_dir()) == \
            ["channel1500000001"]
        r = tgarc(dc, tmp_path, "--quiet", "--all", target="")
        assert r.returncode == 0, r.stderr
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert [f.split("-")[0] for f in folders] == [
        "channel1500000001", "channel1500000002", "channel1500000003", "chat400001",
        "user1000001", "user1000100"]
    for f in folders:
        doc = json.loads((tmp_path / f / "result.json").read_bytes())
        assert doc["messages"], f
        assert (tmp_path / f / "chat.json").exists() and (tmp_path / f / "manifest.json").exists()


def _mtimes(root) -> dict:
    skip = {"tgarc.log", "export_metrics.json", ".lock"}
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and p.name not in skip}


def test_an_all_rerun_skips_every_chat_with_nothing_new_without_a_request(tmp_path):
    """Issue 14 point 3: the dialog list's newest message is already archived and the last
    run left nothing to redo: no history request, no file touched. A new message, another
    setting, a damaged output or a file left to retry brings the chat back."""
    with served(300) as dc:
        ok = tgarc(dc, tmp_path, "--quiet", "--all", target="", timeout=300)
        assert ok.returncode == 0, ok.stderr
        folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
        before, files = len(dc.calls), _mtimes(tmp_path)
        r = tgarc(dc, tmp_path, "--all", target="")
        assert r.returncode == 0, r.stderr
        assert f"exporting 0 chats; {len(folders)} more unchanged" \
            in r.stderr
        assert [c.method for c in dc.calls[before:] if "History" in c.method
                or "Takeout" in c.method] == []
        assert _mtimes(tmp_path) == files

        # a new message in the channel: that chat alone is exported again
        dc.corpus.add_message("channel", "a later post")
        r = tgarc(dc, tmp_path, "--all", target="")
        assert r.returncode == 0, r.stderr
        assert f"exporting 1 chats; {len(folders) - 1} more" in r.stderr
        channel = next(tmp_path.glob("channel1500000001-*"))
        texts = [x.get("text") for x in json.loads((channel / "result.json").read_bytes())
                 ["messages"]]
        assert texts[-1] == "a later post"
        changed = {p for p, t in _mtimes(tmp_path).items() if files.get(p) != t}
        assert changed and all(channel in p.parents for p in changed)

        # a damaged output heals; another setting (formats) is another run for every chat
        group = next(tmp_path.glob("chat400001*"))
        note = sorted(group.rglob("*.md"))[0]
        note.unlink()
        r = tgarc(dc, tmp_path, "--all", target="")
        assert "exporting 1 chats" in r.stderr and note.exists()
        r = tgarc(dc, tmp_path, "--all", "--format", "json,jsonl", target="")
        assert f"exporting {len(folders)} chats" in r.stderr


def test_an_all_rerun_after_a_failed_download_tries_it_again(tmp_path):
    """A file Telegram refused leaves the chat unsettled: the next --all run visits it
    (and settles it once the file came)."""
    from engine.fakedc.faults import Rule

    args = ("--all", "--kinds", "channels", "--media", "voice")
    refuse = [Rule("GetFileRequest", "error", every=1, code=400, message="FILE_ID_INVALID")]
    with served(150, rules=refuse) as dc:
        r = tgarc(dc, tmp_path, *args, target="", timeout=300)
        assert r.returncode == 0 and "could not" in r.stderr, r.stderr
    with served(150) as dc:                               # the server relents
        r = tgarc(dc, tmp_path, *args, target="", timeout=300)
        assert r.returncode == 0 and "exporting 1 chats" in r.stderr, r.stderr
        assert [c for c in dc.calls_to("GetFileRequest") if c.outcome == "ok"]
        r = tgarc(dc, tmp_path, *args, target="")
        assert r.returncode == 0 and "exporting 0 chats" in r.stderr, r.stderr


def test_an_all_rerun_after_a_windowed_run_fetches_the_older_ids(tmp_path):
    """A run with --min-id leaves the older ids to the next run: it never settles."""
    with served(200) as dc:
        args = ("--quiet", "--all", "--kinds", "channels")
        assert tgarc(dc, tmp_path, *args, "--min-id", "150", target="").returncode == 0
        r = tgarc(dc, tmp_path, "--all", "--kinds", "channels", target="")
        assert r.returncode == 0 and "exporting 1 chats" in r.stderr, r.stderr
    doc = json.loads((next(tmp_path.glob("channel1500000001-*")) / "result.json").read_bytes())
    assert min(x["id"] for x in doc["messages"]) < 150


def test_an_all_run_reports_each_chat_and_the_run_total(tmp_path):
    """--all: progress carries the run's totals and the chats done of how many, each chat
    that ends is a JSON event, the summary lists every chat, and export_metrics.json at the
    --out root describes the whole run with a per-chat breakdown."""
    with served(80) as dc:
        r = tgarc(dc, tmp_path, "--all", target="")
    assert r.returncode == 0, r.stderr
    events = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    chats = [e for e in events if e["event"] == "chat"]
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert sorted(e["folder"] for e in chats) == folders and len(folders) == 6
    assert [e["chats"] for e in chats] == [{"done": k, "total": 6} for k in range(1, 7)]
    assert all(e["status"] == "done" and e["messages"] > 0 for e in chats)
    summary = next(e for e in events if e["event"] == "summary")
    assert summary["messages"] == sum(e["messages"] for e in chats)
    # listed by folder, not in the order they ended (which varies from run to run)
    assert [c["folder"] for c in summary["chats"]] == folders
    progress = [e for e in events if e["event"] == "progress" and "chats" in e]
    assert all(e["chats"]["total"] == 6 for e in progress)
    metrics = json.loads((tmp_path / "export_metrics.json").read_bytes())
    assert metrics["chats_total"] == 6
    ended = {e["folder"]: e["messages"] for e in chats}
    assert [c["messages"] for c in metrics["chats"]] == [ended[f] for f in folders]
    assert metrics["messages"] == sum(c["messages"] for c in metrics["chats"])
    # the run's estimate: the chats before the last one plus the last one's own estimate
    assert metrics["estimated_total"] >= sum(e["messages"] for e in chats[:-1])
    lines = [x for x in r.stderr.splitlines() if x.startswith("tgarc:   ")]
    assert len(lines) == 6 and all(" messages in " in x for x in lines)
    assert [x.removeprefix("tgarc:   ").rsplit(": ", 1)[0] for x in lines] == \
        [c["chat"] or c["folder"] for c in metrics["chats"]]
    assert any(" messages from 6 chats in " in x for x in r.stderr.splitlines())


def test_chats_run_at_once_on_one_pool_and_come_out_as_each_alone(tmp_path):
    """Issue 14 point 2: --all exports its chats at once (the JSON progress names the chats
    in flight; one pool of workers serves them all: two worker processes for six chats)
    and every chat's outputs are byte-identical to that chat exported alone, one request at
    a time. The Saved Messages chat (``me``) and a forum, a migrated group: every kind."""
    with served(120, rtt_ms=40) as dc:
        r = tgarc(dc, tmp_path / "all", "--all", "--workers", "2", "--comments",
                  "--tz", "Asia/Kathmandu", target="", timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        folders = sorted(p.name for p in (tmp_path / "all").iterdir() if p.is_dir())
        assert len(folders) == 6
        alone = {}
        for f in folders:
            marked = json.loads((tmp_path / "all" / f / "chat.json").read_bytes())["marked_id"]
            one = tgarc(dc, tmp_path / "one", "--quiet", "--max-in-flight", "1", "--comments",
                        "--tz", "Asia/Kathmandu", target=str(marked), timeout=300)
            assert one.returncode == 0, one.stderr[-3000:]
            alone[f] = outputs(tmp_path / "one", f)
    events = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    flying = max((len(e.get("in_flight", [])) for e in events if e["event"] == "progress"),
                 default=0)
    assert flying >= 2, "the chats ran one after the other"
    metrics = json.loads((tmp_path / "all" / "export_metrics.json").read_bytes())
    assert len([p for p in metrics["resources"]["per_process"].values()
                if p.get("role") == "worker"]) <= 2
    for f in folders:
        got = outputs(tmp_path / "all", f)
        assert got and got == alone[f], f


def test_account_json_is_telegram_desktops_full_export_of_every_chat_folder(tmp_path):
    """Issue 14 point 5: --account-json writes result.json at the --out root in Telegram
    Desktop's full-export shape: about, personal_information, chats.list holding each chat
    folder's own result.json (byte for byte), left_chats for a channel the account no
    longer has among its dialogs (known in an --all run)."""
    import shutil

    from engine.render.account_json import ABOUT, ABOUT_CHATS, ABOUT_LEFT

    out = tmp_path / "out"
    with served(60) as dc:
        r = tgarc(dc, out, "--quiet", "--all", "--account-json", target="", timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        folders = sorted(p.name for p in out.iterdir() if p.is_dir())
        whole = (out / "result.json").read_bytes()
        doc = json.loads(whole)
        assert list(doc) == ["about", "personal_information", "chats"]
        assert doc["about"] == ABOUT and doc["chats"]["about"] == ABOUT_CHATS
        me = doc["personal_information"]
        assert isinstance(me["user_id"], int) and me["first_name"]
        assert [c["id"] for c in doc["chats"]["list"]] == [
            json.loads((out / f / "result.json").read_bytes())["id"] for f in folders]
        for f in folders:                           # each chat's own file, byte for byte
            assert (out / f / "result.json").read_bytes()[:-1] in whole
        # a channel that is no longer among the dialogs: left
        channel = next(f for f in folders if f.startswith("channel"))
        gone = out / "channel1599999999-left"
        shutil.copytree(out / channel, gone)
        info = json.loads((gone / "chat.json").read_bytes())
        info["marked_id"] = -1001599999999
        (gone / "chat.json").write_text(json.dumps(info))
        r = tgarc(dc, out, "--quiet", "--all", "--account-json", target="", timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((out / "result.json").read_bytes())
    assert len(doc["chats"]["list"]) == len(folders)
    assert doc["left_chats"]["about"] == ABOUT_LEFT
    assert [c["name"] for c in doc["left_chats"]["list"]] == [
        json.loads((out / channel / "result.json").read_bytes())["name"]]
    assert not list(out.glob(".result.json.part"))


def test_one_chat_named_twice_in_a_run_is_exported_once(tmp_path):
    """``@tgarc_demo`` and its id in one run: two writers of one folder used to collide
    (a temporary file gone under the other, exit 4); the second is now skipped with a line,
    and the folder is what one export of the chat makes."""
    import subprocess

    from tests._export import env_for, export_args

    with served(messages=1200, text_only=True) as dc:
        args = export_args(tmp_path / "twice", "--quiet")
        args.insert(args.index("@tgarc_demo") + 1, "-1001500000001")
        r = subprocess.run(args, env=env_for(dc), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "-1001500000001 is the chat @tgarc_demo names: exported once" in r.stderr \
            or "@tgarc_demo is the chat -1001500000001 names: exported once" in r.stderr
        once = tgarc(dc, tmp_path / "once", "--quiet")
        assert once.returncode == 0, once.stderr
    assert outputs(tmp_path / "twice") == outputs(tmp_path / "once")
    assert [p.name for p in (tmp_path / "twice").iterdir() if p.is_dir()] == [CHANNEL_DIR]
