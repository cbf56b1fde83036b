"""Media ledger (engine/archive/media_ledger.py): opening a chat's ledger of a million files.

Figures: ``.venv/bin/python -m pytest bench/test_media_ledger.py -q -s``.  Smoke (CI):
``TGARC_BENCH_QUICK=1 .venv/bin/python -m pytest bench/test_media_ledger.py -q
--benchmark-disable`` (10,000 entries).

Workload: a ledger written as a long export would leave it: ``ENTRIES`` files, each numbered
in its page's group (pending), then marked done with a path, a size and a sha256; 1 % of
them failed once first. One round opens the ledger (replaying and checking every record,
building the index) and closes it, without compaction, and reads one entry back.
The issue's bar: opening 1 M entries takes seconds, not minutes; the bench asserts
a generous 60 s so that a regression by an order of magnitude shows, and prints the
figures (entries/s, bytes per entry on disk, index memory per entry).
"""

from __future__ import annotations

import os
import time
import tracemalloc

import msgspec
import pytest

from engine.archive.media_ledger import Entry, Ledger

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
ENTRIES = 10_000 if QUICK else 1_000_000
PAGE = 100
BOUND_S = 60


def _entry(i: int) -> Entry:
    return Entry("document" if i % 3 == 0 else "photo", 10**12 + i, "photos", i + 1, i + 1)


def _fill(root) -> None:
    with Ledger.open(root, compact=False) as led:
        for lo in range(0, ENTRIES, PAGE):
            hi = min(lo + PAGE, ENTRIES)
            led.put([_entry(i) for i in range(lo, hi)], counters={"photos": hi},
                    counted=(lo + 1, hi))
        for i in range(0, ENTRIES, 100):
            led.failed(_entry(i).key, "FILE_REFERENCE_EXPIRED")
        for lo in range(0, ENTRIES, 1000):          # the downloader's group commits
            led.put([msgspec.structs.replace(
                e, status="done", path=f"photos/photo_{e.n}@01-01-2024_00-00-00.jpg",
                size=123_456, sha256=f"{e.n:064x}", attempts=1)
                for e in map(_entry, range(lo, min(lo + 1000, ENTRIES)))])


@pytest.fixture(scope="module")
def ledger_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ledger")
    t = time.perf_counter()
    _fill(root)
    print(f"\nmedia ledger: wrote {ENTRIES:,} entries in {time.perf_counter() - t:.1f} s")
    return root


def _open_once(root) -> Ledger:
    led = Ledger.open(root, compact=False)
    led.close()
    return led


def test_open(benchmark, ledger_root):
    t = time.perf_counter()
    led = _open_once(ledger_root)
    first = time.perf_counter() - t
    assert len(led) == ENTRIES
    benchmark.pedantic(_open_once, args=(ledger_root,), rounds=1 if QUICK else 3)
    with Ledger.open(ledger_root, compact=False) as led:
        got = led.get(_entry(ENTRIES - 1).key)
        size = led.log_bytes
    assert got.status == "done" and got.n == ENTRIES
    tracemalloc.start()
    held = Ledger.open(ledger_root, compact=False)
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    held.close()
    print(f"\nmedia ledger: opened {ENTRIES:,} entries in {first:.2f} s "
          f"({ENTRIES / first:,.0f} entries/s); log {size / 2**20:.1f} MiB "
          f"({size / ENTRIES:.0f} B/entry, live records are about half); "
          f"index {index_bytes / ENTRIES:.0f} B/entry in memory")
    assert first < BOUND_S


def test_compact(ledger_root, tmp_path):
    """Compaction of the same ledger (a copy): its time and what it saves."""
    copy = tmp_path / "copy"
    (copy / "state").mkdir(parents=True)
    src = ledger_root / "state" / "media.ledger"
    (copy / "state" / "media.ledger").write_bytes(src.read_bytes())
    with Ledger.open(copy, compact=False) as led:
        before = led.log_bytes
        t = time.perf_counter()
        led.compact()
        took = time.perf_counter() - t
        after = led.log_bytes
        assert len(led) == ENTRIES
    print(f"\nmedia ledger: compacted {before / 2**20:.1f} -> {after / 2**20:.1f} MiB "
          f"in {took:.2f} s")
    assert took < BOUND_S
