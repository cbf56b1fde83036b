"""``tgarc export --media``: the chat's files downloaded into Telegram Desktop's layout, named
once, bit-exact, pointed at by every output, and never fetched twice (issue 12).

Everything runs the real CLI in a subprocess against fakedc, whose files are real PyAV
encodes and JPEGs (engine/fakedc/media.py), so a file's bytes can be checked against
``engine.fakedc.files.content(id)``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("av", reason="engine.fakedc.media needs PyAV")

from engine.fakedc import files as fake_files
from engine.fakedc.faults import Rule
from engine.render.result_json import NOT_INCLUDED, TOO_LARGE, UNAVAILABLE
from engine.telegram.download import PART
from tests._export import CHANNEL_DIR, outputs, served, tgarc

FULL = 500          # messages: every kind of media fakedc serves appears among them
MEDIA_DIRS = ("photos", "video_files", "animations", "stickers", "voice_messages",
              "round_video_messages", "files", "contacts")


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr


def _lines(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "messages.jsonl").read_text().splitlines()]


def _media_files(root: Path) -> dict[str, bytes]:
    got = {}
    for d in MEDIA_DIRS:
        for p in sorted((root / d).glob("*")) if (root / d).is_dir() else ():
            got[f"{d}/{p.name}"] = p.read_bytes()
    return got


def _file_key(message: dict) -> str | None:
    return message.get("photo") or message.get("file")


def _getfile_ok(dc) -> int:
    return sum(c.outcome == "ok" for c in dc.calls_to("GetFileRequest"))


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One export of the demo channel with every kind of media."""
    out = tmp_path_factory.mktemp("media-all")
    with served(FULL) as dc:
        r = tgarc(dc, out, "--media", "all", "--workers", "2")
        _ok(r)
        fetched = _getfile_ok(dc)
        again = tgarc(dc, out, "--media", "all")       # nothing new: nothing fetched
        _ok(again)
        refetched = _getfile_ok(dc) - fetched
    return out, fetched, refetched


