"""Durable writes: a reader sees the old file or the new one, never half of either.

``write_atomic`` writes a temporary file beside the target, fsyncs it, renames it over
the target and fsyncs the folder, so after it returns the new content survives a
crash (DESIGN invariant 1: a checkpoint advances only after the data behind it is
durable). A failure (disk full, read-only) leaves the old file untouched and no
temporary behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a file's creation or rename in ``path`` survive a crash ('': the current
    folder, as os.path.dirname gives for a bare file name)."""
    fd = os.open(os.fspath(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = 0o644,
                 sync_dir: bool = True, durable: bool = True) -> None:
    """``sync_dir=False`` leaves the folder's fsync to the caller, who may do it once for
    many files (the archive's segments: ChatStore.commit). ``durable=False`` skips every
    fsync, for a cache that can be rebuilt (a reader still never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir and durable:
        fsync_dir(path.parent)


def move_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` under a name nothing holds yet (a damaged file set
    aside: ``<name>.damaged-<time>`` when it stays in its own folder), durably."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = folder / (path.name if folder != path.parent else f"{path.name}.damaged-{stamp}")
    n = 1
    while dest.exists():
        dest = folder / f"{path.name}.{n}"
        n += 1
    os.replace(path, dest)
    fsync_dir(folder)
    return dest


class Output:
    """A file written beside its final name and renamed over it at the end."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.f = open(self.tmp, "wb")  # noqa: SIM115 - closed in commit/abort

    def commit(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.f.closed:
            return
        self.f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)
