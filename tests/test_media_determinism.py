"""The fake DC's media bytes do not depend on the CPU (issue 18): the SIMD pin in media_pin.py.

The golden files record sizes of media that ``engine.fakedc.media`` encodes, so those bytes must
be the same on every x86-64 machine. Unpinned they are not: libx264 and FFmpeg pick SIMD code by
the CPU they run on, and the code paths do not agree bit for bit (x264's AVX-512 path even gave
four different files for four encodes of the same frames in one process). The media modules run
x264's C code (``asm=0``) and FFmpeg's C code (``av_force_cpu_flags(0)``) while they encode.

The tests here encode for real and check that the pin is in effect; that repeated encodes agree;
that the CPU flags FFmpeg sees at the time of the call change nothing; and that, where the
kernel can trap ``cpuid`` (Linux x86-64 with CPUID faulting, and a C compiler), whole processes
that see a different CPU (no AVX-512, no AVX, only SSE2, an AMD vendor string) make the very
same bytes — while the same processes with the pin taken off do not, so it is the pin and not
luck that decides the bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("av", reason="engine.fakedc.media needs PyAV")

import av

from engine.fakedc import files, media

ROOT = Path(__file__).resolve().parent.parent

# FFmpeg's AV_CPU_FLAG_* for the SIMD every x86-64 CPU has: MMX, MMXEXT, SSE, SSE2, CMOV.
X86_64_BASELINE = 0x1 | 0x2 | 0x8 | 0x10 | 0x1000
AV_CPU_FLAG_AVX2 = 0x8000
AV_CPU_FLAG_AVX512 = 0x100000


def _avutil() -> ctypes.CDLL:
    """PyAV's libavutil, found without media.py's help (so this file also runs on old code)."""
    av_dir = Path(av.__file__).resolve().parent
    paths = sorted(av_dir.parent.glob("av.libs/*avutil*")) + sorted(av_dir.glob(".dylibs/*avutil*"))
    if not paths:
        pytest.skip("no libavutil bundled next to PyAV (not a wheel install)")
    lib = ctypes.CDLL(str(paths[0]))
    lib.av_force_cpu_flags.argtypes = [ctypes.c_int]
    lib.av_get_cpu_flags.restype = ctypes.c_int
    return lib


@contextlib.contextmanager
def _ffmpeg_sees(lib: ctypes.CDLL, flags: int):
    """FFmpeg's CPU detection answers ``flags`` (as on a CPU with only those) until the end."""
    lib.av_force_cpu_flags(flags)
    try:
        yield
    finally:
        lib.av_force_cpu_flags(-1)  # back to detecting the real CPU


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Each generator once; fresh encodes (``__wrapped__`` skips the lru_cache).
SAMPLE = {
    "jpeg": lambda: media.jpeg_photo.__wrapped__(0),
    "h264": lambda: media.h264_mp4.__wrapped__(0),
    "h264_aac": lambda: media.h264_mp4.__wrapped__(1, 128, 96, 1.0, 10, True),
    "round": lambda: media.round_video.__wrapped__(0),
    "gif": lambda: media.gif_animation.__wrapped__(0),
    "opus": lambda: media.opus_voice.__wrapped__(0),
    "mp3": lambda: media.mp3_audio.__wrapped__(0),
    "webp": lambda: media.webp_sticker.__wrapped__(0),
}
# libopus and libwebp pick SIMD by the CPU themselves and are not pinned (their SIMD matches
# their C code): the simulated CPUs also make every voice note and sticker of the corpus.
SAMPLE |= {
    f"{name}{seed}": (lambda make=make, seed=seed: make.__wrapped__(seed))
    for name, make in (("opus", media.opus_voice), ("webp", media.webp_sticker))
    for seed in range(1, files.SEEDS)
}


def test_the_pin_is_in_effect():
    """x264 reports that it runs no SIMD; FFmpeg's flags read 0 inside the pin, and come back."""
    lib = _avutil()
    assert media.simd_pin() == {"x264": "asm=0", "ffmpeg_cpu_flags": 0}
    level = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)
    try:
        with av.logging.Capture() as logs:
            media.h264_mp4.__wrapped__(3, width=64, height=48, seconds=0.2)
    finally:
        av.logging.set_level(level)
    said = [msg.strip() for _, name, msg in logs if name == "libx264" and "cpu" in msg]
    assert said == ["using cpu capabilities: none!"], said
    detected = lib.av_get_cpu_flags()
    with media.simd_pinned():
        assert lib.av_get_cpu_flags() == 0
    assert lib.av_get_cpu_flags() == detected


