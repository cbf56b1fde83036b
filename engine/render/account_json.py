"""The account-wide Telegram Desktop file (``--account-json``): ``result.json`` at the --out
root in the shape of Telegram Desktop's full export ("Export Telegram data"), which
several readers accept as the only shape:

    {"about":"Here is the data you requested. …",
     "personal_information":{"user_id":…,"first_name":…,"last_name":…,"phone_number":…,
                             "username":"@…"},
     "chats":{"about":"This page lists all chats from this export.","list":[
    <a chat folder's result.json>,
    …
    ]},
     "left_chats":{"about":"Below are the supergroups and channels …","list":[ … ]}
    }

Each item of a list is that chat's own result.json, byte for byte (its trailing newline
dropped): the file is streamed from the chat files, never held in memory, and says
exactly what they say. Every chat folder of --out with a result.json takes part, in
folder-name order (stable from run to run); comment threads and topic folders, which
Telegram Desktop has no place for, do not. ``left_chats`` (written only when it has
any, as Telegram Desktop does) holds the channels and supergroups the account no longer
has among its dialogs, known only when the run listed them (``--all``).
``personal_information`` is written when the account is known; Telegram Desktop's phone
number is spaced by country, this one is ``+`` and the digits; ``bio`` is not written.
The file is written beside and renamed over the old one: a reader never sees half of it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson

from engine.archive import layout
from engine.archive.atomic import fsync_dir
from engine.archive.store import CorruptState

ABOUT = ("Here is the data you requested. Remember: Telegram is ad free, it doesn't use your "
         "data for ad targeting and doesn't sell it to others. Telegram only keeps the "
         "information it needs to function as a secure and feature-rich cloud service.\n\n"
         "Check out Settings > Privacy & Security on Telegram's mobile apps for the relevant "
         "settings.")
ABOUT_CHATS = "This page lists all chats from this export."
ABOUT_LEFT = ("Below are the supergroups and channels from this export that you've left or "
              "where you were banned.\n\nNote that when you leave a channel or supergroup "
              "you've created, you have the option to either delete it, or simply leave (in "
              "case you want to rejoin later, or keep the community alive despite not being "
              "a member).")
NAME = "result.json"
log = logging.getLogger("tgarc.export")


def personal(user) -> dict | None:
    """Telegram Desktop's ``personal_information`` of a Telethon ``User`` (None: unknown)."""
    if user is None:
        return None
    info = {"user_id": user.id, "first_name": user.first_name or "",
            "last_name": user.last_name or "",
            "phone_number": f"+{user.phone}" if getattr(user, "phone", None) else ""}
    if getattr(user, "username", None):
        info["username"] = "@" + user.username
    return info


def _chat_files(out: Path) -> list[tuple[Path, dict]]:
    """(result.json, chat.json) of every chat folder of ``out``, by folder name."""
    found = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        result, chat = folder / layout.RESULT_JSON, folder / layout.CHAT_JSON
        if not result.is_file() or not chat.is_file():
            continue
        try:
            info = orjson.loads(chat.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            info = {}
        found.append((result, info))
    return found


def write(out: Path, me: dict | None = None, dialogs: set[int] | None = None) -> tuple[int, int]:
    """Write ``out``/result.json from the chat folders; ``dialogs``: the marked ids of
    every dialog of the account (None: not listed this run, nobody counts as left).
    (chats, left chats) written."""
    chats, left = [], []
    for result, info in _chat_files(out):
        gone = (dialogs is not None and info.get("kind") in ("channel", "supergroup")
                and info.get("marked_id") not in dialogs)
        (left if gone else chats).append(result)
    tmp = out / f".{NAME}.part"
    head = b'{"about":' + orjson.dumps(ABOUT)
    if me is not None:
        head += b',\n "personal_information":' + orjson.dumps(me)
    sections = [("chats", ABOUT_CHATS, chats)] + ([("left_chats", ABOUT_LEFT, left)]
                                                   if left else [])
    try:
        with open(tmp, "wb") as f:
            f.write(head)
            for key, about, files in sections:
                f.write(b',\n "' + key.encode() + b'":{"about":' + orjson.dumps(about)
                        + b',"list":[')
                for i, path in enumerate(files):
                    f.write(b"\n" if i == 0 else b",\n")
                    _copy_chat(path, f)
                f.write(b"\n]}")
            f.write(b"\n}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out / NAME)
        fsync_dir(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(chats), len(left)


def _copy_chat(path: Path, f) -> None:
    """A chat's result.json into ``f`` without its final newline."""
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        first = src.read(1)
        src.seek(size - 2)
        tail = src.read(2)
        if first != b"{" or tail != b"}\n":
            raise CorruptState(f"{path} is not a whole result.json; export that chat again")
        src.seek(0)
        left = size - 1
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                raise CorruptState(f"{path} shrank while it was read")
            f.write(chunk)
            left -= len(chunk)
