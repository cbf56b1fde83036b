"""A chat's media ledger lost, garbage or damaged after a backfill: the export rebuilds it
from the files on disk, identified by the archive (engine/media/identify.py), so that no
file is fetched again, renamed, or handed to another message. Numbering the archive again
(what the export did before) gives other names once a chat was exported in two passes:
older messages backfilled after newer ones took higher numbers."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("av", reason="engine.fakedc.media needs PyAV")

from engine import model as m
from engine.archive.media_ledger import Ledger
from engine.media import identify
from engine.media.ledger_rebuild import Found
from engine.render.context import clock_for
from tests._export import CHANNEL_DIR, env_for, outputs, served, tgarc

MESSAGES = 500
MEDIA_DIRS = ("photos", "video_files", "animations", "stickers", "voice_messages",
              "round_video_messages", "files", "contacts")


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr


def _media_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in MEDIA_DIRS if (root / d).is_dir() for p in sorted((root / d).iterdir())}


def _entries(root: Path) -> dict[int, tuple]:
    with Ledger.open(root) as led:
        return {e.key: (e.path, e.thumb, e.n, e.counter, e.status, e.sha256)
                for e in led.entries() if e.path}


def _damage(ledger: Path, how: str) -> None:
    if how == "missing":
        ledger.unlink()
    elif how == "garbage":
        ledger.write_bytes(b"not a ledger at all, sorry")
    else:
        data = bytearray(ledger.read_bytes())
        data[len(data) // 3] ^= 0xFF                   # bit rot a third of the way in
        ledger.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["missing", "garbage", "damaged"])
def test_a_backfilled_chats_lost_ledger_is_rebuilt_from_its_files(tmp_path, how):
    with served(MESSAGES) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all", "--min-id", "250"))
        _ok(tgarc(dc, tmp_path, "--media", "all"))             # the older half after
        root = tmp_path / CHANNEL_DIR
        before, files, entries = outputs(tmp_path), _media_files(root), _entries(root)
        assert any(p.startswith("contacts/") for p in files) and len(files) > 20
        fetched = len(dc.calls_to("GetFileRequest"))
        _damage(root / "state" / "media.ledger", how)
        r = tgarc(dc, tmp_path, "--media", "all")
        _ok(r)
        assert "rebuilt from the" in r.stderr, r.stderr
        assert len(dc.calls_to("GetFileRequest")) == fetched    # nothing fetched again
    assert outputs(tmp_path) == before
    assert _media_files(root) == files                           # nothing renamed or rewritten
    assert _entries(root) == entries


def test_repair_rebuilds_the_ledger_with_the_rest_of_a_lost_state(tmp_path):
    """``state/`` deleted whole: ``tgarc repair`` rebuilds the checkpoint from the archive
    and the ledger from the files; the next export fetches nothing again. A chat without
    media files gets no ledger from it."""
    with served(MESSAGES) as dc:
        _ok(tgarc(dc, tmp_path / "m", "--media", "all", "--min-id", "250"))
        _ok(tgarc(dc, tmp_path / "m", "--media", "all"))
        _ok(tgarc(dc, tmp_path / "t"))                                 # --media none
        root, text = tmp_path / "m" / CHANNEL_DIR, tmp_path / "t" / CHANNEL_DIR
        before, files, entries = outputs(tmp_path / "m"), _media_files(root), _entries(root)
        shutil.rmtree(root / "state")
        shutil.rmtree(text / "state")
        for out in ("m", "t"):
            r = subprocess.run([sys.executable, "-m", "engine", "repair", str(tmp_path / out)],
                               env=env_for(dc), capture_output=True, text=True, timeout=120)
            _ok(r)
        assert "state/media.ledger was missing: rebuilt from the" in r.stderr or out == "t"
        assert not (text / "state" / "media.ledger").exists()
        # the paths and numbers are back; the files wait for a download pass that finds
        # them whole and reads them again (their probes were in the lost ledger)
        assert {k: e[:4] for k, e in _entries(root).items()} == \
            {k: e[:4] for k, e in entries.items()}
        fetched = len(dc.calls_to("GetFileRequest"))
        _ok(tgarc(dc, tmp_path / "m", "--media", "all"))
        assert len(dc.calls_to("GetFileRequest")) == fetched
    assert outputs(tmp_path / "m") == before and _media_files(root) == files
    assert _entries(root) == entries


def _clock():
    from zoneinfo import ZoneInfo
    return clock_for(ZoneInfo("UTC"))


def test_a_paths_key_leaves_out_its_number_and_its_clash():
    assert identify.key("photos/photo_12@01-02-2024_10-00-00 (1).jpg") == \
        ("photos/photo_#@01-02-2024_10-00-00.jpg", 1)
    assert identify.key("files/Report (2).tar.gz") == ("files/report.tar.gz", 2)
    assert identify.key("video_files/video_3@01-02-2024_10-00-00.mov") == \
        ("video_files/video_#@01-02-2024_10-00-00.mov", 0)
    # a sender's name that looks generated is keyed the same way on both sides
    assert identify.key("files/photo_3.jpg") == ("files/photo_3.jpg", 0)


def _photo(pid: int, size: int) -> m.Photo:
    return m.Photo(id=pid, access_hash=1, file_reference=b"", dc_id=2, date=0, width=1,
                   height=1, size=size)


def _msg(mid: int, date: int, media) -> m.Message:
    return m.Message(id=mid, chat=m.PeerRef("channel", 1), date=date, media=media)


def test_files_of_one_name_take_their_messages_by_size_then_in_id_order():
    ident = identify.Identify([_clock()])
    when = 1704103200                                  # 01-01-2024 10:00:00 UTC
    for mid, pid, size in ((5, 50, 100), (7, 70, 200), (9, 90, 300)):
        ident.add(_msg(mid, when, _photo(pid, size)), mid)
    ident.add(_msg(11, when + 1, _photo(50, 100)), 11)   # the same file again: one entry
    name = "photos/photo_{}@01-01-2024_10-00-00.jpg"
    found = [Found(name.format(4), 300, "", "photos", 4),    # its size says message 9
             Found(name.format(2), 7, "", "photos", 2),
             Found(name.format(3), 8, "", "photos", 3),
             Found("photos/stray.jpg", 1, "", "", 0)]
    got = ident(found)
    assert got == {name.format(4): ("photo", 90, 9), name.format(2): ("photo", 50, 5),
                   name.format(3): ("photo", 70, 7)}


def test_a_contact_is_known_by_its_vcard():
    ident = identify.Identify([_clock()])
    card = "BEGIN:VCARD\nFN:A\nEND:VCARD"
    ident.add(_msg(3, 1, m.Contact(phone_number="1", first_name="A", vcard=card)), 3)
    files = {"contacts/contact_1.vcard": card.encode(), "contacts/contact_2.vcard": b"x"}
    got = ident([Found(p, len(b), "", "contacts", 1) for p, b in files.items()], files.get)
    assert got == {"contacts/contact_1.vcard": ("contact", 3, 3)}
