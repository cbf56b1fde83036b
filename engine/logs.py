"""``<out>/tgarc.log``: a persistent log of every run, with secrets taken out.

DESIGN invariant 5: auth keys, session strings, phone numbers, login codes and passwords
never reach a log. Every record passes ``Redactor`` before it is written: the secrets
this process knows (the StringSession, the API hash, a phone number or code typed in,
the proxy's password or MTProxy secret, passed to ``open_log``) are replaced wherever
they appear, and so is anything shaped like a session string or an auth key (a run of
64+ base64/hex characters), whoever logged it (Telethon included).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from engine.archive import layout

LONG_BLOB = re.compile(r"[A-Za-z0-9+/_=-]{64,}")
MASK = "[redacted]"


class Redactor(logging.Filter):
    def __init__(self, secrets=()):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4 and secret not in self.secrets:
            self.secrets = sorted([*self.secrets, secret], key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, MASK)
        return LONG_BLOB.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = self.scrub(message), ()
        return True


def known_secrets(env=os.environ) -> list[str]:
    return [env.get("TGARC_SESSION", ""), env.get("TGARC_API_HASH", "")]


def open_log(out: Path, debug: bool = False, secrets=()) -> logging.Handler:
    """Append this run's records to ``out/tgarc.log`` (0600); returns the handler to close.
    ``secrets``: more strings to mask besides ``known_secrets()``."""
    path = out / layout.LOG
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor([*known_secrets(), *secrets]))
    handler.setLevel(logging.DEBUG if debug else logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > handler.level or root.level == logging.NOTSET:
        root.setLevel(handler.level)
    # Telethon at INFO tells of connections and reconnects; its DEBUG is per packet.
    logging.getLogger("telethon").setLevel(logging.DEBUG if debug else logging.INFO)
    return handler


def close_log(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
