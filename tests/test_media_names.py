"""Media kinds, folders and file names as Telegram Desktop makes them (issue 12, not yet wired
into the export), and the --media / --max-media-size parsers.

The expectations are the facts in ../shared/MEDIA_NOTES.md section 3 (read from tdesktop's
export_data_types.cpp, export_api_wrap.cpp and export_output_file.cpp at 929032d5).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import model as m
from engine.archive.naming import MAX_BYTES
from engine.config import ConfigError
from engine.fakedc import files as fakedc_files
from engine.media import kinds, mimes, names
from engine.media.kinds import parse_kinds, parse_size
from engine.render.context import LocalClock
from engine.telegram import convert

FEB_1 = 1706781600                        # 2024-02-01 10:00:00 UTC
UTC = LocalClock(dt.UTC)
WHEN = "@01-02-2024_10-00-00"


def fake(kind: str, seed: int = 1, name: str | None = None) -> m.Photo | m.Document:
    """The model media the test server's message of ``kind`` decodes to."""
    return convert.media(fakedc_files.media_for(kind, seed, FEB_1, lambda fid: b"ref", name=name))


def doc(**kw) -> m.Document:
    return m.Document(id=1, **kw)


# ---- folders and kinds (notes 3.1, 3.3) ----------------------------------------------------
@pytest.mark.parametrize(("kind", "folder", "media_kind", "name"), [
    ("photo", "photos", "photo", f"photo_7{WHEN}.jpg"),
    ("video", "video_files", "video", f"video_7{WHEN}.mp4"),
    ("round", "round_video_messages", "round", f"file_7{WHEN}.mp4"),
    ("voice", "voice_messages", "voice", f"audio_7{WHEN}.ogg"),      # .ogg, not audio/ogg's .oga
    ("sticker", "stickers", "sticker", f"file_7{WHEN}.webp"),
    # a GIF is an MP4 with a video attribute: video_files/, named as a video, kind "gif"
    ("animation", "video_files", "gif", f"video_7{WHEN}.mp4"),
    ("audio", "files", "audio", "track1.mp3"),                       # music: no folder of its own
])
def test_each_test_server_kind_lands_where_telegram_desktop_puts_it(kind, folder, media_kind,
                                                                    name):
    media = fake(kind)
    assert kinds.folder(media) == folder
    assert kinds.kind(media) == media_kind
    n = None if media_kind == "audio" else 7
    assert names.media_path(media, n, FEB_1, UTC) == f"{folder}/{name}"


def test_the_folder_order_puts_video_attributes_first():
    video_sticker = doc(mime_type="video/webm", media_type="sticker", duration=3.0)
    assert kinds.folder(video_sticker) == "video_files"
    assert kinds.kind(video_sticker) == "sticker"
    assert names.file_name(video_sticker, 2, FEB_1, UTC) == f"video_2{WHEN}.webm"
    legacy_gif = doc(mime_type="image/gif", media_type="animation")   # no video attribute
    assert kinds.folder(legacy_gif) == "animations"
    assert kinds.kind(legacy_gif) == "gif"
    assert names.file_name(legacy_gif, 4, FEB_1, UTC) == f"file_4{WHEN}.gif"
    tgs = doc(mime_type="application/x-tgsticker", media_type="sticker")
    assert (kinds.folder(tgs), names.file_name(tgs, 1, FEB_1, UTC)) == \
        ("stickers", f"file_1{WHEN}.tgs")       # tdesktop's own type, not in shared-mime-info


def test_kinds_of_everything_else():
    assert kinds.kind(doc(media_type="video_message")) == "round"
    assert kinds.kind(doc(media_type="voice_message")) == "voice"
    assert kinds.kind(doc(media_type="audio_file", file_name="a.mp3")) == "audio"
    assert kinds.kind(doc(mime_type="application/pdf")) == "document"
    assert kinds.folder(doc(mime_type="application/pdf")) == "files"
    for other in (m.Geo(1.0, 2.0), m.Contact(vcard="BEGIN:VCARD"), m.Dice("🎲", 3), None):
        assert kinds.kind(other) is None
    assert set(kinds.FOLDERS) == {"photos", "video_files", "animations", "stickers",
                                  "voice_messages", "round_video_messages", "files", "contacts"}


