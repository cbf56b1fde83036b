"""``messages.jsonl``: one message a line in tgarc's own schema (engine/model), for data work.

Each line is the msgspec JSON of a ``Message`` with the schema version first
(``{"v":1,...}``), without ``raw`` (the original TL bytes stay in the archive of
record). Keys with default values are left out; peers are ``[kind, id]`` pairs
whose names are in ``chat.json``. Lines are written in id order. docs/jsonl.md
documents every field.
"""

from __future__ import annotations

import msgspec

from engine import model as m

_encode = msgspec.json.Encoder().encode
_PREFIX = b'{"v":%d,' % m.SCHEMA_VERSION


def render(msg: m.Message) -> bytes:
    """One message as its JSONL line (with the trailing newline)."""
    if msg.raw is not None:
        msg = msgspec.structs.replace(msg, raw=None)
    return _PREFIX + _encode(msg)[1:] + b"\n"


_decode = msgspec.json.Decoder(m.Message).decode


def parse(line: bytes) -> tuple[int, m.Message]:
    """(schema version, Message) from one line: the inverse of ``render``."""
    version = msgspec.json.decode(line, type=dict).get("v", 0)
    head = line.index(b",") + 1
    return version, _decode(b"{" + line[head:])