def test_every_file_downloaded_bit_exact_and_recorded(full):
    out, fetched, _ = full
    root = out / CHANNEL_DIR
    lines = [x for x in _lines(root) if x.get("media", {}).get("type") in ("photo", "document")]
    assert lines, "the corpus has media"
    ids, thumbs = set(), set()
    for x in lines:
        rec = x["file"]
        data = (root / rec["path"]).read_bytes()
        assert data == fake_files.content(x["media"]["id"])        # bit-exact
        assert rec["size"] == len(data)
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        ids.add(x["media"]["id"])
        small = fake_files.thumb(x["media"]["id"])
        if small is not None:                     # a document's thumbnail, beside it
            assert rec["thumbnail"] == rec["path"] + "_thumb.jpg"
            assert (root / rec["thumbnail"]).read_bytes() == small
            thumbs.add(x["media"]["id"])
        else:
            assert "thumbnail" not in rec
    assert thumbs, "the corpus has documents with thumbnails"
    # one download per Telegram file (and thumbnail), however many messages carry it: each
    # of its parts asked for once
    parts = sum(-(-len(fake_files.content(i)) // PART) for i in ids)
    assert fetched == parts + len(thumbs) and len(ids) < len(lines)
    leftovers = [p for p in root.rglob("*") if p.name.endswith((".part", ".part.done", ".link"))]
    assert leftovers == []


def test_result_json_points_at_the_files_in_telegram_desktops_layout(full):
    out, _, _ = full
    root = out / CHANNEL_DIR
    doc = json.loads((root / "result.json").read_text())
    by_id = {x["id"]: x for x in _lines(root)}
    seen = previews = 0
    for msg in doc["messages"]:
        path = _file_key(msg)
        if path is None:
            continue
        seen += 1
        assert (root / path).is_file(), path
        assert path == by_id[msg["id"]]["file"]["path"]
        folder, name = path.split("/")
        assert folder in MEDIA_DIRS
        if "photo" in msg:
            assert folder == "photos" and name.startswith("photo_") and name.endswith(".jpg")
            assert "@01-01-2024_" in name               # the message's date, --tz UTC
        elif msg.get("media_type") == "voice_message":
            assert folder == "voice_messages" and name.startswith("audio_")
        elif msg.get("file_name"):
            assert "/" not in name and not name.startswith(".")
        media_id = by_id[msg["id"]]["media"]["id"]
        # a thumbnail only where there is one to download, not for a stripped or path
        # preview alone (the corpus's animations and round videos have only those)
        assert ("thumbnail" in msg) == (fake_files.thumb(media_id) is not None)
        previews += fake_files.decode_id(media_id)[0] in fake_files.PREVIEW_ONLY
        if "thumbnail" in msg:                  # Telegram Desktop's order and names
            keys = list(msg)
            assert keys.index("file_size") + 1 == keys.index("thumbnail")
            assert keys.index("thumbnail") + 1 == keys.index("thumbnail_file_size")
            assert msg["thumbnail"] == path + "_thumb.jpg"
            assert (root / msg["thumbnail"]).stat().st_size == msg["thumbnail_file_size"]
    assert seen > 20 and previews > 0


def test_day_notes_embed_the_files_with_paths_that_resolve(full):
    out, _, _ = full
    root = out / CHANNEL_DIR
    notes = "".join(p.read_text() for p in (root / "markdown").rglob("*.md"))
    embeds = [line[2:] for line in notes.splitlines() if line.startswith(("> ![[", "> [["))]
    assert embeds
    for line in embeds:
        target = line.split("[[", 1)[1].split("]]")[0].split("|")[0]
        # the path inside the chat folder: exact with it as the vault, and from --out the
        # nearest file whose path ends so (Obsidian's rule), here the chat's own
        assert (root / target).is_file(), target
        assert [p for p in out.rglob("*") if p.as_posix().endswith("/" + target)] == \
            [root / target]
    assert "not downloaded" not in notes
    assert any(line.startswith("[[") and "|" in line for line in embeds)   # a plain file: a link


def test_a_rerun_fetches_no_file_again(full):
    _, _, refetched = full
    assert refetched == 0


def test_media_none_is_the_output_without_media(tmp_path):
    with served(150) as dc:
        _ok(tgarc(dc, tmp_path / "none", "--media", "none"))
        _ok(tgarc(dc, tmp_path / "default"))
        assert _getfile_ok(dc) == 0
    none = outputs(tmp_path / "none")
    assert none == outputs(tmp_path / "default")
    root = tmp_path / "none" / CHANNEL_DIR
    assert not (root / "state" / "media.ledger").exists()
    assert _media_files(root) == {}
    assert NOT_INCLUDED in none["result.json"].decode()


def test_filters_size_limit_and_widening_later(tmp_path, full):
    """``--media photo,video --max-media-size 5500``: the skip strings; a later run with
    ``--media all`` downloads the rest under the names first given, and its outputs equal
    an export that had ``--media all`` from the start."""
    with served(FULL) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "photo,video", "--max-media-size", "5500"))
        root = tmp_path / CHANNEL_DIR
        doc = json.loads((root / "result.json").read_text())
        for msg in doc["messages"]:
            value = _file_key(msg)
            if value is None:
                continue
            if "photo" in msg:
                assert not value.startswith("(")
            elif msg.get("media_type") == "video_file":
                assert value == (TOO_LARGE if msg["file_size"] > 5500 else value)
            else:
                assert value == NOT_INCLUDED, msg
        assert any(_file_key(x) == TOO_LARGE for x in doc["messages"])
        first = _media_files(root)
        _ok(tgarc(dc, tmp_path, "--media", "all"))
    widened = _media_files(root)
    assert first.items() <= widened.items()            # nothing renamed or rewritten
    full_out, _, _ = full
    assert outputs(tmp_path) == outputs(full_out)
    assert widened == _media_files(full_out / CHANNEL_DIR)