# ---- generated names and extensions (notes 3.2) ---------------------------------------------
@pytest.mark.parametrize(("mime", "media_type", "want"), [
    ("video/quicktime", "video_file", f"video_1{WHEN}.qt"),        # Python would say .mov
    ("video/x-matroska", "video_file", f"video_1{WHEN}.mkv"),
    ("application/octet-stream", "video_file", f"video_1{WHEN}.mov"),   # no glob: .mov
    ("application/octet-stream", None, f"file_1{WHEN}.unknown"),        # no glob: .unknown
    ("Application/PDF", None, f"file_1{WHEN}.pdf"),
    ("image/jpeg", None, f"file_1{WHEN}.jpg"),
    ("audio/ogg", None, f"file_1{WHEN}.oga"),
    ("audio/mp3", "voice_message", f"audio_1{WHEN}.mp3"),
    ("audio/mpeg", "voice_message", f"audio_1{WHEN}.ogg"),        # only audio/mp3 says .mp3
    ("text/x-readme", None, f"file_1{WHEN}README"),      # the glob minus its *, nothing more
    ("made/up", None, f"file_1{WHEN}.unknown"),
])
def test_a_document_without_a_name_is_named_by_kind_and_mime(mime, media_type, want):
    assert names.file_name(doc(mime_type=mime, media_type=media_type), 1, FEB_1, UTC) == want


def test_a_name_sent_with_the_document_wins_and_an_empty_one_does_not():
    named = doc(mime_type="video/mp4", media_type="video_file", file_name="clip.MP4")
    assert names.file_name(named, None, FEB_1, UTC) == "clip.MP4"
    assert names.counter(named) is None
    empty = doc(mime_type="video/mp4", media_type="video_file", file_name="")
    assert names.file_name(empty, 3, FEB_1, UTC) == f"video_3{WHEN}.mp4"
    with pytest.raises(ValueError, match="number"):
        names.file_name(empty, None, FEB_1, UTC)


def test_date_zero_leaves_the_date_out():
    assert names.file_name(m.Photo(id=1), 2, 0, UTC) == "photo_2.jpg"


def test_contacts_and_thumbnails():
    assert names.contact_path(3) == "contacts/contact_3.vcard"
    assert names.thumb_path(f"video_files/video_3{WHEN}.mp4") == \
        "video_files/video_3@01-02-2024_10-00-00.mp4_thumb.jpg"      # the notes' example


@pytest.mark.skipif(not Path("/usr/share/mime/packages/freedesktop.org.xml").exists()
                    or Path("/usr/share/mime/version").read_text().strip() != "2.2",
                    reason="needs shared-mime-info 2.2, the version the table was built from")
def test_the_committed_glob_table_is_shared_mime_info():
    built = mimes.build("/usr/share/mime/packages/freedesktop.org.xml")
    assert mimes._table() == built
    assert mimes._source(built) in Path(mimes.__file__).read_text(), "rebuild the table"


def test_the_glob_table_reads_back():
    assert len(mimes._table()) > 1000
    assert mimes.first_glob("video/quicktime") == "*.qt"
    assert mimes.first_glob("audio/x-mp3") == "*.mp3"                 # an alias
    assert mimes.first_glob("application/octet-stream") is None


# ---- counters ---------------------------------------------------------------------------------
def test_counters_number_each_kind_of_name_on_its_own():
    chat = [m.Photo(id=1), doc(file_name="a.pdf"), doc(media_type="voice_message"),
            doc(mime_type="application/zip"), m.Photo(id=2), m.Contact(),
            m.Contact(vcard="BEGIN:VCARD"), doc(media_type="video_file"),
            doc(media_type="voice_message"), m.Geo(0.0, 0.0), doc(media_type="sticker")]
    counters = names.Counters()
    assert [counters.take(x) for x in chat] == [1, None, 1, 1, 2, None, 1, 1, 2, None, 2]
    assert counters == {"photos": 2, "audios": 2, "files": 2, "contacts": 1, "videos": 1}
    again = names.Counters(dict(counters))                 # what the ledger stores comes back
    assert again.take(m.Photo(id=3)) == 3


