"""``messages.jsonl``: one message a line in tgarc's own schema (engine/model), for data work.

Each line is the msgspec JSON of a ``Message`` with the schema version first
(``{"v":1,...}``), without ``raw`` (the original TL bytes stay in the archive of
record). Keys with default values are left out; peers are ``[kind, id]`` pairs
whose names are in ``chat.json``. Lines are written in id order. docs/jsonl.md
documents every field.

Callers write through ``engine.render.renderer`` (``jsonl_line``/``jsonl_lines``). msgspec
does the encoding either way; the native renderer (native/render_jsonl.pxi) only does the
glue around it in C. This module's ``jsonl_line``/``jsonl_lines`` are its pure-Python twin.
"""

from __future__ import annotations

import msgspec

from engine import model as m

_encode = msgspec.json.Encoder().encode
_PREFIX = b'{"v":%d,' % m.SCHEMA_VERSION

IMPLEMENTATION = "pure"      # what this module's own jsonl_line()/jsonl_lines() are


def jsonl_line(msg: m.Message) -> bytes:
    """One message as its JSONL line (with the trailing newline)."""
    if msg.raw is not None:
        msg = msgspec.structs.replace(msg, raw=None)
    return _PREFIX + _encode(msg)[1:] + b"\n"


def jsonl_lines(msgs: list[m.Message]) -> list[bytes]:
    """``[jsonl_line(msg) for msg in msgs]``."""
    return [jsonl_line(x) for x in msgs]


_decode = msgspec.json.Decoder(m.Message).decode


def parse(line: bytes) -> tuple[int, m.Message]:
    """(schema version, Message) from one line: the inverse of ``jsonl_line``."""
    version = msgspec.json.decode(line, type=dict).get("v", 0)
    head = line.index(b",") + 1
    return version, _decode(b"{" + line[head:])