def test_worker_counts_give_identical_files_and_outputs(tmp_path):
    with served(150) as dc:
        for n in (1, 4):
            _ok(tgarc(dc, tmp_path / f"w{n}", "--media", "all", "--workers", str(n)))
    one, four = tmp_path / "w1", tmp_path / "w4"
    assert outputs(one) == outputs(four)
    assert _media_files(one / CHANNEL_DIR) == _media_files(four / CHANNEL_DIR)


def test_an_expired_reference_is_renewed_and_the_file_still_arrives(tmp_path):
    rules = [Rule("GetFileRequest", "expire_ref", nth=1)]
    with served(150, rules=rules) as dc:
        r = tgarc(dc, tmp_path, "--media", "photo")
        _ok(r)
        assert dc.calls_to("GetMessagesRequest"), "the message was read again"
    root = tmp_path / CHANNEL_DIR
    doc = json.loads((root / "result.json").read_text())
    photos = [x["photo"] for x in doc["messages"] if "photo" in x]
    assert photos and all(not p.startswith("(") for p in photos)
    for p in set(photos):
        assert (root / p).stat().st_size > 0


def test_a_refused_file_is_unavailable_and_retried_next_run(tmp_path):
    with served(150) as dc:
        r0 = tgarc(dc, tmp_path / "probe", "--media", "voice")
        _ok(r0)
        voice = [x["media"]["id"] for x in _lines(tmp_path / "probe" / CHANNEL_DIR)
                 if x.get("media", {}).get("media_type") == "voice_message"]
    assert voice
    rules = [Rule("GetFileRequest", "error", every=1, code=400, message="FILE_ID_INVALID",
                  file_id=voice[0])]
    with served(150, rules=rules) as dc:
        r = tgarc(dc, tmp_path / "out", "--media", "voice")
        _ok(r)
        assert "FILE_ID_INVALID" in r.stderr or "could not" in r.stderr
    root = tmp_path / "out" / CHANNEL_DIR
    doc = json.loads((root / "result.json").read_text())
    assert UNAVAILABLE in {x.get("file") for x in doc["messages"]}
    with served(150) as dc:                               # the server relents
        _ok(tgarc(dc, tmp_path / "out", "--media", "voice"))
        assert _getfile_ok(dc) == 1
    doc = json.loads((root / "result.json").read_text())
    assert UNAVAILABLE not in {x.get("file") for x in doc["messages"]}
    assert os.path.exists(root / "voice_messages")


def test_the_same_bytes_under_other_ids_are_stored_once(tmp_path):
    """Re-uploads (new file ids, identical bytes) are downloaded, then linked to the file
    the chat already holds: one copy on disk, every message pointing at its own name."""
    with served(150) as dc:
        dc.corpus.add_copies(3, kind="file")
        r = tgarc(dc, tmp_path, "--media", "document")
        _ok(r)
        assert "stored once" in r.stderr
    root = tmp_path / CHANNEL_DIR
    original = fake_files.file_id("file", 0)
    paths = {x["file"]["path"] for x in _lines(root)
             if x.get("media", {}).get("id", 0) & ~(0xFF << 40) == original}
    assert len(paths) >= 3                       # the copies (and the original if sent), named
    inodes = {(root / p).stat().st_ino for p in paths}
    assert len(inodes) == 1                      # one file on disk
    assert {(root / p).read_bytes() for p in paths} == {fake_files.content(original)}


def test_files_come_while_the_history_is_fetched_on_connections_of_their_own(tmp_path):
    """Media does not wait for the end of the history, and history pages never queue
    behind file parts: while pages are fetched, parts travel on other connections."""
    # 60 pages at 20 ms: the history lasts well beyond the lanes' connecting and the first
    # numbering step, even on a loaded 2-core machine (3000 messages once lost that race)
    with served(6000, rtt_ms=20) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all", "--workers", "1"))
        history = dc.calls_to("GetHistoryRequest")
        parts = [c for c in dc.calls_to("GetFileRequest") if c.outcome == "ok"]
    last_page = max(c.time for c in history)
    early = [c for c in parts if c.time < last_page]
    assert early, "some files arrived before the last history page"
    page_conns = {c.connection for c in history}
    assert not page_conns & {c.connection for c in early}


