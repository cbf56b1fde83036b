"""One policy for every native module: load the build, else its pure-Python twin, and say why.

``TGARC_<WHAT>_IMPL=pure`` forces the twin; ``TGARC_REQUIRE_NATIVE=1`` turns a missing
build (or that override) into ``NativeRequired`` instead of a silent fallback.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from types import ModuleType


class NativeRequired(ImportError):
    """TGARC_REQUIRE_NATIVE=1 and a native module cannot be used."""


@dataclass(frozen=True)
class Choice:
    module: ModuleType
    why: str
    name: str
    twin: ModuleType

    def by_name(self, impl: str | None) -> ModuleType:
        """The module for 'native' or 'pure' (None: this process's choice)."""
        if impl is None:
            return self.module
        if impl == "pure":
            return self.twin
        if impl == "native":
            return importlib.import_module(f"engine._native.{self.name}")
        raise ValueError(f"unknown {self.name} implementation {impl!r}")


def choose(name: str, twin: ModuleType, label: str) -> Choice:
    """Load ``engine._native.<name>`` or fall back to ``twin``; ``label`` names it in messages."""
    env = f"TGARC_{name.upper()}_IMPL"
    required = os.environ.get("TGARC_REQUIRE_NATIVE") == "1"
    if os.environ.get(env, "") == "pure":
        if required:
            raise NativeRequired(f"{env}=pure contradicts TGARC_REQUIRE_NATIVE=1")
        return Choice(twin, f"{env}=pure asked for the pure-Python twin", name, twin)
    try:
        native = importlib.import_module(f"engine._native.{name}")
    except ImportError as exc:
        if required:
            raise NativeRequired(
                f"TGARC_REQUIRE_NATIVE=1 but the native {label} is not built ({exc}); "
                "reinstall with a C compiler: pip install -e ."
            ) from exc
        return Choice(twin, f"native build not loadable ({exc}); using the pure-Python twin",
                      name, twin)
    return Choice(native, f"native build loaded from {native.__file__}", name, twin)
