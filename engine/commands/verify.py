"""``tgarc verify``: every file re-hashed against its manifest; changes nothing."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.config import ConfigError


def run(folder: str) -> int:
    """Re-hash every file of each chat folder under ``folder`` against its manifest.json,
    and check every archive segment against its own checksum; differences go to
    stdout, one a line; exit 1 if there is any. Changes nothing."""
    from engine.archive import manifest
    from engine.archive.store import ChatStore, CorruptState

    root = Path(folder)
    roots = manifest.roots(root)
    if not roots:
        raise ConfigError(f"{folder} holds no manifest.json (nothing exported there yet?)")
    bad = 0
    for r in roots:
        problems = manifest.verify(r)
        try:
            if ChatStore.read_checkpoint(r) is None:
                problems.append("missing: state/checkpoint.json; `tgarc repair` rebuilds it")
        except CorruptState as exc:
            problems.append(f"damaged: state/checkpoint.json ({' '.join(str(exc).split())})")
        bad += len(problems)
        name = r.relative_to(root).as_posix() if r != root else r.name
        for line in problems:
            print(f"{name}: {line}")
        files = len((manifest.read(r) or {}).get("files", {}))
        print(f"{r}: {'intact' if not problems else f'{len(problems)} difference(s)'} "
              f"({files} files)", file=sys.stderr)
    return 1 if bad else 0
