"""The Obsidian-style Markdown vault: one note per chat per day.

``markdown/YYYY/YYYY-MM-DD <key>.md`` inside the chat folder (``key``: the chat folder's
``<kind><id>``, layout.note_key), with YAML front matter (chat, date, message count, first
and last id) and one block per message, a quote followed by its block id:

    > **14:05** · Alice Example · [t.me](https://t.me/chan/123)
    >
    > ↪ [[2024-05-01 channel1500000001#^m120|reply to 120]]
    > *Forwarded from Somebody*
    >
    > body text, entities converted by the text core (engine/text)
    >
    > ![[photos/photo_3@01-05-2024_14-05-00.jpg]]

    ^m123

The block id ``^m<id>`` stands on its own line after the quote, so it names the whole
message (header, text, media): an embed ``![[<note>#^m<id>]]`` shows all of it. Links name
notes by their name, unique in any vault that holds them (``[[#^m<id>]]`` within the same
note), so they resolve whichever folder is opened as the vault: --out, a chat folder or its
markdown/. Embeds name files by their path inside the chat folder, which Obsidian finds from
--out (the nearest match) and from the chat folder; a markdown/-only vault holds no media.
A message the archive keeps after it was deleted on Telegram (``deleted_at`` set) says
``*deleted on Telegram*`` in its header. An album's first message has the block of the
album (header, texts, its media, reactions); each other message of it a block of its own
with its media. Service messages are one italic line; polls are lists; reactions a line of
counts. Media that was not downloaded is named in italics instead of embedded. Dates and
day boundaries follow the render context's time zone.

This module's ``day_note`` and ``days`` are the pure-Python twin and the reference reading;
callers render through ``engine.render.renderer`` (``day_note``/``days``), which runs the
native renderer (native/render_day_notes.pxi) when it loads. The façade hands the native one
the rare parts from here (the front matter, a service message's line) and gives this module
any day the native one does not cover (a field of an unusual type).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from engine import model as m
from engine.archive import layout
from engine.model.chat import MIGRATED_ID_SHIFT
from engine.render.context import RenderContext, clock_for
from engine.render.entities import as_tuples
from engine.text import markdown


@dataclass
class VaultContext:
    """What the Markdown renderer needs beyond RenderContext: folder names in the vault,
    public usernames for t.me links, and where other messages are (for reply links)."""
    base: RenderContext
    chat_dir: str                                        # e.g. channel123-my-channel
    chat_title: str = ""
    username: str | None = None
    dirs: dict[m.PeerRef, str] = field(default_factory=dict)   # other chats' folders
    # (chat, message id) -> unix date of that message, or None if unknown
    locate: Callable[[m.PeerRef, int], int | None] = lambda chat, msg_id: None
    # days since 1970 (local) -> a placeholder for that day's note name: the workers'
    # blocks, whose links the assembly finishes (engine/render/blocks.py); None: the name
    note_of: Callable[[int], str] | None = None
    # the key of the notes being written when not the chat's (a topic view's)
    own_key: str | None = None

    @property
    def key(self) -> str:
        """The chat's note key: what links to its messages name."""
        return layout.note_key(self.chat_dir)

    @property
    def note_key(self) -> str:
        """The key of the notes these blocks go to."""
        return self.own_key if self.own_key is not None else self.key


def esc(text: str) -> str:
    return markdown(text, ())


def note_path(day: dt.date, key: str) -> str:
    """Path of a day note inside its folder."""
    return layout.note(day, key)


def block_link(vctx: VaultContext, chat: m.PeerRef, msg_id: int, word: str,
               home: dt.date | None = None) -> str:
    """A link labelled ``<word> <number>`` to message ``msg_id`` of ``chat`` from a block of
    day ``home``'s note: ``[[#^m<number>|…]]`` within that note, ``[[<note name>#^m<number>|…]]``
    otherwise. The number is the vault's (``vault_id``): a migrated group's history is the
    chat's own, numbered as in result.json."""
    number = vault_id(vctx.base, chat, msg_id)
    label = esc(f"{word} {number}")
    ts = vctx.locate(chat, msg_id)
    own = chat == vctx.base.chat or number != msg_id
    folder = vctx.chat_dir if own else vctx.dirs.get(chat)
    if ts is None or folder is None:
        return label
    day = vctx.base.clock.date(ts)
    if vctx.note_of is not None:
        note = vctx.note_of((day - dt.date(1970, 1, 1)).days)
    else:
        key = vctx.key if own else layout.note_key(folder)
        note = "" if day == home and key == vctx.note_key else layout.note_name(day, key)
    return f"[[{note}#^m{number}|{label}]]"


def tme_link(vctx: VaultContext, msg: m.Message) -> str | None:
    if msg.chat.kind != "channel":
        return None
    if vctx.username:
        return f"https://t.me/{vctx.username}/{msg.id}"
    return f"https://t.me/c/{msg.chat.id}/{msg.id}"


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MB"


