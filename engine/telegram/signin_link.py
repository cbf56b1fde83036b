"""The connection of ``tgarc login`` and ``tgarc logout``: a client made for a person who
waits (fewer connection attempts, one retry so a login can follow a *_MIGRATE answer to the
account's DC), each step under a timeout, and one readable line when Telegram or the proxy
cannot be reached.  engine/telegram/signin.py and signout.py use it; an export connects
through engine/telegram/session.py instead (the full middleware stack).
"""

from __future__ import annotations

import asyncio

from telethon import TelegramClient

from engine.telegram.middleware import TelegramFailure
from engine.telegram.proxy import Proxy, connect_errors, watch_attempts

STEP_TIMEOUT = 60.0          # seconds one login step (a few RPCs) may take


class LoginFailed(TelegramFailure):
    """Telegram refused the login (exit code 3); nothing was written."""


def printable(text: str) -> str:
    """Text from Telegram fit for a terminal line (no escape sequences, no newlines)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def client(session, api_id: int, api_hash: str, *, updates: bool = False,
           proxy: Proxy | None = None) -> TelegramClient:
    """As ``client.make_client``, with what logging in needs on top: one retry so a
    PHONE_MIGRATE / USER_MIGRATE answer can move to the account's DC and ask again,
    updates when waiting for a QR scan (``updateLoginToken``), fewer connection
    attempts (a person is waiting)."""
    return TelegramClient(
        session, api_id, api_hash, **(proxy.telethon() if proxy else {}),
        receive_updates=updates, flood_sleep_threshold=0,
        request_retries=1, raise_last_call_error=True, connection_retries=2, retry_delay=1,
        device_model="tgarc", app_version="tgarc", system_version="tgarc")


async def step(awaitable, what: str = "Telegram"):
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT)
    except TimeoutError:
        raise TelegramFailure(f"{what} did not answer within {STEP_TIMEOUT:g} s") from None


async def connect(client: TelegramClient, proxy: Proxy | None = None) -> None:
    """Connect (a session without a key makes one: the DH exchange). Retry.REVOKED
    passes through: what a dead key means is the caller's business."""
    with watch_attempts() as attempts:
        try:
            await client.connect()
        except connect_errors() as exc:
            if proxy is not None:
                raise TelegramFailure(proxy.unreachable(exc, attempts.last)) from None
            # Telethon's message lists every attempt; the last one says why
            why = (str(exc).splitlines() or [type(exc).__name__])[-1]
            why = why.split(" failed: ", 1)[-1]
            where = f"{client.session.server_address}:{client.session.port}"
            raise TelegramFailure(f"cannot reach Telegram at {where} ({why})") from None
