"""What every stage knows about the chat being exported (contracts, no behaviour)."""

from __future__ import annotations

from msgspec import Struct

from engine.model.schema import PeerRef

# Telegram Desktop numbers the messages of the basic group a supergroup migrated from
# below the supergroup's own: id − 1e9 (result.json and the archive's catalogue alike).
MIGRATED_ID_SHIFT = 1_000_000_000


class ChatMeta(Struct, omit_defaults=True):
    ref: PeerRef
    kind: str                 # channel | supergroup | group | user
    name: str = ""
    username: str | None = None
    me: int | None = None     # the exporting account (Saved Messages detection)
    forum: bool = False       # a supergroup with topics
