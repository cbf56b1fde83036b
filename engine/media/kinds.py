"""Which kind of media a message carries, in Telegram Desktop's terms and in the user's.

Telegram Desktop answers two different questions about a document, and tgarc must answer both
the same way (tdesktop export_data_types.cpp, ../shared/MEDIA_NOTES.md 3.1 and 3.3):

* the **folder** it lands in (``DocumentFolder``): video file > animated > sticker > voice >
  round > ``files``. A GIF sent as MP4 and a video sticker carry a video attribute, so they
  land in ``video_files/`` although they are an animation and a sticker;
* the **type** the export settings filter on: sticker > round > voice > GIF > video > file.

``--media`` names those types ``sticker, round, voice, gif, video``, splits Telegram Desktop's
"file" into ``audio`` (music) and ``document``, and calls photos ``photo``. Contacts' vCards
are not media to filter: Telegram Desktop writes them whatever the settings (their bytes come
inline), into ``contacts/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine import model as m
from engine.config import ConfigError

PHOTOS = "photos"
VIDEO_FILES = "video_files"
ANIMATIONS = "animations"
STICKERS = "stickers"
VOICE_MESSAGES = "voice_messages"
ROUND_VIDEO_MESSAGES = "round_video_messages"
FILES = "files"
CONTACTS = "contacts"
FOLDERS = (PHOTOS, VIDEO_FILES, ANIMATIONS, STICKERS, VOICE_MESSAGES, ROUND_VIDEO_MESSAGES,
           FILES, CONTACTS)

#: the kinds ``--media`` accepts, in the order help text lists them
KINDS = ("photo", "video", "voice", "round", "sticker", "gif", "audio", "document")
ALL = frozenset(KINDS)

#: Telegram Desktop's export default (export_settings.h: ``types = Photo``, 8 MiB)
TDESKTOP_DEFAULT_KINDS = frozenset({"photo"})
TDESKTOP_DEFAULT_MAX_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DocFlags:
    """Telegram Desktop's ``Data::Document`` flags, one per document attribute."""
    video_file: bool = False      # documentAttributeVideo, not round
    animated: bool = False        # documentAttributeAnimated
    sticker: bool = False         # documentAttributeSticker / CustomEmoji
    voice: bool = False           # documentAttributeAudio with voice
    round: bool = False           # documentAttributeVideo with round_message
    audio_file: bool = False      # documentAttributeAudio without voice


def flags(doc: m.Document) -> DocFlags:
    """The flags as far as the model keeps them. The model folds the attributes into one
    ``media_type`` (sticker > animation > the first video or audio attribute), so a sticker's
    or an animation's video attribute is read back from ``duration``, which only a video or
    audio attribute sets. When the schema keeps the attributes themselves, only this changes."""
    t = doc.media_type
    # a video attribute on a sticker or GIF (video/webm, video/mp4): TD files it under video
    video_attr = t in ("sticker", "animation") and doc.duration is not None \
        and not doc.mime_type.lower().startswith("audio/")
    return DocFlags(video_file=t == "video_file" or video_attr, animated=t == "animation",
                    sticker=t == "sticker", voice=t == "voice_message",
                    round=t == "video_message", audio_file=t == "audio_file")


def folder(media: m.Photo | m.Document) -> str:
    """The folder inside the chat folder a media file lands in (``DocumentFolder``)."""
    if isinstance(media, m.Photo):
        return PHOTOS
    f = flags(media)
    if f.video_file:
        return VIDEO_FILES
    if f.animated:
        return ANIMATIONS
    if f.sticker:
        return STICKERS
    if f.voice:
        return VOICE_MESSAGES
    if f.round:
        return ROUND_VIDEO_MESSAGES
    return FILES


def kind(media: m.Media | None) -> str | None:
    """The ``--media`` kind of a message's media (``processFileLoad``'s order), or None
    for media that has no file to download (a poll, a location, a contact...)."""
    if isinstance(media, m.Photo):
        return "photo"
    if not isinstance(media, m.Document):
        return None
    f = flags(media)
    if f.sticker:
        return "sticker"
    if f.round:
        return "round"
    if f.voice:
        return "voice"
    if f.animated:
        return "gif"
    if f.video_file:
        return "video"
    return "audio" if f.audio_file else "document"


def parse_kinds(text: str) -> frozenset[str]:
    """``--media KINDS|all|none``: comma-separated kinds (any case, spaces allowed)."""
    words = [w.strip().lower() for w in text.split(",")]
    words = [w for w in words if w]
    valid = ", ".join(KINDS)
    if not words:
        raise ConfigError(f"--media: no kinds given; use all, none or some of: {valid}")
    if "none" in words:
        if len(words) > 1:
            raise ConfigError(f"--media: 'none' cannot be combined with other kinds ({text!r})")
        return frozenset()
    if "all" in words:
        words = [w for w in words if w != "all"]
        words.extend(KINDS)
    unknown = [w for w in words if w not in ALL]
    if unknown:
        raise ConfigError(f"--media: unknown kind {unknown[0]!r}; "
                          f"valid kinds: {valid} (or all, none)")
    return frozenset(words)


_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, flag: str = "--max-media-size") -> int | None:
    """``--max-media-size SIZE`` -> bytes, or None for no limit (``0``, ``none``).

    Units are binary, as Telegram Desktop's size slider (``1M`` = 1 MiB = 1048576 bytes);
    ``K``, ``KB`` and ``KiB`` all mean the same. A fraction rounds down to whole bytes;
    ``0`` alone means no limit."""
    raw = text.strip()
    if raw.lower() in ("none", "unlimited"):
        return None
    match = _SIZE.fullmatch(raw)
    if match is None:
        raise ConfigError(f"{flag}: cannot read {text!r}; give bytes or a number "
                          "with K, M, G or T (binary: 1M = 1048576 bytes), or none")
    try:
        value = Decimal(match[1]) * _UNITS[match[2].lower()]
    except InvalidOperation as exc:              # the pattern admits digits only; kept honest
        raise ConfigError(f"{flag}: cannot read {text!r}") from exc
    if value == 0:
        return None
    if value < 1:       # "0.0001K" is a typo, not a wish for no limit
        raise ConfigError(f"{flag}: {text!r} is less than one byte; "
                          "use 0 or none for no limit")
    return int(value)


def exceeds(size: int, limit: int | None) -> bool:
    """Whether a file of ``size`` bytes is skipped under ``limit``: Telegram Desktop skips
    only files *larger* than the limit (``fullSize > sizeLimit``), so one of exactly the
    limit is kept. The caller passes the message's main file size for its thumbnail too."""
    return limit is not None and size > limit
