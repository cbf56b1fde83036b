"""``tgarc tune``: the worker count a finished run recommends, recomputed here."""

from __future__ import annotations

import sys
from pathlib import Path


def run(path: str, as_json: bool) -> int:
    import orjson

    from engine.aggregator import tune_report

    report = tune_report(Path(path))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(f"recommended workers: {report['workers']}\nwhy: {report['reason']}")
    return 0
