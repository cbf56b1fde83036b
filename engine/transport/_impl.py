"""Which ring core this process uses: the native build, else the pure-Python twin."""

from __future__ import annotations

import os
from types import ModuleType

from . import _pyring


class NativeRequired(ImportError):
    """TGARC_REQUIRE_NATIVE=1 and the native build cannot be loaded."""


def _load() -> tuple[ModuleType, str]:
    forced = os.environ.get("TGARC_RING_IMPL", "")
    if forced == "pure":
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            raise NativeRequired("TGARC_RING_IMPL=pure contradicts TGARC_REQUIRE_NATIVE=1")
        return _pyring, "TGARC_RING_IMPL=pure asked for the pure-Python twin"
    try:
        from engine._native import ring as native
    except ImportError as exc:
        if os.environ.get("TGARC_REQUIRE_NATIVE") == "1":
            raise NativeRequired(
                f"TGARC_REQUIRE_NATIVE=1 but the native ring is not built ({exc}); "
                "reinstall with a C compiler: pip install -e ."
            ) from exc
        return _pyring, f"native build not loadable ({exc}); using the pure-Python twin"
    return native, f"native build loaded from {native.__file__}"


DEFAULT, REASON = _load()


def by_name(name: str | None) -> ModuleType:
    """The core module for 'native' or 'pure' (None: this process's default)."""
    if name is None:
        return DEFAULT
    if name == "pure":
        return _pyring
    if name == "native":
        from engine._native import ring as native

        return native
    raise ValueError(f"unknown ring implementation {name!r}")
