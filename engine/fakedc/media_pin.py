"""Byte-identical media on any x86-64 CPU: the SIMD pin of engine/fakedc/media.py.

Determinism: the same arguments give byte-identical output with the same PyAV/FFmpeg build
(pyproject pins the ``av`` wheel) on any x86-64 CPU, Intel or AMD, SSE2-only to AVX-512: the
golden files in tests/golden record these files' sizes. To get there every encoder (and swscale)
runs single-threaded, every muxer and encoder gets ``bitexact`` (no library version strings, no
random Ogg serial numbers), timestamps are fixed, no wall-clock metadata (``creation_time``) is
ever written, and the SIMD is pinned:

- libx264 and FFmpeg pick hand-written SIMD code by the CPU they run on, and those paths do not
  agree bit for bit. Measured with this wheel (issue 18): x264's SSE2, AVX2 and AVX-512 paths give
  three different files from the same frames, and its AVX-512 path a different file on most
  encodes within one process; its SSE2 ``mbtree_propagate_cost`` starts from ``rcpps``, whose
  approximation differs between Intel and AMD. FFmpeg's AAC encoder gives different bytes with
  SSE2, AVX and AVX2/FMA3, and swscale's SIMD rounds RGB to YUV differently from its C code.
- So x264 runs with ``asm=0`` (its C code: no CPU detection at all), and every generator runs
  inside :func:`simd_pinned`, which holds ``av_force_cpu_flags(0)`` (FFmpeg's C code for swscale,
  swresample, the aac and mjpeg encoders, av_tx) for the length of its encode. Cost: an H.264
  clip takes ~110 ms instead of ~55 ms; the corpus's 28 files ~1.2 s instead of ~0.8 s, once per
  process (lru_cache). :func:`simd_pin` says what is pinned.
- libmp3lame has no runtime CPU dispatch. libopus and libwebp have their own (libopus offers no
  switch for it), left alone because their SIMD gives the same bytes as their C code: 120 voice
  notes and 30 stickers came out the same on every simulated CPU, and so did stickers made with
  libwebp's SIMD switched off. tests/test_media_determinism.py runs the generators in processes
  whose ``cpuid`` is trapped and answered as an AVX-512, AVX2, AVX, SSE2-only or AMD CPU: every
  file comes out the same (and, with the pin taken off, the H.264 and AAC ones do not).

Output still differs between FFmpeg/x264/libopus versions, and may differ on other architectures
(compilers there fuse multiply-adds in C code): a new ``av`` wheel means new golden files.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

_AV_HINT = (
    "engine.fakedc.media needs PyAV (FFmpeg bindings) to make media files: "
    "pip install av  (the PyPI wheel bundles FFmpeg with libx264, libopus, libmp3lame, libwebp)"
)

# The SIMD pin (see the docstring above). x264 detects the CPU itself: "asm=0" sets its cpu
# mask to nothing, so it runs its C code. FFmpeg's own code (swscale, swresample, the aac and
# mjpeg encoders, av_tx) asks av_get_cpu_flags(); av_force_cpu_flags(0) makes that "no SIMD"
# while a generator runs.
X264_ASM = "asm=0"
FFMPEG_CPU_FLAGS = 0
_F = TypeVar("_F", bound=Callable[..., bytes])
_pin_lock = threading.RLock()


def pyav():
    """Imports PyAV lazily, so importing this module never fails; a missing PyAV says what to do."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_AV_HINT) from exc
    return av


def _loaded_avutil() -> list[str]:
    """Paths of the libavutil copies mapped into this process (Linux), PyAV's own first."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {p[5].strip() for p in (line.split(None, 5) for line in fh) if len(p) == 6}
    except OSError:
        paths = set()
    found = sorted(p for p in paths if re.match(r"(lib)?avutil[-.]", os.path.basename(p)))
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(pyav().__file__)))
    return sorted(found, key=lambda p: not p.startswith(pkg))


@lru_cache(maxsize=1)
def _avutil() -> ctypes.CDLL | None:
    """The libavutil PyAV runs on, for av_force_cpu_flags (PyAV has no binding for it).

    Found among the libraries mapped into the process (PyAV's copy before any other, such as
    OpenCV's), else next to the package in a wheel (``av.libs``, ``av/.dylibs``); None when
    neither works, and then FFmpeg's SIMD stays unpinned.
    """
    av_dir = os.path.dirname(os.path.abspath(pyav().__file__))
    candidates = _loaded_avutil() + sorted(
        glob.glob(os.path.join(av_dir + ".libs", "*avutil*"))
        + glob.glob(os.path.join(av_dir, ".dylibs", "*avutil*"))
    )
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            lib.av_force_cpu_flags.argtypes = [ctypes.c_int]
            lib.av_force_cpu_flags.restype = None
            lib.av_get_cpu_flags.argtypes = []
            lib.av_get_cpu_flags.restype = ctypes.c_int
        except (OSError, AttributeError):
            continue
        return lib
    warnings.warn(
        "engine.fakedc.media: PyAV's libavutil not found, FFmpeg's SIMD is not pinned: "
        "media bytes (and golden files) may differ between CPUs",
        RuntimeWarning,
        stacklevel=2,
    )
    return None


@contextmanager
def simd_pinned() -> Iterator[None]:
    """FFmpeg's SIMD off (``av_force_cpu_flags(FFMPEG_CPU_FLAGS)``) inside, restored after.

    The flags are process-wide and read when a codec or scaler context is set up, so the pin is
    held under a lock by every generator for its whole encode; anything else in the process
    (a decoder opened by :func:`probe` meanwhile) at worst runs FFmpeg's C code for a while.
    """
    lib = _avutil()
    with _pin_lock:
        if lib is None:
            yield
            return
        before = lib.av_get_cpu_flags()
        lib.av_force_cpu_flags(FFMPEG_CPU_FLAGS)
        try:
            yield
        finally:
            lib.av_force_cpu_flags(before)


def simd_pin() -> dict[str, Any]:
    """What pins the encoders' code paths here: ``{"x264": str, "ffmpeg_cpu_flags": int | None}``.

    ``ffmpeg_cpu_flags`` is None when libavutil could not be found (see :func:`_avutil`).
    """
    return {"x264": X264_ASM, "ffmpeg_cpu_flags": FFMPEG_CPU_FLAGS if _avutil() else None}


def pinned(fn: _F) -> _F:
    """Runs the generator inside :func:`simd_pinned` (below ``lru_cache``, so cache misses only)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> bytes:
        with simd_pinned():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
