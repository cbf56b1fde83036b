"""Session files (``--session PATH``): where Telethon keeps one, the check that a command
which uses a login is given a real one (export, chats, logout: opening a mistyped path would
create an empty session), opening one without creating it, and writing a fresh login into
one so that a failed login leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import urllib.parse
from pathlib import Path

from engine.telegram.client import ConfigError, open_session


def session_file(path: str) -> Path:
    """Where Telethon keeps ``--session PATH`` (it adds ``.session``; open_session too)."""
    return Path(path if path.endswith(".session") else path + ".session")


def existing_session_file(path: str) -> Path:
    """``--session PATH`` for a command that uses a login (export, chats, logout): the file
    must exist (opening a mistyped path would create an empty session) and be a Telethon
    session (an SQLite database with a ``sessions`` table, or empty). Read-only check."""
    p = session_file(path)
    if not p.is_file():
        raise ConfigError(f"no session file at {p}; log in with `tgarc login --session "
                          f"{path}`")
    if not os.access(p, os.R_OK):
        raise PermissionError(errno.EACCES, "Permission denied", str(p))
    not_one = ConfigError(f"{p} is not a Telethon session file")
    try:
        uri = f"file:{urllib.parse.quote(str(p.resolve()))}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            tables = {row[0] for row in db.execute(
                "select name from sqlite_master where type = 'table'")}
    except sqlite3.Error:
        raise not_one from None
    if tables and "sessions" not in tables:
        raise not_one
    return p


def open_file(path: str, env):
    """An existing session file opened (``open_session``), a broken one a ConfigError."""
    try:
        return open_session(path, env=env)
    except sqlite3.DatabaseError:
        raise ConfigError(f"{session_file(path)} is not a Telethon session file") from None


def open_existing(path: str | None, env):
    """The session to use, without creating a file where there is none."""
    if path:
        existing_session_file(path)
        return open_file(path, env)
    if not env.get("TGARC_SESSION"):
        raise ConfigError("no session: pass --session PATH or set TGARC_SESSION")
    return open_session(None, env=env)


def write_session(memory, target: Path, env) -> None:
    """The logged-in session into ``target`` (0600), via a temporary file renamed over it."""
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp.session")
    try:
        disk = open_session(str(tmp), env=env)       # created 0600
        try:
            disk.set_dc(memory.dc_id, memory.server_address, memory.port)
            disk.auth_key = memory.auth_key
            disk.save()
        finally:
            disk.close()
        os.replace(tmp, target)
        os.chmod(target, 0o600)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
