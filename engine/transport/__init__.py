"""Shared-memory ring transport between tgarc's processes.

``Ring`` is one bounded SPSC ring; ``FanOut`` (one producer to N consumers) and
``FanIn`` (N producers to one consumer) are built from several of them and are
what the supervisor and aggregator use.  The core is the native build
(``engine._native.ring``) when it loads, else the pure-Python twin;
``IMPLEMENTATION`` and ``WHY`` say which and why.
"""

from ._impl import DEFAULT as _DEFAULT
from ._impl import REASON as WHY
from ._impl import NativeRequired
from ._shm import segments, sweep_stale
from .errors import Closed, Empty, Full, PeerDied, RecordTooLarge, RingError
from .fan import FanIn, FanOut
from .ring import Consumer, Producer, Ring

IMPLEMENTATION: str = _DEFAULT.IMPLEMENTATION

__all__ = [
    "IMPLEMENTATION", "WHY", "Closed", "Consumer", "Empty", "FanIn", "FanOut", "Full",
    "NativeRequired", "PeerDied", "Producer", "RecordTooLarge", "Ring", "RingError",
    "segments", "sweep_stale",
]
