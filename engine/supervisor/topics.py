"""``--topic ID``: one forum topic as a store of its own.

The store lives in ``topics/<id>-<slug>/`` of the chat's folder (where a whole-forum
export renders the topic's view, a superset of the same messages) and is fed through
``messages.getReplies(msg_id=ID)``, which lists the topic's replies but not the message
that opened it: that one is read by id into a one-message segment before planning.
"""

from __future__ import annotations

from pathlib import Path

from engine import model as m
from engine.archive import layout
from engine.archive.naming import chat_folder
from engine.archive.store import ChatMeta, ChatStore, history_name
from engine.config import ConfigError, ExportConfig
from engine.render import topic_views
from engine.supervisor.catalogue import archive_batch
from engine.telegram.source import NotFound


def open_topic_store(cfg: ExportConfig, meta: ChatMeta, topics: dict[int, str],
                     target: str) -> ChatStore:
    """The store of topic ``cfg.topic`` (an input error when there is no such topic)."""
    if not topics:
        raise ConfigError(f"--topic: {meta.name or target} is not a forum (it has no "
                          f"topics)")
    if cfg.topic not in topics:
        listed = ", ".join(f"{k} ({v})" for k, v in list(topics.items())[:10])
        raise NotFound(f"--topic: {meta.name} has no topic {cfg.topic}; its topics: "
                       f"{listed}{' …' if len(topics) > 10 else ''}")
    out = Path(cfg.out)
    chat_root = ChatStore.find(out, meta.ref.kind, meta.ref.id) or \
        out / chat_folder(meta.ref.kind, meta.ref.id, meta.name)
    title = topics[cfg.topic]
    root = topic_views.find_topic_folder(chat_root, cfg.topic, title)
    topic_meta = ChatMeta(meta.ref, meta.kind, f"{meta.name} / {title}", meta.username,
                          meta.me, meta.forum)
    return ChatStore.open_at(root, topic_meta, f"{chat_root.name}/{layout.TOPICS}/{root.name}")


async def fetch_topic_root(store: ChatStore, source, topic: int, run_no: int,
                           chat: m.PeerRef) -> int:
    """The message that opened the topic, unless archived already; how many were kept."""
    if topic in store.cp.covered():
        return 0
    batch, _gone = await source.messages(chat, [topic])
    batch.messages = [x for x in batch.messages if topic_views.topic_of(x) == topic]
    archive_batch(store, history_name(topic, topic, run_no, 0), "history", topic, topic,
                  batch)
    return len(batch.messages)
