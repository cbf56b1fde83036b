"""manifest.json and `tgarc verify`: every file hashed, every alteration reported."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import orjson

from engine.archive import manifest
from tests._export import CHANNEL_DIR, served, tgarc


def verify(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "verify", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_export_writes_a_manifest_that_verify_accepts_then_catches_each_change(tmp_path):
    with served(150) as dc:
        assert tgarc(dc, tmp_path, "--quiet").returncode == 0
    root = tmp_path / CHANNEL_DIR
    m = orjson.loads((root / "manifest.json").read_bytes())
    assert m["tool"].startswith("tgarc ") and m["api_layer"] > 200
    assert m["runs"][-1]["status"] == "done"
    listed = set(m["files"])
    note = "markdown/2024/2024-01-01 channel1500000001.md"
    assert {"result.json", "messages.jsonl", note} <= listed
    assert any(f.startswith("archive/") for f in listed)
    assert not any(f.startswith("state/") for f in listed)
    assert m["files"]["result.json"]["sha256"] == manifest.sha256(root / "result.json")
    ok = verify(tmp_path)
    assert ok.returncode == 0 and ok.stdout == "", ok.stderr

    doc = root / "result.json"
    data = bytearray(doc.read_bytes())
    data[100] ^= 1                                   # one flipped bit, same size
    st = doc.stat()
    doc.write_bytes(bytes(data))
    os.utime(doc, ns=(st.st_atime_ns, st.st_mtime_ns))   # even with the old mtime
    (root / "markdown/2024/2024-01-01 channel1500000001.md").unlink()
    (root / "extra.txt").write_text("added later")
    r = verify(tmp_path)
    assert r.returncode == 1
    assert sorted(r.stdout.splitlines()) == sorted([
        f"{CHANNEL_DIR}: changed: result.json (sha256 differs)",
        f"{CHANNEL_DIR}: missing: markdown/2024/2024-01-01 channel1500000001.md",
        f"{CHANNEL_DIR}: not in the manifest: extra.txt"])


def test_update_reuses_hashes_of_unchanged_files_only(tmp_path):
    (tmp_path / "a").write_bytes(b"one")
    first = manifest.update(tmp_path, tool="t", api_layer=1, runs=[])
    # same size and mtime but other bytes: reused by update (that is the point), caught
    # by verify, which always re-reads
    st = (tmp_path / "a").stat()
    (tmp_path / "a").write_bytes(b"two")
    os.utime(tmp_path / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    second = manifest.update(tmp_path, tool="t", api_layer=1, runs=[])
    assert second["files"]["a"]["sha256"] == first["files"]["a"]["sha256"]
    assert manifest.verify(tmp_path) == ["changed: a (sha256 differs)"]
    (tmp_path / "a").write_bytes(b"three")                # new size: re-hashed
    third = manifest.update(tmp_path, tool="t", api_layer=1, runs=[])
    assert third["files"]["a"]["sha256"] == manifest.sha256(tmp_path / "a")
    assert manifest.verify(tmp_path) == []


def _split(data: bytes, size: int) -> list[str]:
    return [hashlib.sha256(data[i:i + size]).hexdigest() for i in range(0, len(data), size)]


def test_a_big_file_is_hashed_in_pieces_and_an_extension_rehashes_only_its_end(
        tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "PIECE", 1000)
    monkeypatch.setattr(manifest, "CHUNK", 300)        # pieces span several reads
    data = os.urandom(2500)
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "small").write_bytes(b"x" * 1000)      # exactly one piece: one sha256
    first = manifest.update(tmp_path, tool="t", api_layer=1, runs=[])
    assert first["version"] == 2
    assert first["files"]["big"]["pieces"] == _split(data, 1000)
    assert "sha256" not in first["files"]["big"]
    assert first["files"]["small"] == {"size": 1000, "sha256": manifest.sha256(tmp_path / "small"),
                                       "mtime_ns": first["files"]["small"]["mtime_ns"]}
    assert manifest.verify(tmp_path) == []

    # extended in place after its first 2100 bytes, as assembly extends result.json
    entry = first["files"]["big"]
    hint = {"big": (entry["size"], entry["mtime_ns"], 2100)}
    # a byte of piece 0 altered under the same size and mtime: the update trusts the old
    # hash of a piece wholly within the kept bytes (that is the point), verify re-reads
    spoiled = bytearray(data)
    spoiled[10] ^= 1
    grown = bytes(spoiled[:2100]) + os.urandom(1400)
    with open(tmp_path / "big", "r+b") as f:
        f.seek(2100)
        f.write(grown[2100:])
        f.seek(0)
        f.write(grown[:2100])
    second = manifest.update(tmp_path, tool="t", api_layer=1, runs=[], kept=hint)
    want = _split(grown, 1000)
    assert second["files"]["big"]["pieces"] == [first["files"]["big"]["pieces"][0], *want[1:]]
    assert manifest.verify(tmp_path) == ["changed: big (sha256 differs from byte 0)"]

    # a hint whose size or mtime the last manifest does not share buys nothing
    entry = second["files"]["big"]
    os.utime(tmp_path / "big", ns=(entry["mtime_ns"] + 10**9, entry["mtime_ns"] + 10**9))
    third = manifest.update(tmp_path, tool="t", api_layer=1, runs=[],
                            kept={"big": (entry["size"], entry["mtime_ns"] + 1, 3000)})
    assert third["files"]["big"]["pieces"] == want
    assert manifest.verify(tmp_path) == []
    # a change in the middle is named by where it starts
    with open(tmp_path / "big", "r+b") as f:
        f.seek(1500)
        f.write(b"\0" if grown[1500] else b"\1")
    assert manifest.verify(tmp_path) == ["changed: big (sha256 differs from byte 1000)"]
    assert manifest.stale(tmp_path) == ["big"]
