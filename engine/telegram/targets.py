"""What a user may type as TARGET: ``@username``, ``username``, a t.me link, a numeric id, ``me``.

    @durov  durov  https://t.me/durov  t.me/durov/123  t.me/s/durov   -> username "durov"
    t.me/c/1234567890/55                                            -> id -1001234567890
    -1001234567890  1234567890                                      -> id (as typed)
    t.me/+AbCdEf  t.me/joinchat/AbCdEf                              -> invite "AbCdEf"
    me  saved                                                       -> Saved Messages
    secret  secret:<anything>                                       -> refused (SECRET_CHATS)

A secret chat cannot be a target: it is end-to-end encrypted between two devices and
Telegram's servers keep no history of it. ``@secret`` (with the @) is still the username.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.config import SECRET_CHATS, ConfigError

USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
SECRET = re.compile(r"secret(?::.*)?", re.I | re.S)
LINK = re.compile(r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/(.*)", re.I)


@dataclass(frozen=True)
class Target:
    kind: str                 # username | id | invite | me
    value: str | int
    text: str                 # as typed, for messages


def parse(text: str) -> Target:
    t = text.strip()
    if t.lower() in ("me", "self", "saved"):
        return Target("me", "me", text)
    if SECRET.fullmatch(t):
        raise ConfigError(f"cannot export {t!r}: {SECRET_CHATS}")
    link = LINK.fullmatch(t)
    if link:
        parts = [p for p in link.group(1).split("?")[0].split("#")[0].split("/") if p]
        if parts and parts[0] == "s":                      # the web preview of a channel
            parts = parts[1:]
        if len(parts) >= 2 and parts[0] == "c" and parts[1].isdigit():
            return Target("id", int(f"-100{parts[1]}"), text)
        if parts and parts[0].startswith("+") and len(parts[0]) > 1:
            return Target("invite", parts[0][1:], text)
        if len(parts) >= 2 and parts[0] == "joinchat":
            return Target("invite", parts[1], text)
        if parts and USERNAME.fullmatch(parts[0]):
            return Target("username", parts[0], text)
        raise ConfigError(f"not a chat link: {text!r}")
    if re.fullmatch(r"-?\d+", t):
        return Target("id", int(t), text)
    name = t.removeprefix("@")
    if USERNAME.fullmatch(name):
        return Target("username", name, text)
    raise ConfigError(f"not a chat: {text!r} (use @username, a t.me link, a numeric id or me)")
