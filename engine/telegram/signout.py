"""Logging out: the Telegram side of ``tgarc logout``.

auth.logOut on the session's key, then the session file goes (a TGARC_SESSION string can
only be logged out; the caller's environment keeps it).  Exit codes as for login
(engine/telegram/signin.py): ConfigError 2, TelegramFailure 3, OSError 4.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from telethon import errors, functions

from engine.telegram.client import credentials
from engine.telegram.middleware import Retry, TelegramFailure
from engine.telegram.proxy import parse as parse_proxy
from engine.telegram.session_files import open_existing, session_file
from engine.telegram.signin_link import client as login_client
from engine.telegram.signin_link import connect, step


@dataclass(frozen=True)
class LogoutResult:
    was_logged_in: bool
    removed: Path | None


async def logout(path: str | None, proxy: str | None = None, env=os.environ) -> LogoutResult:
    """auth.logOut, then remove the session file (a TGARC_SESSION string is only logged
    out). A session Telegram no longer knows counts as logged out; an unreachable
    Telegram keeps the file (exit 3)."""
    via = parse_proxy(proxy, env)
    api_id, api_hash = credentials(env)
    session = open_existing(path, env)
    client = login_client(session, api_id, api_hash, proxy=via)
    try:
        try:
            await connect(client, via)
            was = await step(client.is_user_authorized())
            if was:
                await step(client(functions.auth.LogOutRequest()))
        except Retry.REVOKED:
            was = False
        except errors.RPCError as exc:
            raise TelegramFailure(f"Telegram refused to log out ({exc.message})") from None
    finally:
        await client.disconnect()
        with contextlib.suppress(Exception):
            session.close()
    removed = None
    if path:
        removed = session_file(path)
        removed.unlink(missing_ok=True)
    return LogoutResult(was, removed)
