"""No secret reaches tgarc.log, export_metrics.json or any output (DESIGN invariant 5)."""

from __future__ import annotations

import base64

from telethon.sessions import StringSession

from engine.fakedc.faults import Rule
from engine.logs import Redactor
from tests._export import served, tgarc


def test_no_secret_in_any_file_an_export_writes(tmp_path):
    rules = [Rule("GetHistoryRequest", "flood_wait", nth=2, seconds=1),
             Rule("GetHistoryRequest", "server_error", nth=4)]
    with served(300, rules=rules) as dc:
        r = tgarc(dc, tmp_path, "--debug", "--fetch-streams", "1")
        assert r.returncode == 0, r.stderr
        key = StringSession(dc.session).auth_key.key
        phone, password = dc.corpus.me.phone, dc.password
    log = (tmp_path / "tgarc.log").read_text()
    assert "flood wait: 1 s before GetHistory" in log and "retry 1 of 4" in log
    assert (tmp_path / "tgarc.log").stat().st_mode & 0o777 == 0o600
    secrets = [dc.session.encode(), key, key.hex().encode(), base64.b64encode(key),
               phone.encode(), password.encode()]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for p in files:
        data = p.read_bytes()
        for s in secrets:
            assert s not in data, f"a secret is in {p.relative_to(tmp_path)}"
    for s in secrets[:1] + secrets[4:]:
        assert s.decode() not in r.stderr + r.stdout


def test_redactor_masks_known_secrets_and_anything_shaped_like_a_key():
    red = Redactor(["15550001234", "hunter2"])
    session = "1" + "A" * 351
    text = f"phone 15550001234 pw hunter2 session {session} id 1500000001 took 0.25 s"
    assert red.scrub(text) == ("phone [redacted] pw [redacted] session [redacted] "
                               "id 1500000001 took 0.25 s")
