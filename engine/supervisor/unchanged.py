"""Zero-cost re-runs of ``--all``: a chat whose newest message (from the dialog list, walked
once per run anyway) is already in its archive, and whose last run left nothing to do
again, is skipped without a single request of its own.

"Nothing to do again" is recorded by that run itself (``output.settled`` in the checkpoint):
the settings that decide what a run does besides fetching new messages (formats, media
kinds and size limit, the transcode settings), written only when the run ended with every
batch durable, its outputs assembled and manifested, and no file left to retry (no
download failed, no copy failed), by a run without a window (an earlier ``--min-id`` run
leaves the older ids to the next one). The archive must cover every id from 1 to the
dialog's newest, as a full run's plan would find. Any other setting now, an interrupted
or failed run, an output that is missing or changed since manifest.json (outputs heal),
or options that look beyond the newest message (``--refresh-edits``, ``--comments``, ``--members``,
``--topic``, an id or date window) and the chat is exported as usual.

What a skipped chat does not get: its ``chat.json`` (title, about) and run history are
those of its last run.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.archive import manifest
from engine.archive.store import ChatStore, CorruptState
from engine.config import ExportConfig

CHANNEL_MARK = 10**12          # Telethon's marked ids: -100… channels, -… groups, users as is


def fingerprint(cfg: ExportConfig) -> str:
    """The settings a run with no new message could still act on (and the renderer's
    version: a new one renders every chat again)."""
    from engine.render.fragments import RENDER_VERSION

    return orjson.dumps([sorted(cfg.formats), sorted(cfg.media), cfg.max_media_size,
                         cfg.transcode, cfg.transcode_min_size, cfg.max_height, cfg.crf,
                         cfg.transcode_replace, cfg.hwaccel, RENDER_VERSION]).decode()


def looks_beyond(cfg: ExportConfig) -> bool:
    """Options whose run does more than take the messages after the archive's newest."""
    return bool(cfg.refresh_edits or cfg.comments or cfg.members or cfg.topic is not None
                or cfg.min_id or cfg.max_id or cfg.since is not None
                or cfg.until is not None)


def folder_of(out: Path, marked: int) -> Path | None:
    """The chat folder of a dialog (Telethon's marked id), if it was exported before."""
    if marked <= -CHANNEL_MARK:
        kind, cid = "channel", -marked - CHANNEL_MARK
    elif marked < 0:
        kind, cid = "chat", -marked
    else:
        kind, cid = "user", marked
    return ChatStore.find(out, kind, cid)


def settled(cfg: ExportConfig, marked: int, top: int | None) -> Path | None:
    """The chat's folder when a run now would find nothing to do (see the module's
    docstring); None: export it."""
    if top is None or looks_beyond(cfg):
        return None
    root = folder_of(Path(cfg.out), marked)
    if root is None:
        return None
    try:
        cp = ChatStore.read_checkpoint(root)
    except CorruptState:
        return None
    if cp is None:
        return None
    out = cp.output
    if out.settled != fingerprint(cfg) or out.assembled != len(cp.segments) \
            or (cfg.tz_given and out.tz != cfg.tz):
        return None
    if top < 1 or cp.covered().missing(1, top) or manifest.stale(root):
        return None                     # a run now would plan a span, or heal an output
    return root
