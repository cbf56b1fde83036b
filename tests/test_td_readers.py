"""result.json as readers of Telegram Desktop exports read it: a third-party reader's
model (telegram-export-md's parser) of a forum, its messages followed along
reply_to_message_id to their topic's first message (Telegram Desktop's implicit reply),
splits into the same topics as tgarc's own topics/ folders; and no peer is named null.

telegram-export-md 0.4.1 reads a service message's ``members`` as objects, where Telegram
Desktop writes names (export_output_json.cpp pushUserNames), and raises on them: the test
hands it the file without that key, the one thing it cannot read."""

from __future__ import annotations

import orjson
from tg_export_md.converter import load_export, parse_chat

from engine.model.chat import MIGRATED_ID_SHIFT
from tests._export import served, tgarc

SUPERGROUP = "channel1500000002-tgarc-supergroup"


def test_a_forum_read_by_a_telegram_desktop_parser_splits_into_tgarcs_topics(tmp_path):
    with served(300) as dc:
        r = tgarc(dc, tmp_path, "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr[-2000:]
    root = tmp_path / SUPERGROUP
    ours = {}
    for folder in (root / "topics").iterdir():
        tid = int(folder.name.partition("-")[0])
        lines = [orjson.loads(x) for x in (folder / "messages.jsonl").read_bytes().splitlines()]
        # JSONL keeps a migrated group's messages as they are (their chat, their id);
        # result.json numbers them id - 10^9, as Telegram Desktop does
        ours[tid] = {x["id"] if x["chat"] == ["channel", 1500000002] else
                     x["id"] - MIGRATED_ID_SHIFT for x in lines}
    assert len(ours) >= 3 and all(ours.values())

    _, data = load_export(root)
    for msg in data["messages"]:
        if isinstance(msg.get("members"), list):
            assert all(isinstance(x, str | None) for x in msg["members"])   # as TD writes
            del msg["members"]
    chat = parse_chat(data)
    by_id = {x.id: x for x in chat.messages}
    assert len(by_id) == len(chat.messages) == sum(len(v) for v in ours.values())

    def topic_of(msg) -> int:
        """The topic a reader finds: the first message its reply chain reaches that opens
        a topic (a topic's id is its first message's), else General (1)."""
        seen = set()
        while msg.id not in ours or msg.id == 1:
            if msg.reply_to is None or msg.reply_to not in by_id or msg.id in seen:
                return 1
            seen.add(msg.id)
            msg = by_id[msg.reply_to]
        return msg.id

    theirs: dict[int, set[int]] = {}
    for msg in chat.messages:
        theirs.setdefault(topic_of(msg), set()).add(msg.id)
    assert theirs == ours


NAMED = {"from", "forwarded_from", "actor", "saved_from", "via_bot", "author", "members",
         "inviter"}


def _nulls(x, where: str, out: list) -> None:
    if isinstance(x, dict):
        for k, v in x.items():
            if k in NAMED and (v is None or (isinstance(v, list) and None in v)):
                out.append(f"{where}/{k}")
            _nulls(v, f"{where}/{k}", out)
    elif isinstance(x, list):
        for v in x:
            _nulls(v, where, out)


def test_no_peer_the_run_has_seen_is_named_null(tmp_path):
    """Senders, forward sources, reactors and an action's members all have names: the
    server sends every user and chat its messages name (fakedc as Telegram), and the
    discussion group's automatic forwards name their channel."""
    with served(400) as dc:
        r = tgarc(dc, tmp_path, "--all", "--comments", target="", timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    files = sorted(tmp_path.rglob("result.json"))
    assert len(files) > 10
    nulls: list[str] = []
    named = 0
    for p in files:
        doc = orjson.loads(p.read_bytes())
        named += sum(1 for x in doc.get("messages", []) if x.get("forwarded_from"))
        _nulls(doc, str(p.relative_to(tmp_path)), nulls)
    assert not nulls, nulls[:10]
    assert named >= 40                      # the automatic forwards among them
