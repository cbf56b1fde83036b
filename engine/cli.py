"""Command line: parse arguments, call the command, map failures to exit codes.

No logic of its own (see DESIGN.md): each command lives in its own module.
Exit codes follow DESIGN.md: 0 done, 1 finished with failures, 2 usage or input
error, 3 Telegram refused, 4 local I/O error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from engine import __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tgarc", description="Archive Telegram chats to files you own.")
    p.add_argument("--version", action="version", version=f"tgarc {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    doc = sub.add_parser("doctor", help="versions, ring implementation and a self-test")
    doc.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    return p


def _doctor(args) -> int:
    import orjson

    from engine import doctor

    info = doctor.report()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        doctor.write_human(info)
    return 0 if doctor.healthy(info) else 1


COMMANDS = {"doctor": _doctor}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except ImportError as exc:
        if args.debug:
            raise
        print(f"tgarc: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.debug:
            raise
        print(f"tgarc: {exc}", file=sys.stderr)
        return 4
