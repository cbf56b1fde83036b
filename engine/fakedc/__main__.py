"""``python -m engine.fakedc serve``: run the loopback server until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from .bigfiles import parse_spec
from .corpus import Corpus
from .faults import Budget
from .server import FakeDC
from .warm import Warm


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.fakedc",
                                description="Loopback MTProto server with a synthetic corpus.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve until interrupted")
    s.add_argument("--messages", type=int, default=1000, help="messages in the demo channel")
    s.add_argument("--text-only", action="store_true", help="plain texts only (benchmarks)")
    s.add_argument("--chats", type=int, default=0,
                   help="that many more channels in the dialogs, 50-2,000 messages each")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--port", type=int, default=0, help="0 picks a free port")
    s.add_argument("--rtt-ms", type=float, default=0.0, help="delay before every reply")
    s.add_argument("--bandwidth", type=float, default=None, help="bytes/s per connection")
    s.add_argument("--big-files", type=parse_spec, action="append", default=[],
                   metavar="N:SIZE[@DC]", help="N more messages in the demo channel, each with "
                   "a file of SIZE bytes (K/M/G suffixes) made per offset, never held; on DC "
                   "DC (an --other-dc) if given")
    s.add_argument("--other-dc", type=int, action="append", default=[], metavar="DC",
                   help="also serve DC DC (not 2) on its own port: files there, exported "
                   "authorizations")
    s.add_argument("--budget", type=float, default=None,
                   help="account-wide requests/s per method before FLOOD_WAIT")
    s.add_argument("--warm", action="store_true",
                   help="serialize the demo channel's messages before serving (benchmarks: "
                   "the pages then cost the server almost no CPU); text-only channels")
    args = p.parse_args(argv)
    for spec in args.big_files:
        if len(spec) > 2 and spec[2] != 2 and spec[2] not in args.other_dc:
            s.error(f"--big-files on DC {spec[2]} needs --other-dc {spec[2]}")
    if 2 in args.other_dc:
        s.error("--other-dc: DC 2 is the home DC")
    return asyncio.run(_serve(args))


async def _serve(args) -> int:
    budget = Budget(args.budget) if args.budget else None
    dc = FakeDC(Corpus(seed=args.seed, messages=args.messages, text_only=args.text_only,
                       chats=args.chats),
                port=args.port, rtt_ms=args.rtt_ms, bandwidth=args.bandwidth, budget=budget,
                big_files=tuple(args.big_files), other_dcs=tuple(args.other_dc))
    if args.warm:
        chat = dc.corpus.chats["channel"]
        dc.warm[chat.id] = Warm(dc.corpus, chat)
    await dc.start()
    print(f"port {dc.port}", flush=True)
    # the key first: a reader (tgarc demo) that has the session has everything
    for key, value in dc.env(dc.new_session()).items():
        print(f"{key}={value}", flush=True)
    print(f"login: phone {dc.corpus.me.phone}, code {dc.login_code}, 2FA password "
          f"{dc.password}", file=sys.stderr, flush=True)
    for dc_id, port in dc.dc_ports().items():
        if dc_id != dc.home_dc:
            print(f"DC {dc_id}: port {port}", file=sys.stderr, flush=True)
    if dc.big_messages:
        print(f"big files: messages {dc.big_messages} of @tgarc_demo", file=sys.stderr,
              flush=True)
    print("serving; Ctrl-C stops", file=sys.stderr, flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    await dc.stop()
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
