"""The renderer: one native-or-twin choice for every format, and the one place the twin takes over.

    fragment(msg, ctx) / fragments(msgs, ctx)      result.json objects
    jsonl_line(msg) / jsonl_lines(msgs)             messages.jsonl lines
    day_note(vctx, day, msgs) / days(msgs, tz)      the vault's day notes, messages by day
    blocks(vctx, msgs)                              one day's blocks (what a note joins)

run in the native renderer (``engine._native.render``, from native/render*.pxi) when it
loads, else in the pure-Python twins (result_json, messages_jsonl, day_notes), which are the
reference reading. ``TGARC_RENDER_IMPL=pure`` forces the twins; ``RENDERER`` says which runs
and ``WHY``; ``by_name("native"|"pure"|None)`` gives either, for tests and benchmarks.

The native code never reaches into the twins. This module hands it plain parts (the
context's dicts, the clock, the strings the twin writes for rare shapes: a service
message's action keys and its line, a note's front matter) and takes back ``None`` for
whatever it does not cover (inline buttons, a field of an unusual type, a context
subclass), which the twin then renders, here and nowhere else. Bailing is never an error;
it only costs the twin's time.
"""

from __future__ import annotations

import datetime as dt
from types import ModuleType

import orjson

from engine import model as m
from engine._native.native_or_twin import choose
from engine.archive import layout
from engine.render import day_notes, messages_jsonl, result_json
from engine.render.context import EPOCH, LocalClock, RenderContext, clock_for

Message = m.Message


def _is_service(x) -> bool:
    return type(x) is Message and x.type == "service"


def _note_date(days: int) -> str:
    """A day note's date, for reply links (the native one asks per link)."""
    return (EPOCH + dt.timedelta(days)).isoformat()


class Twin:
    """The pure-Python twins, under the renderer's names."""
    IMPLEMENTATION = "pure"
    fragment = staticmethod(result_json.fragment)
    fragments = staticmethod(result_json.fragments)
    jsonl_line = staticmethod(messages_jsonl.jsonl_line)
    jsonl_lines = staticmethod(messages_jsonl.jsonl_lines)
    day_note = staticmethod(day_notes.day_note)
    blocks = staticmethod(day_notes.blocks)
    days = staticmethod(day_notes.days)


class Native:
    """``engine._native.render`` behind the routing: what it returns as None, the twin writes."""
    IMPLEMENTATION = "native"

    def __init__(self, native: ModuleType):
        self.native = native

    # -- result.json
    @staticmethod
    def _parts(ctx) -> tuple | None:
        """(chat, peers, files, clock) of a plain RenderContext; None: the twin's."""
        if type(ctx) is not RenderContext or type(ctx.clock) is not LocalClock:
            return None
        return ctx.chat, ctx.peers, ctx.files, ctx.clock

    @staticmethod
    def _action(msg, ctx) -> bytes | None:
        """A service message's action keys as the twin writes them (None: let it)."""
        if not _is_service(msg):
            return None
        try:
            out: dict = {}
            result_json.action_keys(ctx, msg, out)
            return orjson.dumps(out)
        except Exception:       # the twin renders it, and raises what it raises
            return None

    def fragment(self, msg, ctx) -> bytes:
        parts = self._parts(ctx)
        out = None if parts is None else self.native.fragment(msg, parts, self._action(msg, ctx))
        return out if out is not None else result_json.fragment(msg, ctx)

    def fragments(self, msgs, ctx) -> list[bytes]:
        parts = self._parts(ctx)
        if parts is None:
            return result_json.fragments(msgs, ctx)
        msgs = msgs if type(msgs) is list else list(msgs)
        actions = {i: self._action(x, ctx) for i, x in enumerate(msgs)
                   if type(x) is Message and x.type == "service"}     # _is_service, inline
        out = self.native.fragments(msgs, parts, actions)
        if None in out:
            for i, x in enumerate(out):
                if x is None:
                    out[i] = result_json.fragment(msgs[i], ctx)
        return out

    def covers(self, msg, ctx) -> bool:
        """True when the native code writes ``msg`` itself (for tests)."""
        parts = self._parts(ctx)
        return parts is not None and self.native.fragment(
            msg, parts, self._action(msg, ctx)) is not None

    # -- messages.jsonl
    def jsonl_line(self, msg) -> bytes:
        out = self.native.jsonl_line(msg)
        return out if out is not None else messages_jsonl.jsonl_line(msg)

    def jsonl_lines(self, msgs) -> list[bytes]:
        out = self.native.jsonl_lines(msgs)
        if None in out:
            msgs = msgs if type(msgs) is list else list(msgs)
            out = [x if x is not None else messages_jsonl.jsonl_line(msgs[i])
                   for i, x in enumerate(out)]
        return out

    # -- day notes
    def _vault(self, vctx, day, messages) -> tuple | None:
        """What the native day note needs (``day`` None: no front matter); None: the twin
        writes the whole note."""
        if type(vctx) is not day_notes.VaultContext or type(messages) is not list:
            return None
        parts = self._parts(vctx.base)
        if parts is None:
            return None
        try:
            front = day_notes.front_matter(vctx, day, messages) if day is not None else ""
            lines = {i: day_notes.service_line(vctx, x, day_notes.sender_name(vctx, x))
                     for i, x in enumerate(messages)
                     if type(x) is Message and x.type == "service"}     # _is_service
        except Exception:        # the twin renders it, and raises what it raises
            return None
        dirs = {r: layout.note_key(f) for r, f in vctx.dirs.items()} if vctx.dirs else {}
        vault = (vctx.key, vctx.note_key, vctx.username, dirs, vctx.locate,
                 vctx.note_of or _note_date, vctx.note_of is None)
        return front, parts, vault, lines

    def day_note(self, vctx, day, messages) -> bytes:
        args = self._vault(vctx, day, messages)
        out = None if args is None else self.native.day_note(messages, *args)
        return out if out is not None else day_notes.day_note(vctx, day, messages)

    def blocks(self, vctx, messages) -> list[tuple[int, bytes]]:
        args = self._vault(vctx, None, messages)
        out = None if args is None else self.native.blocks(messages, *args[1:])
        return out if out is not None else day_notes.blocks(vctx, messages)

    def block_covered(self, vctx, group) -> bool:
        """True when the native code writes this group's block itself (for tests)."""
        args = self._vault(vctx, dt.date(1970, 1, 1), group)
        return args is not None and self.native.block_covered(group, *args[1:])

    def days(self, messages, tz) -> dict[dt.date, list[m.Message]]:
        messages = messages if type(messages) is list else list(messages)
        out = self.native.days(messages, clock_for(tz))
        return out if out is not None else day_notes.days(messages, tz)


_CHOICE = choose("render", Twin, "renderer", wrap=Native)
RENDERER: str = _CHOICE.module.IMPLEMENTATION
WHY: str = _CHOICE.why
by_name = _CHOICE.by_name       # "native" -> Native(engine._native.render), "pure" -> Twin

_IMPL = _CHOICE.module
fragment = _IMPL.fragment
fragments = _IMPL.fragments
jsonl_line = _IMPL.jsonl_line
jsonl_lines = _IMPL.jsonl_lines
day_note = _IMPL.day_note
blocks = _IMPL.blocks
days = _IMPL.days
