"""``tgarc render``: every output of an archive rendered anew, offline."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.archive.layout import stores
from engine.commands.common import local_zone, private_files, say
from engine.config import ConfigError


def run(folder: str, formats: list[str], tz: str | None, shared: bool = False) -> int:
    """Every output of each chat under ``folder`` rendered anew from its archive, offline,
    in ``tz`` (None: the zone each chat was rendered in), notes of days that no longer
    hold a message removed, and each manifest brought up to date."""
    from engine import __version__
    from engine.archive import manifest
    from engine.archive.store import ChatStore
    from engine.render import topic_views
    from engine.render.assemble import assemble

    private_files(shared)
    roots = stores(Path(folder))
    if not roots:
        raise ConfigError(f"{folder} holds no tgarc archive (no state/checkpoint.json)")
    for r in roots:
        with ChatStore.load(r) as store:
            for line in store.notices:
                say(line)
            kept = store.cp.output.tz
            zone = tz or kept or local_zone()
            if tz and kept and tz != kept:
                say(f"{r.name}: time zone changed from {kept} to {tz}")
            done = assemble(store, formats, zone, full=True)
            topics = topic_views.saved_topics(store)
            if topics:
                topic_views.render_topics(store, topics, formats, zone)
            old = manifest.read(r) or {}
            manifest.update(r, tool=f"tgarc {__version__}", api_layer=old.get("api_layer"),
                            runs=old.get("runs") or [], tz=store.cp.output.tz)
        print(f"{r}: {done.messages} messages rendered ({', '.join(formats)}, {zone})"
              + (f" and {len(topics)} topics" if topics else ""), file=sys.stderr)
    return 0