# ---- local time (notes 3.2: local time, via the one clock) ----------------------------------
@pytest.mark.parametrize(("zone", "ts", "want"), [
    ("UTC", FEB_1, "@01-02-2024_10-00-00"),
    ("Asia/Tokyo", FEB_1, "@01-02-2024_19-00-00"),
    ("America/New_York", FEB_1, "@01-02-2024_05-00-00"),
    ("Pacific/Kiritimati", FEB_1, "@02-02-2024_00-00-00"),     # +14: already the next day
    ("America/Adak", 1706745600, "@31-01-2024_14-00-00"),       # -10: still the day before
    ("Europe/Berlin", 1711843200, "@31-03-2024_01-00-00"),       # 00:00 UTC, just before DST
    ("Europe/Berlin", 1711846800, "@31-03-2024_03-00-00"),       # one hour later: 02:00 skipped
    ("Asia/Kolkata", 1711846859, "@31-03-2024_06-30-59"),
])
def test_the_date_part_is_local_time_in_the_exports_zone(zone, ts, want):
    clock = LocalClock(ZoneInfo(zone))
    assert names.date_part(ts, clock) == want
    stamp = clock.stamp(ts)              # the same instant result.json writes for the message
    assert want == f"@{stamp[8:10]}-{stamp[5:7]}-{stamp[:4]}_{stamp[11:].replace(':', '-')}"
    assert names.file_name(m.Photo(id=1), 1, ts, clock) == f"photo_1{want}.jpg"


# ---- hostile names (DESIGN invariant 5; fakedc serves these) --------------------------------
HOSTILE_WANT = {
    "../../etc/passwd": "_.._etc_passwd",
    "a/b.txt": "a_b.txt",
    "CON.txt": "_CON.txt",
    "nul\x00byte.txt": "nul_byte.txt",
    "x" * 300 + ".bin": "x" * (names.NAME_BYTES - 4) + ".bin",
    "\u202etxt.exe": "txt.exe",
    "report 2024 (final).pdf": "report 2024 (final).pdf",
    ".hidden": "hidden",
}


def test_the_table_covers_every_name_the_test_server_serves():
    assert set(HOSTILE_WANT) == set(fakedc_files.HOSTILE_NAMES)


@pytest.mark.parametrize("raw", fakedc_files.HOSTILE_NAMES)
def test_every_hostile_name_stays_inside_the_chat_folder(raw, tmp_path):
    media = fake("file", name=raw)
    path = names.media_path(media, None, FEB_1, UTC)
    assert path == f"files/{HOSTILE_WANT[raw]}"
    chat = tmp_path / "chat"
    target = (chat / path).resolve()
    assert target.parent == (chat / "files").resolve()
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")                              # the file system takes it
    thumb = chat / names.thumb_path(path)
    thumb.write_bytes(b"t")                               # and its thumbnail's name too
    for written in (target, thumb):                       # and what a download writes beside
        Path(f"{written}{names.WRITING_SUFFIX}").write_bytes(b"")
        Path(f"{written}.part").write_bytes(b"")
    want = [HOSTILE_WANT[raw], HOSTILE_WANT[raw] + "_thumb.jpg"]
    assert sorted(p.name for p in (chat / "files").iterdir()) == \
        sorted(w + s for w in want for s in ("", ".part", names.WRITING_SUFFIX))


@pytest.mark.parametrize(("raw", "want"), [
    ("..", "file"), ("...", "file"), ("  ", "file"), ("\u202e", "file"),
    ("LPT1", "_LPT1"), ("aux.tar.gz", "_aux.tar.gz"), ("a\\b:c*?.txt", "a_b_c__.txt"),
    ("e\u0301.txt", "\u00e9.txt"),                                  # NFC
])
def test_more_hostile_names(raw, want):
    assert names.file_name(doc(file_name=raw), None, FEB_1, UTC) == want


_ANY = st.text(st.characters(blacklist_categories=()), max_size=400)


@settings(max_examples=400, deadline=None)
@given(_ANY, st.integers(0, 3))
def test_any_name_is_one_bounded_component_and_keeps_so_through_clashes(raw, clashes):
    taken: set[str] = set()
    for _ in range(clashes + 1):
        path = names.claim(names.media_path(doc(file_name=raw), 1, FEB_1, UTC), taken)
        folder, _, name = path.partition("/")
        assert folder == "files" and name and "/" not in name and "\\" not in name
        assert name not in (".", "..") and not name.startswith(".") and "\x00" not in name
        assert not name.endswith((".", " "))
        assert len(name.encode()) <= names.NAME_BYTES
        assert len(names.thumb_path(name).encode()) <= MAX_BYTES
        assert os.path.normpath(os.path.join("/chat/files", name)) == f"/chat/files/{name}"
    assert len(taken) == clashes + 1, "every claim is a new path"


