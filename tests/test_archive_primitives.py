"""Names from Telegram, atomic writes and id-range checkpoints: the archive's primitives."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.archive.atomic import write_atomic
from engine.archive.naming import MAX_BYTES, chat_folder, dedupe, safe_name, slug
from engine.archive.ranges import IdRanges
from engine.fakedc.files import HOSTILE_NAMES


@pytest.mark.parametrize(("raw", "want"), [
    ("../../etc/passwd", "_.._etc_passwd"),
    ("a/b.txt", "a_b.txt"),
    ("CON.txt", "_CON.txt"),
    ("nul\x00byte.txt", "nul_byte.txt"),
    ("\u202etxt.exe", "txt.exe"),
    (".hidden", "hidden"),
    ("..", "file"),
    ("", "file"),
    ("report 2024 (final).pdf", "report 2024 (final).pdf"),
    ("trailing. ", "trailing"),
])
def test_hostile_names_become_harmless(raw, want):
    assert safe_name(raw) == want


def test_long_names_keep_their_extension_within_255_bytes():
    name = safe_name("x" * 300 + ".bin")
    assert name.endswith(".bin") and len(name.encode()) == MAX_BYTES
    emoji = safe_name("😀" * 100 + ".jpg")
    assert emoji.endswith(".jpg") and len(emoji.encode()) <= MAX_BYTES
    emoji.encode().decode()          # no character cut in half


@settings(max_examples=500)
@given(st.text())
def test_any_name_is_one_safe_path_component(raw):
    name = safe_name(raw)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert len(name.encode()) <= MAX_BYTES
    assert safe_name(name) == name, "idempotent"
    assert os.path.basename(os.path.normpath(os.path.join("/out", name))) == name


def test_every_corpus_hostile_name_stays_inside_the_folder(tmp_path):
    for raw in HOSTILE_NAMES:
        path = (tmp_path / safe_name(raw)).resolve()
        assert path.parent == tmp_path.resolve()


def test_chat_folders_and_clash_numbering():
    assert chat_folder("channel", 123, "My Channel — News!") == "channel123-my-channel-news"
    assert chat_folder("user", 5, None) == "user5-chat"
    assert slug("Ελληνικά 日本語") == "ελληνικά-日本語"
    taken: set[str] = set()
    assert [dedupe(n, taken) for n in ("a.tar.gz", "a.tar.gz", "a.tar.gz", "b")] == \
        ["a.tar.gz", "a (1).tar.gz", "a (2).tar.gz", "b"]


def test_a_clash_at_full_length_still_gets_its_number():
    """The counter used to be cut off again by the length cap: the taken name came back
    and dedupe looped forever on a second 300-character file name."""
    name = safe_name("x" * 300 + ".bin")
    taken = {name}
    second = dedupe(name, taken)
    assert second.endswith("x (1).bin") and len(second.encode()) == MAX_BYTES
    assert dedupe(name, taken).endswith("x (2).bin")
    long_ext = "a." + "b" * 253                     # no room for the counter before the dot
    assert dedupe(long_ext, {long_ext}).endswith("b (1)")
    assert len(dedupe(long_ext, {long_ext}).encode()) == MAX_BYTES


def test_a_cut_never_ends_in_a_dot_and_the_limit_is_the_callers():
    name = safe_name("a" * 254 + "." + "b" * 40)     # extension too long to keep
    assert name == "a" * 254
    assert safe_name("y" * 300 + ".mp4", limit=245) == "y" * 241 + ".mp4"
    assert safe_name("\ud800x.txt") == "_x.txt", "a lone surrogate does not crash the encoder"


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "result.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert sorted(os.listdir(tmp_path)) == ["result.json"]

    with pytest.raises(TypeError):
        write_atomic(target, 12345)          # not bytes: fails before the rename
    assert target.read_bytes() == b"new content"
    assert sorted(os.listdir(tmp_path)) == ["result.json"], "no temporary left behind"
    read_only = tmp_path / "ro"
    read_only.mkdir()
    os.chmod(read_only, 0o500)
    try:
        if os.geteuid() != 0:                # root ignores directory permissions
            with pytest.raises(PermissionError):
                write_atomic(read_only / "x", b"data")
    finally:
        os.chmod(read_only, 0o700)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 30)), max_size=20),
       st.integers(0, 220), st.integers(0, 60))
def test_id_ranges_match_a_plain_set(spans, lo, width):
    ranges, model = IdRanges(), set()
    for start, length in spans:
        ranges.add(start, start + length)
        model.update(range(start, start + length + 1))
    r = ranges.ranges
    assert all(a <= b for a, b in r) and all(r[i][1] + 1 < r[i + 1][0] for i in range(len(r) - 1))
    assert {i for a, b in r for i in range(a, b + 1)} == model
    assert all((i in ranges) == (i in model) for i in range(-1, 240))
    hi = lo + width
    gaps = ranges.missing(lo, hi)
    assert {i for a, b in gaps for i in range(a, b + 1)} == set(range(lo, hi + 1)) - model
    assert ranges.first_missing(lo, hi) == min(set(range(lo, hi + 1)) - model, default=None)
    assert ranges.max_id() == (max(model) if model else 0)
    with pytest.raises(ValueError):
        ranges.add(5, 4)
