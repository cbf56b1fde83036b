"""Logging in and out, and listing dialogs: the Telegram side of ``tgarc login``,
``tgarc logout`` and ``tgarc chats``.

A login runs in memory (a fresh StringSession: connecting makes a new auth key through
the real DH exchange) and the session file is written only once Telegram says yes, to a
temporary name renamed into place, so a failed login leaves nothing behind. Questions
(phone, code, 2FA password) go through an ``ask(what, prompt, secret)`` callback and the
QR code through ``show_qr(url)``, so this module never touches the terminal; it never
puts a code, password, bot token or auth key in a message or a log line.

Exit codes (raised, mapped by cli.py): ``ConfigError`` 2 (no credentials, no session,
an answer missing, a bot session asked for dialogs); ``TelegramFailure`` 3 (wrong code or
password, Telegram or the proxy unreachable or refusing); ``OSError`` 4 (the session file).

``proxy`` (a URL, ``--proxy``; engine/telegram/proxy.py) is parsed before anything is sent
(a malformed one is exit 2) and every client of a command connects through it. A
``--phone`` and a ``--session`` file are checked before anything is sent too (exit 2): the
file must exist and be a Telethon session (only ``login`` creates one).
Questions include the bot token of ``login --bot`` (unless TGARC_BOT_TOKEN has it), so
it need not stand on a command line, where every local user can read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import os
import sqlite3
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from telethon import TelegramClient, errors, functions, types, utils

from engine.telegram.client import ConfigError, credentials, open_session
from engine.telegram.middleware import Retry, TelegramFailure
from engine.telegram.proxy import Proxy, connect_errors, watch_attempts
from engine.telegram.proxy import parse as parse_proxy

STEP_TIMEOUT = 60.0          # seconds one login step (a few RPCs) may take
QR_PATIENCE = 300.0          # seconds we keep showing fresh QR codes before giving up
ANSWER_TRIES = 3             # wrong codes / passwords allowed when a person types them

Ask = Callable[[str, str, bool], str]        # (what, prompt, secret) -> answer
Say = Callable[[str], None]


class LoginFailed(TelegramFailure):
    """Telegram refused the login (exit code 3); nothing was written."""


@dataclass(frozen=True)
class Me:
    id: int
    name: str
    username: str | None
    bot: bool

    @classmethod
    def of(cls, user) -> Me:
        name = _printable(" ".join(x for x in (user.first_name, user.last_name) if x))
        return cls(user.id, name or "(no name)", _username(user), bool(user.bot))

    def describe(self) -> str:
        who = f"{self.name} @{self.username}" if self.username else self.name
        return f"{'bot ' if self.bot else ''}{who} (id {self.id})"


@dataclass(frozen=True)
class LoginResult:
    me: Me
    session_string: str | None = None     # without --session: what goes to TGARC_SESSION
    path: Path | None = None              # with --session: the file written
    already: bool = False                 # the session file was logged in already


def _printable(text: str) -> str:
    """Text from Telegram fit for a terminal line (no escape sequences, no newlines)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


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


def check_phone(phone: str) -> str:
    """A phone number as Telegram takes it (digits, an optional +, spaces, dashes and
    brackets ignored); anything else is exit 2 before anything is sent."""
    digits = utils.parse_phone(phone.strip())
    if not digits or not 5 <= len(digits) <= 15:
        raise ConfigError("that is not a phone number: give it in international format, "
                          "like +447700900000")
    return phone.strip()


def _client(session, api_id: int, api_hash: str, *, updates: bool = False,
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


async def _step(awaitable, what: str = "Telegram"):
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT)
    except TimeoutError:
        raise TelegramFailure(f"{what} did not answer within {STEP_TIMEOUT:g} s") from None


async def _connect(client: TelegramClient, proxy: Proxy | None = None) -> None:
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


# ---- login ------------------------------------------------------------------------------------
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
    client = _client(open_session(None, env=fresh), api_id, api_hash, updates=qr, proxy=via)
    try:
        await _connect(client, via)
        try:
            if bot_token:
                user = await _step(client.sign_in(bot_token=bot_token.strip()))
            elif qr:
                user = await _qr(client, ask, say, show_qr, tries)
            else:
                user = await _phone(client, phone, ask, say, tries)
        except errors.RPCError as exc:
            raise _refusal(exc) from None
        me = Me.of(user)
        if target is None:
            return LoginResult(me, session_string=client.session.save())
        _write_session(client.session, target, env)
        return LoginResult(me, path=target)
    finally:
        await client.disconnect()


