"""The renderer's version (engine/render/fragments.py RENDER_VERSION): a cache written by
another version is never used, and an archive whose outputs another version rendered is
assembled again in full, so an archive's outputs never mix two renderings; forum messages
keep their topic in result.json (issue 15 point 1, the change that raised it to 1)."""

from __future__ import annotations

import json

import orjson
import zstandard as zstd

from engine.archive.store import ChatStore
from engine.render import fragments
from tests._export import CHANNEL_DIR, outputs, served, tgarc

SUPERGROUP = "channel1500000002-tgarc-supergroup"


def _age(root) -> int:
    """Make ``root`` look as a previous version left it: its checkpoint says version 0, and
    every cached fragment is of version 0 with other bytes than this version writes."""
    cp = root / "state" / "checkpoint.json"
    doc = orjson.loads(cp.read_bytes())
    doc["output"].pop("render", None)
    cp.write_bytes(orjson.dumps(doc))
    n = 0
    for path in (root / "state" / "render").glob("*.frag"):
        frags = fragments._load(path, ChatStore.read_checkpoint(root).output.tz)
        assert frags is not None and frags.version == fragments.RENDER_VERSION
        old = frags.__class__(**{**{f: getattr(frags, f) for f in frags.__struct_fields__},
                                 "version": 0, "td": [b'{"stale":true}'] * len(frags.td)})
        path.write_bytes(zstd.ZstdCompressor().compress(fragments._ENC.encode(old)))
        n += 1
    return n


def test_outputs_of_another_renderer_version_are_rendered_again_whole(tmp_path):
    with served(300) as dc:
        assert tgarc(dc, tmp_path / "ref", "--quiet").returncode == 0
        assert tgarc(dc, tmp_path / "run", "--quiet").returncode == 0
        root = tmp_path / "run" / CHANNEL_DIR
        assert ChatStore.read_checkpoint(root).output.render == fragments.RENDER_VERSION
        assert _age(root) > 0
        (root / "result.json").write_bytes(b'{"stale": "an older rendering"}\n')
        old_note = root / "markdown" / "2024" / "2024-01-01.md"    # named as before version 3
        old_note.write_bytes(b"an older rendering\n")
        r = tgarc(dc, tmp_path / "run", "--quiet")
        assert r.returncode == 0, r.stderr[-2000:]
    assert outputs(tmp_path / "run") == outputs(tmp_path / "ref")
    assert b"stale" not in (root / "result.json").read_bytes()
    assert not old_note.exists()
    assert ChatStore.read_checkpoint(root).output.render == fragments.RENDER_VERSION


def test_forum_messages_carry_their_topic_as_telegram_desktop_writes_it(tmp_path):
    """Every message of a forum topic other than General replies (implicitly) to the
    topic's first message; a reader rebuilds the topics from reply_to_message_id."""
    with served(300) as dc:
        r = tgarc(dc, tmp_path, "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr[-2000:]
    root = tmp_path / SUPERGROUP
    doc = json.loads((root / "result.json").read_bytes())
    chat = json.loads((root / "chat.json").read_bytes())
    topics = {t["id"] for t in chat["topics"]} - {1}
    assert topics
    by_id = {x["id"]: x for x in doc["messages"]}
    placed = 0
    for folder in sorted((root / "topics").iterdir()):
        view = json.loads((folder / "result.json").read_bytes())
        tid = int(folder.name.split("-")[0])
        for x in view["messages"]:
            if tid in topics and x["id"] != tid:
                # the topic's own messages name it, or the message they answer inside it
                target = x.get("reply_to_message_id")
                assert target is not None, x
                while target != tid:
                    target = by_id[target].get("reply_to_message_id", tid)
                placed += 1
    assert placed > 0
