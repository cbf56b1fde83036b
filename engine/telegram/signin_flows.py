"""The conversations of a user login: phone number and login code, the QR code, and the
two-step verification password either may lead to.  Questions go through ``ask(what,
prompt, secret)`` and news through ``say(line)`` (engine/commands/account.py owns the
terminal); what is typed is never repeated in a message.  engine/telegram/signin.py runs
them on a connected client and turns Telegram's refusals into one line each.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from telethon import errors, functions, types, utils

from engine.telegram.client import ConfigError
from engine.telegram.signin_link import LoginFailed, printable, step

QR_PATIENCE = 300.0          # seconds we keep showing fresh QR codes before giving up

Ask = Callable[[str, str, bool], str]        # (what, prompt, secret) -> answer
Say = Callable[[str], None]


def check_phone(phone: str) -> str:
    """A phone number as Telegram takes it (digits, an optional +, spaces, dashes and
    brackets ignored); anything else is exit 2 before anything is sent."""
    digits = utils.parse_phone(phone.strip())
    if not digits or not 5 <= len(digits) <= 15:
        raise ConfigError("that is not a phone number: give it in international format, "
                          "like +447700900000")
    return phone.strip()


async def _answer_loop(tries: int, say: Say, ask_and_send, wrong: type, again: str):
    for attempt in range(1, tries + 1):
        try:
            return await ask_and_send()
        except wrong:
            if attempt == tries:
                raise
            say(again)
    raise AssertionError("unreachable")


async def by_phone(client, phone: str | None, ask: Ask, say: Say, tries: int):
    """Phone number (unless given), the code Telegram sends, then the 2FA password if the
    account has one; ``tries`` answers for each."""
    phone = (phone or ask("phone number", "phone number (international format, "
                                          "like +447700900000): ", False)).strip()
    if not phone:
        raise ConfigError("no phone number given")
    phone = check_phone(phone)
    sent = await step(client.send_code_request(phone))
    where = {types.auth.SentCodeTypeApp: "in your Telegram app",
             types.auth.SentCodeTypeSms: "by SMS",
             types.auth.SentCodeTypeCall: "by a phone call"}.get(type(sent.type), "")
    say(f"Telegram sent a login code{' ' + where if where else ''}")

    async def code_attempt():
        code = ask("login code", "login code: ", True).strip()
        if not code:
            raise ConfigError("no login code given")
        try:
            return await step(client.sign_in(phone, code=code))
        except errors.SessionPasswordNeededError:
            return await with_password(client, ask, say, tries)

    return await _answer_loop(tries, say, code_attempt, errors.PhoneCodeInvalidError,
                              "that code is wrong; try again")


async def with_password(client, ask: Ask, say: Say, tries: int):
    """The two-step verification password (its hint shown), checked by Telegram's SRP."""
    pw = await step(client(functions.account.GetPasswordRequest()))
    hint = f" (hint: {printable(pw.hint)})" if pw.hint else ""

    async def attempt():
        answer = ask("2FA password", f"two-step verification password{hint}: ", True)
        if not answer:
            raise ConfigError("no 2FA password given")
        return await step(client.sign_in(password=answer))

    return await _answer_loop(tries, say, attempt, errors.PasswordHashInvalidError,
                              "wrong password; try again")


async def by_qr(client, ask: Ask, say: Say, show_qr, tries: int):
    """QR codes (``show_qr(url)``), a fresh one as each expires, until one is scanned or
    QR_PATIENCE runs out; then the 2FA password if the account has one."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + QR_PATIENCE
    code = await step(client.qr_login())
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
                await step(code.recreate())
                say("the QR code expired; here is a new one")
    except errors.SessionPasswordNeededError:
        return await with_password(client, ask, say, tries)


def _server_now(like: dt.datetime) -> dt.datetime:
    return dt.datetime.now(like.tzinfo or dt.UTC)
