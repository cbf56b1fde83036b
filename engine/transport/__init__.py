"""Shared-memory ring transport between tgarc's processes.

``Ring`` is one bounded SPSC ring; ``FanOut`` (one producer to N consumers) and
``FanIn`` (N producers to one consumer) are built from several of them and are
what the supervisor and aggregator use.  The core is the native build
(``engine._native.ring``) when it loads, else the pure-Python twin;
``IMPLEMENTATION`` and ``WHY`` say which and why.

The names load on first use (PEP 562): importing ``engine.transport.errors`` — as the
native core itself does — must not run the native-or-pure choice, or the native module
would be asked for while it is still loading.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "Closed": "errors", "Empty": "errors", "Full": "errors", "PeerDied": "errors",
    "RecordTooLarge": "errors", "RingError": "errors",
    "FanIn": "fan", "FanOut": "fan",
    "Consumer": "ring", "Producer": "ring", "Ring": "ring",
    "segments": "_shm", "sweep_stale": "_shm",
    "NativeRequired": "_impl",
}

__all__ = ["IMPLEMENTATION", "WHY", *sorted(_WHERE)]


def __getattr__(name: str):
    if name in ("IMPLEMENTATION", "WHY"):
        impl = importlib.import_module(f"{__name__}._impl")
        value = impl.DEFAULT.IMPLEMENTATION if name == "IMPLEMENTATION" else impl.REASON
    elif name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
