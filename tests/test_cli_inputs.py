"""Bad input to the command line (issue 18): one readable ``tgarc: ...`` line on stderr, the
exit code cli.py documents (2 usage or input error, 4 local I/O error), no traceback unless
--debug, and nothing created on disk: no --out folder, no chat folder, no session file.
Secrets have ways in that keep them off the command line (where `ps` shows them to every
local user), and the build declares its licence the current way.

Every command runs the real CLI as a subprocess; the ones that talk to Telegram talk to a
loopback fakedc served from this process (never to Telegram)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import tomllib

import orjson
import pytest

from engine import config
from engine.fakedc.proxies import Socks5Proxy
from tests._export import ROOT, env_for, served

BOT_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"     # what the fakedc accepts
PROXY_USER, PROXY_PASSWORD = "archivist", "pr0xy-Pa55word"


@pytest.fixture(scope="module")
def dc():
    with served(messages=20, text_only=True) as server:
        yield server


@pytest.fixture
def env(dc):
    return env_for(dc)


@pytest.fixture
def no_session_env(dc):
    env = env_for(dc)
    del env["TGARC_SESSION"]
    return env


def tgarc(tmp_path, *args, env=None, stdin: str = "", timeout: float = 60):
    """``tgarc ARGS`` run in ``tmp_path`` (so a stray relative path lands there too);
    without ``env``: no TGARC_* setting at all (no server, no session)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TGARC_")
               or k in ("TGARC_SHM_DIR", "TGARC_REQUIRE_NATIVE")}
        env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=tmp_path, env=env,
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def one_error(r, code: int) -> str:
    """The run ended with ``code`` and said why in exactly one line, without a traceback."""
    assert r.returncode == code, f"exit {r.returncode}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tgarc: "), lines[0]
    return lines[0]


