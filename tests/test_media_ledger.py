"""The media ledger (engine/archive/media_ledger.py), its numbering (engine/media/
numbering.py) and its rebuild from the files on disk (engine/media/ledger_rebuild.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import model as m
from engine.archive import layout, media_ledger
from engine.archive.lock import LockHeld
from engine.archive.media_ledger import (
    DONE,
    FAILED,
    MAGIC,
    PENDING,
    SKIPPED,
    TOO_LARGE,
    Entry,
    Ledger,
    NotALedger,
    file_key,
)
from engine.media import ledger_rebuild, names
from engine.media.numbering import number

CHAT = m.PeerRef("channel", 1)
ROOT = Path(__file__).resolve().parent.parent


def ledger_path(root: Path) -> Path:
    return root / layout.STATE / layout.MEDIA_LEDGER


def photo(msg_id: int, file_id: int) -> m.Message:
    return m.Message(msg_id, CHAT, 1_700_000_000 + msg_id, media=m.Photo(file_id))


def doc(msg_id: int, file_id: int, **kw) -> m.Message:
    return m.Message(msg_id, CHAT, 1_700_000_000 + msg_id, media=m.Document(file_id, **kw))


def text(msg_id: int) -> m.Message:
    return m.Message(msg_id, CHAT, 1_700_000_000 + msg_id, text="hi")


def entries(root: Path) -> dict[int, Entry]:
    with Ledger.open(root) as led:
        return {e.key: e for e in led.entries()}


# ---- the journal ---------------------------------------------------------------------------
def test_entries_survive_a_reopen_with_every_status(tmp_path):
    a, b, c, d = (Entry("photo", i, "photos", i, 10 + i) for i in range(1, 5))
    with Ledger.open(tmp_path) as led:
        led.put([a, b, c, d], counters={"photos": 4}, counted=(11, 14))
        led.done(a.key, "photos/photo_1.jpg", 3, "ab" * 32)
        led.failed(b.key, "FILE_REFERENCE_EXPIRED")
        led.failed(b.key, "timeout")
        led.skipped(c.key, TOO_LARGE)
    with Ledger.open(tmp_path) as led:
        assert len(led) == 4 and led.notices == []
        assert led.get(a.key).status == DONE and led.get(a.key).path == "photos/photo_1.jpg"
        assert led.get(a.key).sha256 == "ab" * 32 and led.get(a.key).attempts == 1
        assert (led.get(b.key).status, led.get(b.key).attempts, led.get(b.key).error) \
            == (FAILED, 2, "timeout")
        assert (led.get(c.key).status, led.get(c.key).reason) == (SKIPPED, TOO_LARGE)
        assert led.get(d.key).status == PENDING
        assert led.counters == {"photos": 4} and led.counted.ranges == [(11, 14)]
        assert led.tally() == {DONE: 1, FAILED: 1, SKIPPED: 1, PENDING: 1}


def test_a_skip_needs_a_known_reason_and_an_update_a_known_entry(tmp_path):
    with Ledger.open(tmp_path) as led:
        led.put([Entry("photo", 1)])
        with pytest.raises(ValueError, match="skip reason"):
            led.skipped(file_key("photo", 1), "bored")
        with pytest.raises(KeyError):
            led.done(file_key("photo", 2), "photos/x.jpg", 1, "")


def test_the_same_id_in_two_kinds_is_two_entries(tmp_path):
    with Ledger.open(tmp_path) as led:
        led.put([Entry("photo", -7), Entry("document", -7), Entry("contact", -7)])
    got = entries(tmp_path)
    assert sorted((e.kind, e.id) for e in got.values()) == \
        [("contact", -7), ("document", -7), ("photo", -7)]


def test_a_torn_tail_is_cut_off_and_the_ledger_goes_on(tmp_path):
    with Ledger.open(tmp_path) as led:
        led.put([Entry("photo", 1)], counters={"photos": 1}, counted=(1, 1))
        whole = led.log_bytes
        led.put([Entry("photo", 2), Entry("photo", 3)], counters={"photos": 3}, counted=(2, 3))
    path = ledger_path(tmp_path)
    for cut in (1, 20, path.stat().st_size - whole - 1):     # anywhere inside the last group
        data = path.read_bytes()
        path.write_bytes(data[:len(data) - cut])
        with Ledger.open(tmp_path) as led:
            assert [e.id for e in led.entries()] == [1]      # a group is all or nothing
            assert led.counters == {"photos": 1} and led.counted.ranges == [(1, 1)]
            assert any("unfinished write" in n for n in led.notices)
            assert path.stat().st_size == whole
            led.put([Entry("photo", 2), Entry("photo", 3)], counters={"photos": 3},
                    counted=(2, 3))
    assert sorted(e.id for e in entries(tmp_path).values()) == [1, 2, 3]


def test_a_group_without_its_commit_record_is_not_believed(tmp_path):
    with Ledger.open(tmp_path) as led:
        led.put([Entry("photo", 1)])
        before = led.log_bytes
        led.put([Entry("photo", 2), Entry("photo", 3)], counters={"photos": 9})
    path = ledger_path(tmp_path)
    data = path.read_bytes()
    state_len = media_ledger._HEAD.unpack_from(data, _record_starts(data)[-1])[0]
    path.write_bytes(data[:len(data) - state_len - media_ledger._HEAD.size])  # whole records
    with Ledger.open(tmp_path) as led:
        assert [e.id for e in led.entries()] == [1] and led.counters == {}
        assert led.log_bytes == before


def _record_starts(data: bytes) -> list[int]:
    pos, out = len(MAGIC), []
    while pos < len(data):
        out.append(pos)
        pos += media_ledger._HEAD.size + media_ledger._HEAD.unpack_from(data, pos)[0]
    return out


def test_a_damaged_record_is_caught_by_its_checksum_and_the_file_kept(tmp_path):
    with Ledger.open(tmp_path) as led:
        for i in range(1, 6):
            led.put([Entry("photo", i, "photos", i)], counters={"photos": i})
    path = ledger_path(tmp_path)
    data = bytearray(path.read_bytes())
    third = _record_starts(bytes(data))[4]                  # each group: entry, state
    data[third + media_ledger._HEAD.size + 1] ^= 0x40        # bit rot inside entry 3
    path.write_bytes(bytes(data))
    with Ledger.open(tmp_path) as led:
        assert sorted(e.id for e in led.entries()) == [1, 2]
        assert led.counters == {"photos": 2}
        assert any("damaged at byte" in n for n in led.notices)
    kept = list(path.parent.glob(f"{layout.MEDIA_LEDGER}.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)


def test_a_damaged_length_is_not_taken_for_a_torn_tail(tmp_path):
    with Ledger.open(tmp_path) as led:
        for i in range(1, 4):
            led.put([Entry("photo", i)])
    path = ledger_path(tmp_path)
    data = bytearray(path.read_bytes())
    data[_record_starts(bytes(data))[1] + 3] = 0x7f          # entry 2 now claims 2 GiB
    path.write_bytes(bytes(data))
    with Ledger.open(tmp_path) as led:
        assert [e.id for e in led.entries()] == [1]
    assert list(path.parent.glob(f"{layout.MEDIA_LEDGER}.damaged-*"))


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path):
    ledger_path(tmp_path).parent.mkdir(parents=True)
    ledger_path(tmp_path).write_bytes(b"{}\n not a journal")
    with pytest.raises(NotALedger):
        Ledger.open(tmp_path)
    Ledger.open(tmp_path.parent / "elsewhere").close()      # and its lock was let go
    with pytest.raises(NotALedger):
        Ledger.open(tmp_path)


def test_compaction_keeps_every_live_entry_and_the_counters(tmp_path, monkeypatch):
    monkeypatch.setattr(media_ledger, "_SLACK", 0)
    with Ledger.open(tmp_path) as led:
        led.put([Entry("document", i, "files", i, i) for i in range(300)],
                counters={"files": 300}, counted=(0, 299))
        led.put([], counted=(500, 600))
        for round_ in range(3):
            for i in range(0, 300, 2):
                led.failed(file_key("document", i), f"error {round_}")
        expect = {e.key: e for e in led.entries()}
        bloated = led.log_bytes
    with Ledger.open(tmp_path) as led:
        assert any("compacted to 300" in n for n in led.notices)
        assert led.log_bytes < bloated / 2
        assert {e.key: e for e in led.entries()} == expect
        assert led.counters == {"files": 300}
        assert led.counted.ranges == [(0, 299), (500, 600)]
        led.failed(file_key("document", 1), "after")          # appends after compaction
    got = entries(tmp_path)
    assert got[file_key("document", 1)].error == "after" and len(got) == 300


def test_a_second_writer_is_refused_by_the_chat_lock(tmp_path):
    Ledger.open(tmp_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from engine.archive.media_ledger import Ledger
            led = Ledger.open(Path({str(tmp_path)!r}))
            print("held", flush=True)
            sys.stdin.read()
        """)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld):
            Ledger.open(tmp_path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    Ledger.open(tmp_path).close()                              # free once it exits


# ---- numbering -----------------------------------------------------------------------------
def test_one_file_in_many_messages_is_one_entry_with_its_first_number(tmp_path):
    msgs = [photo(1, 100), photo(2, 200), photo(3, 100), text(4), photo(5, 300)]
    with Ledger.open(tmp_path) as led:
        new = number(led, msgs)
        # Telegram Desktop's counter advances for every photo message, the cached one too
        assert led.counters == {"photos": 4}
    assert [(e.id, e.n, e.msg_id) for e in new] == [(100, 1, 1), (200, 2, 2), (300, 4, 5)]
    assert len(entries(tmp_path)) == 3


def test_counters_follow_telegram_desktops_kinds(tmp_path):
    msgs = [doc(1, 1, mime_type="audio/ogg", media_type="voice_message"),
            doc(2, 2, mime_type="video/mp4", media_type="video_file"),
            doc(3, 3, file_name="report.pdf"),
            doc(4, 4, mime_type="image/webp", media_type="sticker"),
            m.Message(5, CHAT, 5, media=m.Contact(vcard="BEGIN:VCARD")),
            m.Message(6, CHAT, 6, media=m.Contact(phone_number="1")),    # no vCard, no file
            photo(7, 7)]
    with Ledger.open(tmp_path) as led:
        new = number(led, msgs)
        assert led.counters == {"audios": 1, "videos": 1, "files": 1, "contacts": 1,
                                "photos": 1}
    assert [(e.kind, e.counter, e.n) for e in new] == [
        ("document", "audios", 1), ("document", "videos", 1), ("document", "", 0),
        ("document", "files", 1), ("contact", "contacts", 1), ("photo", "photos", 1)]
    assert new[4].id == 5                                   # a contact is keyed by its message


def test_numbering_a_page_again_takes_no_number_twice(tmp_path):
    page = [photo(1, 10), photo(2, 20)]
    with Ledger.open(tmp_path) as led:
        number(led, page)
    with Ledger.open(tmp_path) as led:
        assert number(led, page) == []              # a re-run after a crash, say
        assert led.counters == {"photos": 2}
        new = number(led, [photo(3, 30)])
    assert new[0].n == 3


def test_a_span_without_files_is_counted_without_an_fsync_and_a_file_with_one(tmp_path,
                                                                               monkeypatch):
    """Counting ids that hold no file costs a write, not an fsync (one a segment before):
    losing it to a crash costs only counting them again. A numbered file is durable."""
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    with Ledger.open(tmp_path) as led:
        synced.clear()
        number(led, [], span=(1, 1000))
        assert synced == []
        number(led, [photo(1001, 5)])
        assert len(synced) == 1
    with Ledger.open(tmp_path) as led:        # written all the same
        assert not led.counted.missing(1, 1001)
        assert led.counters == {"photos": 1}


def test_messages_must_come_in_id_order(tmp_path):
    with Ledger.open(tmp_path) as led, pytest.raises(ValueError, match="ascending"):
        number(led, [photo(2, 1), photo(1, 2)])


def test_a_backfill_of_older_messages_takes_higher_numbers(tmp_path):
    with Ledger.open(tmp_path) as led:
        newer = number(led, [photo(100, 1), photo(101, 2)])      # --since first
        older = number(led, [photo(5, 3), photo(6, 4)])          # the full history later
        again = number(led, [photo(5, 3), photo(100, 1)])
    assert [e.n for e in newer] == [1, 2] and [e.n for e in older] == [3, 4]
    assert again == []


def test_a_counted_message_with_new_media_takes_the_next_number(tmp_path):
    with Ledger.open(tmp_path) as led:
        number(led, [photo(1, 10), photo(2, 20)])
        edited = number(led, [photo(2, 21)])             # its photo was replaced
        assert led.counters == {"photos": 3}
    assert [(e.id, e.n) for e in edited] == [(21, 3)]


_MEDIA = st.one_of(
    st.builds(lambda f: m.Photo(f), st.integers(1, 12)),
    st.builds(lambda f: m.Document(f, mime_type="audio/ogg", media_type="voice_message"),
              st.integers(20, 25)),
    st.builds(lambda f: m.Document(f, file_name="a.txt"), st.integers(30, 35)),
    st.builds(lambda f: m.Document(f, mime_type="video/mp4", media_type="video_file"),
              st.integers(40, 45)),
    st.just(m.Contact(vcard="V")),
    st.none())


def _reference(msgs: list[m.Message]) -> dict[tuple[str, int], int]:
    """Telegram Desktop over the whole chat at once: one counter step per media message,
    a file's first name for every later message."""
    counters, first = names.Counters(), {}
    for x in msgs:
        n = counters.take(x.media)
        if isinstance(x.media, m.Photo | m.Document):
            first.setdefault((type(x.media).__name__.lower(), x.media.id), n or 0)
        elif isinstance(x.media, m.Contact):
            first[("contact", x.id)] = n
    return first


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(media=st.lists(_MEDIA, max_size=40), data=st.data())
def test_any_split_into_pages_gives_the_same_numbers(tmp_path_factory, media, data):
    msgs = [m.Message(i + 1, CHAT, 1000 + i, media=x) for i, x in enumerate(media)]
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(msgs) - 1, 1)))))
    pages = [msgs[a:b] for a, b in zip([0, *cuts], [*cuts, len(msgs)], strict=True)]
    root = tmp_path_factory.mktemp("split")
    for i, page in enumerate(pages):
        if page:
            with Ledger.open(root) as led:                 # a run (or a worker count) each
                number(led, page)
                if i % 2:
                    number(led, page)                      # and a crashed one repeated
    got = {(e.kind, e.id): e.n for e in entries(root).values()}
    assert got == _reference(msgs)


