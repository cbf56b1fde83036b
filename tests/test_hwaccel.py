"""The encoder detection cascade (engine/media/hwaccel.py): step by step on capability
reports that hold one fact each, then for real on this machine's PyAV and in real child
processes (a test encode that passes, fails, hangs or crashes)."""

from __future__ import annotations

import dataclasses
import functools
import time

import orjson
import pytest

from engine.config import ConfigError
from engine.media import hwaccel
from engine.media.hwaccel import Capabilities, Node, Step, child_test_encode, detect

STOCK_TYPES = frozenset({"cuda", "qsv", "drm", "amf"})      # the PyPI wheel of av 18.1
VAAPI_BUILD = frozenset({"vaapi", "drm"})
ALL_CODECS = frozenset({"libx264", "h264_vaapi", "hevc_vaapi", "h264_nvenc", "hevc_nvenc"})
HANG = "import time; time.sleep(60)"
CRASH = "import os; os.abort()"


class Encodes:
    """A test encode that answers from a table and remembers what it was asked."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.calls = []

    def __call__(self, encoder, device_type, device):
        self.calls.append((encoder, device_type, device))
        return self.answers.get((encoder, device), (False, f"{encoder} refused"))


def caps(**kw) -> Capabilities:
    """A machine with a VA-API build, NVENC, one usable render node and one NVIDIA node."""
    base = dict(pyav="18.1.0", device_types=VAAPI_BUILD | {"cuda"}, codecs=ALL_CODECS,
                render_nodes=(Node("/dev/dri/renderD128"),),
                nvidia_nodes=(Node("/dev/nvidia0"),), test_encode=Encodes())
    return Capabilities(**{**base, **kw})


def steps(verdict) -> dict[str, Step]:
    return {s.step: s for s in verdict.steps}


# -- forcing the CPU -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_force_cpu_transcode_chooses_the_cpu_without_trying_any_hardware(value):
    enc = Encodes({("h264_vaapi", "/dev/dri/renderD128"): (True, "fine")})
    v = detect(caps(force_cpu=value, test_encode=enc))
    assert (v.encoder, v.hwaccel, v.device) == ("libx264", "none", None)
    assert [s.step for s in v.steps] == ["force", "chosen"]
    assert v.steps[0] == Step("force", True, f"CPU forced by FORCE_CPU_TRANSCODE={value}")
    assert v.steps[1].reason == f"libx264 (CPU): CPU forced by FORCE_CPU_TRANSCODE={value}"
    assert enc.calls == []


def test_hwaccel_off_chooses_the_cpu_and_says_so():
    v = detect(caps(test_encode=Encodes({("h264_vaapi", "/dev/dri/renderD128"): (True, "")})),
               hwaccel="off")
    assert v.encoder == "libx264"
    assert v.steps[0] == Step("force", True, "CPU forced by --hwaccel off")


@pytest.mark.parametrize("value", [None, "0", "false", "", "off"])
def test_force_cpu_transcode_unset_or_false_lets_the_hardware_be_tried(value):
    enc = Encodes({("h264_vaapi", "/dev/dri/renderD128"): (True, "fine")})
    v = detect(caps(force_cpu=value, test_encode=enc))
    assert v.encoder == "h264_vaapi" and not v.steps[0].ok
    assert "not forced" in v.steps[0].reason


def test_a_bad_force_value_or_hwaccel_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"^FORCE_CPU_TRANSCODE='maybe': use 1/true"):
        detect(caps(force_cpu="maybe"))
    with pytest.raises(ConfigError, match=r"^--hwaccel 'gpu': use auto or off$"):
        detect(caps(), hwaccel="gpu")


# -- the build ---------------------------------------------------------------------------------

def test_a_build_without_vaapi_fails_at_build_and_never_looks_for_a_device():
    enc = Encodes()
    v = detect(caps(device_types=STOCK_TYPES, codecs=ALL_CODECS - {"h264_vaapi", "hevc_vaapi"},
                    nvidia_nodes=(), test_encode=enc))
    s = steps(v)
    assert not s["vaapi.build"].ok and "vaapi.device" not in s
    assert s["vaapi.build"].reason.startswith(
        "PyAV 18.1.0's FFmpeg was built without the vaapi device type and "
        "h264_vaapi/hevc_vaapi (its device types: amf, cuda, drm, qsv)")
    assert "--enable-vaapi" in s["vaapi.build"].reason
    assert enc.calls == [] and v.encoder == "libx264"


def test_the_device_type_without_the_encoders_is_not_enough_and_says_which_is_missing():
    v = detect(caps(codecs=frozenset({"libx264"})))
    s = steps(v)
    assert s["vaapi.build"].reason.startswith(
        "PyAV 18.1.0's FFmpeg was built without h264_vaapi/hevc_vaapi (")
    assert s["nvenc.build"].reason.startswith(
        "PyAV 18.1.0's FFmpeg was built without h264_nvenc/hevc_nvenc (")


def test_the_encoders_without_the_device_type_are_not_enough_either():
    v = detect(caps(device_types=STOCK_TYPES - {"cuda"}))
    s = steps(v)
    assert s["vaapi.build"].reason.startswith(
        "PyAV 18.1.0's FFmpeg was built without the vaapi device type (its device types: amf, "
        "drm, qsv)")
    assert s["nvenc.build"].reason.startswith(
        "PyAV 18.1.0's FFmpeg was built without the cuda device type (")
    assert v.encoder == "libx264"


def test_without_pyav_or_with_an_old_one_every_path_stops_at_build():
    for version, text in ((None, "PyAV is not importable"), ("17.0.1", "needs PyAV >= 18")):
        v = detect(caps(pyav=version))
        s = steps(v)
        assert text in s["vaapi.build"].reason and text in s["nvenc.build"].reason
        assert v.encoder == "libx264"


def test_hevc_alone_is_tested_and_chosen():
    enc = Encodes({("hevc_vaapi", "/dev/dri/renderD128"): (True, "fine")})
    v = detect(caps(codecs=frozenset({"libx264", "hevc_vaapi"}), test_encode=enc))
    assert (v.encoder, v.hwaccel, v.device) == ("hevc_vaapi", "vaapi", "/dev/dri/renderD128")


# -- the device ------------------------------------------------------------------------------

def test_no_render_node_fails_at_device_then_nvenc_is_tried():
    enc = Encodes()
    v = detect(caps(render_nodes=(), test_encode=enc))
    s = steps(v)
    assert s["vaapi.build"].ok and not s["vaapi.device"].ok
    assert s["vaapi.device"].reason.startswith("no device node (/dev/dri/renderD*)")
    assert "vaapi.test_encode" not in s
    assert enc.calls == [("h264_nvenc", "cuda", None)]


def test_a_render_node_that_is_not_writable_fails_at_device_with_the_group_to_join():
    v = detect(caps(render_nodes=(Node("/dev/dri/renderD128", writable=False),),
                    nvidia_nodes=()))
    s = steps(v)
    assert s["vaapi.device"] == Step(
        "vaapi.device", False, "no device node this user may read and write: "
        "/dev/dri/renderD128 (no write); add the user to the 'render' group")
    assert v.encoder == "libx264"


def test_a_render_node_that_does_not_exist_says_so():
    v = detect(caps(render_nodes=(Node("/dev/dri/renderD200", False, False, exists=False),)))
    assert "/dev/dri/renderD200 (does not exist)" in steps(v)["vaapi.device"].reason


# -- the test encode -------------------------------------------------------------------------

def test_a_failing_test_encode_falls_through_to_the_cpu_with_each_paths_first_failure():
    enc = Encodes({("h264_vaapi", "/dev/dri/renderD128"): (False, "libva: va_openDriver() -1")})
    v = detect(caps(nvidia_nodes=(), test_encode=enc))
    s = steps(v)
    assert s["vaapi.test_encode"] == Step(
        "vaapi.test_encode", False, "h264_vaapi on /dev/dri/renderD128: libva: va_openDriver() -1")
    assert v.encoder == "libx264" and v.hwaccel == "none"
    assert s["chosen"].reason == (
        "libx264 (CPU): vaapi.test_encode: h264_vaapi on /dev/dri/renderD128: "
        "libva: va_openDriver() -1; nvenc.device: " + s["nvenc.device"].reason)


def test_the_second_render_node_is_tried_when_the_first_fails():
    enc = Encodes({("h264_vaapi", "/dev/dri/renderD129"): (True, "2 frames")})
    v = detect(caps(render_nodes=(Node("/dev/dri/renderD128"), Node("/dev/dri/renderD129")),
                    test_encode=enc))
    assert (v.encoder, v.device) == ("h264_vaapi", "/dev/dri/renderD129")
    assert [c[2] for c in enc.calls] == ["/dev/dri/renderD128", "/dev/dri/renderD129"]


def test_a_hanging_test_encode_is_a_timeout_reason_in_bounded_time():
    hang = functools.partial(child_test_encode, code=HANG, timeout=1)
    started = time.monotonic()
    v = detect(caps(nvidia_nodes=(), test_encode=hang))
    assert time.monotonic() - started < 10
    assert steps(v)["vaapi.test_encode"].reason == (
        "h264_vaapi on /dev/dri/renderD128: the test encode did not finish within 1 s "
        "(a hung driver?)")
    assert v.encoder == "libx264"


def test_vaapi_working_is_chosen_and_nvenc_is_not_tried():
    enc = Encodes({("h264_vaapi", "/dev/dri/renderD128"): (True, "2 frames encoded")})
    v = detect(caps(test_encode=enc))
    assert (v.encoder, v.hwaccel, v.device) == ("h264_vaapi", "vaapi", "/dev/dri/renderD128")
    assert steps(v)["chosen"].reason == "h264_vaapi (vaapi on /dev/dri/renderD128)"
    assert not any(s.step.startswith("nvenc") for s in v.steps)


def test_nvenc_present_and_working_is_chosen_when_vaapi_is_not_there():
    enc = Encodes({("h264_nvenc", None): (True, "2 frames encoded")})
    v = detect(caps(device_types=STOCK_TYPES, test_encode=enc))
    assert (v.encoder, v.hwaccel, v.device) == ("h264_nvenc", "cuda", None)
    assert enc.calls == [("h264_nvenc", "cuda", None)]
    s = steps(v)
    assert s["nvenc.test_encode"] == Step("nvenc.test_encode", True,
                                          "h264_nvenc: 2 frames encoded")
    assert s["chosen"] == Step("chosen", True, "h264_nvenc (nvenc)")


def test_the_verdict_is_frozen_and_json_able():
    v = detect(caps(render_nodes=()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.encoder = "h264_vaapi"
    back = orjson.loads(orjson.dumps(v.as_dict()))
    assert back["encoder"] == v.encoder and back["hwaccel"] == v.hwaccel
    assert [tuple(s.values()) for s in back["steps"]] == [tuple(s) for s in v.steps]


# -- real child processes --------------------------------------------------------------------

def test_the_child_test_encode_passes_on_a_software_encoder():
    """The machinery itself works: a real child, real PyAV, libx264, no hardware."""
    ok, reason = child_test_encode("libx264", None, None)
    assert ok, reason
    assert reason.startswith("2 frames of 256x256 encoded in ")


def test_the_child_reports_pyavs_error_for_an_encoder_this_build_lacks():
    ok, reason = child_test_encode("h264_vaapi", "vaapi", "/dev/dri/renderD128")
    assert (ok, reason) == (False, "UnknownCodecError: h264_vaapi")


def test_a_crashing_test_encode_is_a_reason_not_a_crash():
    ok, reason = child_test_encode("h264_vaapi", "vaapi", None, code=CRASH)
    assert not ok and reason.startswith("the test encode crashed (signal 6)")
    ok, reason = child_test_encode("x", None, None, code="import sys; sys.exit('no driver')")
    assert (ok, reason) == (False, "the test encode exited with status 1: no driver")


# -- this machine ----------------------------------------------------------------------------

def test_on_this_machine_the_stock_wheel_has_no_vaapi_and_nvenc_stops_with_its_reason():
    real = Capabilities.real({})
    v = detect(real)
    s = steps(v)
    assert real.pyav == "18.1.0" and "vaapi" not in real.device_types
    assert s["vaapi.build"] == Step(
        "vaapi.build", False,
        "PyAV 18.1.0's FFmpeg was built without the vaapi device type and h264_vaapi/hevc_vaapi "
        "(its device types: amf, cuda, drm, qsv); the PyPI wheels have no VA-API: build PyAV "
        "against an FFmpeg configured with --enable-vaapi (docs/transcode.md)")
    assert s["nvenc.build"].ok
    if not real.nvidia_nodes:
        assert s["nvenc.device"].reason.startswith("no device node (/dev/nvidia[0-9]*")
        assert (v.encoder, v.hwaccel) == ("libx264", "none")
    else:                       # a GPU machine: the test encode decides
        assert (v.encoder == "h264_nvenc") == s["nvenc.test_encode"].ok


def test_on_this_machine_a_real_nvenc_test_encode_fails_cleanly_with_ffmpegs_reason():
    real = Capabilities.real({})
    if real.nvidia_nodes:
        pytest.skip("an NVIDIA device is here: the encode may pass")
    started = time.monotonic()
    ok, reason = child_test_encode("h264_nvenc", "cuda", None)
    assert not ok and time.monotonic() - started < hwaccel.TEST_ENCODE_TIMEOUT
    assert reason.startswith("PermissionError: [Errno 1] Operation not permitted")
    assert "Cannot load libcuda.so.1" in reason


def test_real_reads_the_environment_and_an_explicit_vaapi_device(tmp_path):
    missing = str(tmp_path / "renderD999")
    real = Capabilities.real({"FORCE_CPU_TRANSCODE": "1", "TGARC_VAAPI_DEVICE": missing})
    assert real.force_cpu == "1"
    assert real.render_nodes == (Node(missing, False, False, exists=False),)
    assert detect(real).encoder == "libx264"


def test_detected_runs_once_per_process():
    assert hwaccel.detected() is hwaccel.detected()