def test_verify_checks_the_files_and_a_rerun_restores_a_lost_one(tmp_path):
    import subprocess
    import sys

    from tests._export import ROOT

    def verify():
        return subprocess.run([sys.executable, "-m", "engine", "verify", str(tmp_path)],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    with served(150) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "photo"))
        assert verify().returncode == 0
        root = tmp_path / CHANNEL_DIR
        photo = sorted((root / "photos").iterdir())[0]
        good = photo.read_bytes()
        photo.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))       # one bit rots
        r = verify()
        assert r.returncode != 0 and photo.name in r.stdout + r.stderr
        photo.unlink()                                             # or the file is lost
        before = _getfile_ok(dc)
        _ok(tgarc(dc, tmp_path, "--media", "photo"))
        assert _getfile_ok(dc) - before == 1                       # that one file again
    assert photo.read_bytes() == good
    assert verify().returncode == 0


def test_a_forum_topics_files_are_reached_from_its_own_folder(tmp_path):
    """A topic's result.json and messages.jsonl sit two folders down: their paths lead back
    to the chat's media folders; its day notes' embeds name paths inside the chat folder."""
    with served(300) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all", target="@tgarc_group"))
    root = tmp_path / "channel1500000002-tgarc-supergroup"
    checked = 0
    for folder in (root / "topics").iterdir():
        doc = json.loads((folder / "result.json").read_text())
        for msg in doc["messages"]:
            path = _file_key(msg)
            if path and not path.startswith("("):
                assert path.startswith("../../")
                assert (folder / path).resolve().is_file(), path
                checked += 1
        for line in (folder / "messages.jsonl").read_text().splitlines():
            rec = json.loads(line).get("file")
            if rec:
                assert (folder / rec["path"]).resolve().is_file()
        for note in (folder / "markdown").rglob("*.md"):
            for line in note.read_text().splitlines():
                if line.startswith("> ![["):      # a path inside the chat folder
                    assert (root / line[5:line.index("]]")]).is_file(), line
    assert checked
    chat_doc = json.loads((root / "result.json").read_text())
    assert all(not (_file_key(x) or "").startswith("../") for x in chat_doc["messages"])


def test_comment_threads_keep_their_files_in_their_own_folders(tmp_path):
    with served(150) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all", "--comments"))
    root = tmp_path / CHANNEL_DIR
    checked = 0
    for folder in (root / "comments").iterdir():
        doc = json.loads((folder / "result.json").read_text())
        for msg in doc["messages"]:
            path = _file_key(msg)
            if path:
                assert not path.startswith(("(", "../")), path
                assert (folder / path).is_file()
                checked += 1
    assert checked, "the automatic copies of posts with files carry them"


def test_a_contacts_vcard_is_written_from_the_message(tmp_path):
    with served(150) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "photo"))     # vCards come whatever the kinds
    root = tmp_path / CHANNEL_DIR
    doc = json.loads((root / "result.json").read_text())
    by_id = {x["id"]: x for x in _lines(root)}
    cards = [x for x in doc["messages"] if "contact_vcard" in x]
    assert cards
    for msg in cards:
        path = msg["contact_vcard"]
        assert path.startswith("contacts/contact_") and path.endswith(".vcard")
        vcard = by_id[msg["id"]]["media"]["vcard"]
        assert (root / path).read_text() == vcard
        assert by_id[msg["id"]]["file"]["sha256"] == hashlib.sha256(vcard.encode()).hexdigest()


