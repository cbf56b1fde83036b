"""One policy for every native module: load the build, else its pure-Python twin, and say why.

``TGARC_<WHAT>_IMPL=pure`` forces the twin; ``TGARC_REQUIRE_NATIVE=1`` turns a missing
build (or that override) into ``NativeRequired`` instead of a silent fallback.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


class NativeRequired(ImportError):
    """TGARC_REQUIRE_NATIVE=1 and a native module cannot be used."""


@dataclass
class Choice:
    module: Any
    why: str
    name: str
    twin: Any
    # what callers get for the native build: the module itself, or a façade around it
    # that routes what the build leaves to the twin (engine/render/renderer.py)
    wrap: Callable[[ModuleType], Any] | None = None
    _native: Any = field(default=None, repr=False)

    def by_name(self, impl: str | None) -> Any:
        """The module for 'native' or 'pure' (None: this process's choice)."""
        if impl is None:
            return self.module
        if impl == "pure":
            return self.twin
        if impl == "native":
            if self._native is None:
                mod = importlib.import_module(f"engine._native.{self.name}")
                self._native = self.wrap(mod) if self.wrap else mod
            return self._native
        raise ValueError(f"unknown {self.name} implementation {impl!r}")


def choose(name: str, twin: Any, label: str,
           wrap: Callable[[ModuleType], Any] | None = None) -> Choice:
    """Load ``engine._native.<name>`` or fall back to ``twin``; ``label`` names it in messages;
    ``wrap``, if given, turns the loaded build into what callers use."""
    env = f"TGARC_{name.upper()}_IMPL"
    required = os.environ.get("TGARC_REQUIRE_NATIVE") == "1"
    if os.environ.get(env, "") == "pure":
        if required:
            raise NativeRequired(f"{env}=pure contradicts TGARC_REQUIRE_NATIVE=1")
        return Choice(twin, f"{env}=pure asked for the pure-Python twin", name, twin, wrap)
    try:
        native = importlib.import_module(f"engine._native.{name}")
    except ImportError as exc:
        if required:
            raise NativeRequired(
                f"TGARC_REQUIRE_NATIVE=1 but the native {label} is not built ({exc}); "
                "reinstall with a C compiler: pip install -e ."
            ) from exc
        return Choice(twin, f"native build not loadable ({exc}); using the pure-Python twin",
                      name, twin, wrap)
    used = wrap(native) if wrap else native
    return Choice(used, f"native build loaded from {native.__file__}", name, twin, wrap, used)
