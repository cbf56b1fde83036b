"""What the commands share: file modes, finding the chat folders under a folder, one voice."""

from __future__ import annotations

import os
import sys


def private_files(shared: bool = False) -> None:
    """Archives hold private chats: what tgarc creates is readable by this user only
    (0700 folders, 0600 files) unless ``--shared`` asks for 0755/0644."""
    os.umask(0o022 if shared else 0o077)


def say(line: str) -> None:
    print(f"tgarc: {line}", file=sys.stderr)


def local_zone() -> str:
    from engine.config import local_zone as zone

    return zone()
