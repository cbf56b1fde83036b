"""``manifest.json``: what a chat folder held when tgarc last finished writing it.

Every file of the chat folder — outputs, the archive of record, media — with its size and
sha256, plus the tool version, the Telegram API layer and the history of export runs, so
a journalist or archivist can show later that nothing was altered. ``state/`` (checkpoint
and render cache, which change by design) is left out, and so is the manifest itself.

A file up to 16 MiB gets one ``sha256``; a bigger one a ``sha256`` per 16 MiB piece
(``pieces``, the last one shorter), so that an output a re-run extended at its end
(result.json, messages.jsonl: ``kept``) costs the hashing of its new bytes and one piece,
not of the whole file (1.4 GB per million messages). ``tgarc verify`` checks both kinds;
by hand: ``split -b 16M file p. && sha256sum p.*``.

Updating reuses the hash of a file whose size and mtime did not change since the last
manifest (a re-run must not re-read hundreds of GB of media); ``verify`` never does: it
re-reads every byte, and checks each archive segment against its own sha256 as well.
An archive segment that changed since the last manifest is checked before it is hashed:
a damaged one stops the update (``DamagedSegment``), so damage is never blessed.
``stale`` lists the outputs that differ from the manifest: an export renders them anew.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from engine.archive import layout
from engine.archive.atomic import write_atomic
from engine.archive.layout import NESTED, QUARANTINE
from engine.archive.segment import (
    PLAIN_MAGIC,
    SEG_MAGIC,
    DamagedSegment,
    read_segment_file,
    unseal,
)

NAME = layout.MANIFEST
SKIP_DIRS = {layout.STATE}
CHUNK = 1 << 20
PIECE = 16 << 20               # bytes of a piece of a big file, hashed on its own
VERSION = 2                    # 2: files over PIECE have ``pieces``
HASHERS = 2                    # threads hashing files at once


def _own_store(folder: Path) -> bool:
    return layout.checkpoint(folder).exists()


def roots(folder: Path) -> list[Path]:
    """Every folder under ``folder`` (itself included) with a manifest: chat folders and
    the topic and comment-thread stores nested in them."""
    return layout.manifested(folder)


def _files(root: Path) -> list[str]:
    out = []
    for folder, dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        elif rel.as_posix() in NESTED:
            # a nested store is its own manifest's business
            dirs[:] = [d for d in dirs if not _own_store(Path(folder) / d)]
        dirs.sort()
        for name in sorted(names):
            if rel == Path(".") and name == NAME:
                continue
            if name.startswith(".") and name.endswith(".tmp"):
                continue
            out.append((rel / name).as_posix())
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def pieces(path: Path, start: int = 0) -> list[str]:
    """The sha256 of each PIECE of ``path`` from piece number ``start`` on."""
    out = []
    with open(path, "rb") as f:
        f.seek(start * PIECE)
        while True:
            h, left = hashlib.sha256(), PIECE
            while left and (chunk := f.read(min(CHUNK, left))):
                h.update(chunk)
                left -= len(chunk)
            if left == PIECE:
                return out
            out.append(h.hexdigest())
            if left:
                return out


def digest(path: Path, size: int, prev: dict | None = None, kept: int = 0) -> dict:
    """The manifest's hash fields for ``path``: ``sha256`` up to PIECE bytes, else
    ``pieces``; with ``prev`` (the entry it had) and ``kept`` (how many of its first bytes
    are known unchanged since), the pieces wholly within them are taken from ``prev``."""
    if size <= PIECE:
        return {"sha256": sha256(path)}
    old = (prev or {}).get("pieces") or []
    reuse = min(len(old), kept // PIECE)
    return {"pieces": old[:reuse] + pieces(path, reuse)}


def _same(path: Path, entry: dict) -> bool:
    if "pieces" in entry:
        return pieces(path) == entry["pieces"]
    return sha256(path) == entry.get("sha256")


def read(root: Path) -> dict | None:
    try:
        return orjson.loads((root / NAME).read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        return {}


def update(root: Path, *, tool: str, api_layer: int | None, runs: list[dict],
           tz: str = "", kept: dict[str, tuple[int, int, int]] | None = None) -> dict:
    """Write ``root/manifest.json`` for the folder as it is now; returns it. ``tz``: the
    zone the outputs are in (a rebuilt checkpoint takes it from here). ``kept``: files
    this run extended in place, each with the (size, mtime_ns) it had when the run began
    to write it and how many of its first bytes it kept; the pieces within those bytes
    are reused when the last manifest knew the file at that very size and mtime."""
    old = (read(root) or {}).get("files", {})

    def entry(rel: str) -> dict:
        st = (root / rel).stat()
        prev = old.get(rel)
        if prev and prev.get("size") == st.st_size and prev.get("mtime_ns") == st.st_mtime_ns \
                and ("sha256" in prev or "pieces" in prev):
            hashed = {k: prev[k] for k in ("sha256", "pieces") if k in prev}
        elif _is_segment(rel) and st.st_size <= PIECE:
            hashed = _segment_digest(root / rel)
        else:
            if _is_segment(rel):
                read_segment_file(root / rel)        # DamagedSegment: never blessed
            size, mtime, keep = (kept or {}).get(rel, (-1, -1, 0))
            trusted = prev is not None and (prev.get("size"), prev.get("mtime_ns")) == (size, mtime)
            hashed = digest(root / rel, st.st_size, prev if trusted else None,
                            keep if trusted else 0)
        return {"size": st.st_size, **hashed, "mtime_ns": st.st_mtime_ns}

    # two threads: reading and sha256 release the GIL, and an export's manifest comes at
    # its serial tail, when the workers are done and a core is free
    rels = _files(root)
    with ThreadPoolExecutor(HASHERS, thread_name_prefix="tgarc-manifest") as pool:
        files = dict(zip(rels, pool.map(entry, rels), strict=True))
    manifest = {"version": VERSION, "tool": tool, "api_layer": api_layer, "runs": runs,
                **({"tz": tz} if tz else {}), "files": files}
    write_atomic(root / NAME, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


def _segment_digest(path: Path) -> dict:
    """A segment's hash fields, read once: checked against its own header first (length,
    sha256, zstd; DamagedSegment: never blessed). Its Batch is not decoded: the header's
    sha256 is of the very bytes its worker encoded."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DamagedSegment(path, "the file is missing") from None
    if data.startswith((SEG_MAGIC, PLAIN_MAGIC)):
        unseal(data, path)
    else:                                   # from before headers: its decoding is the check
        read_segment_file(path)
    return {"sha256": hashlib.sha256(data).hexdigest()}