def tree(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ---- finding 7: a traceback instead of one line -----------------------------------------------
@pytest.mark.parametrize("name, content, says", [
    ("folder", None, "a folder, not an export_metrics.json file"),
    ("missing.json", b"", "no such file"),
    ("garbage.json", b"{not json", "not valid JSON"),
    ("other.json", b'{"version": 1, "status": "done"}', "not a tgarc export_metrics.json"),
    ("list.json", b"[1, 2]", "not a tgarc export_metrics.json"),
])
def test_tune_with_a_bad_metrics_file_is_one_line_exit_2(tmp_path, name, content, says):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif content:
        path.write_bytes(content)
    before = tree(tmp_path)
    line = one_error(tgarc(tmp_path, "tune", name), 2)
    assert says in line and name in line
    assert tree(tmp_path) == before


def test_login_with_a_garbage_phone_is_one_line_exit_2(no_session_env, tmp_path):
    r = tgarc(tmp_path, "login", "--phone", "garbage", "--session", "me.session",
              env=no_session_env)
    assert "not a phone number" in one_error(r, 2)
    assert tree(tmp_path) == []


def test_chats_with_a_file_that_is_not_a_session_is_one_line_exit_2(env, tmp_path):
    junk = tmp_path / "junk.session"
    junk.write_bytes(b"this is no sqlite database\n")
    other = tmp_path / "other.session"            # SQLite, but not Telethon's
    with sqlite3.connect(other) as db:
        db.execute("create table notes (text)")
    db.close()
    before = {p.name: p.read_bytes() for p in (junk, other)}
    for command in ("chats", "logout"):
        for path in (junk, other):
            r = tgarc(tmp_path, command, "--session", path.name, env=env)
            assert one_error(r, 2) == f"tgarc: {path.name} is not a Telethon session file"
    r = tgarc(tmp_path, "export", "@tgarc_demo", "--out", "out", "--session", junk.name,
              env=env)
    assert one_error(r, 2) == f"tgarc: {junk.name} is not a Telethon session file"
    assert {p.name: p.read_bytes() for p in (junk, other)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.session", "other.session"]


def test_debug_shows_the_traceback_and_keeps_the_exit_code(env, tmp_path):
    (tmp_path / "afile").write_text("not a folder\n")
    r = tgarc(tmp_path, "--debug", "export", "@tgarc_demo", "--out", "afile/out", env=env)
    assert r.returncode == 4, r.stderr                 # a local I/O error, not Python's 1
    assert "Traceback" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1] == "tgarc: Not a directory: afile/out"
    r = tgarc(tmp_path, "--debug", "tune", "missing.json")
    assert r.returncode == 2 and "Traceback" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("tgarc: missing.json: no such file")


# ---- finding 8: nonsense accepted with exit 0 -------------------------------------------------
@pytest.mark.parametrize("flags, says", [
    (["--since", "2025-01-01", "--until", "2024-01-01"], "--since 2025-01-01 is after --until"),
    (["--min-id", "500", "--max-id", "100"], "--min-id 500 is above --max-id 100"),
    (["--lease", "l", "--lease-ttl", "1.5"], "--lease-ttl must be 2 seconds or more, not 1.5"),
    (["--min-id", "-5"], "--min-id must be 0 or more, not -5"),
    (["--max-id", "-1"], "--max-id must be 0 or more, not -1"),
    (["--refresh-edits", "-3"], "--refresh-edits must be 0 or more, not -3"),
    (["--format", ""], "--format: unknown format ''"),
    (["--format", "markdown"], "--format: unknown format 'markdown'"),
    (["--workers", "0"], "--workers must be a number from 1 to 64"),
    (["--workers", "-4"], "--workers must be a number from 1 to 64"),
    (["--fetch-streams", "0"], "--fetch-streams must be 1 or more, not 0"),
    (["--max-in-flight", "0"], "--max-in-flight must be 1 or more, not 0"),
    (["--topic", "0"], "--topic ID takes one forum topic (a positive id)"),
    (["--media", "pictures"], "--media: unknown kind 'pictures'"),
    (["--media", "none,photo"], "--media: 'none' cannot be combined"),
    (["--media", ""], "--media: no kinds given"),
    (["--max-media-size", "lots"], "--max-media-size: cannot read 'lots'"),
    (["--max-media-size=-5M"], "--max-media-size: cannot read '-5M'"),
    (["--media-lanes", "0"], "--media-lanes must be 1 or more, not 0"),
    (["--transcode", "vp9"], "--transcode must be one of off, h264, h265, av1, not 'vp9'"),
    (["--max-height", "720"], "--max-height shapes the copies of --transcode CODEC, which is "
                              "off"),
    (["--transcode-replace"], "--transcode-replace shapes the copies of --transcode CODEC"),
    (["--transcode", "h264", "--crf", "99"], "--crf for h264 must be between 0 and 51, not 99"),
    (["--transcode", "h264", "--max-height", "8"], "--max-height must be between 16 and 8640"),
    (["--transcode", "h264", "--transcode-min-size", "big"],
     "--transcode-min-size: cannot read 'big'"),
    (["--transcode", "h264", "--media", "photo,audio"],
     "--transcode h264 copies downloaded videos, but --media audio,photo downloads none"),
    (["--transcode", "h264", "--media", "none"], "but --media none downloads none"),
    (["--hwaccel", "gpu"], "--hwaccel must be one of auto, off, not 'gpu'"),
])
def test_nonsense_export_flags_are_exit_2_and_create_nothing(env, tmp_path, flags, says):
    r = tgarc(tmp_path, "export", "@tgarc_demo", "--out", "out", *flags, env=env)
    assert says in one_error(r, 2)
    assert tree(tmp_path) == []


def test_the_same_nonsense_from_a_config_file_is_exit_2(env, tmp_path):
    toml = tmp_path / "tgarc.toml"
    for setting, says in (("min_id = -5", "--min-id must be 0 or more"),
                          ('format = ""', "unknown format ''"),
                          ("refresh_edits = -1", "--refresh-edits must be 0 or more"),
                          ('media = ["photo", "film"]', "--media: unknown kind 'film'"),
                          ('max_media_size = "2Q"', "--max-media-size: cannot read '2Q'"),
                          ('transcode = "h264"\ncrf = -1', "--crf for h264 must be between"),
                          ("max_height = 480", "--max-height shapes the copies")):
        toml.write_text(f'out = "out"\n{setting}\n')
        r = tgarc(tmp_path, "export", "@tgarc_demo", "--config", toml.name, env=env)
        assert says in one_error(r, 2)
        assert tree(tmp_path) == ["tgarc.toml"]


def test_a_malformed_force_cpu_transcode_is_exit_2_and_creates_nothing(env, tmp_path):
    r = tgarc(tmp_path, "export", "@tgarc_demo", "--out", "out", "--transcode", "h264",
              env={**env, "FORCE_CPU_TRANSCODE": "maybe"})
    assert "FORCE_CPU_TRANSCODE='maybe': use 1/true/yes/on or 0/false/no/off" in \
        one_error(r, 2)
    assert tree(tmp_path) == []


@pytest.mark.parametrize("messages", ["-5", "0"])
def test_demo_needs_at_least_one_message(tmp_path, messages):
    r = tgarc(tmp_path, "demo", "--messages", messages, "--out", "demo", timeout=30)
    assert one_error(r, 2) == f"tgarc: --messages must be 1 or more, not {messages}"
    assert tree(tmp_path) == []


def test_workers_above_the_cpus_are_capped_with_a_warning(monkeypatch):
    monkeypatch.setattr(config, "usable_cpus", lambda: 2)
    said: list[str] = []
    assert config.parse_workers("64", said.append) == 2
    assert said == ["--workers 64 is more than the 2 CPUs this machine lets tgarc use; "
                    "using 2"]
    said.clear()
    assert config.parse_workers("2", said.append) == 2 and said == []
    assert config.parse_workers("auto", said.append) == 1 and said == []
    # video copies are one worker's CPU each and the supervisor only waits: one per CPU
    assert config.parse_workers("auto", said.append, transcode=True) == 2 and said == []


def test_an_export_with_too_many_workers_runs_with_one_warning(env, tmp_path):
    cpus = config.usable_cpus()
    if cpus >= 64:
        pytest.skip("this machine has 64 CPUs or more: --workers 64 needs no cap")
    r = tgarc(tmp_path, "export", "@tgarc_demo", "--out", "out", "--workers", "64", "--quiet",
              env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        f"tgarc: warning: --workers 64 is more than the {cpus} CPU{'s' if cpus > 1 else ''} "
        f"this machine lets tgarc use; using {cpus}"]
    assert f", {cpus} workers," in (tmp_path / "out" / "tgarc.log").read_text()


def test_a_mistyped_session_path_is_exit_2_and_creates_no_session(env, tmp_path):
    for command in (["export", "@tgarc_demo", "--out", "out"], ["chats"], ["logout"]):
        r = tgarc(tmp_path, *command, "--session", "typo.session", env=env)
        assert one_error(r, 2) == ("tgarc: no session file at typo.session; log in with "
                                   "`tgarc login --session typo.session`"), command
        assert tree(tmp_path) == [], command


def test_a_mistyped_target_leaves_no_fresh_out_folder(env, tmp_path):
    r = tgarc(tmp_path, "export", "@no_such_chat", "--out", "new/archive", "--quiet", env=env)
    assert one_error(r, 2) == "tgarc: no chat or user is called @no_such_chat"
    assert tree(tmp_path) == []
    # a folder that was there before keeps what it held (the run's log included)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine\n")
    r = tgarc(tmp_path, "export", "@no_such_chat", "--out", "old", env=env)
    assert r.returncode == 2
    assert (tmp_path / "old" / "notes.txt").read_text() == "mine\n"
    assert "no chat or user is called @no_such_chat" in (tmp_path / "old" / "tgarc.log") \
        .read_text()


# ---- finding 9: secrets on the command line ---------------------------------------------------
def test_a_bot_token_need_not_stand_on_the_command_line(no_session_env, tmp_path):
    # from the environment
    r = tgarc(tmp_path, "login", "--bot", "--session", "env.session",
              env=dict(no_session_env, TGARC_BOT_TOKEN=BOT_TOKEN))
    assert r.returncode == 0, r.stderr
    assert "logged in as bot" in r.stderr and "warning" not in r.stderr
    # asked, and read from stdin when that is no terminal
    r = tgarc(tmp_path, "login", "--bot", "--session", "asked.session", env=no_session_env,
              stdin=BOT_TOKEN + "\n")
    assert r.returncode == 0, r.stderr
    assert "bot token" in r.stderr and "logged in as bot" in r.stderr
    assert (tmp_path / "env.session").is_file() and (tmp_path / "asked.session").is_file()
    # nothing to read: one line, nothing written
    r = tgarc(tmp_path, "login", "--bot", "--session", "none.session", env=no_session_env)
    assert r.returncode == 2 and "no bot token given" in r.stderr
    assert not (tmp_path / "none.session").exists()
    # on the command line it still works, with one warning that names the safe ways
    r = tgarc(tmp_path, "login", "--bot-token", BOT_TOKEN, "--session", "flag.session",
              env=no_session_env)
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("tgarc: warning:")]
    assert len(warnings) == 1 and "ps" in warnings[0] and "TGARC_BOT_TOKEN" in warnings[0]
    assert "--bot" in warnings[0]
    for out in (r.stdout, r.stderr):
        assert BOT_TOKEN not in out and BOT_TOKEN.split(":")[1] not in out


