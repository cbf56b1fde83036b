"""The archive of record and the render cache are zstd-compressed (issue 17, less disk), and
an archive written before that keeps working: its plain segments and cache files are read,
checked and extended, and the outputs stay byte for byte what a fresh export writes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import zstandard

from engine import model as m
from engine.archive.segment import (
    _SEG_HEADER,
    PLAIN_MAGIC,
    SEG_MAGIC,
    DamagedSegment,
    read_segment_file,
    seal,
    unseal,
)
from engine.render import fragments
from tests._export import CHANNEL_DIR, ROOT, outputs, served, tgarc


def _batch(n: int) -> m.Batch:
    chat = m.PeerRef("channel", 7)
    return m.Batch(seq=1, chat=chat, messages=[m.Message(id=i, chat=chat, date=1_700_000_000 + i,
                                                  text=f"message number {i} " * 5)
                                        for i in range(1, n + 1)])


def _plain(batch_bytes: bytes) -> bytes:
    """A segment as tgarc wrote it before compression."""
    return _SEG_HEADER.pack(PLAIN_MAGIC, len(batch_bytes),
                            hashlib.sha256(batch_bytes).digest()) + batch_bytes


def test_a_segment_is_compressed_and_checked_before_it_is_decompressed(tmp_path):
    raw = m.ENCODER.encode(_batch(200))
    sealed = seal(raw)
    assert sealed.startswith(SEG_MAGIC) and len(sealed) < len(raw) / 3
    path = tmp_path / "0000000001-0000000200.1.1.seg"
    path.write_bytes(sealed)
    assert read_segment_file(path) == _batch(200)
    damaged = bytearray(sealed)
    damaged[-5] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(DamagedSegment, match="sha256 does not match"):
        read_segment_file(path)
    path.write_bytes(sealed[:-10])
    with pytest.raises(DamagedSegment, match="bytes of data where its header says"):
        read_segment_file(path)


def test_segments_from_before_compression_are_still_read(tmp_path):
    raw = m.ENCODER.encode(_batch(20))
    for name, data in (("plain.seg", _plain(raw)), ("bare.seg", raw)):
        (tmp_path / name).write_bytes(data)
        assert read_segment_file(tmp_path / name) == _batch(20)
    altered = bytearray(_plain(raw))
    altered[-3] ^= 0x10
    with pytest.raises(DamagedSegment, match="sha256"):
        unseal(bytes(altered), tmp_path / "x.seg")


def test_the_render_cache_is_compressed_and_an_old_plain_one_is_read(tmp_path):
    batch = _batch(50)
    frags = fragments.render(batch, "UTC", __import__("zoneinfo").ZoneInfo("UTC"))
    path = tmp_path / "a.frag"
    fragments.write(path, frags)
    data = path.read_bytes()
    plain = msgspec.msgpack.encode(frags)
    assert data.startswith(b"\x28\xb5\x2f\xfd") and len(data) < len(plain) / 3
    assert fragments.read(path, batch, "UTC") == frags
    path.write_bytes(plain)                              # written by an older tgarc
    assert fragments.read(path, batch, "UTC") == frags
    path.write_bytes(data[:len(data) // 2])              # torn: rendered again, no error
    assert fragments.read(path, batch, "UTC") is None


def _to_old_format(root: Path) -> int:
    """Rewrite a chat's archive and render cache as tgarc wrote them before compression."""
    n = 0
    for seg in (root / "archive").glob("*.seg"):
        seg.write_bytes(_plain(bytes(unseal(seg.read_bytes(), seg))))
        n += 1
    for frag in (root / "state" / "render").glob("*.frag"):
        frag.write_bytes(zstandard.ZstdDecompressor().decompress(frag.read_bytes()))
    return n


def test_an_archive_from_before_compression_is_extended_and_its_outputs_stay_exact(tmp_path):
    with served(400) as dc:
        assert tgarc(dc, tmp_path / "old").returncode == 0
        root = tmp_path / "old" / CHANNEL_DIR
        old = _to_old_format(root)
        assert old > 0
        for i in range(30):
            dc.corpus.add_message("channel", f"a new message {i}")
        r = tgarc(dc, tmp_path / "old")
        assert r.returncode == 0, r.stderr
        assert tgarc(dc, tmp_path / "fresh").returncode == 0
    assert outputs(tmp_path / "old") == outputs(tmp_path / "fresh")
    magics = [p.read_bytes()[:8] for p in (root / "archive").glob("*.seg")]
    assert magics.count(PLAIN_MAGIC) == old and magics.count(SEG_MAGIC) >= 1
    verify = subprocess.run([sys.executable, "-m", "engine", "verify", str(tmp_path / "old")],
                            capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert verify.returncode == 0, verify.stdout + verify.stderr