def test_names_and_keys_match_the_golden_files(full):
    """Telegram Desktop's names, folders and key order for every kind of media fakedc serves,
    and each file's bytes by sha256 (fakedc's media are the same on every x86-64 CPU).
    TGARC_UPDATE_GOLDEN=1 rewrites them after an intended change: review the diff."""
    out, _, _ = full
    root = out / CHANNEL_DIR
    golden = Path(__file__).parent / "golden"
    files = {path: hashlib.sha256(data).hexdigest()
             for path, data in sorted(_media_files(root).items())}
    got = {"result.json": (root / "result.json").read_bytes(),
           "media_files.json": json.dumps(files, indent=1).encode() + b"\n"}
    for name, data in got.items():
        path = golden / f"media_channel_{name}"
        if os.environ.get("TGARC_UPDATE_GOLDEN") == "1":
            path.write_bytes(data)
        assert data == path.read_bytes(), f"{path.name} changed; review and TGARC_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_any_moment_then_a_rerun_gives_the_same_archive(tmp_path, full, seed):
    """kill -9 of the whole process group at seeded moments of a media export (history and
    downloads under way), then a run to the end: the outputs and every file are those of
    an export that was never interrupted, and nothing half-written is left."""
    import random
    import time

    from tests._export import kill_group, start

    rnd = random.Random(seed)
    with served(FULL, rtt_ms=5, bandwidth=400_000) as dc:
        for _ in range(3):
            proc = start(dc, tmp_path, "--media", "all", "--workers", "2")
            time.sleep(rnd.uniform(0.3, 2.5))
            kill_group(proc)
        _ok(tgarc(dc, tmp_path, "--media", "all", "--workers", "2"))
    full_out, _, _ = full
    assert outputs(tmp_path) == outputs(full_out)
    assert _media_files(tmp_path / CHANNEL_DIR) == _media_files(full_out / CHANNEL_DIR)
    leftovers = [p for p in (tmp_path / CHANNEL_DIR).rglob("*")
                 if p.name.endswith((".part", ".part.done", ".link", ".tmp"))]
    assert leftovers == []


def test_a_ledger_that_is_garbage_is_set_aside_and_the_archive_stays_the_same(tmp_path):
    with served(150) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        root = tmp_path / CHANNEL_DIR
        before, files_before = outputs(tmp_path), _media_files(root)
        (root / "state" / "media.ledger").write_bytes(b"not a ledger at all, sorry")
        fetched = _getfile_ok(dc)
        r = tgarc(dc, tmp_path, "--media", "all")
        _ok(r)
        assert "was not a media ledger" in r.stderr
        assert _getfile_ok(dc) == fetched           # the files on disk were taken as they are
    assert outputs(tmp_path) == before
    assert _media_files(root) == files_before
    assert list((root / "state").glob("media.ledger.damaged-*"))


def test_flood_waits_dropped_connections_and_lost_replies_cost_retries_not_files(tmp_path,
                                                                                 full):
    rules = [Rule("GetFileRequest", "flood_wait", probability=0.08, seconds=1, seed=1),
             Rule("GetFileRequest", "drop_after", probability=0.05, seed=2),
             Rule("GetFileRequest", "no_reply", probability=0.03, seed=3, times=2)]
    with served(FULL, rules=rules) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all", "--request-timeout", "2", timeout=300))
        fired = {r.kind: r.fired for r in rules}
    assert all(fired.values()), fired                  # every kind of trouble happened
    full_out, _, _ = full
    assert _media_files(tmp_path / CHANNEL_DIR) == _media_files(full_out / CHANNEL_DIR)
    assert outputs(tmp_path) == outputs(full_out)


