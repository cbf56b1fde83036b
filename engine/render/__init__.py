"""The output wing: everything that turns the model's messages into files users read.

- ``result_json``: Telegram Desktop's result.json (one object per message, the document).
- ``messages_jsonl``: messages.jsonl, one message a line in tgarc's own schema.
- ``day_notes``: the Markdown vault, one note per local day.
- ``entities``, ``fragments``: entity codes; the per-batch fragment cache workers write.
- ``assemble``: a chat's outputs streamed from its archive; ``topic_views``: per forum topic.

Each renderer is a pure-Python twin of ``native/render.pyx``; the native-or-twin choice is
made once, in ``engine._native.select``.
"""
