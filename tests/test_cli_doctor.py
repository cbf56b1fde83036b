"""`tgarc doctor` through the real command line, with and without the native build."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from engine import text, transport

# Runs the CLI in a fresh interpreter where importing the native module fails,
# exactly as on a machine where the build was skipped.
WITHOUT_NATIVE = (
    "import sys; sys.modules['engine._native.ring'] = None; "
    "sys.modules['engine._native.text'] = None; "
    "from engine.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run(args, code=None, **env):
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("TGARC_REQUIRE_NATIVE", "TGARC_RING_IMPL", "FORCE_CPU_TRANSCODE")}
    full_env.update(env)
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "engine", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=60)


def test_doctor_reports_versions_the_loaded_ring_and_a_passing_self_test():
    r = run(["doctor", "--json"])
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["ring"]["implementation"] == transport.IMPLEMENTATION
    assert info["ring"]["self_test"] == "ok"
    assert info["text"]["implementation"] == text.IMPLEMENTATION
    assert info["text"]["self_test"] == "ok"
    assert info["dependencies"]["telethon"] == "1.45.0"
    assert all(info["dependencies"].values())
    human = run(["doctor"])
    assert human.returncode == 0
    assert f"ring transport: {transport.IMPLEMENTATION}" in human.stderr
    assert human.stdout == "", "stdout carries only machine-readable output"


def test_without_the_native_build_doctor_says_the_pure_twin_is_used_and_why():
    r = run(["doctor", "--json"], code=WITHOUT_NATIVE)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    for part in ("ring", "text"):
        assert info[part]["implementation"] == "pure"
        assert "not" in info[part]["why"] and info[part]["self_test"] == "ok"


def test_require_native_without_the_build_is_one_clear_line_and_exit_2():
    r = run(["doctor"], code=WITHOUT_NATIVE, TGARC_REQUIRE_NATIVE="1")
    assert r.returncode == 2
    assert r.stderr.startswith("tgarc: TGARC_REQUIRE_NATIVE=1")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_forcing_the_pure_twin_is_honoured():
    r = run(["doctor", "--json"], TGARC_RING_IMPL="pure")
    assert json.loads(r.stdout)["ring"]["implementation"] == "pure"


def test_doctor_prints_the_encoder_cascade_with_its_reasons():
    """On the stock PyAV wheel: VA-API stops at the build, the CPU is chosen, each step says
    why (docs/transcode.md); FORCE_CPU_TRANSCODE=1 skips the hardware; a bad value is exit 2."""
    info = json.loads(run(["doctor", "--json"]).stdout)["transcode"]
    steps = {s["step"]: s for s in info["steps"]}
    assert not steps["vaapi.build"]["ok"] and "without the vaapi device type" in \
        steps["vaapi.build"]["reason"]
    assert info["steps"][-1]["step"] == "chosen" and info["encoder"] in info["steps"][-1]["reason"]
    human = run(["doctor"]).stderr
    assert f"  {'chosen:':<19} {info['encoder']} (" in human
    assert "vaapi.build:        no     PyAV" in human
    forced = json.loads(run(["doctor", "--json"], FORCE_CPU_TRANSCODE="1").stdout)["transcode"]
    assert forced["encoder"] == "libx264" and [s["step"] for s in forced["steps"]] == [
        "force", "chosen"]
    bad = run(["doctor"], FORCE_CPU_TRANSCODE="maybe")
    assert bad.returncode == 2 and bad.stderr.startswith("tgarc: FORCE_CPU_TRANSCODE='maybe'")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2():
    assert run(["no-such-command"]).returncode == 2
