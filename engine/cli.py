"""Command line: parse arguments, call the command, map failures to exit codes.

No logic of its own (see DESIGN.md): each command lives in its own module.
Exit codes follow DESIGN.md: 0 done, 1 finished with failures, 2 usage or input
error, 3 Telegram refused, 4 local I/O error, 130 interrupted.
A failure is one ``tgarc: ...`` line on stderr; ``--debug`` adds its traceback and keeps
the exit code. Every input that can be checked offline is checked before anything is
created on disk; warnings (``tgarc: warning: ...``) come only once the input was accepted.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from engine import __version__, config
from engine.commands.failures import exit_code, one_line
from engine.media import flags as media_flags

SHARED_HELP = ("files readable by other local users (0755/0644); default: private to you "
               "(0700/0600)")
PROXY_HELP = ("socks5://[user:pass@]host:port, http://[user:pass@]host:port or "
              "mtproxy://SECRET@host:port (else TGARC_PROXY: put a password or secret there, "
              "as every local user can read a command line)")


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
    ex.add_argument("--all", action="store_true", help="every dialog, one chat after another "
                    "(a re-run skips the chats with nothing new)")
    ex.add_argument("--kinds", help="with --all: channels,groups,users,bots (default: all)")
    ex.add_argument("--out", help="output folder (one sub-folder per chat)")
    ex.add_argument("--config", help="TOML file with defaults for these flags (docs: README)")
    _render_flags(ex)
    ex.add_argument("--workers", help="worker processes (number or auto; at most the CPUs "
                                      "tgarc may use)")
    media_flags.add(ex)
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
    ex.add_argument("--session", help="Telethon session file (else TGARC_SESSION); with "
                    "--cluster, once per account")
    ex.add_argument("--cluster", metavar="ADDRESS", help="with --all: export on a Ray "
                    "cluster, one actor per account (needs tgarc[ray]; docs/cluster.md)")
    ex.add_argument("--shared", action="store_true", default=None, help=SHARED_HELP)
    ex.add_argument("--proxy", help=PROXY_HELP)
    ex.add_argument("--metrics", help="where export_metrics.json goes (default: in --out)")
    ex.add_argument("--quiet", action="store_true", help="no progress, no summary")
    ex.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="tracebacks on errors, debug records in tgarc.log")
    ex.add_argument("--progress", choices=config.PROGRESS,
                    help="progress on stderr: auto (live on a terminal, JSON lines otherwise)")
    ex.add_argument("--max-in-flight", type=int, metavar="N",
                    help="at most N Telegram requests out at once (default 8); within it the "
                         "request governor finds the account's pace by itself")
    ex.add_argument("--account-json", action="store_true", default=None,
                    help="also write result.json at the --out root: every chat folder in "
                         "Telegram Desktop's full-export shape")
    ex.add_argument("--fetch-streams", type=int, help=argparse.SUPPRESS)
    ex.add_argument("--request-timeout", type=float, help=argparse.SUPPRESS)
    ex.add_argument("--reconnect-timeout", type=float, metavar="SECONDS",
                    help="when the connection to Telegram is lost, keep reconnecting this long "
                         "before giving up (default 600; the run can be resumed)")
    ex.add_argument("--lease", metavar="DIR",
                    help="use the session's key only while holding its lease in DIR, a folder "
                         "every machine running exports of this account reaches: a second run "
                         "waits, and a run frozen past its lease stops (Telegram logs out a "
                         "key used from two places at once)")
    ex.add_argument("--lease-ttl", type=float, metavar="SECONDS",
                    help="the lease's term, renewed every quarter of it (default 30)")
    # a cluster job's (engine/cluster/ray_run.py): its workers are Ray tasks on that cluster
    ex.add_argument("--tasks", metavar="ADDRESS", help=argparse.SUPPRESS)

    rd = sub.add_parser("render", help="rebuild the outputs from the archive, offline")
    rd.add_argument("dir", help="a chat folder, or an --out folder holding several")
    _render_flags(rd)
    rd.add_argument("--workers", help="processes rendering ahead of the assembly (number or "
                                      "auto: CPUs - 1, at most 4)")
    rd.add_argument("--shared", action="store_true", help=SHARED_HELP)

    rp = sub.add_parser("repair", help="rebuild a lost or damaged checkpoint or media "
                                       "ledger, set damaged archive segments aside "
                                       "(offline; deletes nothing)")
    rp.add_argument("dir", help="a chat folder, or an --out folder holding several")
    rp.add_argument("--shared", action="store_true", help=SHARED_HELP)

    vf = sub.add_parser("verify", help="re-hash every file against manifest.json and check "
                                       "every archive segment (changes nothing)")
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
    how.add_argument("--bot", action="store_true",
                     help="log in as a bot: the token (from @BotFather) from TGARC_BOT_TOKEN, "
                          "else asked without echo")
    how.add_argument("--bot-token", metavar="TOKEN",
                     help="log in as a bot with this token (every local user can read it in "
                          "`ps`: prefer --bot)")

    lo = sub.add_parser("logout", help="log the session out and delete its file")
    lo.add_argument("--proxy", help=PROXY_HELP)
    lo.add_argument("--session", help="Telethon session file (else TGARC_SESSION)")

    ch = sub.add_parser("chats", help="list dialogs with ids and kinds")
    ch.add_argument("--proxy", help=PROXY_HELP)
    ch.add_argument("--session", help="Telethon session file (else TGARC_SESSION)")
    ch.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    ch.add_argument("--lease", metavar="DIR", help="hold the session key's lease in DIR while "
                    "listing, as `export --lease` does")
    ch.add_argument("--page-size", type=int, default=100, help=argparse.SUPPRESS)

    dm = sub.add_parser("demo", help="export a synthetic channel from a loopback server")
    dm.add_argument("--messages", type=int, default=2000,
                    help="messages in the synthetic channel (1 or more; default 2000)")
    dm.add_argument("--out", default="tgarc-demo")
    dm.add_argument("--workers", default="auto")
    dm.add_argument("--tz", help="time zone of dates and day notes (default: this machine's)")
    dm.add_argument("--quiet", action="store_true")
    dm.add_argument("--shared", action="store_true", help=SHARED_HELP)
    return p


def _render_flags(p) -> None:
    p.add_argument("--format", help="json,jsonl,md (default: all three)")
    p.add_argument("--tz", help="time zone of dates and day notes (default: this machine's)")


def _doctor(args) -> int:
    import orjson

    from engine.commands import doctor

    info = doctor.report()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        doctor.write_human(info)
    return 0 if doctor.healthy(info) else 1


def _export(args) -> int:
    import os

    from engine.commands import export

    file = config.load_file(args.config)
    config.apply_file_credentials(file)

    def pick(flag, key, default=None):
        """flag > (environment, handled where it is read) > file > default"""
        return flag if flag is not None else file.get(key, default)

    tz = config.zone(pick(args.tz, "tz"))
    tz_given = pick(args.tz, "tz") is not None
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
    first, after = config.date_window(args, pick, tz)
    min_id, max_id = config.id_window(args, pick)
    in_flight = config.at_least("--max-in-flight",
                                pick(args.max_in_flight, "max_in_flight", 8), 1)
    session = args.session or (None if os.environ.get("TGARC_SESSION") else file.get("session"))
    if session:                     # a mistyped path: no empty session file, no --out
        from engine.telegram.session_files import existing_session_file

        existing_session_file(session)
    notes: list[str] = []
    media = media_flags.settings(args, pick)
    cfg = config.ExportConfig(
        targets=tuple(args.targets), out=out,
        all_kinds=config.parse_kinds(kinds) if args.all else (),
        formats=config.parse_formats(pick(args.format, "format")),
        workers=config.parse_workers(str(pick(args.workers, "workers", "auto")), notes.append,
                                     transcode=media["transcode"] != "off"),
        tz=tz, tz_given=tz_given, shared=bool(pick(args.shared, "shared", False)),
        min_id=min_id, max_id=max_id, since=first, until=after,
        refresh_edits=config.at_least("--refresh-edits",
                                      pick(args.refresh_edits, "refresh_edits", 0), 0),
        takeout=config.choice("takeout", pick(args.takeout, "takeout", "auto"), config.TAKEOUT),
        topic=topic, comments=bool(pick(args.comments, "comments", False)),
        members=bool(pick(args.members, "members", False)),
        proxy=proxy,
        session=session, metrics=pick(args.metrics, "metrics"),
        progress="off" if args.quiet else config.choice(
            "progress", pick(args.progress, "progress", "auto"), config.PROGRESS),
        debug=getattr(args, "debug", False),
        max_in_flight=in_flight,
        account_json=bool(pick(args.account_json, "account_json", False)),
        fetch_streams=config.at_least("--fetch-streams", pick(args.fetch_streams, "fetch_streams",
                                                        in_flight), 1),
        timeout=float(pick(args.request_timeout, "request_timeout", 30.0)),
        reconnect_timeout=float(pick(args.reconnect_timeout, "reconnect_timeout", 600.0)),
        lease=pick(args.lease, "lease"),
        lease_ttl=config.lease_term(pick(args.lease_ttl, "lease_ttl", 30.0)),
        **media)
    for flag, seconds in (("--request-timeout", cfg.timeout),
                          ("--reconnect-timeout", cfg.reconnect_timeout)):
        if not seconds > 0:
            raise config.ConfigError(f"{flag} must be above 0, not {seconds:g}")
    _warn(notes)                    # only once every input was accepted
    return _cluster_job(cfg, args.tasks) if args.tasks else export.export(cfg)


def _cluster_job(cfg: config.ExportConfig, address: str) -> int:
    """``export --tasks ADDRESS``, which an account's actor gives its job: the workers are
    Ray tasks on that cluster (engine/cluster/tasks.py)."""
    from engine.commands import cluster

    return cluster.job(cfg, address)


def _warn(lines) -> None:
    for line in lines:
        print(f"tgarc: warning: {line}", file=sys.stderr)


def _render(args) -> int:
    from engine.commands import render

    notes: list[str] = []
    workers = config.parse_workers(args.workers or "auto", notes.append)
    _warn(notes)
    return render.run(args.dir, list(config.parse_formats(args.format)),
                      config.zone(args.tz) if args.tz else None, args.shared, workers)


def _repair(args) -> int:
    from engine.commands import repair

    return repair.run(args.dir, args.shared)


def _verify(args) -> int:
    from engine.commands import verify

    return verify.run(args.dir)


def _tune(args) -> int:
    from engine.commands import tune

    return tune.run(args.metrics, args.json)


def _demo(args) -> int:
    from engine.commands import demo

    config.at_least("--messages", args.messages, 1)
    notes: list[str] = []
    workers, tz = config.parse_workers(args.workers, notes.append), config.zone(args.tz)
    _warn(notes)
    return demo.run(args.messages, args.out, workers, "off" if args.quiet else "auto", tz,
                    args.shared)


def _login(args) -> int:
    import os

    from engine.commands import account

    return account.login(args.session, phone=args.phone, qr=args.qr, bot_token=args.bot_token,
                       bot=args.bot, debug=args.debug,
                       proxy=args.proxy or os.environ.get("TGARC_PROXY"))


def _logout(args) -> int:
    import os

    from engine.commands import account

    return account.logout(args.session, debug=args.debug,
                        proxy=args.proxy or os.environ.get("TGARC_PROXY"))


def _chats(args) -> int:
    import os

    from engine.commands import account

    return account.chats(args.session, as_json=args.json, page=args.page_size, debug=args.debug,
                       proxy=args.proxy or os.environ.get("TGARC_PROXY"), lease=args.lease)


COMMANDS = {"doctor": _doctor, "export": _export, "render": _render, "repair": _repair,
            "verify": _verify, "tune": _tune,
            "demo": _demo, "login": _login, "logout": _logout, "chats": _chats}


def _exposed(args) -> list[str]:
    """Warnings for secrets given on the command line, which every local user can read
    (``ps``, /proc/PID/cmdline) while the command runs."""
    lines = []
    if getattr(args, "bot_token", None):
        lines.append("--bot-token put the bot token on the command line, where every local "
                     "user can read it (ps); next time use `tgarc login --bot` (the token "
                     "from TGARC_BOT_TOKEN, or typed when asked)")
    if getattr(args, "proxy", None):
        from engine.telegram.proxy import secrets_of

        if secrets_of(args.proxy):
            lines.append("--proxy put the proxy's password or secret on the command line, "
                         "where every local user can read it (ps); next time set TGARC_PROXY"
                         + (" or `proxy` in the --config file" if args.command == "export"
                            else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["export"] and any(a.split("=")[0] == "--cluster" for a in argv):
            from engine.commands import cluster

            args, run = cluster.parse(argv[1:], _parser())  # the rest go to each job
        else:
            args = _parser().parse_args(argv)
            run = COMMANDS[args.command]
        code = run(args)
        _warn(_exposed(args))   # after the run: a failure stays one line (exit codes above)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        code = exit_code(exc)
        if code is None:
            raise
        if "--debug" in argv:       # the traceback, and still the documented exit code
            traceback.print_exc()
        if code == 1 and type(exc).__name__ == "BatchesFailed":
            print(f"tgarc: finished, but some messages failed: {exc}", file=sys.stderr)
        elif str(exc):
            print(f"tgarc: {one_line(exc)}", file=sys.stderr)
        return code
