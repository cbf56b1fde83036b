"""The message schema every stage shares (msgspec Structs); see engine/model/schema.py."""

from .chat import MIGRATED_ID_SHIFT, ChatMeta
from .schema import *  # noqa: F403
from .schema import __all__ as _schema

__all__ = [*_schema, "MIGRATED_ID_SHIFT", "ChatMeta"]