# ---- rebuild -------------------------------------------------------------------------------
def _export_like(root: Path) -> dict[str, tuple[str, int]]:
    """A chat with media on disk and in the ledger, as a wired export would leave it;
    returns which Telegram file each path holds (what the archive would say)."""
    msgs = [photo(1, 10), photo(2, 20), photo(3, 10),
            doc(4, 40, mime_type="audio/ogg", media_type="voice_message"),
            doc(5, 50, file_name="report.pdf", has_thumb=True), photo(6, 60), photo(7, 70)]
    owner = {}
    with Ledger.open(root) as led:
        for e in number(led, msgs):
            if e.id == 70:
                led.skipped(e.key, TOO_LARGE)
                continue
            path = {"photos": f"photos/photo_{e.n}@01-01-2024_00-00-00.jpg",
                    "audios": f"voice_messages/audio_{e.n}@01-01-2024_00-00-00.ogg",
                    "": "files/report.pdf"}[e.counter]
            data = f"bytes of {e.id}".encode()
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
            thumb = ""
            if e.id == 50:
                thumb = names.thumb_path(path)
                (root / thumb).write_bytes(b"thumb")
            owner[path] = (e.kind, e.id)
            led.done(e.key, path, len(data), hashlib.sha256(data).hexdigest(), thumb)
    return owner


