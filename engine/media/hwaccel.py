"""Which video encoder a transcode would use: VA-API, NVENC or the CPU, and why.

A cascade of steps, each recording ``(step, ok, reason)``: ``FORCE_CPU_TRANSCODE`` or
``hwaccel="off"`` forces the CPU; then for VA-API and for NVENC in turn, the PyAV build offers
the device type and the encoder, a device node this user may open exists, and a one-frame test
encode through PyAV's hardware API succeeds in a child process under a timeout (a hung or
crashing driver costs a reason, never tgarc). A hardware path stops at its first failed step;
when none passes, libx264 on the CPU. The steps read a small capability report
(``Capabilities``), so tests can feed them one fact at a time; ``Capabilities.real()`` reads
this machine. ``detected()`` runs the cascade once per process. See docs/transcode.md.

PyAV trap (../shared/MEDIA_NOTES.md 1.3): ``HWConfig.methods`` raises ``ValueError`` on the
h264/hevc decoders of av 18.1, so nothing here reads a codec's hardware configs at all.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from engine.config import ConfigError
from engine.procs import sigint_ignored

TEST_ENCODE_TIMEOUT = 10.0          # seconds; a driver that takes longer is treated as broken
TEST_SIZE = (256, 256)              # above every hardware encoder's minimum frame size
TEST_FRAMES = 2                     # some encoders hold the first frame until a second or a flush
MIN_PYAV = 18                       # add_stream(hwaccel=...) for encoders arrived in PyAV 18.0
CPU_ENCODER = "libx264"
FORCE_ENV = "FORCE_CPU_TRANSCODE"
VAAPI_DEVICE_ENV = "TGARC_VAAPI_DEVICE"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class Step(NamedTuple):
    step: str       # "force", "vaapi.build", "vaapi.device", "vaapi.test_encode", ..., "chosen"
    ok: bool
    reason: str


@dataclass(frozen=True)
class Node:
    """A device node and whether this process may open it for reading and writing."""

    path: str
    readable: bool = True
    writable: bool = True
    exists: bool = True


# (encoder, device type or None for a plain software encode, device or None) -> (ok, reason)
TestEncode = Callable[[str, "str | None", "str | None"], tuple[bool, str]]


@dataclass(frozen=True)
class HwPath:
    """One hardware path: its name in the steps, PyAV's device type, its encoders by preference."""

    name: str
    device_type: str
    encoders: tuple[str, ...]


VAAPI = HwPath("vaapi", "vaapi", ("h264_vaapi", "hevc_vaapi"))
NVENC = HwPath("nvenc", "cuda", ("h264_nvenc", "hevc_nvenc"))


@dataclass(frozen=True)
class Capabilities:
    """What the cascade reads about the machine; ``real()`` fills it in, tests fake it."""

    pyav: str | None                            # PyAV's version; None when it does not import
    device_types: frozenset[str] = frozenset()  # av.codec.hwaccel.hwdevices_available()
    codecs: frozenset[str] = frozenset()        # av.codecs_available
    render_nodes: tuple[Node, ...] = ()         # /dev/dri/renderD* (or $TGARC_VAAPI_DEVICE)
    nvidia_nodes: tuple[Node, ...] = ()         # /dev/nvidia0… (or /dev/dxg under WSL2)
    test_encode: TestEncode = field(default=lambda enc, dt, dev: (False, "no test encode"))
    force_cpu: str | None = None                # the FORCE_CPU_TRANSCODE value, if set

    @classmethod
    def real(cls, environ: Mapping[str, str] = os.environ) -> Capabilities:
        try:
            import av
            from av.codec.hwaccel import hwdevices_available
        except ImportError:
            return cls(pyav=None, force_cpu=environ.get(FORCE_ENV))
        explicit = environ.get(VAAPI_DEVICE_ENV)
        render = [explicit] if explicit else sorted(glob.glob("/dev/dri/renderD*"))
        nvidia = sorted(p for p in glob.glob("/dev/nvidia*") if p[len("/dev/nvidia"):].isdigit())
        nvidia += [p for p in ("/dev/dxg",) if os.path.exists(p)]
        return cls(pyav=av.__version__, device_types=frozenset(hwdevices_available()),
                   codecs=frozenset(av.codecs_available),
                   render_nodes=tuple(_node(p) for p in render),
                   nvidia_nodes=tuple(_node(p) for p in nvidia),
                   test_encode=child_test_encode, force_cpu=environ.get(FORCE_ENV))


