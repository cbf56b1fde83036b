"""One process, both cores: records, limits, timeouts, close/EOF, pickling, claims."""

from __future__ import annotations

import pickle
import time

import pytest

from engine.transport import (
    Closed,
    Empty,
    Full,
    RecordTooLarge,
    Ring,
    RingError,
)
from engine.transport import _layout as L


@pytest.fixture
def ring(impl):
    r = Ring.create(4096, impl)
    yield r
    r.close()


def test_records_come_out_in_order_and_intact(ring):
    tx, rx = ring.producer(), ring.consumer()
    records = [b"", b"a", b"\x00" * 7, b"xyz" * 50, bytes(range(256))]
    tx.put_many(records)
    assert rx.get_many() == records
    tx.put(b"one")
    tx.put(bytearray(b"two"))
    tx.put(memoryview(b"three"))
    assert [rx.get(), rx.get(), rx.get()] == [b"one", b"two", b"three"]


def test_a_record_of_exactly_max_record_fits_and_one_more_byte_is_refused(ring):
    tx, rx = ring.producer(), ring.consumer()
    assert ring.max_record == ring.capacity - L.REC_HDR
    big = bytes(range(256)) * (ring.max_record // 256) + b"z" * (ring.max_record % 256)
    tx.put(big, timeout=0)
    assert rx.get(timeout=0) == big
    with pytest.raises(RecordTooLarge) as err:
        tx.put_many([b"ok", b"x" * (ring.max_record + 1)], timeout=0)
    assert "at most" in str(err.value)
    assert ring.used() == 0, "nothing of a call with an oversized record is published"


def test_records_wrap_around_the_end_of_the_ring_intact(ring):
    tx, rx = ring.producer(), ring.consumer()
    for i in range(200):   # odd sizes walk the write position across the wrap point
        rec = bytes([i % 251]) * (i * 37 % 1500)
        tx.put(rec, timeout=0)
        assert rx.get(timeout=0) == rec


def test_get_respects_max_records_and_max_bytes_but_returns_at_least_one(ring):
    tx, rx = ring.producer(), ring.consumer()
    tx.put_many([b"a" * 100] * 5)
    assert len(rx.get_many(max_records=2)) == 2
    assert len(rx.get_many(max_bytes=150)) == 1
    assert rx.get_many(max_bytes=1) == [b"a" * 100]
    assert rx.get_many() == [b"a" * 100]


def test_get_on_an_empty_ring_times_out(ring):
    rx = ring.consumer()
    t0 = time.monotonic()
    with pytest.raises(Empty):
        rx.get(timeout=0.3)
    assert 0.25 <= time.monotonic() - t0 < 2.0
    with pytest.raises(Empty):
        rx.get(timeout=0)


def test_put_on_a_full_ring_times_out_and_says_how_much_got_in(ring):
    tx = ring.producer()
    per = L.footprint(1000)
    fit = ring.capacity // per
    t0 = time.monotonic()
    with pytest.raises(Full) as err:
        tx.put_many([b"r" * 1000] * (fit + 3), timeout=0.3)
    assert err.value.sent == fit
    assert 0.25 <= time.monotonic() - t0 < 2.0
    assert ring.used() == fit * per


def test_producer_close_is_end_of_stream_after_everything_published(ring):
    tx, rx = ring.producer(), ring.consumer()
    tx.put_many([b"1", b"2"])
    tx.close()
    assert rx.get_many() == [b"1", b"2"]
    with pytest.raises(Closed):
        rx.get_many()
    with pytest.raises(Closed):
        rx.get(timeout=0)


def test_consumer_close_stops_the_producer(ring):
    tx, rx = ring.producer(), ring.consumer()
    rx.close()
    with pytest.raises(Closed) as err:
        tx.put(b"lost?")
    assert err.value.sent == 0


def test_a_producer_blocked_on_a_full_ring_learns_the_consumer_closed(ring):
    import threading

    tx, rx = ring.producer(), ring.consumer()
    tx.put(b"x" * ring.max_record)
    threading.Timer(0.2, rx.close).start()
    with pytest.raises(Closed) as err:
        tx.put_many([b"a", b"b"], timeout=5)
    assert err.value.sent == 0


def test_endpoints_and_rings_pickle_by_name(ring):
    tx = ring.producer()
    rx2 = pickle.loads(pickle.dumps(ring.consumer()))
    assert rx2.ring.name == ring.name and rx2.ring.implementation == ring.implementation
    tx.put(b"via pickle")
    assert rx2.get(timeout=1) == b"via pickle"
    rx2.ring.close()
    assert ring.name in _names(), "only the creator unlinks the segment"


def test_a_second_live_consumer_is_refused(ring, impl):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ring.consumer().claim()  # this process consumes
    with ctx.Pool(1) as pool:
        msg = pool.apply(_try_claim, (ring.consumer(),))
    assert "already has a live consumer" in msg


def _try_claim(rx) -> str:
    try:
        rx.get(timeout=0)
    except RingError as exc:
        return str(exc)
    return "claimed"


def test_an_unknown_or_removed_ring_is_a_clear_error(impl):
    with pytest.raises(RingError, match="no longer exists"):
        Ring.attach("tgarc-1-1-000000000000", impl)
    with pytest.raises(ValueError):
        Ring.attach("../../etc/passwd", impl)


def test_attaching_something_that_is_not_a_ring_is_refused(impl):
    fan = __import__("engine.transport", fromlist=["FanIn"]).FanIn(1, 1024, impl)
    try:
        with pytest.raises(RingError, match="not a tgarc ring"):
            Ring.attach(fan._bell_name, impl)      # a 64-byte doorbell segment
    finally:
        fan.release()


def test_capacity_is_rounded_up_and_too_small_is_refused(impl):
    with Ring.create(1001, impl) as r:
        assert r.capacity == 1008
    with pytest.raises(ValueError):
        Ring.create(8, impl)


def test_closed_ring_refuses_use_in_this_process(impl):
    r = Ring.create(1024, impl)
    tx = r.producer()
    r.close()
    assert r.name not in _names()
    with pytest.raises(ValueError):
        tx.put(b"x")


def test_native_and_pure_cores_share_one_byte_layout(impl):
    """A ring written by one core reads back through the other."""
    other = "pure" if impl == "native" else "native"
    with Ring.create(1 << 14, impl) as r:
        twin = Ring.attach(r.name, other)
        records = [bytes([n % 256]) * n for n in range(0, 300, 7)]
        r.producer().put_many(records[:20], timeout=0)
        assert twin.consumer().get_many(timeout=0) == records[:20]
        twin.producer().put_many(records[20:], timeout=0)
        rx = r.consumer()
        rx._claimed = 0  # the twin handle claimed the consumer role for this pid already
        assert rx.get_many(timeout=0) == records[20:]
        twin.close()


def _names():
    from engine.transport import segments

    return segments()


def test_a_fan_in_reader_asleep_is_woken_by_its_own_process(impl):
    """``wake`` ends a long wait at once (Empty), and a wait with records returns them: the
    pool's thread sleeps until an event or a new job instead of polling."""
    import threading
    import time

    from engine.transport import Empty, FanIn

    fan = FanIn(1, 1024, impl)
    tx = fan.producer(0)
    try:
        got = []

        def read():
            t0 = time.monotonic()
            try:
                fan.get_many(timeout=30)
                got.append("records")
            except Empty:
                got.append(time.monotonic() - t0)

        t = threading.Thread(target=read)
        t.start()
        time.sleep(0.3)
        fan.wake()
        t.join(10)
        assert len(got) == 1 and isinstance(got[0], float) and 0.2 < got[0] < 10, got
        with pytest.raises(Empty):
            fan.get_many(timeout=0.05)      # the wake was spent: waits and times out as ever
        tx.put(b"x")
        fan.wake()
        assert fan.get_many(timeout=30) == [b"x"]   # records come first
    finally:
        fan.release()