@pytest.mark.parametrize(("media", "kinds", "limit", "want"), [
    (dict(kind="photo"), {"photo"}, None, None),
    (dict(kind="photo", ttl_seconds=10), {"photo"}, None, UNAVAILABLE),   # self-destructing
    (dict(kind="photo", ttl_seconds=10, out=True), {"photo"}, None, None),   # ... sent by us
    (dict(kind="doc", ttl_seconds=10, out=True), {"video"}, None, NOT_INCLUDED),
    (dict(kind="photo", access_hash=0, file_reference=b""), {"photo"}, None, UNAVAILABLE),
    (dict(kind="photo"), {"video"}, None, NOT_INCLUDED),
    (dict(kind="doc", media_type="voice_message", mime_type="audio/ogg"), {"voice"}, None,
     None),
    (dict(kind="doc", media_type="voice_message", mime_type="audio/ogg"), {"audio"}, None,
     NOT_INCLUDED),
    (dict(kind="doc", size=1000), {"document"}, 1000, None),      # exactly the limit: kept
    (dict(kind="doc", size=1001), {"document"}, 1000, TOO_LARGE),
    (dict(kind="doc", size=1001), {"photo"}, 1000, NOT_INCLUDED),  # the kind decides first
])
def test_skip_reasons_follow_telegram_desktops_order(media, kinds, limit, want):
    from engine import model as m
    from engine.archive import media_ledger as ml
    from engine.supervisor.media_plan import skip_reason

    fields = dict(media)
    kind, out = fields.pop("kind"), fields.pop("out", False)
    fields.setdefault("access_hash", 7)
    fields.setdefault("file_reference", b"r")
    obj = m.Photo(id=1, **fields) if kind == "photo" else m.Document(id=1, **fields)
    strings = {None: None, UNAVAILABLE: ml.UNAVAILABLE, NOT_INCLUDED: ml.NOT_INCLUDED,
               TOO_LARGE: ml.TOO_LARGE}
    assert skip_reason(obj, frozenset(kinds), limit, out) == strings[want]


def test_an_expired_reference_in_a_comment_thread_is_renewed_from_the_thread(tmp_path):
    """A comment belongs to the discussion group, not the channel: its message is read
    again through the thread (messages.getReplies), and the photo still arrives."""
    from engine.fakedc.corpus_messages import comment_photo

    rules = [Rule("GetFileRequest", "expire_ref", nth=1, file_id=comment_photo(1))]
    with served(150, rules=rules) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "photo", "--comments"))
        assert rules[0].fired == 1
        rereads = [c for c in dc.calls_to("GetRepliesRequest") if c.args.get("max_id")]
    folder = tmp_path / CHANNEL_DIR / "comments" / "10"
    doc = json.loads((folder / "result.json").read_text())
    photos = [x["photo"] for x in doc["messages"] if "photo" in x]
    assert photos and not photos[0].startswith("(")
    assert (folder / photos[0]).read_bytes() == fake_files.content(comment_photo(1))
    assert rereads


def test_the_config_file_chooses_media_and_a_flag_beats_it(tmp_path):
    import subprocess
    import sys

    from tests._export import env_for

    toml = tmp_path / "tgarc.toml"
    toml.write_text('media = ["voice"]\nmax_media_size = "1G"\n')
    with served(150) as dc:
        for out, flags in (("file", ()), ("flag", ("--media", "photo"))):
            args = [sys.executable, "-m", "engine", "export", "@tgarc_demo", "--out",
                    str(tmp_path / out), "--tz", "UTC", "--quiet", "--config", str(toml),
                    *flags]
            _ok(subprocess.run(args, env=env_for(dc), capture_output=True, text=True,
                               timeout=120))
    assert {p.split("/")[0] for p in _media_files(tmp_path / "file" / CHANNEL_DIR)} == {
        "voice_messages", "contacts"}
    assert {p.split("/")[0] for p in _media_files(tmp_path / "flag" / CHANNEL_DIR)} == {
        "photos", "contacts"}


