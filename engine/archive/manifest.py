"""``manifest.json``: what a chat folder held when tgarc last finished writing it.

Every file of the chat folder — outputs, the archive of record, media — with its size and
sha256, plus the tool version, the Telegram API layer and the history of export runs, so
a journalist or archivist can show later that nothing was altered. ``state/`` (checkpoint
and render cache, which change by design) is left out, and so is the manifest itself.

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
from pathlib import Path

import orjson

from engine.archive import layout
from engine.archive.atomic import write_atomic
from engine.archive.layout import NESTED, QUARANTINE
from engine.archive.segment import DamagedSegment, read_segment_file

NAME = layout.MANIFEST
SKIP_DIRS = {layout.STATE}
CHUNK = 1 << 20


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


def read(root: Path) -> dict | None:
    try:
        return orjson.loads((root / NAME).read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        return {}


def update(root: Path, *, tool: str, api_layer: int | None, runs: list[dict],
           tz: str = "") -> dict:
    """Write ``root/manifest.json`` for the folder as it is now; returns it. ``tz``: the
    zone the outputs are in (a rebuilt checkpoint takes it from here)."""
    old = (read(root) or {}).get("files", {})
    files = {}
    for rel in _files(root):
        st = (root / rel).stat()
        prev = old.get(rel)
        if prev and prev.get("size") == st.st_size and prev.get("mtime_ns") == st.st_mtime_ns:
            digest = prev["sha256"]
        else:
            if _is_segment(rel):
                read_segment_file(root / rel)        # DamagedSegment: never blessed
            digest = sha256(root / rel)
        files[rel] = {"size": st.st_size, "sha256": digest, "mtime_ns": st.st_mtime_ns}
    manifest = {"version": 1, "tool": tool, "api_layer": api_layer, "runs": runs,
                **({"tz": tz} if tz else {}), "files": files}
    write_atomic(root / NAME, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


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
                                               and sha256(root / rel) != entry.get("sha256")):
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
        elif sha256(path) != entry["sha256"]:
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
