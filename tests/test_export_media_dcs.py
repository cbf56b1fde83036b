"""``tgarc export --media``: files that live on another DC than the account's (issue 12).

The real CLI in a subprocess against fakedc running DC 4 beside the home DC 2
(engine/fakedc/dcs.py): a file on DC 4 is fetched over one connection to DC 4, authorized
once per run by ``auth.exportAuthorization`` at home and ``auth.importAuthorization``
there; a file whose message names the wrong DC is sent on by FILE_MIGRATE and still
arrives whole. The big files' bytes are ``engine.fakedc.bigfiles``', so each file on disk
is checked against its SHA-256 and its bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("av", reason="engine.fakedc.media needs PyAV")

from engine.fakedc import bigfiles
from engine.fakedc.faults import Rule
from tests._export import CHANNEL_DIR, served, tgarc

SIZE = 3_000_000


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr


def _big_files(root: Path) -> dict[int, dict]:
    """The big files' lines of messages.jsonl, by file id."""
    got = {}
    for line in (root / "messages.jsonl").read_text().splitlines():
        x = json.loads(line)
        fid = x.get("media", {}).get("id")
        if fid is not None and bigfiles.decode(fid) is not None:
            got[fid] = x
    return got


def _check_bit_exact(root: Path, fid: int, x: dict) -> None:
    rec = x["file"]
    data = (root / rec["path"]).read_bytes()
    assert len(data) == bigfiles.size_of(fid) == SIZE
    assert hashlib.sha256(data).hexdigest() == bigfiles.sha256(fid) == rec["sha256"]
    assert data[:4096] == bigfiles.read(fid, 0, 4096)


def _getfile(dc, fid: int) -> list[tuple[int, str]]:
    return [(c.dc, c.outcome) for c in dc.calls_to("GetFileRequest")
            if c.args.get("file") == fid]


def _fids(dc) -> list[int]:
    return [fid for (_, mid), fid in sorted(dc.corpus.attached.items(), key=lambda kv: kv[0][1])
            if mid in dc.big_messages]


def test_files_on_another_dc_come_from_it_with_one_export_per_run(tmp_path):
    with served(150, other_dcs=(4,), big_files=((2, SIZE, 4),)) as dc:
        fids = _fids(dc)
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        root = tmp_path / CHANNEL_DIR
        big = _big_files(root)
        assert sorted(big) == sorted(fids) and len(fids) == 2
        for fid in fids:
            _check_bit_exact(root, fid, big[fid])
            parts = _getfile(dc, fid)
            assert len(parts) == 6 and set(parts) == {(4, "ok")}    # 512 KiB parts, all on DC 4
        # the other files are the home DC's, still fetched there
        home = [c for c in dc.calls_to("GetFileRequest") if c.args.get("file") not in fids]
        assert home and {c.dc for c in home} == {2}
        # one authorization for the run, however many files: exported at home, used on 4
        exports = [(c.dc, c.outcome) for c in dc.calls_to("ExportAuthorizationRequest")]
        imports = [(c.dc, c.outcome) for c in dc.calls_to("ImportAuthorizationRequest")]
        assert exports == [(2, "ok")] and imports == [(4, "ok")]
        # the next run fetches nothing; a new run that has a file to fetch exports anew
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        assert len(dc.calls_to("ExportAuthorizationRequest")) == 1
        _ok(tgarc(dc, tmp_path / "again", "--media", "document"))
        assert [c.dc for c in dc.calls_to("ExportAuthorizationRequest")] == [2, 2]
    for fid in fids:
        _check_bit_exact(tmp_path / "again" / CHANNEL_DIR, fid,
                         _big_files(tmp_path / "again" / CHANNEL_DIR)[fid])


def test_file_migrate_sends_the_file_to_the_dc_it_lives_on(tmp_path):
    """The message names the home DC, the file lives on DC 4 (moved since): home answers
    FILE_MIGRATE_4 and the download goes on from DC 4."""
    with served(150, other_dcs=(4,), big_files=((1, SIZE, 4, 2),)) as dc:
        (fid,) = _fids(dc)
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        root = tmp_path / CHANNEL_DIR
        big = _big_files(root)
        _check_bit_exact(root, fid, big[fid])
        parts = _getfile(dc, fid)
        home = [p for p in parts if p[0] == 2]
        assert home and set(home) == {(2, "rpc_error 303 FILE_MIGRATE_4")}
        assert len(home) <= 4                                  # at most the parts in flight
        assert [p for p in parts if p[0] == 4] == [(4, "ok")] * 6
        assert len(dc.calls_to("ImportAuthorizationRequest")) == 1


def test_a_migration_that_sends_the_file_back_still_finishes_it(tmp_path):
    """A FILE_MIGRATE_4 for a file of the home DC (a fault rule on its first part): DC 4
    sends it home again with FILE_MIGRATE_2, and the parts already on disk are kept."""
    with served(150, other_dcs=(4,), big_files=((1, SIZE),)) as dc:
        (fid,) = _fids(dc)
        dc.rules.append(Rule("GetFileRequest", "file_migrate", nth=1, dc=4, file_id=fid))
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        root = tmp_path / CHANNEL_DIR
        _check_bit_exact(root, fid, _big_files(root)[fid])
        parts = _getfile(dc, fid)
        assert parts.count((2, "rpc_error 303 FILE_MIGRATE_4")) == 1      # the rule, once
        on4 = [p for p in parts if p[0] == 4]
        assert on4 and set(on4) == {(4, "rpc_error 303 FILE_MIGRATE_2")}
        # every part came from home; the refused part's siblings, in flight when it was
        # refused, may have been served but not kept (cancelled with it): asked again
        ok = [c.args["offset"] for c in dc.calls_to("GetFileRequest")
              if c.args.get("file") == fid and c.outcome == "ok"]
        assert {c.dc for c in dc.calls_to("GetFileRequest")
                if c.args.get("file") == fid and c.outcome == "ok"} == {2}
        assert sorted(set(ok)) == [i * 512 * 1024 for i in range(6)]
        assert len(ok) <= 6 + 3
        assert len(dc.calls_to("ExportAuthorizationRequest")) == 1


def test_a_dropped_connection_to_the_other_dc_reconnects_without_a_new_export(tmp_path):
    """DC 4 drops the connection before answering a part: the run's Link brings it back with
    the key DC 4 already knows (initConnection(help.getConfig), no second export), and the
    file is still bit-exact."""
    with served(150, other_dcs=(4,), big_files=((1, SIZE, 4),)) as dc:
        (fid,) = _fids(dc)
        dc.rules.append(Rule("GetFileRequest", "drop_before", nth=3, file_id=fid))
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        root = tmp_path / CHANNEL_DIR
        _check_bit_exact(root, fid, _big_files(root)[fid])
        assert "dropped before reply" in {c.outcome for c in dc.calls_to("GetFileRequest")
                             if c.args.get("file") == fid}
        assert len(dc.calls_to("ExportAuthorizationRequest")) == 1
        assert len(dc.calls_to("ImportAuthorizationRequest")) == 1
        # reconnected (once, or twice when a retry reopens the lane before the Link does)
        # with initConnection(help.getConfig) on the key DC 4 already had
        again = [c.outcome for c in dc.calls_to("GetConfigRequest") if c.dc == 4]
        assert again and set(again) == {"ok"}