def test_a_proxy_password_on_the_command_line_is_warned_about(env, tmp_path):
    with Socks5Proxy(username=PROXY_USER, password=PROXY_PASSWORD).run_in_thread() as proxy:
        url = f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@{proxy.address}"
        r = tgarc(tmp_path, "chats", "--proxy", url, env=env)
        assert r.returncode == 0, r.stderr
        warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("tgarc: warning:")]
        assert len(warnings) == 1 and "ps" in warnings[0] and "TGARC_PROXY" in warnings[0]
        assert PROXY_PASSWORD not in r.stdout + r.stderr
        r = tgarc(tmp_path, "chats", env=dict(env, TGARC_PROXY=url))      # the safe way
        assert r.returncode == 0, r.stderr
        assert "warning" not in r.stderr
        assert proxy.tunnels >= 2


# ---- finding 10: the licence as setuptools wants it from 2027-02-18 on ------------------------
def test_pyproject_declares_an_spdx_licence_and_a_setuptools_that_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"          # not the deprecated {text = ...}
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
    setuptools = [r for r in project["build-system"]["requires"]
                  if re.match(r"setuptools\b", r)]
    floor = re.fullmatch(r"setuptools\s*>=\s*(\d+)(\.\d+)*", setuptools[0])
    assert floor and int(floor.group(1)) >= 77, setuptools    # SPDX `license` needs 77+


def test_the_metrics_of_a_finished_run_still_tune(env, tmp_path):
    """The good path next to the bad ones: tune reads what an export wrote."""
    r = tgarc(tmp_path, "export", "@tgarc_demo", "--out", "out", "--quiet", "--workers", "1",
              env=env)
    assert r.returncode == 0, r.stderr
    r = tgarc(tmp_path, "tune", "out/export_metrics.json", "--json")
    assert r.returncode == 0, r.stderr
    assert orjson.loads(r.stdout)["workers"] >= 1
    line = one_error(tgarc(tmp_path, "tune", "out"), 2)
    assert "try DIR/export_metrics.json" in line
