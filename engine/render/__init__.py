"""The output wing: everything that turns the model's messages into files users read.

- ``renderer``: the one native-or-twin choice for every format (``RENDERER``, ``WHY``,
  ``by_name``) and the one place the twins take over what the native build leaves.
- ``result_json``: Telegram Desktop's result.json (one object per message, the document).
- ``messages_jsonl``: messages.jsonl, one message a line in tgarc's own schema.
- ``day_notes``: the Markdown vault, one note per local day.
- ``context``: the render context and its local clock, the one "which local day" rule.
- ``entities``, ``fragments``: entity codes; the per-batch fragment cache workers write.
- ``blocks``: the day notes' blocks a worker renders with placeholders, and the assembly's
  side that fills and joins them.
- ``stream``: the streaming pass over a chat's archive that ``assemble`` (a chat's outputs)
  and ``topic_views`` (per forum topic) share.

result_json, messages_jsonl and day_notes are the pure-Python twins of the native renderer
(native/render.pyx, one include per format) and the reference reading of every output.
"""
