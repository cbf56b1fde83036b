"""Every name that comes from Telegram becomes a safe file or folder name here.

DESIGN invariant 5: no name from Telegram (file names, titles) can escape the output
folder or break a file system. ``safe_name`` removes path separators, ``.``/``..``,
NUL and control characters, bidirectional overrides (which make ``\u202etxt.exe`` read
as ``exe.txt``), Windows-reserved device names and trailing dots/spaces, and caps
the UTF-8 length at 255 bytes keeping the extension. ``dedupe`` numbers clashes the
way Telegram Desktop does: ``name (1).tar.gz``.
"""

from __future__ import annotations

import re
import unicodedata

MAX_BYTES = 255
#: the most a file's name grows while it is written: a download's journal beside it
#: (telegram/download.py; a copy's ".mp4" + ".part" in transcoded/ is shorter)
WRITING_SUFFIX = ".part.done"
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}
_BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                               "\u2066\u2067\u2068\u2069\u061c"))
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-8 bytes (no character cut in half)."""
    return text.encode()[:max(limit, 0)].decode("utf-8", "ignore")


def _truncate(name: str, limit: int) -> str:
    """Cut to ``limit`` UTF-8 bytes without splitting a character, keeping the extension."""
    if len(name.encode()) <= limit:
        return name
    stem, dot, ext = name.partition(".")
    ext = (dot + ext) if dot and len((dot + ext).encode()) <= 32 else ""
    if ext:
        return _cut(stem, limit - len(ext.encode())) + ext
    # the cut may land after a dot or a space, which Windows would silently drop
    return _cut(name, limit).rstrip(". ")


def safe_name(name: str | None, fallback: str = "file", limit: int = MAX_BYTES) -> str:
    """A single path component that is safe on Linux, macOS and Windows, at most ``limit``
    UTF-8 bytes (callers that append to the name, as a thumbnail's suffix does, ask for less)."""
    # a lone surrogate (Telegram's UTF-16 cut in half) cannot be encoded into a file name
    name = (name or "").encode("utf-8", "replace").decode()
    name = unicodedata.normalize("NFC", name).translate(_BIDI)
    name = _UNSAFE.sub("_", name).strip().rstrip(". ")
    while name.startswith("."):        # no hidden files, no "." / ".."
        name = name[1:]
    if not name:
        name = fallback
    if name.partition(".")[0].upper() in _RESERVED:
        name = "_" + name
    return _truncate(name, limit)


def slug(title: str | None, limit: int = 48) -> str:
    """The cosmetic part of a chat folder name: lowercase letters, digits and dashes
    (any script's letters are kept), at most ``limit`` characters."""
    text = unicodedata.normalize("NFKC", title or "").translate(_BIDI).casefold()
    text = re.sub(r"[^\w]+", "-", text).strip("-_")
    return text[:limit].strip("-_") or "chat"


def chat_folder(kind: str, chat_id: int, title: str | None) -> str:
    """``<kind><id>-<slug>``; found again by the id prefix, so a renamed chat keeps it."""
    return f"{kind}{chat_id}-{slug(title)}"


def dedupe(name: str, taken: set[str], limit: int = MAX_BYTES) -> str:
    """``name``, or ``stem (n).ext`` with the first free n (counter before the first dot);
    the result is added to ``taken``. The stem is shortened to make room for the counter, so
    a name already at ``limit`` bytes still gets one (cutting the counter off instead would
    give the taken name back, forever)."""
    candidate, n = name, 0
    stem, dot, ext = name.partition(".")
    while candidate in taken:
        n += 1
        tail = f" ({n}){dot}{ext}"
        base = stem
        if len(tail.encode()) >= limit:      # an extension too long to keep whole
            tail, base = f" ({n})", name
        candidate = _cut(base, limit - len(tail.encode())) + tail
    taken.add(candidate)
    return candidate