def _known(owner: dict):
    return lambda found: {f.path: owner[f.path] for f in found if f.path in owner}


def test_a_lost_ledger_is_rebuilt_from_the_files_on_disk(tmp_path):
    owner = _export_like(tmp_path)
    before = {k: e for k, e in entries(tmp_path).items() if e.status == DONE}
    ledger_path(tmp_path).unlink()
    (tmp_path / "photos" / "stray.jpg").write_bytes(b"?")           # no message claims it
    (tmp_path / "photos" / "photo_9@x.jpg.part").write_bytes(b"")   # an unfinished download
    got = ledger_rebuild.rebuild(tmp_path, _known(owner))
    assert got.unidentified == ["photos/stray.jpg"] and got.on_disk == 6
    # photo 60 was the 4th photo message (10 repeated at 3), so its name says 4
    assert got.counters == {"photos": 4, "audios": 1}
    after = entries(tmp_path)
    for key, e in before.items():
        r = after[key]
        assert (r.path, r.thumb, r.size, r.sha256, r.n, r.counter, r.status) == \
            (e.path, e.thumb, e.size, e.sha256, e.n, e.counter, DONE)
    with Ledger.open(tmp_path) as led:                    # numbering resumes above them
        assert number(led, [photo(8, 80)])[0].n == 5


