"""``tgarc demo``: a synthetic channel served by a loopback fakedc, exported; no account."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from engine.commands.export import export
from engine.config import ExportConfig


def run(messages: int, out: str, workers: int, progress: str, tz: str,
         shared: bool = False) -> int:
    """Serve a synthetic channel from a loopback fakedc (a child process, so it does not
    share a core's GIL with the exporter) and export it, no account needed."""
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.fakedc", "serve", "--messages", str(messages)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True)
    try:
        env: dict[str, str] = {}
        deadline = time.monotonic() + 60
        names = ("TGARC_DC_KEY", "TGARC_DC", "TGARC_SESSION")   # as fakedc serve prints them
        while len(env) < len(names) and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            key, sep, value = line.strip().partition("=")
            if sep and key in names:
                env[key] = value
        if len(env) < len(names):
            raise RuntimeError("the loopback server did not start")
        os.environ.update(env)
        print(f"tgarc demo: exporting {messages} messages of @tgarc_demo from the loopback "
              f"server at {env['TGARC_DC']} into {out}", file=sys.stderr)
        cfg = ExportConfig(targets=("@tgarc_demo",), out=out, workers=workers, tz=tz,
                           progress=progress, shared=shared)
        code = export(cfg)
        print(f"tgarc demo: done — open {out} (result.json, messages.jsonl, markdown/, "
              f"export_metrics.json)", file=sys.stderr)
        return code
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
