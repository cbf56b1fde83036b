#!/usr/bin/env bash
# The README's test command (and .ci/run's): install into .venv, lint, test, smoke the benches.
# Native build required: CI must always test the Cython core, not only its pure twin.
set -euo pipefail
cd "$(dirname "$0")/.."
export TGARC_REQUIRE_NATIVE=1
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,ray]'   # ray: the --cluster tests
.venv/bin/ruff check .
.venv/bin/python -m pytest tests "$@"
if [ -d bench ] && ls bench/test_*.py >/dev/null 2>&1; then
  # Smoke only: each bench runs once on a small workload; figures are taken by hand (docs/benchmarks.md).
  TGARC_BENCH_QUICK=1 .venv/bin/python -m pytest bench -q --benchmark-disable -p no:cacheprovider
fi