# ---- clashes (notes 3.2: PrepareRelativePath) ----------------------------------------------
def test_a_clash_is_numbered_before_the_first_dot():
    taken: set[str] = set()
    got = [names.claim(p, taken) for p in
           ("files/a.tar.gz", "files/a.tar.gz", "files/a.tar.gz", "files/b", "files/b",
            "stickers/a.tar.gz", f"photos/photo_1{WHEN}.jpg", f"photos/photo_1{WHEN}.jpg")]
    assert got == ["files/a.tar.gz", "files/a (1).tar.gz", "files/a (2).tar.gz", "files/b",
                   "files/b (1)", "stickers/a.tar.gz", f"photos/photo_1{WHEN}.jpg",
                   f"photos/photo_1{WHEN} (1).jpg"]


def test_a_clash_ignores_case_so_no_file_is_lost_on_macos_or_windows():
    taken: set[str] = set()
    assert names.claim("files/Report.PDF", taken) == "files/Report.PDF"
    assert names.claim("files/report.pdf", taken) == "files/report (1).pdf"
    assert taken == {"files/report.pdf", "files/report (1).pdf"}


def test_a_long_name_clashes_within_its_budget():
    path = names.media_path(doc(file_name="y" * 300 + ".mp4"), None, FEB_1, UTC)
    taken: set[str] = set()
    first, second = names.claim(path, taken), names.claim(path, taken)
    assert first == path and second.endswith("y (1).mp4")
    assert len(second.partition("/")[2].encode()) == names.NAME_BYTES


# ---- --media ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("all", kinds.ALL),
    ("none", frozenset()),
    ("photo", {"photo"}),
    ("photo,video", {"photo", "video"}),
    (" Photo , GIF ,", {"photo", "gif"}),
    ("voice,round,sticker,audio,document", {"voice", "round", "sticker", "audio", "document"}),
    ("all,photo", kinds.ALL),
])
def test_media_kinds_parse(text, want):
    assert parse_kinds(text) == want


@pytest.mark.parametrize(("text", "says"), [
    ("photos", "unknown kind 'photos'"),
    ("photo,file", "unknown kind 'file'"),
    ("", "no kinds given"),
    (" , ", "no kinds given"),
    ("none,photo", "'none' cannot be combined"),
])
def test_a_bad_media_kind_is_one_readable_line(text, says):
    with pytest.raises(ConfigError) as err:
        parse_kinds(text)
    message = str(err.value)
    assert says in message and "\n" not in message and message.startswith("--media: ")
    if "unknown" in says or "no kinds" in says:
        assert "photo, video, voice, round, sticker, gif, audio, document" in message


def test_the_kinds_are_the_users_names():
    assert kinds.KINDS == ("photo", "video", "voice", "round", "sticker", "gif", "audio",
                           "document")
    assert {"photo"} == kinds.TDESKTOP_DEFAULT_KINDS


# ---- --max-media-size ------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("50M", 50 * 1024 * 1024),
    ("2G", 2 * 1024 ** 3),
    ("512K", 512 * 1024),
    ("1.5G", 1610612736),
    ("1048576", 1048576),
    ("10MB", 10 * 1024 * 1024),
    ("10MiB", 10 * 1024 * 1024),
    ("8 mib", 8 * 1024 * 1024),
    ("1t", 1 << 40),
    (".5K", 512),
    ("100b", 100),
    ("1.9", 1),
    ("0", None),
    ("0.0M", None),
    ("none", None),
    ("NONE", None),
])
def test_media_sizes_parse_in_binary_units(text, want):
    assert parse_size(text) == want


@pytest.mark.parametrize("text", ["", "M", "-5M", "5X", "1.2.3", "5 M B", "inf", "nan",
                                  "1e6", "0x10", "½M"])
def test_a_bad_media_size_is_one_readable_line(text):
    with pytest.raises(ConfigError) as err:
        parse_size(text)
    message = str(err.value)
    assert message.startswith("--max-media-size: cannot read") and "\n" not in message


def test_a_size_under_one_byte_is_a_typo_not_no_limit():
    with pytest.raises(ConfigError, match="less than one byte"):
        parse_size("0.0001K")


def test_only_files_larger_than_the_limit_are_skipped():
    assert parse_size("8M") == kinds.TDESKTOP_DEFAULT_MAX_SIZE
    assert not kinds.exceeds(8 << 20, parse_size("8M"))
    assert kinds.exceeds((8 << 20) + 1, parse_size("8M"))
    assert not kinds.exceeds(10 ** 12, parse_size("none"))


def test_the_configs_default_media_is_every_kind():
    from engine import config

    assert tuple(sorted(kinds.KINDS)) == config.MEDIA_KINDS
    assert config.ExportConfig(targets=(), out="x").media == config.MEDIA_KINDS
