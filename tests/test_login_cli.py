"""`tgarc login`, `logout` and `chats` end to end: the CLI as a subprocess, TGARC_DC pointing
at an in-process fakedc. Every login starts from nothing, so it runs the real DH key
exchange, then the real auth RPCs (phone code, SRP 2FA, QR token, bot token, log out).
No Telethon mocks. No command may print the code, the password or the bot token."""

from __future__ import annotations

import base64
import json
import queue
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from engine.commands.account import qr_lines
from tests._export import CHANNEL_DIR, env_for, served

PHONE, CODE, PASSWORD = "+15550001234", "12345", "hunter2"
BOT_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRETS = (CODE, PASSWORD, BOT_TOKEN)
ME = "logged in as Archivist Test @archivist (id 1000001)"
CORPUS_DIALOGS = {   # text-only corpus: no discussion group, no migrated basic group
    (-1001500000001, "channel", "tgarc_demo"), (-1001500000002, "supergroup", "tgarc_group"),
    (-400001, "group", None), (1000100, "user", "synthetic_user_0"),
    (1000001, "user", "archivist")}     # Saved Messages: the account's chat with itself


@pytest.fixture(scope="module")
def dc():
    with served(messages=60, text_only=True) as server:
        yield server


@pytest.fixture
def env(dc):
    env = env_for(dc)
    del env["TGARC_SESSION"]              # every session here comes from `tgarc login`
    return env


def no_secrets(text: str, tmp_path) -> None:
    text = text.replace(str(tmp_path), "<tmp>")      # a pytest folder number is no secret
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked:\n{text}"


def tgarc(env, tmp_path, *args, stdin: str = "", timeout: float = 60):
    r = subprocess.run([sys.executable, "-m", "engine", *args], env=env, input=stdin,
                       capture_output=True, text=True, timeout=timeout)
    no_secrets(r.stdout + r.stderr, tmp_path)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def error_line(r) -> str:
    """The one error line (it comes last; prompts may stand before it)."""
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("tgarc:")]
    assert len(errors) == 1 and r.stderr.rstrip().endswith(errors[0]), r.stderr
    return errors[0]


def only_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def phone_login(env, tmp_path, session, password=PASSWORD):
    return tgarc(env, tmp_path, "login", "--session", str(session),
                 stdin=f"{PHONE}\n{CODE}\n{password}\n")


def dialogs(env, tmp_path, *args) -> set:
    r = tgarc(env, tmp_path, "chats", "--json", *args)
    assert r.returncode == 0, r.stderr
    return {(d["id"], d["kind"], d["username"]) for d in json.loads(r.stdout)}


def test_phone_code_and_2fa_then_chats_and_export(env, tmp_path):
    session = tmp_path / "me.session"
    r = phone_login(env, tmp_path, session)
    assert r.returncode == 0, r.stderr
    assert ME in r.stderr and r.stdout == ""
    assert session.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.session"]   # no temporary left

    # logging in again to a logged-in file asks nothing and keeps the authorization
    again = tgarc(env, tmp_path, "login", "--session", str(session))
    assert again.returncode == 0 and "already logged in as Archivist Test" in again.stderr

    assert dialogs(env, tmp_path, "--session", str(session)) == CORPUS_DIALOGS
    # two dialogs a page walk the same list (offset: the last dialog's top message; the
    # fakedc offsets by date alone, so a page may not end between equal dates: 2 does not)
    paged = dialogs(env, tmp_path, "--session", str(session), "--page-size", "2")
    assert paged == CORPUS_DIALOGS
    table = tgarc(env, tmp_path, "chats", "--session", str(session))
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == ["ID", "KIND", "USERNAME", "TITLE"]
    row = next(ln for ln in table.stdout.splitlines() if "@tgarc_demo" in ln)
    assert row.split()[:2] == ["-1001500000001", "channel"] and "tgarc demo channel" in row

    out = tmp_path / "out"
    exp = tgarc(env, tmp_path, "export", "@tgarc_demo", "--out", str(out), "--session",
                str(session), "--quiet", "--tz", "UTC", timeout=120)
    assert exp.returncode == 0, exp.stderr
    assert json.loads((out / CHANNEL_DIR / "result.json").read_text())["messages"]


def test_wrong_2fa_password_is_exit_3_and_nothing_is_written(env, tmp_path):
    session = tmp_path / "me.session"
    r = phone_login(env, tmp_path, session, password="hunter3")
    assert r.returncode == 3
    assert "wrong 2FA password" in error_line(r) and "hunter3" not in r.stderr
    assert not any(tmp_path.iterdir())
    r = phone_login(env, tmp_path, session)
    assert r.returncode == 0 and ME in r.stderr
    assert session.stat().st_mode & 0o777 == 0o600


def test_wrong_code_is_exit_3(env, tmp_path):
    r = tgarc(env, tmp_path, "login", "--phone", PHONE, "--session", str(tmp_path / "s"),
              stdin="99999\n")
    assert r.returncode == 3 and "login code is wrong" in error_line(r)
    assert not any(tmp_path.iterdir())


