"""Files the corpus's media messages point to: a stateless catalogue.

A file id encodes its kind and seed (``(kind + 1) << 48 | seed``), so the server
finds the bytes for any id without keeping a table: ``content(id)`` regenerates
them with ``media.py`` (cached).  Few seeds per kind keep a corpus's media
cheap; ``upload.getFile`` serves them under Telegram's offset/limit rules.  Big files,
made per offset and never held, are bigfiles.py's; ``read`` and ``size`` serve both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from functools import lru_cache

from telethon.tl import types

from . import bigfiles, media

SEEDS = 4                     # distinct files per kind
ONE_MB = 1 << 20

HOSTILE_NAMES = (
    "../../etc/passwd",
    "a/b.txt",
    "CON.txt",
    "nul\x00byte.txt",
    "x" * 300 + ".bin",
    "\u202etxt.exe",          # right-to-left override: shows as "exe.txt"
    "report 2024 (final).pdf",
    ".hidden",
)

# kind -> (mime type, generator)
KINDS = {
    "photo": ("image/jpeg", lambda s: media.jpeg_photo(s)),
    "video": ("video/mp4", lambda s: media.h264_mp4(s)),
    "round": ("video/mp4", lambda s: media.round_video(s)),
    "voice": ("audio/ogg", lambda s: media.opus_voice(s)),
    "sticker": ("image/webp", lambda s: media.webp_sticker(s)),
    "animation": ("video/mp4", lambda s: media.gif_animation(s)),
    "audio": ("audio/mpeg", lambda s: media.mp3_audio(s, title=f"Track {s}")),
    "file": ("application/octet-stream", lambda s: media.document(s, 4096 + 1000 * s)),
    "big": ("application/octet-stream", lambda s: media.document(s, 3 * ONE_MB + 12345)),
    # a video whose download is whole but whose bytes are not (the first half of an MP4):
    # only in a corpus that asks for it (Corpus.add_copies(kind="broken_video"))
    "broken_video": ("video/mp4", lambda s: _half(media.h264_mp4(s))),
    # for the --transcode tests, likewise only through add_copies: a 640x360 2 s video with
    # sound; bytes that are no media at all; a video whose audio does not decode
    "talk_video": ("video/mp4", lambda s: media.h264_mp4(s, 640, 360, 2.0, audio=True)),
    "garbage_video": ("video/mp4", lambda s: _junk(s, 20_000)),
    "bad_audio_video": ("video/mp4", lambda s: media.bad_audio_mp4(s)),
}


def _half(data: bytes) -> bytes:
    return data[:len(data) // 2]


def _junk(seed: int, size: int) -> bytes:
    """``size`` seeded bytes (SHA-256 of ``b"junk <seed> <block>"``, 32 bytes per block)
    that no demuxer reads as media."""
    return b"".join(hashlib.sha256(b"junk %d %d" % (seed, i)).digest()
                    for i in range(size // 32 + 1))[:size]


KIND_NAMES = tuple(KINDS)
# kinds whose MessageMediaDocument has Telegram's ``video`` flag (a video, not a GIF or round)
VIDEO_FLAGGED = ("video", "talk_video", "bad_audio_video")


def file_id(kind: str, seed: int) -> int:
    return (KIND_NAMES.index(kind) + 1) << 48 | (seed % SEEDS)


def copy_id(fid: int, n: int) -> int:
    """Another file id (copy ``n``, 1-255) with the very bytes of small file ``fid``: the
    same content under two ids, as a re-upload of the same photo is on Telegram."""
    if not 1 <= n <= 255 or decode_id(fid) is None:
        raise ValueError(f"copy {n} of file {fid}: a small file, copies 1 to 255")
    return fid | n << 40


def decode_id(fid: int) -> tuple[str, int] | None:
    """(kind, seed) of a small file's id (a copy's too); None for any other id."""
    k = (fid >> 48) - 1
    seed = fid & ((1 << 40) - 1)
    if not 0 <= k < len(KIND_NAMES) or seed >= SEEDS:
        return None
    return KIND_NAMES[k], seed


def access_hash(fid: int) -> int:
    return int.from_bytes(hashlib.sha256(b"fakedc-file" + fid.to_bytes(8, "little")).digest()[:8],
                          "little") >> 1


@lru_cache(maxsize=64)
def content(fid: int) -> bytes:
    kind, seed = decode_id(fid)
    return KINDS[kind][1](seed)


THUMBED = ("video", "sticker", "file")      # kinds whose documents carry a thumbnail
PREVIEW_ONLY = ("animation", "round")       # only a stripped and a path preview
THUMB = "m"                                 # its PhotoSize type (90 px, as Telegram's "m")


@lru_cache(maxsize=64)
def thumb(fid: int) -> bytes | None:
    """The JPEG thumbnail of small file ``fid`` (a copy's too), or None if it has none."""
    got = decode_id(fid)
    if got is None or got[0] not in THUMBED:
        return None
    return media.jpeg_photo(1000 + got[1], width=90, height=60)


def known(fid: int) -> bool:
    return decode_id(fid) is not None or bigfiles.decode(fid) is not None


def size(fid: int) -> int:
    return bigfiles.size_of(fid) if bigfiles.decode(fid) else len(content(fid))


def read(fid: int, offset: int, limit: int) -> bytes:
    """Bytes ``[offset, offset + limit)`` of any file this catalogue knows."""
    if bigfiles.decode(fid):
        return bigfiles.read(fid, offset, limit)
    return content(fid)[offset : offset + limit]


def _date(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def media_for(kind: str, seed: int, date: int, refs: Callable[[int], bytes],
              name: str | None = None, fid: int | None = None):
    """The MessageMedia for a message carrying file ``kind``/``seed`` (or its copy ``fid``);
    ``refs(file id)`` is the file reference to hand out (the corpus's ``file_reference``)."""
    fid = file_id(kind, seed) if fid is None else fid
    file_ref = refs(fid)
    data = content(fid)
    if kind == "photo":
        photo = types.Photo(id=fid, access_hash=access_hash(fid), file_reference=file_ref,
                            date=_date(date), dc_id=2,
                            sizes=[types.PhotoSize(type="y", w=320, h=240, size=len(data))])
        return types.MessageMediaPhoto(photo=photo)
    attrs = {
        "video": [types.DocumentAttributeVideo(duration=1.0, w=320, h=240,
                                               supports_streaming=True)],
        "round": [types.DocumentAttributeVideo(duration=1.0, w=240, h=240, round_message=True)],
        "voice": [types.DocumentAttributeAudio(duration=1, voice=True)],
        "sticker": [types.DocumentAttributeImageSize(w=512, h=512),
                    types.DocumentAttributeSticker(alt="🙂",
                                                   stickerset=types.InputStickerSetEmpty())],
        "animation": [types.DocumentAttributeVideo(duration=0.8, w=160, h=160, nosound=True),
                      types.DocumentAttributeAnimated()],
        "audio": [types.DocumentAttributeAudio(duration=1, title=f"Track {seed % SEEDS}",
                                               performer="Synthetic Band"),
                  types.DocumentAttributeFilename(file_name=f"track{seed % SEEDS}.mp3")],
        "file": [types.DocumentAttributeFilename(
            file_name=name or HOSTILE_NAMES[seed % len(HOSTILE_NAMES)])],
        "big": [types.DocumentAttributeFilename(file_name="archive.bin")],
        "broken_video": [types.DocumentAttributeVideo(duration=1.0, w=320, h=240)],
        "talk_video": [types.DocumentAttributeVideo(duration=2.0, w=640, h=360,
                                                    supports_streaming=True)],
        "garbage_video": [types.DocumentAttributeVideo(duration=1.0, w=320, h=240)],
        "bad_audio_video": [types.DocumentAttributeVideo(duration=2.0, w=640, h=360)],
    }[kind]
    small = thumb(fid)
    stripped = types.PhotoStrippedSize(type="i", bytes=b"\x01\x28\x1b" + bytes(32))
    outline = types.PhotoPathSize(type="j", bytes=b"\x04\x8a\x02\x81\x10")  # a sticker's
    if small is not None:
        thumbs = [stripped, types.PhotoSize(type=THUMB, w=90, h=60, size=len(small))]
        if kind == "sticker":
            thumbs.append(outline)
    else:       # previews only, no thumbnail to download (Telegram Desktop writes none)
        thumbs = [stripped, outline] if kind in PREVIEW_ONLY else None
    doc = types.Document(id=fid, access_hash=access_hash(fid), file_reference=file_ref,
                         date=_date(date), mime_type=KINDS[kind][0], size=len(data), dc_id=2,
                         attributes=attrs, thumbs=thumbs)
    return types.MessageMediaDocument(document=doc, voice=kind == "voice" or None,
                                      round=kind == "round" or None,
                                      video=kind in VIDEO_FLAGGED or None)


def big_media(fid: int, date: int, file_ref: bytes, dc_id: int = 2):
    """The MessageMedia of a message carrying big file ``fid`` (bigfiles.py)."""
    doc = types.Document(id=fid, access_hash=access_hash(fid), file_reference=file_ref,
                         date=_date(date), mime_type="application/octet-stream",
                         size=bigfiles.size_of(fid), dc_id=dc_id,
                         attributes=[types.DocumentAttributeFilename(
                             file_name=bigfiles.file_name(fid))])
    return types.MessageMediaDocument(document=doc)


def check_range(offset: int, limit: int, precise: bool) -> str | None:
    """Telegram's upload.getFile rules; the error it answers, or None."""
    if limit <= 0 or limit > ONE_MB or limit % (1024 if precise else 4096):
        return "LIMIT_INVALID"
    if not precise and ONE_MB % limit:
        return "LIMIT_INVALID"
    if offset < 0 or offset % (1024 if precise else 4096):
        return "OFFSET_INVALID"
    if offset // ONE_MB != (offset + limit - 1) // ONE_MB:
        return "LIMIT_INVALID"
    return None