def test_a_rebuild_keeps_what_the_old_ledger_holds_and_requeues_lost_files(tmp_path):
    owner = _export_like(tmp_path)
    lost = next(p for p, (_k, i) in owner.items() if i == 20)
    (tmp_path / lost).unlink()
    got = ledger_rebuild.rebuild(tmp_path, _known(owner), counted=[(1, 7)])
    after = entries(tmp_path)
    assert after[file_key("photo", 20)].status == PENDING         # fetched again next run
    assert after[file_key("photo", 70)].status == SKIPPED          # not on disk, still known
    assert got.entries == 6 and got.counters["photos"] == 5
    with Ledger.open(tmp_path) as led:
        assert led.counted.ranges == [(1, 7)]


def test_a_rebuild_sets_aside_a_file_that_is_not_a_ledger(tmp_path):
    owner = _export_like(tmp_path)
    ledger_path(tmp_path).write_bytes(b"garbage")
    ledger_rebuild.rebuild(tmp_path, _known(owner))
    assert list(ledger_path(tmp_path).parent.glob("media.ledger.damaged-*"))
    assert len(entries(tmp_path)) == 5


def test_generated_names_give_back_their_numbers():
    assert ledger_rebuild.numbered("photos/photo_12@01-02-2024_10-00-00 (1).jpg") \
        == ("photos", 12)
    assert ledger_rebuild.numbered("video_files/video_3.mov") == ("videos", 3)
    assert ledger_rebuild.numbered("stickers/file_7@01-02-2024_10-00-00.webp") == ("files", 7)
    assert ledger_rebuild.numbered("contacts/contact_2.vcard") == ("contacts", 2)
    assert ledger_rebuild.numbered("files/photo_3.jpg") is None     # a sender's own name
    assert ledger_rebuild.numbered("photos/photo_x.jpg") is None


def test_a_failure_keeps_a_bounded_error(tmp_path):
    with Ledger.open(tmp_path) as led:
        led.put([Entry("photo", 1)])
        led.failed(file_key("photo", 1), "x" * 10**6)
    assert len(entries(tmp_path)[file_key("photo", 1)].error) == media_ledger._ERROR_CHARS
