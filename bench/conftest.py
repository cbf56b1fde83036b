"""Shared by bench/ (pytest-benchmark suites).  Smoke only, what tests/run.sh and CI run:

    TGARC_BENCH_QUICK=1 .venv/bin/python -m pytest bench -q --benchmark-disable -p no:cacheprovider

Figures (docs/benchmarks.md): ``.venv/bin/python -m pytest bench/test_ring.py``.  Each ring-bench
case leaves its median records/s and MB/s here, and the session ends with a table of them: the
native ring's ratio to each baseline, and the acceptance figures.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import _workloads as W

from engine import transport

RESULTS = pytest.StashKey[list]()


def pytest_configure(config):
    config.stash[RESULTS] = []


def pytest_report_header(config):
    mode = "QUICK smoke (tiny transfers)" if W.QUICK else "full"
    return [f"ring bench: {mode} mode, {W.ROUNDS} round(s) per case, "
            f"{W.RING_CAPACITY >> 20} MiB rings, {os.cpu_count()} CPUs, "
            f"default ring core: {transport.IMPLEMENTATION}"]


@pytest.fixture
def bench_results(request) -> list:
    """Where each case leaves its CaseStats for the end-of-session table."""
    return request.config.stash[RESULTS]


@pytest.hookimpl(trylast=True)      # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = config.stash.get(RESULTS, [])
    if not stats:
        return
    tr = terminalreporter
    tr.section("tgarc transport throughput: 1 producer process -> 1 or 2 consumer processes")
    if W.QUICK:
        tr.write_line("QUICK mode: transfers of a few ms; these figures mean nothing.")
    for t in W.TRANSPORTS:
        if any(s.key == t.key for s in stats):
            tr.write_line(f"  {t.key:>10}: {t.label}")
    tr.write_line("")
    for line in W.tables(stats):
        tr.write_line(line)
