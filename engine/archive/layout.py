"""Every name inside an --out folder and a chat folder, spelled once (docs/export.md).

    <out>/.lock  tgarc.log  export_metrics.json
    <out>/<chat folder>/
        archive/<segment>.seg        the archive of record (engine/archive/segment.py)
        state/checkpoint.json        the catalogue + output state; state/.lock; state/render/
        state/media.ledger           the media ledger (engine/archive/media_ledger.py)
        state/catalogue.q  state/peers.msgpack   what a re-run's assembly resumes from
        quarantine/                  segments set aside (damaged, or overlapping the catalogue)
        result.json  messages.jsonl  markdown/YYYY/YYYY-MM-DD <key>.md   (note_key)
        chat.json  manifest.json
        topics/<id>-<slug>/          a forum topic: its views (topic.json) or its own store
        comments/<post id>/          a post's comment thread: a store of its own (thread.json)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

# the --out folder
OUT_LOCK = ".lock"
LOG = "tgarc.log"
METRICS = "export_metrics.json"

# a chat folder (and each store nested in one)
ARCHIVE = "archive"
SEGMENT_SUFFIX = ".seg"
STATE = "state"
CHECKPOINT = "checkpoint.json"              # in STATE
CHAT_LOCK = ".lock"                         # in STATE
RENDER_CACHE = "render"                     # in STATE
MEDIA_LEDGER = "media.ledger"               # in STATE
CATALOGUE = "catalogue.q"                   # in STATE: (id, date) of every assembled message
PEERS = "peers.msgpack"                     # in STATE: the peers the assembly has met
POSTS = "posts.msgpack"                     # in STATE: each segment's posts with comments
QUARANTINE = "quarantine"
TRANSCODED = "transcoded"                   # compact copies of videos (--transcode)
RESULT_JSON = "result.json"
MESSAGES_JSONL = "messages.jsonl"
MARKDOWN = "markdown"
MANIFEST = "manifest.json"
CHAT_JSON = "chat.json"
TOPIC_JSON = "topic.json"
THREAD_JSON = "thread.json"
TOPICS = "topics"
COMMENTS = "comments"
NESTED = (TOPICS, COMMENTS)                 # folders of a chat that may hold stores of their own
RUN_RECORDS = (CHAT_JSON, THREAD_JSON, TOPIC_JSON)   # each lists its export runs ("exports")


def checkpoint(root: Path) -> Path:
    return root / STATE / CHECKPOINT


def note_key(vault: str) -> str:
    """What makes a folder's day-note names unique in any vault that holds them: the chat
    folder's ``<kind><id>``, then ``topic <id>`` or ``post <id>`` for a folder nested in it
    (``vault``: the folder's path inside --out, as ChatStore.vault). A vault keys notes by
    name, so a link ``[[<note name>#^m<id>]]`` resolves whichever folder is opened as the
    vault: --out, a chat folder or its markdown/."""
    parts = vault.split("/")
    key = parts[0].partition("-")[0]
    if len(parts) == 3 and parts[1] in NESTED:
        key += f" {'topic' if parts[1] == TOPICS else 'post'} {parts[2].partition('-')[0]}"
    return key


def note_name(day: dt.date, key: str) -> str:
    """A day note's name (its file name less ".md"; what links name)."""
    return f"{day.isoformat()} {key}"


def note(day: dt.date, key: str) -> str:
    """A day note's path inside its folder."""
    return f"{MARKDOWN}/{day.year:04d}/{note_name(day, key)}.md"


def is_note(path: Path) -> bool:
    """A file named as tgarc names day notes (``YYYY-MM-DD <key>.md``, or ``YYYY-MM-DD.md``
    as before render version 3) in its year's folder."""
    stem = path.stem
    return path.suffix == ".md" and len(stem) >= 10 and stem[:4] == path.parent.name \
        and stem[4] == "-" and stem[7] == "-" and stem[:10].replace("-", "").isdigit() \
        and (len(stem) == 10 or stem[10] == " ")


def notes(root: Path) -> Iterable[Path]:
    """Every day note of a chat folder, in order."""
    return sorted((root / MARKDOWN).glob("[0-9][0-9][0-9][0-9]/*.md"))


def _nested(pattern: str) -> tuple[str, ...]:
    """``pattern`` in a folder, its chat folders, and the stores nested in either."""
    return (pattern, f"*/{pattern}", *(f"{n}/*/{pattern}" for n in NESTED),
            *(f"*/{n}/*/{pattern}" for n in NESTED))


def stores(folder: Path) -> list[Path]:
    """Every chat folder under ``folder`` (itself included) and the topic and comment-thread
    stores nested in them: folders with a checkpoint, or with an archive whose checkpoint
    was lost. Chat folders first (a forum's topic views before single-topic stores)."""
    found = {p.parent.parent for p in _glob(folder, f"{STATE}/{CHECKPOINT}")}
    found |= {p.parent for p in _glob(folder, ARCHIVE) if any(p.glob("*" + SEGMENT_SUFFIX))}
    return sorted(found, key=lambda r: (r.parent.name in NESTED, r))


def manifested(folder: Path) -> list[Path]:
    """Every folder under ``folder`` (itself included) with a manifest: chat folders and
    the topic and comment-thread stores nested in them."""
    return sorted({p.parent for p in _glob(folder, MANIFEST)})


def _glob(folder: Path, pattern: str) -> set[Path]:
    return {p for each in _nested(pattern) for p in folder.glob(each)}