async def _already(path: str, api_id: int, api_hash: str, env,
                   proxy: Proxy | None = None) -> Me | None:
    """Who an existing session file is logged in as (None: nobody, log in afresh)."""
    try:
        session = open_session(path, env=env)
    except sqlite3.DatabaseError:
        raise ConfigError(f"{session_file(path)} is not a Telethon session file") from None
    try:
        if session.auth_key is None:
            return None
        client = _client(session, api_id, api_hash, proxy=proxy)
        try:
            await _connect(client, proxy)
            user = await _step(client.get_me())
        except (errors.RPCError, *Retry.REVOKED):    # revoked or logged out: log in afresh
            return None
        finally:
            await client.disconnect()
        return Me.of(user) if user is not None else None
    finally:
        session.close()


async def _answer_loop(tries: int, say: Say, ask_and_send, wrong: type, again: str):
    for attempt in range(1, tries + 1):
        try:
            return await ask_and_send()
        except wrong:
            if attempt == tries:
                raise
            say(again)
    raise AssertionError("unreachable")


async def _phone(client, phone: str | None, ask: Ask, say: Say, tries: int):
    phone = (phone or ask("phone number", "phone number (international format, "
                                          "like +447700900000): ", False)).strip()
    if not phone:
        raise ConfigError("no phone number given")
    phone = check_phone(phone)
    sent = await _step(client.send_code_request(phone))
    where = {types.auth.SentCodeTypeApp: "in your Telegram app",
             types.auth.SentCodeTypeSms: "by SMS",
             types.auth.SentCodeTypeCall: "by a phone call"}.get(type(sent.type), "")
    say(f"Telegram sent a login code{' ' + where if where else ''}")

    async def code_attempt():
        code = ask("login code", "login code: ", True).strip()
        if not code:
            raise ConfigError("no login code given")
        try:
            return await _step(client.sign_in(phone, code=code))
        except errors.SessionPasswordNeededError:
            return await _password(client, ask, say, tries)

    return await _answer_loop(tries, say, code_attempt, errors.PhoneCodeInvalidError,
                              "that code is wrong; try again")


async def _password(client, ask: Ask, say: Say, tries: int):
    pw = await _step(client(functions.account.GetPasswordRequest()))
    hint = f" (hint: {_printable(pw.hint)})" if pw.hint else ""

    async def attempt():
        password = ask("2FA password", f"two-step verification password{hint}: ", True)
        if not password:
            raise ConfigError("no 2FA password given")
        return await _step(client.sign_in(password=password))

    return await _answer_loop(tries, say, attempt, errors.PasswordHashInvalidError,
                              "wrong password; try again")


async def _qr(client, ask: Ask, say: Say, show_qr, tries: int):
    loop = asyncio.get_running_loop()
    give_up = loop.time() + QR_PATIENCE
    code = await _step(client.qr_login())
    try:
        while True:
            left = (code.expires - _server_now(code.expires)).total_seconds()
            waiting = asyncio.ensure_future(code.wait(max(5.0, left)))
            await asyncio.sleep(0)       # wait() listens for updateLoginToken from here on
            show_qr(code.url)
            try:
                return await waiting
            except TimeoutError:
                if loop.time() > give_up:
                    raise LoginFailed(f"the QR code was not scanned within "
                                      f"{QR_PATIENCE:g} s") from None
                await _step(code.recreate())
                say("the QR code expired; here is a new one")
    except errors.SessionPasswordNeededError:
        return await _password(client, ask, say, tries)


def _server_now(like: dt.datetime) -> dt.datetime:
    return dt.datetime.now(like.tzinfo or dt.UTC)


def _write_session(memory, target: Path, env) -> None:
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


# ---- logout -----------------------------------------------------------------------------------
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
    session = _existing_session(path, env)
    client = _client(session, api_id, api_hash, proxy=via)
    try:
        try:
            await _connect(client, via)
            was = await _step(client.is_user_authorized())
            if was:
                await _step(client(functions.auth.LogOutRequest()))
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


