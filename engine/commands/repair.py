"""``tgarc repair``: a damaged archive made consistent again, offline; nothing deleted."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.archive.layout import stores
from engine.commands.common import private_files, say
from engine.config import ConfigError


def run(folder: str, shared: bool = False) -> int:
    """Make each chat under ``folder`` consistent again, offline: rebuild a missing or
    damaged checkpoint from the archive, keep whole segments it did not list, and set
    damaged segments aside into ``quarantine/`` (their ids are fetched again by the next
    export), rebuild a lost or damaged media ledger from the files on disk. Nothing is
    deleted. Exit 0 once every chat is consistent."""
    from engine.archive.store import ChatStore

    private_files(shared)
    roots = stores(Path(folder))
    if not roots:
        raise ConfigError(f"{folder} holds no tgarc archive (no archive/ or "
                          f"state/checkpoint.json)")
    refetch = False
    for r in roots:
        with ChatStore.load(r) as store:
            bad = store.check()
            store.commit()
            _media_ledger(store)
            for line in store.notices:
                say(line)
            gone = [s for s in bad if s.kind == "history" and s.count]
            versions = sum(s.count for s in bad if s.kind == "refresh")
            total = len(store.cp.segments)
            if not bad and not store.notices:
                print(f"{r}: {total} archive segments checked, all whole", file=sys.stderr)
                continue
            line = f"{r}: {total} archive segments whole"
            if gone:
                refetch = True
                line += (f"; {sum(s.count for s in gone)} messages (ids "
                         + ", ".join(f"{s.lo}..{s.hi}" for s in gone[:5])
                         + (" …" if len(gone) > 5 else "") + ") are fetched again by the "
                         "next export")
            if versions:
                line += (f"; {versions} stored edit version(s) could not be kept (the damaged "
                         f"file stays in quarantine/)")
            print(line, file=sys.stderr)
    if refetch:
        print("tgarc: repaired; run the same export command again to fetch what was set aside",
              file=sys.stderr)
    return 0


def _media_ledger(store) -> None:
    """The chat's media ledger rebuilt from the files on disk when it was lost or damaged
    (engine/media/identify.py); a chat without media gets none."""
    from engine.archive import layout
    from engine.media import identify, ledger_rebuild

    if not (store.root / layout.STATE / layout.MEDIA_LEDGER).exists() \
            and not ledger_rebuild.any_on_disk(store.root):
        return
    with identify.open_ledger(store) as ledger:
        store.notices.extend(f"{store.root.name}: {line}" for line in ledger.notices)