def test_an_edit_that_replaces_a_file_brings_the_new_one(tmp_path):
    """--refresh-edits finds a message whose media was replaced: the new file takes the next
    number of its counter (the message was counted before), is downloaded, and the outputs
    point at it; the old file stays (the archive keeps every version)."""
    with served(150) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        root = tmp_path / CHANNEL_DIR
        doc = json.loads((root / "result.json").read_text())
        target = next(x for x in reversed(doc["messages"]) if "photo" in x)
        old_path = target["photo"]
        chat = dc.corpus.chats["channel"]
        new_file = fake_files.copy_id(fake_files.file_id("photo", 1), 77)
        dc.corpus.attached[(chat.id, target["id"])] = new_file
        dc.corpus.edit_message("channel", target["id"], "a new picture")
        _ok(tgarc(dc, tmp_path, "--media", "all", "--refresh-edits", "30"))
    doc = json.loads((root / "result.json").read_text())
    msg = next(x for x in doc["messages"] if x["id"] == target["id"])
    assert msg["photo"] != old_path and msg["photo"].startswith("photos/photo_")
    assert (root / msg["photo"]).read_bytes() == fake_files.content(new_file)
    assert (root / old_path).is_file()
    numbers = [int(p.split("_")[1].split("@")[0]) for p in _media_files(root) if
               p.startswith("photos/")]
    assert int(msg["photo"].split("_")[1].split("@")[0]) == max(numbers)


def test_a_ledger_damaged_midway_is_cut_and_the_rest_numbered_again_the_same(tmp_path):
    with served(FULL) as dc:
        _ok(tgarc(dc, tmp_path, "--media", "all"))
        root = tmp_path / CHANNEL_DIR
        before, files_before = outputs(tmp_path), _media_files(root)
        ledger = root / "state" / "media.ledger"
        data = bytearray(ledger.read_bytes())
        data[len(data) // 3] ^= 0xFF                          # bit rot a third of the way in
        ledger.write_bytes(bytes(data))
        fetched = _getfile_ok(dc)
        r = tgarc(dc, tmp_path, "--media", "all")
        _ok(r)
        assert "is damaged at byte" in r.stderr
        assert _getfile_ok(dc) == fetched                 # files on disk taken as they are
    assert outputs(tmp_path) == before
    assert _media_files(root) == files_before


def test_videos_and_audio_are_probed_by_the_workers_and_a_broken_one_is_recorded(tmp_path):
    """Every downloaded video, round video, GIF, voice note and audio file is read by a
    worker (PyAV): its streams go into messages.jsonl. A video that arrives whole but is
    not readable media is kept, recorded as corrupt with one warning, and the export
    completes."""
    with served(FULL) as dc:
        broken = dc.corpus.add_copies(1, kind="broken_video")
        r = tgarc(dc, tmp_path, "--media", "all", "--workers", "2")
        _ok(r)
    assert "1 do not read as media" in r.stderr
    root = tmp_path / CHANNEL_DIR
    kinds_seen = set()
    for x in _lines(root):
        media, rec = x.get("media", {}), x.get("file")
        if not rec or media.get("type") != "document":
            continue
        mt = media.get("media_type")
        if x["id"] in broken:
            assert "probe" not in rec and rec["corrupt"].startswith("corrupt: ")
            assert (root / rec["path"]).stat().st_size == rec["size"]      # the file stays
            continue
        if mt in ("video_file", "video_message", "animation", "voice_message", "audio_file"):
            kinds_seen.add(mt)
            p = rec["probe"]
            assert p["duration"] == pytest.approx(media["duration"], abs=0.1)
            if mt in ("video_file", "video_message", "animation"):
                assert (p["width"], p["height"], p["video_codec"]) == \
                    (media["width"], media["height"], "h264")
            else:
                assert p["audio_codec"] in ("opus", "mp3") and "width" not in p
        else:
            assert "probe" not in rec                    # photos, stickers, files: not read
    assert kinds_seen == {"video_file", "video_message", "animation", "voice_message",
                          "audio_file"}


def test_a_probe_fills_what_telegrams_attributes_leave_out():
    from engine import model as m
    from engine.render.media_files import fill

    doc = m.Document(id=1, media_type="video_file", mime_type="video/mp4")
    got = fill(doc, {"duration": 2.5, "width": 640, "height": 360, "video_codec": "h264"})
    assert (got.duration, got.width, got.height) == (2.5, 640, 360)
    known = m.Document(id=1, duration=3.0, width=320, height=240)
    assert fill(known, {"duration": 2.5, "width": 640, "height": 360}) is known