def test_repeated_encodes_are_identical():
    """Unpinned, x264's AVX-512 code gave a different file on most encodes of the same frames."""
    for make in (SAMPLE["h264"], SAMPLE["round"]):
        assert len({_sha(make()) for _ in range(4)}) == 1


def test_the_simd_ffmpeg_detects_changes_nothing():
    """The encoders run the same code whatever FFmpeg detects: all of this CPU, the x86-64
    baseline, or none. Unpinned, the JPEG (swscale) and the AAC track change between them."""
    lib = _avutil()
    detected = lib.av_get_cpu_flags()
    levels = {"detected": detected, "x86-64 baseline": detected & X86_64_BASELINE, "none": 0}
    seen = {}
    for name, flags in levels.items():
        with _ffmpeg_sees(lib, flags):
            seen[name] = {k: _sha(SAMPLE[k]()) for k in ("jpeg", "h264_aac", "webp")}
    assert lib.av_get_cpu_flags() == detected
    assert seen["x86-64 baseline"] == seen["detected"], seen
    assert seen["none"] == seen["detected"], seen


# ---------------------------------------------------------------------------------------------
# Other CPUs, simulated: cpuid traps (ARCH_SET_CPUID) and is answered with feature bits removed
# ---------------------------------------------------------------------------------------------

# Loaded with LD_PRELOAD into a fresh interpreter: from its constructor on, every cpuid in the
# process (glibc's has already run) faults, and the SIGSEGV handler answers it from the real CPU
# minus the features of the level in FAKE_CPU, and with "AuthenticAMD" for an "amd-" prefix.
CPUID_SHIM = r"""
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int level, amd;  /* level: 0 all, 1 no AVX-512, 2 no AVX2/FMA/BMI, 3 SSE2 only */
static volatile long trapped;
long fake_cpu_trapped(void) { return trapped; }

static void answer(int sig, siginfo_t *info, void *ctx) {
    greg_t *r = ((ucontext_t *)ctx)->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    unsigned a, b, c, d, leaf = (unsigned)r[REG_RAX], sub = (unsigned)r[REG_RCX];
    (void)sig; (void)info;
    if (ip[0] != 0x0f || ip[1] != 0xa2) { signal(SIGSEGV, SIG_DFL); return; }  /* a real crash */
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __cpuid_count(leaf, sub, a, b, c, d);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    trapped++;
    if (leaf == 0 && amd) { memcpy(&b, "Auth", 4); memcpy(&d, "enti", 4); memcpy(&c, "cAMD", 4); }
    if (leaf == 7 && sub == 0 && level >= 1) {       /* AVX-512 F DQ IFMA PF ER CD BW VL, ... */
        b &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28)
               | (1u << 30) | (1u << 31));
        c &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        d &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23));
    }
    if (leaf == 7 && sub == 1 && level >= 1) a &= ~((1u << 4) | (1u << 5));
    if (leaf == 7 && sub == 0 && level >= 2) b &= ~((1u << 3) | (1u << 5) | (1u << 8));
    if (leaf == 1 && level >= 2) c &= ~(1u << 12);                     /* FMA3 */
    if (leaf == 0x80000001 && level >= 2) c &= ~((1u << 5) | (1u << 16));  /* LZCNT, FMA4 */
    if (leaf == 1 && level >= 3)  /* SSE3 PCLMUL SSSE3 SSE4.1 SSE4.2 POPCNT AES AVX F16C */
        c &= ~((1u << 0) | (1u << 1) | (1u << 9) | (1u << 19) | (1u << 20) | (1u << 23)
               | (1u << 25) | (1u << 28) | (1u << 29));
    if (leaf == 0x80000001 && level >= 3) c &= ~((1u << 6) | (1u << 11));  /* SSE4a, XOP */
    r[REG_RAX] = a; r[REG_RBX] = b; r[REG_RCX] = c; r[REG_RDX] = d;
    r[REG_RIP] += 2;
}

__attribute__((constructor)) static void start(void) {
    const char *s = getenv("FAKE_CPU");
    struct sigaction sa;
    if (!s) return;
    if (!strncmp(s, "amd-", 4)) { amd = 1; s += 4; }
    level = !strcmp(s, "avx2") ? 1 : !strcmp(s, "avx") ? 2 : !strcmp(s, "sse2") ? 3 : 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = answer;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) _exit(77);  /* no CPUID faulting */
}
"""