def test_qr_login_then_2fa(dc, env, tmp_path):
    session = tmp_path / "qr.session"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "login", "--qr", "--session", str(session)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr],
                              daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while "tg://login?token=" not in (seen[-1] if seen else ""):
            seen.append(lines.get(timeout=30))
        token = seen[-1].split("tg://login?token=", 1)[1].strip()
        assert any("█" in ln for ln in seen), "no QR code drawn"
        dc.scan_qr(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        proc.stdin.write(f"{PASSWORD}\n")       # read once the 2FA prompt comes
        proc.stdin.close()
        proc.wait(30)                           # (communicate() would race the reader)
        stdout = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    while not lines.empty():
        seen.append(lines.get())
    stderr = "".join(seen)
    no_secrets(stdout + stderr, tmp_path)
    assert proc.returncode == 0, stderr
    assert "two-step verification password" in stderr and ME in stderr, stderr
    assert session.stat().st_mode & 0o777 == 0o600
    assert dialogs(env, tmp_path, "--session", str(session)) == CORPUS_DIALOGS


def test_qr_lines_draw_the_qrcode_matrix():
    import qrcode

    url = "tg://login?token=" + "A" * 43
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(url)
    code.make(fit=True)
    light = {" ": (False, False), "▀": (True, False), "▄": (False, True), "█": (True, True)}
    drawn: list[list[bool]] = []
    for line in qr_lines(url):
        top, bottom = zip(*(light[c] for c in line), strict=True)
        drawn += [[not x for x in top], [not x for x in bottom]]
    matrix = code.get_matrix()
    assert drawn[: len(matrix)] == matrix
    assert all(not dark for row in drawn[len(matrix):] for dark in row)   # quiet padding


def test_bot_token_login(env, tmp_path):
    session = tmp_path / "bot.session"
    r = tgarc(env, tmp_path, "login", "--bot-token", BOT_TOKEN, "--session", str(session))
    assert r.returncode == 0, r.stderr
    assert "logged in as bot tgarc test bot @tgarc_test_7000001_bot (id 7000001)" in r.stderr
    assert session.stat().st_mode & 0o777 == 0o600
    chats = tgarc(env, tmp_path, "chats", "--session", str(session))
    assert chats.returncode == 2 and "bot session" in only_line(chats)

    bad = tgarc(env, tmp_path, "login", "--bot-token", "not-a-token", "--session",
                str(tmp_path / "bad"))
    assert bad.returncode == 3 and "bot token" in only_line(bad)
    assert not (tmp_path / "bad.session").exists()


def test_logout_file_and_string_sessions(env, tmp_path):
    session, copy = tmp_path / "me.session", tmp_path / "copy.session"
    assert phone_login(env, tmp_path, session).returncode == 0
    shutil.copy(session, copy)
    r = tgarc(env, tmp_path, "logout", "--session", str(session))
    assert r.returncode == 0 and only_line(r) == f"logged out; removed {session}"
    assert not session.exists()
    stale = tgarc(env, tmp_path, "chats", "--session", str(copy))
    assert stale.returncode == 3 and "not logged in" in only_line(stale)
    r = tgarc(env, tmp_path, "logout", "--session", str(copy))      # already dead: just tidy up
    assert r.returncode == 0 and "already logged out" in only_line(r) and not copy.exists()
    missing = tgarc(env, tmp_path, "logout", "--session", str(session))
    assert missing.returncode == 2 and "no session file" in only_line(missing)

    # without --session: the StringSession alone on stdout, for TGARC_SESSION
    r = tgarc(env, tmp_path, "login", stdin=f"{PHONE}\n{CODE}\n{PASSWORD}\n")
    assert r.returncode == 0 and ME in r.stderr
    assert len(r.stdout.splitlines()) == 1
    with_string = dict(env, TGARC_SESSION=r.stdout.strip())
    assert dialogs(with_string, tmp_path) == CORPUS_DIALOGS
    r = tgarc(with_string, tmp_path, "logout")
    assert r.returncode == 0 and only_line(r) == "logged out"
    stale = tgarc(with_string, tmp_path, "chats")
    assert stale.returncode == 3 and "not logged in" in only_line(stale)
    assert not any(tmp_path.iterdir())


def test_config_and_network_errors(env, tmp_path):
    session = tmp_path / "s.session"
    no_dc = {k: v for k, v in env.items() if k != "TGARC_DC"}
    for args in (["login", "--session", str(session)], ["chats"], ["logout"]):
        r = tgarc(no_dc, tmp_path, *args)
        assert r.returncode == 2 and "TGARC_API_ID" in only_line(r)
    r = tgarc(dict(env, TGARC_DC="8.8.8.8:443"), tmp_path, "login")
    assert r.returncode == 2 and "loopback" in only_line(r)
    no_key = {k: v for k, v in env.items() if k != "TGARC_DC_KEY"}    # the DC's key is needed
    r = tgarc(no_key, tmp_path, "login", "--session", str(session), stdin=f"{PHONE}\n")
    assert r.returncode == 2 and "TGARC_DC needs TGARC_DC_KEY" in only_line(r)
    r = tgarc(dict(env, TGARC_DC_KEY="garbage"), tmp_path, "login", "--session", str(session),
              stdin=f"{PHONE}\n")
    assert r.returncode == 2 and "not a 2048-bit RSA public key" in only_line(r)

    with socket.socket() as s:             # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = tgarc(dict(env, TGARC_DC=f"127.0.0.1:{port}"), tmp_path, "login", "--session",
              str(session), stdin=f"{PHONE}\n")
    assert r.returncode == 3 and "cannot reach Telegram" in only_line(r)
    assert not any(tmp_path.iterdir())