def media_lines(vctx: VaultContext, media) -> list[str]:
    files = vctx.base.files
    if isinstance(media, m.Photo | m.Document):
        path = files.get(media.id)
        if path and not path.startswith("("):
            if isinstance(media, m.Document) and not media.media_type:
                # a plain file: a link (an embed of an archive or a binary shows nothing)
                label = esc(media.file_name or path.rpartition("/")[2])
                return [f"[[{path}|{label}]]"]
            return [f"![[{path}]]"]
        if isinstance(media, m.Photo):
            what = f"photo {media.width}×{media.height}, {_size(media.size)}"
        else:
            kind = (media.media_type or "file").replace("_", " ")
            name = f" “{esc(media.file_name)}”" if media.file_name else ""
            what = f"{kind}{name}, {_size(media.size)}"
        return [f"*[{what}, not downloaded]*"]
    if isinstance(media, m.Poll):
        state = " (closed)" if media.closed else ""
        lines = [f"**Poll{state}:** {esc(media.question)}", ""]
        for a in media.answers:
            mark = " ✓" if a.chosen else ""
            lines.append(f"- {esc(a.text)} — {a.voters}{mark}")
        lines += ["", f"*{media.total_voters} voters*"]
        return lines
    if isinstance(media, m.Geo):
        return [f"📍 [{media.latitude:.5f}, {media.longitude:.5f}]"
                f"(geo:{media.latitude},{media.longitude})"]
    if isinstance(media, m.Venue):
        return [f"📍 **{esc(media.title)}**, {esc(media.address)} "
                f"[{media.latitude:.5f}, {media.longitude:.5f}]"
                f"(geo:{media.latitude},{media.longitude})"]
    if isinstance(media, m.Contact):
        name = " ".join(x for x in (media.first_name, media.last_name) if x)
        return [f"👤 {esc(name)} {esc(media.phone_number)}"]
    if isinstance(media, m.WebPage):
        title = esc(media.title or media.url)
        return [f"> [{title}](<{media.url}>)" + (f"  \n> {esc(media.description)}"
                                                  if media.description else "")]
    if isinstance(media, m.Dice):
        return [f"{esc(media.emoticon)} {media.value}"]
    if isinstance(media, m.Game):
        return [f"🎮 {esc(media.title)}"]
    if isinstance(media, m.Invoice):
        return [f"🧾 {esc(media.title)} — {media.total_amount} {esc(media.currency)}"]
    if isinstance(media, m.OtherMedia):
        return [f"*[{esc(media.kind.replace('_', ' '))}]*"]
    return []


SERVICE = {
    "channel_create": "created the channel", "chat_create": "created the group",
    "chat_edit_title": "changed the title to", "chat_add_user": "added members",
    "chat_delete_user": "removed a member", "chat_joined_by_link": "joined by link",
    "pin_message": "pinned a message", "chat_migrate_to": "moved the group to a supergroup",
    "channel_migrate_from": "continues the group", "topic_create": "created the topic",
    "topic_edit": "edited the topic", "history_clear": "cleared the history",
    "chat_edit_photo": "changed the photo", "chat_delete_photo": "removed the photo",
}


def service_line(vctx: VaultContext, msg: m.Message, actor: str | None) -> str:
    a = msg.action
    phrase = SERVICE.get(a.kind, a.kind.replace("_", " "))
    tail = a.fields.get("title")
    out = f"{esc(actor)} {phrase}" if actor else phrase[0].upper() + phrase[1:]
    if tail:
        out += f" «{esc(tail)}»"
    if a.kind == "pin_message" and msg.reply_to and msg.reply_to.msg_id:
        out += " " + block_link(vctx, msg.chat, msg.reply_to.msg_id, "message",
                                vctx.base.clock.date(msg.date))
    return f"*{out}*"


def reactions_line(reactions: list[m.Reaction]) -> str:
    parts = []
    for r in reactions:
        if r.kind == "emoji":
            parts.append(f"{esc(r.emoji or '')} {r.count}")
        elif r.kind == "custom_emoji":
            parts.append(f"[custom emoji] {r.count}")
        else:
            parts.append(f"⭐ {r.count}")
    return " · ".join(parts)


def sender_name(vctx: VaultContext, msg: m.Message) -> str | None:
    """Who a block names: the sender, or the channel itself for a post."""
    ref = msg.from_peer or (msg.chat if msg.post or msg.chat.kind == "channel" else None)
    return vctx.base.name(ref) if ref else None


def quoted(lines: list[str], msg_id: int) -> str:
    """A block: ``lines`` as a quote, then its id on a line of its own after a blank one, so
    the id names the whole quote (Obsidian's rule for blocks of more than a paragraph)."""
    body = "\n".join(lines).split("\n")
    return "\n".join(f"> {x}" if x else ">" for x in body) + f"\n\n^m{msg_id}"


def vault_shift(ctx: RenderContext, chat: m.PeerRef) -> int:
    """What the vault (and result.json) takes off the ids of ``chat``'s messages: 10^9 for
    the history of a migrated basic group in the supergroup that continues it, else 0."""
    return MIGRATED_ID_SHIFT if chat != ctx.chat and chat.kind == "chat" else 0