def _node(path: str) -> Node:
    return Node(path, os.access(path, os.R_OK), os.access(path, os.W_OK), os.path.exists(path))


@dataclass(frozen=True)
class Verdict:
    """The encoder chosen, its hardware kind and device, and every step with its reason."""

    encoder: str                 # "libx264", "h264_vaapi", "h264_nvenc", ...
    hwaccel: str                 # "none", "vaapi" or "cuda"
    device: str | None           # the render node for VA-API; None otherwise
    steps: tuple[Step, ...]

    def as_dict(self) -> dict:
        return {"encoder": self.encoder, "hwaccel": self.hwaccel, "device": self.device,
                "steps": [s._asdict() for s in self.steps]}


def _forced(caps: Capabilities, hwaccel: str) -> Step:
    if hwaccel not in ("auto", "off"):
        raise ConfigError(f"--hwaccel {hwaccel!r}: use auto or off")
    value = (caps.force_cpu or "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ConfigError(f"{FORCE_ENV}={caps.force_cpu!r}: use 1/true/yes/on or 0/false/no/off")
    if hwaccel == "off":
        return Step("force", True, "CPU forced by --hwaccel off")
    if value in _TRUE:
        return Step("force", True, f"CPU forced by {FORCE_ENV}={caps.force_cpu}")
    shown = "unset" if caps.force_cpu is None else f"={caps.force_cpu}"
    return Step("force", False, f"not forced ({FORCE_ENV} {shown})")


def check_settings(hwaccel: str = "auto", environ: Mapping[str, str] = os.environ) -> None:
    """``--hwaccel`` and ``FORCE_CPU_TRANSCODE`` read before a run starts: ConfigError (one
    line, exit 2) when either is malformed."""
    _forced(Capabilities(pyav=None, force_cpu=environ.get(FORCE_ENV)), hwaccel)


def _build(caps: Capabilities, path: HwPath) -> tuple[Step, str | None]:
    """(the step, the encoder to try) for whether this PyAV build offers the path at all."""
    name = f"{path.name}.build"
    if caps.pyav is None:
        return Step(name, False, "PyAV is not importable: pip install 'av>=18'"), None
    major = caps.pyav.split(".")[0]
    if not major.isdigit() or int(major) < MIN_PYAV:
        return Step(name, False, f"PyAV {caps.pyav} cannot encode on hardware "
                                 f"(needs PyAV >= {MIN_PYAV}): pip install 'av>=18'"), None
    encoders = [e for e in path.encoders if e in caps.codecs]
    has_type = path.device_type in caps.device_types
    if has_type and encoders:
        return Step(name, True, f"PyAV {caps.pyav} offers the {path.device_type} device type "
                                f"and {', '.join(encoders)}"), encoders[0]
    missing = [] if has_type else [f"the {path.device_type} device type"]
    missing += [] if encoders else ["/".join(path.encoders)]
    types = ", ".join(sorted(caps.device_types)) or "none"
    why = f"PyAV {caps.pyav}'s FFmpeg was built without {' and '.join(missing)} " \
          f"(its device types: {types})"
    if path is VAAPI:
        why += "; the PyPI wheels have no VA-API: build PyAV against an FFmpeg configured " \
               "with --enable-vaapi (docs/transcode.md)"
    return Step(name, False, why), None


def _devices(caps: Capabilities, path: HwPath) -> tuple[Step, list[str]]:
    """(the step, the nodes to test-encode on) for the device nodes this user may open."""
    name = f"{path.name}.device"
    nodes = caps.render_nodes if path is VAAPI else caps.nvidia_nodes
    if not nodes:
        where = "/dev/dri/renderD*" if path is VAAPI else "/dev/nvidia[0-9]* or /dev/dxg"
        return Step(name, False, f"no device node ({where}): no GPU, its driver is not "
                                 "loaded, or the container was started without the device"), []
    usable = [n.path for n in nodes if n.readable and n.writable]
    if not usable:
        denied = ", ".join(f"{n.path} ({_access(n)})" for n in nodes)
        hint = "the 'render' group" if path is VAAPI else "the 'video' group"
        return Step(name, False, f"no device node this user may read and write: {denied}; "
                                 f"add the user to {hint}"), []
    return Step(name, True, f"read+write: {', '.join(usable)}"), usable


def _access(node: Node) -> str:
    if not node.exists:
        return "does not exist"
    bits = [w for w, ok in (("read", node.readable), ("write", node.writable)) if not ok]
    return "no " + "/".join(bits)


def _hardware(caps: Capabilities, path: HwPath) -> tuple[list[Step], Verdict | None]:
    """The steps of one hardware path, and the verdict when its test encode passed."""
    step, encoder = _build(caps, path)
    steps = [step]
    if encoder is None:
        return steps, None
    step, nodes = _devices(caps, path)
    steps.append(step)
    if not nodes:
        return steps, None
    # VA-API is told which render node to open; CUDA picks its device by index (the first)
    tries = nodes if path is VAAPI else [None]
    failures = []
    for node in tries:
        ok, reason = caps.test_encode(encoder, path.device_type, node)
        label = f"{encoder} on {node}" if node else encoder
        if ok:
            steps.append(Step(f"{path.name}.test_encode", True, f"{label}: {reason}"))
            return steps, Verdict(encoder, path.device_type, node, ())
        failures.append(f"{label}: {reason}")
    steps.append(Step(f"{path.name}.test_encode", False, "; ".join(failures)))
    return steps, None


def detect(caps: Capabilities, hwaccel: str = "auto") -> Verdict:
    """Run the cascade on ``caps``. ``hwaccel`` is ``"auto"`` or ``"off"`` (the CPU)."""
    force = _forced(caps, hwaccel)
    steps = [force]
    if not force.ok:
        for path in (VAAPI, NVENC):
            more, chosen = _hardware(caps, path)
            steps += more
            if chosen is not None:
                reason = f"{chosen.encoder} ({path.name}" + \
                         (f" on {chosen.device})" if chosen.device else ")")
                steps.append(Step("chosen", True, reason))
                return Verdict(chosen.encoder, chosen.hwaccel, chosen.device, tuple(steps))
    why = force.reason if force.ok else \
        "; ".join(f"{s.step}: {s.reason}" for s in steps if not s.ok and "." in s.step)
    steps.append(Step("chosen", True, f"{CPU_ENCODER} (CPU): {why}"))
    return Verdict(CPU_ENCODER, "none", None, tuple(steps))


@functools.cache
def detected(hwaccel: str = "auto") -> Verdict:
    """The cascade on this machine, run once per process (per ``hwaccel`` value)."""
    return detect(Capabilities.real(), hwaccel)


# -- the test encode, in a child process ----------------------------------------------------

_ROOT = str(Path(__file__).resolve().parents[2])     # the folder holding the engine package
_CHILD = (f"import sys; sys.path.insert(0, {_ROOT!r}); "
          "from engine.media.hwaccel import _child_main; _child_main(sys.argv[1:])")


def child_test_encode(encoder: str, device_type: str | None, device: str | None, *,
                      timeout: float = TEST_ENCODE_TIMEOUT, code: str = _CHILD) -> tuple[bool, str]:
    """Encode ``TEST_FRAMES`` frames with ``encoder`` in a fresh interpreter; (ok, reason).

    The child may hang (a driver stuck in its init) or die (a driver's segfault): both come
    back as a reason after at most ``timeout`` seconds. ``code`` is the child's program
    (tests replace it with one that hangs or crashes).
    """
    argv = [sys.executable, "-c", code, encoder, device_type or "", device or ""]
    started = time.monotonic()
    try:
        with sigint_ignored():      # Ctrl-C is the parent's to act on; run() kills the child
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"the test encode did not finish within {timeout:g} s (a hung driver?)"
    except OSError as exc:
        return False, f"cannot start the test encode: {exc}"
    took = time.monotonic() - started
    last = done.stdout.strip().splitlines()[-1:] or [""]
    try:
        answer = json.loads(last[0])
        return bool(answer["ok"]), str(answer["reason"])
    except (ValueError, KeyError, TypeError):
        pass
    tail = " | ".join(done.stderr.strip().splitlines()[-2:]) or "no output"
    if done.returncode < 0:
        return False, f"the test encode crashed (signal {-done.returncode}) after " \
                      f"{took:.2f} s: {tail}"
    return False, f"the test encode exited with status {done.returncode}: {tail}"


def _child_main(args: list[str]) -> None:
    encoder, device_type, device = args[0], args[1] or None, args[2] or None
    said = _ffmpeg_log()
    try:
        ok, reason = _encode_frames(encoder, device_type, device)
    except Exception as exc:  # every failure is the answer, not a traceback
        ok, reason = False, f"{type(exc).__name__}: {exc}"
        # the exception only says "Operation not permitted"; FFmpeg's log says why
        lines = list(dict.fromkeys(m.strip() for m in said if m.strip()))[-3:]
        reason += f" (FFmpeg: {' | '.join(lines)})" if lines else ""
    print(json.dumps({"ok": ok, "reason": reason}), flush=True)


def _ffmpeg_log() -> list[str]:
    """FFmpeg's messages from now on, collected instead of printed."""
    import logging

    import av.logging

    said: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    root = logging.getLogger("libav")
    root.addHandler(Collect())
    root.propagate = False
    av.logging.set_level(av.logging.VERBOSE)
    return said


def _encode_frames(encoder: str, device_type: str | None, device: str | None) -> tuple[bool, str]:
    import io

    import av
    from av.codec.hwaccel import HWAccel

    started = time.monotonic()
    hw = None if device_type is None else \
        HWAccel(device_type, device=device, allow_software_fallback=False)
    out = av.open(io.BytesIO(), "w", format="null")
    try:
        stream = out.add_stream(encoder, rate=25, hwaccel=hw)  # creates the device: may fail
        stream.width, stream.height = TEST_SIZE
        stream.pix_fmt = "nv12" if hw is not None else "yuv420p"
        packets = []
        for i in range(TEST_FRAMES):
            frame = av.VideoFrame(*TEST_SIZE, "nv12")
            for plane in frame.planes:
                plane.update(bytes([16 + 40 * i]) * plane.buffer_size)
            frame.pts = i
            packets += stream.encode(frame)
        packets += stream.encode(None)
        on_hw = stream.codec_context.is_hwaccel
    finally:
        out.close()
    size = sum(p.size for p in packets)
    if not packets or size == 0:
        return False, f"{encoder} accepted {TEST_FRAMES} frames but produced no packet"
    if hw is not None and not on_hw:
        return False, f"{encoder} encoded, but not on the {device_type} device"
    return True, (f"{TEST_FRAMES} frames of {TEST_SIZE[0]}x{TEST_SIZE[1]} encoded in "
                  f"{time.monotonic() - started:.2f} s ({len(packets)} packets, {size} bytes)")
