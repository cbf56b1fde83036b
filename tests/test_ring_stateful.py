"""Hypothesis drives random put/get/close sequences through each core and checks
every answer against a plain model of a bounded FIFO."""

from __future__ import annotations

import os
from collections import deque

import hypothesis.strategies as st
import pytest
from conftest import _native_available
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.transport import Closed, Empty, Full, RecordTooLarge, Ring
from engine.transport import _layout as L

CAPACITY = 1024


def machine_for(impl: str):
    class RingModel(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.ring = Ring.create(CAPACITY, impl)
            self.tx, self.rx = self.ring.producer(), self.ring.consumer()
            self.model: deque[bytes] = deque()
            self.prod_closed = self.cons_closed = False
            self.counter = 0

        def teardown(self):
            self.ring.close()

        def used(self) -> int:
            return sum(L.footprint(len(r)) for r in self.model)

        @rule(sizes=st.lists(
            st.one_of(st.integers(0, 40), st.integers(0, CAPACITY - L.REC_HDR),
                      st.just(CAPACITY - L.REC_HDR + 1)), max_size=8))
        def put_many(self, sizes):
            recs = []
            for n in sizes:
                self.counter += 1
                recs.append(bytes([self.counter % 256]) * n)
            if self.cons_closed or self.prod_closed:
                with pytest.raises(Closed) as err:
                    self.tx.put_many(recs, timeout=0)
                assert err.value.sent == 0
                return
            if any(len(r) > CAPACITY - L.REC_HDR for r in recs):
                with pytest.raises(RecordTooLarge):
                    self.tx.put_many(recs, timeout=0)
                return
            free, fit = CAPACITY - self.used(), 0
            for r in recs:
                if L.footprint(len(r)) > free:
                    break
                free -= L.footprint(len(r))
                fit += 1
            if fit == len(recs):
                self.tx.put_many(recs, timeout=0)
            else:
                with pytest.raises(Full) as err:
                    self.tx.put_many(recs, timeout=0)
                assert err.value.sent == fit
            self.model.extend(recs[:fit])

        @rule(max_records=st.integers(1, 6), max_bytes=st.integers(0, CAPACITY),
              edge=st.none() | st.tuples(st.integers(1, 4), st.integers(-1, 1)))
        def get_many(self, max_records, max_bytes, edge):
            if edge is not None:   # aim max_bytes at the boundary after `k` records
                k, delta = edge
                max_bytes = max(0, sum(len(r) for r in list(self.model)[:k]) + delta)
            if not self.model:
                with pytest.raises(Closed if self.prod_closed else Empty):
                    self.rx.get_many(max_records, max_bytes, timeout=0)
                return
            expect, total = [], 0
            for r in self.model:
                if len(expect) == max_records or (expect and total + len(r) > max_bytes):
                    break
                expect.append(r)
                total += len(r)
            assert self.rx.get_many(max_records, max_bytes, timeout=0) == expect
            for _ in expect:
                self.model.popleft()

        @precondition(lambda self: not self.prod_closed)
        @rule()
        def close_producer(self):
            self.tx.close()
            self.prod_closed = True

        @precondition(lambda self: not self.cons_closed)
        @rule()
        def close_consumer(self):
            self.rx.close()
            self.cons_closed = True

        @invariant()
        def bytes_in_flight_match(self):
            assert self.ring.used() == self.used()

    RingModel.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                           deadline=None)
    return RingModel


TestNativeRing = machine_for("native").TestCase
TestPureRing = machine_for("pure").TestCase

if not _native_available() and os.environ.get("TGARC_REQUIRE_NATIVE") != "1":
    TestNativeRing = pytest.mark.skip(reason="native ring not built")(TestNativeRing)
