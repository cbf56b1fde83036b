"""Shared fixtures: both ring implementations, and a check that no test leaks /dev/shm."""

from __future__ import annotations

import os

import pytest

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
    before = set(transport.segments())
    yield
    leaked = set(transport.segments()) - before
    assert not leaked, f"/dev/shm segments left behind by the tests: {sorted(leaked)}"
