"""``tgarc export --all --cluster ADDRESS --session a.session --session b.session --out DIR``:
the dialogs of several accounts exported on a Ray cluster (engine/cluster, docs/cluster.md).

Only the cluster's own flags are read here: the address, the sessions (paths on each
account's own node: a session never travels), ``--out`` (storage every node reaches),
``--kinds``, ``--lease``/``--lease-ttl``. Every other export flag goes unchanged to each
account's job, a ``tgarc export`` of its share of the chats on its node, which checks it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine import config

# flags a job may not take: the cluster sets them per job, or they name one chat
NOT_FORWARDED = ("--metrics", "--topic", "--account-json", "--config", "--max-id",
                 "--min-id")


def parse(argv: list[str], parser: argparse.ArgumentParser):
    """``argv`` after ``export``; ``parser``: tgarc's, which checks the flags the jobs get."""
    p = argparse.ArgumentParser(prog="tgarc export --cluster", add_help=False)
    p.add_argument("--cluster", required=True)
    p.add_argument("--session", action="append", default=[])
    p.add_argument("--all", action="store_true")
    p.add_argument("--kinds")
    p.add_argument("--out")
    p.add_argument("--lease")
    p.add_argument("--lease-ttl", type=float, default=30.0)
    p.add_argument("--debug", action="store_true")
    try:
        args, rest = p.parse_known_args(argv)
    except SystemExit:
        raise config.ConfigError("--cluster ADDRESS --session PATH... --out DIR --all") from None
    # the jobs' flags, as export reads them (a typo is caught here, not on every node)
    if not args.all or parser.parse_args(["export", "--all", *rest]).targets:
        raise config.ConfigError("--cluster exports --all: each account's dialogs, each chat "
                                 "by one account that sees it (no TARGET)")
    bad = [a.split("=")[0] for a in rest if a.split("=")[0] in NOT_FORWARDED]
    if bad:
        raise config.ConfigError(f"{bad[0]} does not go with --cluster")
    if not args.session:
        raise config.ConfigError("--cluster needs a --session per account (its path on the "
                                 "account's node)")
    names = [account_name(s) for s in args.session]
    if len(set(names)) != len(names):
        raise config.ConfigError("two --session files with one name: an account is known by "
                                 "its session file's name (a.session: account a)")
    if not args.out:
        raise config.ConfigError("--out is required (storage every node of the cluster reaches)")
    args.kinds = config.parse_kinds(args.kinds) if args.kinds else ("channel", "group")
    if set(args.kinds) - {"channel", "group"}:
        raise config.ConfigError("--cluster exports channels and groups (a private chat is one "
                                 "account's own): --kinds channels,groups")
    args.lease_ttl = config.lease_term(args.lease_ttl)
    args.forward = rest + (["--debug"] if args.debug else [])
    return args, run


def job(cfg: config.ExportConfig, address: str) -> int:
    """One account's job (``export --tasks ADDRESS``, which its actor adds): the export of
    one machine, its worker pool made of Ray tasks on the cluster at ``address``."""
    try:
        from engine.cluster import tasks
    except ImportError as exc:
        raise config.ConfigError(f"--tasks needs Ray: pip install 'tgarc[ray]' ({exc})") \
            from None
    from engine.commands import export

    tasks.connect(address)
    try:
        return export.export(cfg, pools=tasks.TaskPool)
    finally:
        tasks.disconnect()


def account_name(session: str) -> str:
    """``/home/x/a.session`` is account ``a``: its node offers resource tgarc-account:a."""
    return Path(session).name.removesuffix(".session")


def run(args) -> int:
    try:
        from engine.cluster import ray_run
    except ImportError as exc:
        raise config.ConfigError(f"--cluster needs Ray: pip install 'tgarc[ray]' ({exc})") \
            from None
    out = Path(args.out).absolute()
    lease = Path(args.lease).absolute() if args.lease else out / ".cluster" / "leases"
    accounts = {account_name(s): s for s in args.session}
    return ray_run.drive(args.cluster, accounts, out, lease, args.lease_ttl, args.kinds,
                         args.forward)
