"""Command line: parse arguments, call the command, map failures to exit codes.

No logic of its own (see DESIGN.md): each command lives in its own module.
Exit codes follow DESIGN.md: 0 done, 1 finished with failures, 2 usage or input
error, 3 Telegram refused, 4 local I/O error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import errno
import sys

from engine import __version__, config

PROXY_HELP = ("socks5://[user:pass@]host:port, http://[user:pass@]host:port or "
              "mtproxy://SECRET@host:port (else TGARC_PROXY)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tgarc", description="Archive Telegram chats to files you own.")
    p.add_argument("--version", action="version", version=f"tgarc {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    doc = sub.add_parser("doctor", help="versions, ring implementation and a self-test")
    doc.add_argument("--json", action="store_true", help="print the report as JSON on stdout")

    ex = sub.add_parser("export", help="export chats to --out (resumable, incremental)")
    ex.add_argument("targets", nargs="*", metavar="TARGET",
                    help="@username, a t.me link, a numeric id (as `tgarc chats` shows) or me")
    ex.add_argument("--all", action="store_true", help="every dialog, one chat after another")
    ex.add_argument("--kinds", help="with --all: channels,groups,users,bots (default: all)")
    ex.add_argument("--out", help="output folder (one sub-folder per chat)")
    ex.add_argument("--config", help="TOML file with defaults for these flags (docs: README)")
    _render_flags(ex)
    ex.add_argument("--workers", help="worker processes (number or auto)")
    ex.add_argument("--min-id", type=int, help="oldest message id to export")
    ex.add_argument("--max-id", type=int, help="newest message id to export")
    ex.add_argument("--since", help="first day (YYYY-MM-DD, in --tz) or date-time")
    ex.add_argument("--until", help="last day (YYYY-MM-DD, inclusive) or date-time")
    ex.add_argument("--refresh-edits", type=int, metavar="N",
                    help="re-check the newest N archived messages for edits and deletions")
    ex.add_argument("--takeout", choices=config.TAKEOUT,
                    help="use a takeout session: auto (fall back with a warning), require, off")
    ex.add_argument("--topic", type=int, metavar="ID",
                    help="a forum: only this topic (its id is the number in the topic's t.me "
                         "link), into topics/<id>-<slug>/")
    ex.add_argument("--comments", action="store_true", default=None,
                    help="a channel: also each post's comment thread into comments/<post-id>/")
    ex.add_argument("--members", action="store_true", default=None,
                    help="add the member list to chat.json (where the account may read it)")
    ex.add_argument("--session", help="Telethon session file (else TGARC_SESSION)")
    ex.add_argument("--proxy", help=PROXY_HELP)
    ex.add_argument("--metrics", help="where export_metrics.json goes (default: in --out)")
    ex.add_argument("--quiet", action="store_true", help="no progress, no summary")
    ex.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="tracebacks on errors, debug records in tgarc.log")
    ex.add_argument("--progress", choices=config.PROGRESS,
                    help="progress on stderr: auto (live on a terminal, JSON lines otherwise)")
    ex.add_argument("--fetch-streams", type=int, help=argparse.SUPPRESS)
    ex.add_argument("--request-timeout", type=float, help=argparse.SUPPRESS)

    rd = sub.add_parser("render", help="rebuild the outputs from the archive, offline")
    rd.add_argument("dir", help="a chat folder, or an --out folder holding several")
    _render_flags(rd)

    vf = sub.add_parser("verify", help="re-hash every file against manifest.json")
    vf.add_argument("dir", help="a chat folder, or an --out folder holding several")

    tn = sub.add_parser("tune", help="recommended worker count from a finished run")
    tn.add_argument("metrics", help="export_metrics.json of a finished run")
    tn.add_argument("--json", action="store_true", help="print the report as JSON on stdout")

    lg = sub.add_parser("login", help="log in (phone code and 2FA, QR code, or bot token)")
    lg.add_argument("--proxy", help=PROXY_HELP)
    lg.add_argument("--session", help="write a Telethon session file (0600); without it the "
                                      "StringSession for TGARC_SESSION goes to stdout")
    how = lg.add_mutually_exclusive_group()
    how.add_argument("--phone", help="phone number in international format (else asked)")
    how.add_argument("--qr", action="store_true",
                     help="show a QR code to scan with Telegram on a logged-in phone")
    how.add_argument("--bot-token", help="log in as a bot (token from @BotFather)")

    lo = sub.add_parser("logout", help="log the session out and delete its file")
    lo.add_argument("--proxy", help=PROXY_HELP)
    lo.add_argument("--session", help="Telethon session file (else TGARC_SESSION)")

    ch = sub.add_parser("chats", help="list dialogs with ids and kinds")
    ch.add_argument("--proxy", help=PROXY_HELP)
    ch.add_argument("--session", help="Telethon session file (else TGARC_SESSION)")
    ch.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    ch.add_argument("--page-size", type=int, default=100, help=argparse.SUPPRESS)

    dm = sub.add_parser("demo", help="export a synthetic channel from a loopback server")
    dm.add_argument("--messages", type=int, default=2000)
    dm.add_argument("--out", default="tgarc-demo")
    dm.add_argument("--workers", default="auto")
    dm.add_argument("--tz", help="time zone of dates and day notes (default: this machine's)")
    dm.add_argument("--quiet", action="store_true")
    return p


def _render_flags(p) -> None:
    p.add_argument("--format", help="json,jsonl,md (default: all three)")
    p.add_argument("--tz", help="time zone of dates and day notes (default: this machine's)")


def _doctor(args) -> int:
    import orjson

    from engine import doctor

    info = doctor.report()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        doctor.write_human(info)
    return 0 if doctor.healthy(info) else 1


def _export(args) -> int:
    import os

    from engine import app

    file = config.load_file(args.config)
    config.apply_file_credentials(file)

    def pick(flag, key, default=None):
        """flag > (environment, handled where it is read) > file > default"""
        return flag if flag is not None else file.get(key, default)

    tz = config.zone(pick(args.tz, "tz"))
    out = pick(args.out, "out")
    if not out:
        raise config.ConfigError("--out is required (or `out` in the --config file)")
    if bool(args.targets) == bool(args.all):
        raise config.ConfigError("name the chats to export (TARGET...) or use --all, not both")
    kinds = pick(args.kinds, "kinds") if args.all else None
    if args.kinds and not args.all:
        raise config.ConfigError("--kinds goes with --all")
    from engine.telegram import targets as target_forms

    for t in args.targets:          # a malformed or secret-chat target: before anything runs
        target_forms.parse(t)
    proxy = args.proxy or os.environ.get("TGARC_PROXY") or file.get("proxy")
    if proxy:
        from engine.telegram.proxy import parse as parse_proxy

        parse_proxy(proxy)          # a malformed proxy URL, likewise
    topic = pick(args.topic, "topic")
    if topic is not None and (args.all or len(args.targets) != 1 or topic < 1):
        raise config.ConfigError("--topic ID takes one forum topic (a positive id) of one "
                                 "TARGET")
    since, until = pick(args.since, "since"), pick(args.until, "until")
    session = args.session or (None if os.environ.get("TGARC_SESSION") else file.get("session"))
    cfg = config.ExportConfig(
        targets=tuple(args.targets), out=out,
        all_kinds=config.parse_kinds(kinds) if args.all else (),
        formats=config.parse_formats(pick(args.format, "format")),
        workers=config.parse_workers(str(pick(args.workers, "workers", "auto"))), tz=tz,
        min_id=max(0, pick(args.min_id, "min_id", 0)),
        max_id=max(0, pick(args.max_id, "max_id", 0)),
        since=config.parse_when(since, tz, end=False) if since else None,
        until=config.parse_when(until, tz, end=True) if until else None,
        refresh_edits=max(0, pick(args.refresh_edits, "refresh_edits", 0)),
        takeout=config.choice("takeout", pick(args.takeout, "takeout", "auto"), config.TAKEOUT),
        topic=topic, comments=bool(pick(args.comments, "comments", False)),
        members=bool(pick(args.members, "members", False)),
        proxy=proxy,
        session=session, metrics=pick(args.metrics, "metrics"),
        progress="off" if args.quiet else config.choice(
            "progress", pick(args.progress, "progress", "auto"), config.PROGRESS),
        debug=getattr(args, "debug", False),
        fetch_streams=max(1, pick(args.fetch_streams, "fetch_streams", 2)),
        timeout=max(0.1, float(pick(args.request_timeout, "request_timeout", 30.0))))
    return app.export(cfg)


def _render(args) -> int:
    from engine import app

    return app.render(args.dir, list(config.parse_formats(args.format)), config.zone(args.tz))


def _verify(args) -> int:
    from engine import app

    return app.verify(args.dir)


def _tune(args) -> int:
    from engine import app

    return app.tune(args.metrics, args.json)


def _demo(args) -> int:
    from engine import app

    return app.demo(args.messages, args.out, config.parse_workers(args.workers),
                    "off" if args.quiet else "auto", config.zone(args.tz))


def _login(args) -> int:
    import os

    from engine import login

    return login.login(args.session, phone=args.phone, qr=args.qr, bot_token=args.bot_token,
                       debug=args.debug, proxy=args.proxy or os.environ.get("TGARC_PROXY"))


def _logout(args) -> int:
    import os

    from engine import login

    return login.logout(args.session, debug=args.debug,
                        proxy=args.proxy or os.environ.get("TGARC_PROXY"))


def _chats(args) -> int:
    import os

    from engine import login

    return login.chats(args.session, as_json=args.json, page=args.page_size, debug=args.debug,
                       proxy=args.proxy or os.environ.get("TGARC_PROXY"))


COMMANDS = {"doctor": _doctor, "export": _export, "render": _render, "verify": _verify,
            "tune": _tune,
            "demo": _demo, "login": _login, "logout": _logout, "chats": _chats}


def _code(exc: BaseException) -> int | None:
    """The exit code DESIGN.md gives this failure (None: a bug, show the traceback)."""
    from engine.archive.store import CorruptState

    if isinstance(exc, config.ConfigError | ImportError):
        return 2
    if isinstance(exc, CorruptState | OSError):
        return 4
    name = type(exc).__name__
    if name == "Interrupted":
        return 130
    if name == "BatchesFailed":
        return 1
    try:
        from engine.telegram.middleware import TelegramFailure
    except ImportError:
        return None
    if isinstance(exc, TelegramFailure):
        return 3
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        code = _code(exc)
        if code is None or args.debug:
            raise
        if code == 1:
            print(f"tgarc: finished, but some messages failed: {exc}", file=sys.stderr)
        elif str(exc):
            print(f"tgarc: {_one_line(exc)}", file=sys.stderr)
        return code


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        line = exc.strerror + (f": {exc.filename}" if exc.filename else "")
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            line += " — free some space and run the same command again (progress is saved)"
        return line
    return " ".join(str(exc).split())