def _is_segment(rel: str) -> bool:
    return rel.startswith(layout.ARCHIVE + "/") and rel.endswith(layout.SEGMENT_SUFFIX)


def stale(root: Path) -> list[str]:
    """The files of the last manifest, but the archive of record, that are missing or
    differ now (outputs a user or a crash removed or changed); ``["manifest.json"]``
    when there is no manifest to compare with."""
    manifest = read(root)
    if not manifest or not isinstance(manifest.get("files"), dict):
        return [NAME]
    out = []
    for rel, entry in manifest["files"].items():
        if _is_segment(rel) or rel.startswith(QUARANTINE + "/"):
            continue
        try:
            st = (root / rel).stat()
        except (FileNotFoundError, NotADirectoryError):
            out.append(rel)
            continue
        if st.st_size != entry.get("size") or (st.st_mtime_ns != entry.get("mtime_ns")
                                               and not _same(root / rel, entry)):
            out.append(rel)
    return out


def verify(root: Path) -> list[str]:
    """Every difference between the folder and its manifest, one line each ([] = intact)."""
    manifest = read(root)
    if manifest is None:
        return [f"{root}: no {NAME}"]
    if "files" not in manifest:
        return [f"{root / NAME}: damaged"]
    problems = []
    listed = manifest["files"]
    for rel, entry in listed.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
            continue
        size = path.stat().st_size
        if size != entry["size"]:
            problems.append(f"changed: {rel} (size {size}, manifest {entry['size']})")
        elif "pieces" in entry:
            bad = [i for i, (a, b) in enumerate(zip(pieces(path), entry["pieces"], strict=False))
                   if a != b]
            if bad or len(entry["pieces"]) != -(-size // PIECE):
                where = f" from byte {bad[0] * PIECE}" if bad else ""
                problems.append(f"changed: {rel} (sha256 differs{where})")
        elif sha256(path) != entry.get("sha256"):
            problems.append(f"changed: {rel} (sha256 differs)")
    for rel in _files(root):
        if rel not in listed:
            problems.append(f"not in the manifest: {rel}")
        if _is_segment(rel):
            try:
                read_segment_file(root / rel)
            except DamagedSegment as exc:
                problems.append(f"damaged: {rel} ({exc.why}); `tgarc repair` sets it aside")
    return problems
