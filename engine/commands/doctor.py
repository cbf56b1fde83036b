"""`tgarc doctor`: what this installation is made of, and whether its parts work."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

from engine import __version__

DEPENDENCIES = ("telethon", "cryptg", "msgspec", "orjson", "psutil", "av", "rich")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _ring_self_test(transport) -> str:
    ring = transport.Ring.create(4096)
    try:
        tx, rx = ring.producer(), ring.consumer()
        tx.put_many([b"tgarc", b""])
        got = rx.get_many(timeout=1)
        return "ok" if got == [b"tgarc", b""] else f"FAILED: got {got!r}"
    finally:
        ring.close()


def _text_self_test(text) -> str:
    from engine.text import kinds

    got = text.markdown("tgarc *ok*", [(kinds.BOLD, 0, 5, None)])
    return "ok" if got == "**tgarc** \\*ok\\*" else f"FAILED: got {got!r}"


def _render_self_test() -> str:
    """The chosen renderer against its pure twin on one message with an entity."""
    from engine import model as m
    from engine.render import renderer, result_json

    msg = m.Message(7, m.PeerRef("channel", 1), 1700000000, text="tgarc ok",
                    entities=[m.Entity("bold", 0, 5)])
    ctx = result_json.RenderContext(m.PeerRef("channel", 1))
    got, want = renderer.fragment(msg, ctx), result_json.fragment(msg, ctx)
    return "ok" if got == want else f"FAILED: got {got!r}"


def report() -> dict:
    """Everything doctor knows, as one JSON-able dict."""
    from engine import text, transport
    from engine.transport import _shm

    info: dict = {
        "tgarc": __version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "ring": {
            "implementation": transport.IMPLEMENTATION,
            "why": transport.WHY,
            "require_native": os.environ.get("TGARC_REQUIRE_NATIVE") == "1",
            "shm_dir": _shm.SHM_DIR,
            "shm_writable": os.access(_shm.SHM_DIR, os.W_OK),
            "stale_segments_removed": len(transport.sweep_stale()),
        },
    }
    info["text"] = {"implementation": text.IMPLEMENTATION, "why": text.WHY,
                    "self_test": _text_self_test(text)}
    from engine.render import renderer

    info["render"] = {"implementation": renderer.RENDERER, "why": renderer.WHY,
                      "self_test": _render_self_test()}
    from engine.telegram import tl

    info["tl"] = {"implementation": tl.IMPLEMENTATION, "why": tl.WHY,
                  "self_test": tl.self_test()}
    try:
        import av

        info["ffmpeg"] = av.ffmpeg_version_info
    except ImportError as exc:
        info["ffmpeg"] = f"PyAV not importable ({exc}); pip install av"
    info["ring"]["self_test"] = _ring_self_test(transport)
    from engine.media import hwaccel

    info["transcode"] = hwaccel.detected().as_dict()
    return info


def _transcode_lines(verdict: dict) -> list[str]:
    """The encoder cascade, one step a line; the last line names the encoder chosen."""
    where = "CPU" if verdict["hwaccel"] == "none" else verdict["hwaccel"]
    where += f" on {verdict['device']}" if verdict["device"] else ""
    lines = ["transcode encoder (docs/transcode.md):"]
    for step in verdict["steps"]:
        if step["step"] == "chosen":
            continue
        mark = ("yes" if step["step"] == "force" else "ok") if step["ok"] else "no"
        lines.append(f"  {step['step'] + ':':<19} {mark:<6} {step['reason']}")
    lines.append(f"  {'chosen:':<19} {verdict['encoder']} ({where})")
    return lines


def render(info: dict) -> str:
    lines = [f"tgarc {info['tgarc']}  ({info['python']}, {info['platform']})", "dependencies:"]
    for name, ver in info["dependencies"].items():
        lines.append(f"  {name:<10} {ver or 'MISSING: pip install ' + name}")
    lines.append(f"  {'ffmpeg':<10} {info['ffmpeg']}")
    ring = info["ring"]
    lines += [
        f"ring transport: {ring['implementation']}",
        f"  why:        {ring['why']}",
        f"  self-test:  {ring['self_test']}",
        f"  shm:        {ring['shm_dir']} ({'writable' if ring['shm_writable'] else 'NOT writable'}"
        f"; {ring['stale_segments_removed']} stale segment(s) removed)",
    ]
    for key, label in (("text", "text core"), ("render", "renderers"), ("tl", "TL decoder")):
        t = info[key]
        lines += [f"{label}: {t['implementation']}", f"  why:        {t['why']}",
                  f"  self-test:  {t['self_test']}"]
    lines += _transcode_lines(info["transcode"])
    return "\n".join(lines)


def healthy(info: dict) -> bool:
    return (info["ring"]["self_test"] == "ok" and info["text"]["self_test"] == "ok"
            and info["render"]["self_test"] == "ok" and info["tl"]["self_test"] == "ok"
            and all(info["dependencies"].values()))


def write_human(info: dict) -> None:
    print(render(info), file=sys.stderr)
