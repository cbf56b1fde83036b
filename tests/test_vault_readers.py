"""The vault as its readers read it: a third-party Obsidian vault parser (obsidian-parse)
resolves every note link from whichever folder is opened as the vault -- --out, a chat
folder, its markdown/ -- and every linked block, found by Obsidian's rule for blocks (a
quote, then its id on a line of its own), holds its message's text. Every message of a
chat is a block numbered as its result.json numbers it (a migrated group's history too),
and every reply within the chat is a link to its block.

obsidian-parse keys notes by name (the shallowest file wins a tie) and drops links without
a note name (``[[#^m5]]``, within the note); those are resolved here, in the note itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from obsidian_parse import find_file_by_id, parse

from engine.model.chat import MIGRATED_ID_SHIFT
from tests._export import served, tgarc

BLOCK = re.compile(r"(?:^|\n\n)((?:>[^\n]*\n)*>[^\n]*)\n\n\^m(-?\d+)(?=\n|$)")
LINK = re.compile(r"(?<!!)\[\[([^\]|#]*)#\^m(-?\d+)(?:\|[^\]]*)?\]\]")
WORD = re.compile(r"[^\W_]{4,}")


def ok(r) -> None:
    assert r.returncode == 0, r.stderr[-3000:]


def blocks_of(note: Path) -> dict[int, str]:
    """Block id -> the quote it names, quote marks taken off (what an embed shows)."""
    text = note.read_text()
    out = {}
    for quote, mid in BLOCK.findall(text):
        out[int(mid)] = "\n".join(x[2:] if x.startswith("> ") else x[1:]
                                  for x in quote.split("\n"))
    return out


def texts(chat: Path) -> dict[int, str]:
    """Message number (as result.json numbers it) -> text, from messages.jsonl."""
    doc = orjson.loads((chat / "result.json").read_bytes())
    own = [doc["id"]]
    out = {}
    for line in (chat / "messages.jsonl").read_bytes().splitlines():
        x = orjson.loads(line)
        mid = x["id"] if x["chat"][1] in own or x["chat"][0] != "chat" \
            else x["id"] - MIGRATED_ID_SHIFT         # a migrated group's history
        out[mid] = x.get("text") or ""
    assert sorted(out) == sorted(m["id"] for m in doc["messages"])
    return out


def check_root(root: Path, chats: list[Path]) -> int:
    """Every note link under ``root`` resolved as obsidian-parse resolves it, to a note
    holding that block; returns how many links were followed."""
    notes = sorted(root.rglob("*.md"))
    assert notes, root
    names = [p.stem for p in notes]
    assert len(names) == len(set(names)), "note names repeat in this vault"
    blocks = {p: blocks_of(p) for p in notes}
    followed = 0
    for parsed in parse([str(root)]):
        own = blocks[parsed.path]
        parsed_links = [(w.target, w.section) for w in parsed.wikilinks
                        if w.section and w.section.startswith("#^m")]
        written = LINK.findall(parsed.path.read_text())
        # the parser reads every link with a note name in it, and only those
        assert sorted((t, f"#^m{i}") for t, i in written if t) == sorted(parsed_links)
        for target, mid in written:
            if target:
                found = find_file_by_id(root, target, known_files=notes)
                assert found is not None, (parsed.path, target)
                assert found.stem == target
                held = blocks[root / found]
            else:
                held = own
            assert int(mid) in held, (parsed.path, target, mid)
            followed += 1
    # every message is a block numbered as in result.json, holding its text (its words,
    # Markdown aside)
    for chat in chats:
        said = texts(chat)
        numbered = set()
        for note in notes:
            if not note.is_relative_to(chat / "markdown"):
                continue
            numbered |= set(blocks[note])
            for mid, quote in blocks[note].items():
                for word in WORD.findall(said[mid]):
                    assert word in quote, (note, mid, word)
        assert numbered == set(said), chat
    return followed


def replies_linked(chat: Path) -> tuple[int, int]:
    """Every reply of result.json to a message of the same chat is a link to that block in
    the reply's block (a forum's implicit reply to its topic aside: the vault hides it; an
    album shows its first message's).
    Returns (replies linked, those inside a migrated group's history)."""
    doc = orjson.loads((chat / "result.json").read_bytes())
    topics = {x["id"] for x in doc["messages"] if x.get("action") == "topic_created"}
    ids = {x["id"] for x in doc["messages"]}
    held = {}
    for note in (chat / "markdown").rglob("*.md"):
        held.update(blocks_of(note))
    linked = migrated = 0
    for x in doc["messages"]:
        to = x.get("reply_to_message_id")
        if to is None or to not in ids or to in topics or "reply_to_peer_id" in x:
            continue
        if not held[x["id"]].startswith("**"):
            continue        # an album's other message: its block holds its media only
        assert f"#^m{to}|" in held[x["id"]], (chat.name, x["id"], to)
        linked += 1
        migrated += x["id"] < 0
    return linked, migrated


def test_links_and_blocks_resolve_from_every_root(tmp_path):
    out = tmp_path / "out"
    with served(400) as dc:
        ok(tgarc(dc, out, "--all", "--comments", target="", timeout=300))
    chats = sorted(p for p in out.iterdir() if (p / "messages.jsonl").exists())
    assert len(chats) >= 3
    assert check_root(out, chats) > 50
    forum = [c for c in chats if (c / "topics").is_dir()]
    assert forum, "the corpus has a forum: its topic views' notes link to the chat's notes"
    followed = 0
    for chat in chats:
        followed += check_root(chat, [chat])
        if (chat / "markdown").is_dir():
            check_root(chat / "markdown", [chat])
    assert followed > 50
    linked = [replies_linked(c) for c in chats]
    assert sum(n for n, _ in linked) > 50
    assert sum(k for _, k in linked) >= 1, "replies inside the migrated history are links"


FILE_LINK = re.compile(r"!?\[\[([^\]|#]+\.[A-Za-z0-9]+)(?:\|[^\]]*)?\]\]")


def test_the_demo_with_its_media_resolves_from_every_root(tmp_path):
    """The demo's channel with its files and comment threads: note links and blocks from
    the three roots, and every embed or file link names a file by its path inside its
    chat folder -- exact with the chat folder as the vault, and from --out the one file
    whose path ends so (Obsidian's rule for a path that is not whole)."""
    out = tmp_path / "out"
    with served(300) as dc:
        ok(tgarc(dc, out, "--media", "all", "--comments", timeout=300))
    chat = next(out.glob("channel1500000001-*"))
    assert check_root(out, [chat]) > 20
    check_root(chat, [chat])
    check_root(chat / "markdown", [chat])
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    embeds = 0
    for note in chat.rglob("*.md"):
        folder = note.parents[2]                  # the chat's (or a thread's) folder
        for target in FILE_LINK.findall(note.read_text()):
            assert (folder / target).is_file(), (note, target)
            assert [f for f in files if f.endswith("/" + target)] == \
                [(folder / target).relative_to(out).as_posix()], target
            embeds += 1
    assert embeds > 20
