"""Shared fixtures: both ring implementations, and a check that no test leaks /dev/shm."""

from __future__ import annotations

import os
import tempfile

import pytest

# Each test session keeps its segments in a private folder on the same tmpfs, so
# the leak check below sees only this session's segments (and children inherit it).
os.environ["TGARC_SHM_DIR"] = tempfile.mkdtemp(prefix="tgarc_tests.", dir="/dev/shm")

from engine import transport


def _native_available() -> bool:
    try:
        from engine._native import ring  # noqa: F401
    except ImportError:
        return False
    return True


IMPLS = ["native", "pure"]


@pytest.fixture(params=IMPLS)
def impl(request) -> str:
    """Runs the test body once per ring core: the native build and its pure twin."""
    if request.param == "native" and not _native_available():
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            pytest.fail("TGARC_REQUIRE_NATIVE=1 but engine._native.ring is not built")
        pytest.skip("native ring not built on this machine (CI requires it)")
    return request.param


@pytest.fixture(scope="session", autouse=True)
def no_leaked_segments():
    """Every segment a test created must be gone when the session ends."""
    shm_dir = os.environ["TGARC_SHM_DIR"]
    assert transport.segments() == []
    yield
    leaked = os.listdir(shm_dir)
    for name in leaked:
        os.unlink(os.path.join(shm_dir, name))
    os.rmdir(shm_dir)
    assert not leaked, f"shared-memory segments left behind by the tests: {sorted(leaked)}"