def _existing_session(path: str | None, env):
    """The session to use, without creating a file where there is none."""
    if path:
        existing_session_file(path)
        try:
            return open_session(path, env=env)
        except sqlite3.DatabaseError:
            raise ConfigError(f"{session_file(path)} is not a Telethon session file") from None
    if not env.get("TGARC_SESSION"):
        raise ConfigError("no session: pass --session PATH or set TGARC_SESSION")
    return open_session(None, env=env)


# ---- dialogs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dialog:
    id: int                   # Telethon's marked id (-100… channels, -… basic groups)
    kind: str                 # channel, supergroup, group, user, bot
    title: str
    username: str | None

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "title": self.title,
                "username": self.username}


@dataclass(frozen=True)
class _Settings:
    """What ``session.connected`` reads from an ExportConfig."""
    session: str | None
    proxy: Proxy | None = None
    timeout: float = 30.0
    flood_ceiling: float = 300.0


async def dialogs(path: str | None, page: int = 100, proxy: str | None = None,
                  env=os.environ) -> list[Dialog]:
    """Every dialog, walking messages.getDialogs pages through the middleware stack."""
    from engine.telegram.session import connected

    via = parse_proxy(proxy, env)
    credentials(env)
    if path:
        existing_session_file(path)
    async with connected(_Settings(path, via)) as (source, _stats, _cache):
        me = await source.call(functions.users.GetUsersRequest([types.InputUserSelf()]))
        if me and getattr(me[0], "bot", False):
            raise ConfigError("a bot session cannot list dialogs or read chat histories "
                              "(Telegram refuses bots that); log in as a user")
        try:
            return await walk_dialogs(source.call, page)
        except errors.BotMethodInvalidError:
            raise ConfigError("a bot session cannot list dialogs; log in as a user") from None


async def walk_dialogs(call, page: int = 100) -> list[Dialog]:
    """messages.getDialogs page after page, offset by the last dialog's top message."""
    out: list[Dialog] = []
    seen: set[int] = set()
    offset_date, offset_id, offset_peer = None, 0, types.InputPeerEmpty()
    last_offset = None
    while True:
        res = await call(functions.messages.GetDialogsRequest(
            offset_date=offset_date, offset_id=offset_id, offset_peer=offset_peer,
            limit=max(1, min(page, 100)), hash=0))
        if isinstance(res, types.messages.DialogsNotModified):
            break
        entities = {utils.get_peer_id(e): e for e in [*res.users, *res.chats]}
        messages = {(utils.get_peer_id(m.peer_id), m.id): m for m in res.messages
                    if getattr(m, "peer_id", None) is not None}
        for d in res.dialogs:
            pid = utils.get_peer_id(d.peer)
            if pid in seen or pid not in entities:
                continue
            seen.add(pid)
            out.append(describe(entities[pid]))
        if not isinstance(res, types.messages.DialogsSlice) or not res.dialogs \
                or len(seen) >= res.count:
            break
        # the next page starts after the last dialog of this one that has a top message
        nxt = None
        for d in reversed(res.dialogs):
            pid = utils.get_peer_id(d.peer)
            msg = messages.get((pid, d.top_message))
            if msg is not None and pid in entities:
                nxt = (msg.date, msg.id, utils.get_input_peer(entities[pid]))
                break
        if nxt is None or nxt[:2] == last_offset:
            break
        offset_date, offset_id, offset_peer = nxt
        last_offset = nxt[:2]
    return out


def describe(entity) -> Dialog:
    pid = utils.get_peer_id(entity)
    if isinstance(entity, types.User):
        kind = "bot" if entity.bot else "user"
        if entity.is_self:
            title = "Saved Messages"
        elif entity.deleted:
            title = "Deleted Account"
        else:
            title = " ".join(x for x in (entity.first_name, entity.last_name) if x)
    elif isinstance(entity, types.Channel | types.ChannelForbidden):
        kind = "supergroup" if (entity.megagroup or getattr(entity, "gigagroup", False)) \
            else "channel"
        title = entity.title
    else:                                   # Chat, ChatForbidden, ChatEmpty
        kind, title = "group", getattr(entity, "title", "") or ""
    return Dialog(pid, kind, title or "", _username(entity))


def _username(entity) -> str | None:
    if getattr(entity, "username", None):
        return entity.username
    for u in getattr(entity, "usernames", None) or ():
        if u.active:
            return u.username
    return None