# Run in each simulated process: the flags FFmpeg detects there, how many cpuid it trapped, and
# the hashes of SAMPLE with the pin and with it taken off (x264 "asm=auto", FFmpeg detecting).
PROBE = """
import ctypes, hashlib, json, sys
sys.path[:0] = [{root!r}, {tests!r}]
import test_media_determinism as t
from engine.fakedc import media, media_pin
flags = t._avutil().av_get_cpu_flags()
pinned = {{k: t._sha(make()) for k, make in t.SAMPLE.items()}}
media_pin.X264_ASM, media_pin.FFMPEG_CPU_FLAGS = "asm=auto", -1
free = {{k: t._sha(t.SAMPLE[k]()) for k in ("h264", "h264_aac", "jpeg")}}
trapped = ctypes.CDLL(None).fake_cpu_trapped()
json.dump({{"flags": flags, "trapped": trapped, "pinned": pinned, "free": free}}, sys.stdout)
"""

LEVELS = ("native", "avx2", "avx", "sse2", "amd-avx2")


@pytest.fixture(scope="module")
def cpuid_shim(tmp_path_factory) -> Path:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("simulating other CPUs needs Linux on x86-64")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the cpuid shim")
    where = tmp_path_factory.mktemp("cpuid")
    (where / "shim.c").write_text(CPUID_SHIM)
    built = subprocess.run(
        [cc, "-O1", "-shared", "-fPIC", "-o", str(where / "shim.so"), str(where / "shim.c")],
        capture_output=True,
        text=True,
    )
    if built.returncode:
        pytest.skip(f"cannot build the cpuid shim: {built.stderr[-500:]}")
    return where / "shim.so"


def test_simulated_cpus_make_the_same_bytes(cpuid_shim):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}  # keep SIGSEGV ours
    code = PROBE.format(root=str(ROOT), tests=str(ROOT / "tests"))
    procs = {
        level: subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "LD_PRELOAD": str(cpuid_shim), "FAKE_CPU": level},
        )
        for level in LEVELS
    }
    runs = {}
    for level, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        if proc.returncode == 77:
            pytest.skip("this kernel or CPU has no CPUID faulting (arch_prctl ARCH_SET_CPUID)")
        assert proc.returncode == 0, f"{level}: exit {proc.returncode}\n{err[-3000:]}"
        runs[level] = json.loads(out)
    if not all(r["trapped"] for r in runs.values()):
        pytest.skip("ARCH_SET_CPUID was accepted but no cpuid trapped (a hypervisor's quirk)")
    flags = {level: r["flags"] for level, r in runs.items()}
    assert flags["sse2"] & ~X86_64_BASELINE == 0, flags  # FFmpeg saw an SSE2-only CPU
    assert not flags["avx2"] & AV_CPU_FLAG_AVX512 and not flags["avx"] & AV_CPU_FLAG_AVX2, flags
    if flags["native"] == flags["sse2"]:
        pytest.skip("this CPU has nothing beyond SSE2: no other CPU to simulate")
    here = {k: _sha(make()) for k, make in SAMPLE.items()}
    for level, run in runs.items():
        assert run["pinned"] == here, f"{level} (FFmpeg flags {run['flags']:#x}) differs"
    if flags["native"] & AV_CPU_FLAG_AVX2:
        # The control: unpinned, the same processes disagree (SSE2-only x264 and AAC differ
        # from AVX2 ones), so the simulation does reach the encoders.
        free = {level: json.dumps(run["free"], sort_keys=True) for level, run in runs.items()}
        assert len(set(free.values())) > 1, free