def vault_id(ctx: RenderContext, chat: m.PeerRef, msg_id: int) -> int:
    """A message's number in the vault, as in result.json (``vault_shift``)."""
    return msg_id - vault_shift(ctx, chat)


def block_id(msg: m.Message, ctx: RenderContext) -> int:
    return vault_id(ctx, msg.chat, msg.id)


def message_block(vctx: VaultContext, group: list[m.Message]) -> str:
    """One message, or one album (messages sharing grouped_id), as Markdown: the album's
    block, then a block for each of its other messages' media."""
    first = group[0]
    ctx = vctx.base
    when = ctx.clock.hm(first.date)
    sender = sender_name(vctx, first)
    head = [f"**{when}**"]
    if sender and first.type != "service":
        head.append(esc(sender))
    link = tme_link(vctx, first)
    if link:
        head.append(f"[t.me]({link})")
    if first.edit_date:
        head.append("*edited*")
    if any(x.deleted_at is not None for x in group):
        head.append("*deleted on Telegram*")
    lines = [" · ".join(head)]
    if first.type == "service":
        return quoted([*lines, "", service_line(vctx, first, sender)], block_id(first, ctx))
    if first.type == "empty":
        return quoted([*lines, "", "*[message unavailable]*"], block_id(first, ctx))
    pre: list[str] = []
    if first.reply_to is not None and first.reply_to.msg_id and not (
            first.reply_to.forum_topic and first.reply_to.top_id is None):
        target = first.reply_to.peer or first.chat
        pre.append("↪ " + block_link(vctx, target, first.reply_to.msg_id, "reply to",
                                     ctx.clock.date(first.date)))
    if first.forward is not None:
        src = first.forward.from_name or ctx.name(first.forward.from_peer) or "unknown"
        pre.append(f"*Forwarded from {esc(src)}*")
    if pre:
        lines += ["", "  \n".join(pre)]
    texts = [x for x in group if x.text]
    for x in texts:
        lines += ["", markdown(x.text, as_tuples(x.entities))]
    media = media_lines(vctx, first.media)
    if media:
        lines += ["", *media]
    reacted = [r for x in group for r in x.reactions]
    if reacted:
        lines += ["", reactions_line(reacted)]
    out = [quoted(lines, block_id(first, ctx))]
    for x in group[1:]:         # an album's other messages stay linkable, each its media
        out.append(quoted(media_lines(vctx, x.media) or ["*[no media]*"], block_id(x, ctx)))
    return "\n\n".join(out)


def _groups(messages: Iterable[m.Message]) -> list[list[m.Message]]:
    out: list[list[m.Message]] = []
    for msg in messages:
        if (out and msg.grouped_id and out[-1][0].grouped_id == msg.grouped_id
                and msg.type == "message"):
            out[-1].append(msg)
        else:
            out.append([msg])
    return out


def front_matter(vctx: VaultContext, day: dt.date, messages: list[m.Message]) -> str:
    """A day note's YAML front matter and the blank line after it."""
    return front_of(vctx, day, len(messages),
                    block_id(messages[0], vctx.base) if messages else None,
                    block_id(messages[-1], vctx.base) if messages else None)


def front_of(vctx: VaultContext, day: dt.date, count: int, first: int | None,
             last: int | None) -> str:
    """front_matter from the day's message count and first and last numbers (as the
    blocks and result.json number them)."""
    front = {
        "chat": vctx.chat_title, "chat_id": vctx.base.chat.id, "date": day.isoformat(),
        "messages": count, "first_id": first, "last_id": last,
    }
    head = ["---", *(f"{k}: {orjson.dumps(v).decode()}" for k, v in front.items()), "---"]
    return "\n".join(head) + "\n\n"


# ---- the pure-Python twin of engine._native.render (the choice: engine/render/renderer.py) ----
IMPLEMENTATION = "pure"      # what this module's own day_note()/days() are


def day_note(vctx: VaultContext, day: dt.date, messages: list[m.Message]) -> bytes:
    """The whole note for one day of one chat (messages in id order, all of that day)."""
    blocks = [message_block(vctx, g) for g in _groups(messages)]
    return (front_matter(vctx, day, messages) + "\n\n---\n\n".join(blocks) + "\n").encode()


def blocks(vctx: VaultContext, messages: list[m.Message]) -> list[tuple[int, bytes]]:
    """The blocks of one day's messages (in id order), each with how many messages it holds
    (an album's share one): day_note's body is these joined by ``SEPARATOR``."""
    return [(len(g), message_block(vctx, g).encode()) for g in _groups(messages)]


SEPARATOR = b"\n\n---\n\n"


def days(messages: Iterable[m.Message], tz: dt.tzinfo) -> dict[dt.date, list[m.Message]]:
    """Messages by local day (the clock's rule), days in order of first appearance."""
    return clock_for(tz).by_day(messages)
