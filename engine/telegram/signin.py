"""Logging in: the Telegram side of ``tgarc login`` (logout is signout.py, ``tgarc chats``
dialogs.py).

A login runs in memory (a fresh StringSession: connecting makes a new auth key through
the real DH exchange) and the session file is written only once Telegram says yes, to a
temporary name renamed into place, so a failed login leaves nothing behind. Questions
(phone, code, 2FA password) go through an ``ask(what, prompt, secret)`` callback and the
QR code through ``show_qr(url)``, so this module never touches the terminal; it never
puts a code, password, bot token or auth key in a message or a log line.  The pieces:
signin_flows.py (phone code, QR code, 2FA password), signin_link.py (the client, its
steps and connecting), session_files.py (checking and writing ``--session`` files).

Exit codes (raised, mapped by cli.py): ``ConfigError`` 2 (no credentials, no session,
an answer missing, a bot session asked for dialogs); ``TelegramFailure`` 3 (wrong code or
password, Telegram or the proxy unreachable or refusing); ``OSError`` 4 (the session file).
logout and dialogs raise the same.

``proxy`` (a URL, ``--proxy``; engine/telegram/proxy.py) is parsed before anything is sent
(a malformed one is exit 2) and every client of a command connects through it. A
``--phone`` and a ``--session`` file are checked before anything is sent too (exit 2): the
file must exist and be a Telethon session (only ``login`` creates one).
Questions include the bot token of ``login --bot`` (unless TGARC_BOT_TOKEN has it), so
it need not stand on a command line, where every local user can read it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from telethon import errors

from engine.telegram.client import ConfigError, credentials, open_session
from engine.telegram.dialogs import username as username_of
from engine.telegram.middleware import Retry
from engine.telegram.proxy import Proxy
from engine.telegram.proxy import parse as parse_proxy
from engine.telegram.session_files import (
    existing_session_file,
    open_file,
    session_file,
    write_session,
)
from engine.telegram.signin_flows import Ask, Say, by_phone, by_qr, check_phone
from engine.telegram.signin_link import LoginFailed, connect, printable, step
from engine.telegram.signin_link import client as login_client

ANSWER_TRIES = 3             # wrong codes / passwords allowed when a person types them


@dataclass(frozen=True)
class Me:
    id: int
    name: str
    username: str | None
    bot: bool

    @classmethod
    def of(cls, user) -> Me:
        name = printable(" ".join(x for x in (user.first_name, user.last_name) if x))
        return cls(user.id, name or "(no name)", username_of(user), bool(user.bot))

    def describe(self) -> str:
        who = f"{self.name} @{self.username}" if self.username else self.name
        return f"{'bot ' if self.bot else ''}{who} (id {self.id})"


@dataclass(frozen=True)
class LoginResult:
    me: Me
    session_string: str | None = None     # without --session: what goes to TGARC_SESSION
    path: Path | None = None              # with --session: the file written
    already: bool = False                 # the session file was logged in already


def _refusal(exc: errors.RPCError) -> Exception:
    """One readable error for an RPC error during login (never echoing what was typed)."""
    again = "; nothing was saved, run `tgarc login` again"
    if isinstance(exc, errors.PhoneCodeInvalidError):
        return LoginFailed(f"the login code is wrong{again}")
    if isinstance(exc, errors.PhoneCodeExpiredError):
        return LoginFailed(f"the login code expired{again} for a new one")
    if isinstance(exc, errors.PasswordHashInvalidError):
        return LoginFailed(f"wrong 2FA password (PASSWORD_HASH_INVALID){again}")
    if isinstance(exc, errors.PhoneNumberInvalidError):
        return LoginFailed("Telegram does not accept this phone number (give it in "
                           "international format, like +447700900000)")
    if isinstance(exc, errors.PhoneNumberUnoccupiedError):
        return LoginFailed("no Telegram account uses this phone number; sign up in a "
                           "Telegram app first")
    if isinstance(exc, errors.PhoneNumberBannedError):
        return LoginFailed("Telegram has banned this phone number")
    if isinstance(exc, errors.AccessTokenInvalidError | errors.AccessTokenExpiredError):
        return LoginFailed("Telegram refused the bot token (@BotFather gives it: the "
                           "bot's numeric id, a colon, then 35 letters and digits)")
    if isinstance(exc, errors.AuthTokenExpiredError | errors.AuthTokenInvalidError):
        return LoginFailed(f"the QR code expired before it was accepted{again}")
    if isinstance(exc, errors.ApiIdInvalidError):
        return ConfigError("Telegram refused TGARC_API_ID / TGARC_API_HASH (check them on "
                           "my.telegram.org)")
    if isinstance(exc, errors.FloodWaitError | errors.FloodPremiumWaitError):
        return LoginFailed(f"Telegram asks to wait {exc.seconds} s before the next login "
                           f"attempt")
    return LoginFailed(f"Telegram refused the login ({exc.message})")


async def login(path: str | None, *, ask: Ask, say: Say, show_qr: Callable[[str], None],
                phone: str | None = None, qr: bool = False, bot_token: str | None = None,
                bot: bool = False, tries: int = 1, proxy: str | None = None,
                env=os.environ) -> LoginResult:
    """Log in by phone code (+ 2FA), QR code (+ 2FA) or bot token; ``tries`` answers
    are allowed for a code or password (more than one only when a person types).
    ``bot`` without ``bot_token``: the token from TGARC_BOT_TOKEN, else asked (secret)."""
    if phone is not None:
        phone = check_phone(phone)
    via = parse_proxy(proxy, env)
    api_id, api_hash = credentials(env)
    target = session_file(path) if path else None
    if target is not None and target.exists() and target.stat().st_size:
        existing_session_file(path)
        me = await _already(path, api_id, api_hash, env, via)
        if me is not None:
            return LoginResult(me, path=target, already=True)
    if bot and not bot_token:
        bot_token = env.get("TGARC_BOT_TOKEN") or ask(
            "bot token", "bot token (from @BotFather): ", True)
        if not bot_token.strip():
            raise ConfigError("no bot token given")
    # a fresh in-memory session (never TGARC_SESSION's): the key exchange runs on connect
    fresh = {k: v for k, v in env.items() if k != "TGARC_SESSION"}
    client = login_client(open_session(None, env=fresh), api_id, api_hash, updates=qr,
                          proxy=via)
    try:
        await connect(client, via)
        try:
            if bot_token:
                user = await step(client.sign_in(bot_token=bot_token.strip()))
            elif qr:
                user = await by_qr(client, ask, say, show_qr, tries)
            else:
                user = await by_phone(client, phone, ask, say, tries)
        except errors.RPCError as exc:
            raise _refusal(exc) from None
        me = Me.of(user)
        if target is None:
            return LoginResult(me, session_string=client.session.save())
        write_session(client.session, target, env)
        return LoginResult(me, path=target)
    finally:
        await client.disconnect()


async def _already(path: str, api_id: int, api_hash: str, env,
                   proxy: Proxy | None = None) -> Me | None:
    """Who an existing session file is logged in as (None: nobody, log in afresh)."""
    session = open_file(path, env)
    try:
        if session.auth_key is None:
            return None
        client = login_client(session, api_id, api_hash, proxy=proxy)
        try:
            await connect(client, proxy)
            user = await step(client.get_me())
        except (errors.RPCError, *Retry.REVOKED):    # revoked or logged out: log in afresh
            return None
        finally:
            await client.disconnect()
        return Me.of(user) if user is not None else None
    finally:
        session.close()
