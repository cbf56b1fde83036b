"""The message schema every stage shares (msgspec Structs); see engine/model/schema.py."""

from .schema import *  # noqa: F403
from .schema import __all__  # noqa: F401
