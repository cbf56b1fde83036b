"""LRU + TTL cache of InputPeers, so repeated lookups do not cost a request.

``INPUT_PEER_CACHE_SIZE`` (entries; 0 disables) and ``INPUT_PEER_CACHE_TTL``
(seconds) configure it; its counters go to export_metrics.json
(``caches.input_peer_cache``).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict


class PeerCache:
    def __init__(self, size: int = 1000, ttl: float = 3600.0, clock=time.monotonic):
        self.size, self.ttl, self.clock = max(0, size), ttl, clock
        self._items: OrderedDict[object, tuple[float, object]] = OrderedDict()
        self.hits = self.misses = self.evictions = self.expirations = 0

    @classmethod
    def from_env(cls, env=os.environ) -> PeerCache:
        return cls(int(env.get("INPUT_PEER_CACHE_SIZE", "1000")),
                   float(env.get("INPUT_PEER_CACHE_TTL", "3600")))

    def get(self, key):
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        stored, value = item
        if self.clock() - stored > self.ttl:
            del self._items[key]
            self.expirations += 1
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key, value) -> None:
        if self.size == 0:
            return
        self._items[key] = (self.clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
            self.evictions += 1

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict:
        asked = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses,
                "hit_rate": round(self.hits / asked, 4) if asked else 0.0,
                "evictions": self.evictions, "expirations": self.expirations}
