"""Process bodies for the multi-process ring tests (importable by spawn children)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time

from engine.transport import Closed, PeerDied


def make_record(seq: int, size: int) -> bytes:
    """A self-checking record: a torn or mixed-up write cannot pass check_record."""
    if size < 16:
        return bytes([seq % 251]) * size
    body = random.Random(seq).randbytes(size - 16)
    return seq.to_bytes(8, "little") + hashlib.blake2b(body, digest_size=8).digest() + body


def check_record(rec: bytes, seq: int, size: int) -> bool:
    if len(rec) != size:
        return False
    if size < 16:
        return rec == bytes([seq % 251]) * size
    return (int.from_bytes(rec[:8], "little") == seq
            and hashlib.blake2b(rec[16:], digest_size=8).digest() == rec[8:16])


def sizes(seed: int, n: int, max_size: int) -> list[int]:
    rnd = random.Random(seed)
    return [rnd.choice((0, 1, 7, 8, 9, 15, 16, 17, rnd.randrange(max_size + 1))) for _ in range(n)]


def produce(tx, seed: int, n: int, max_size: int, batch: int = 17, seq0: int = 0,
            stride: int = 1) -> None:
    szs = sizes(seed, n, max_size)
    recs = [make_record(seq0 + i * stride, s) for i, s in enumerate(szs)]
    for i in range(0, n, batch):
        tx.put_many(recs[i : i + batch], timeout=30)
    tx.close()


def consume_and_check(rx, seed: int, n: int, max_size: int, result, seq0: int = 0,
                      stride: int = 1) -> None:
    """Put (records received, first bad index or -1, ended by) on `result`."""
    szs = sizes(seed, n, max_size)
    got, bad = 0, -1
    try:
        while True:
            for rec in rx.get_many(max_records=23, timeout=30):
                if bad < 0 and (got >= n or not check_record(rec, seq0 + got * stride, szs[got])):
                    bad = got
                got += 1
    except Closed:
        ended = "closed"
    except PeerDied:
        ended = "peer died"
    result.put((got, bad, ended))


def hold_consumer(rx, ready) -> None:
    """Claim the consumer end, say so, then never read again."""
    rx.get(timeout=30)
    ready.set()
    time.sleep(60)


def hold_producer(tx, ready, n: int) -> None:
    """Publish n records, say so, then never write again."""
    tx.put_many([make_record(i, 100) for i in range(n)])
    ready.set()
    time.sleep(60)


def block_on_empty(rx, ready, result) -> None:
    rx.claim()
    ready.set()
    try:
        rx.get(timeout=30)
        result.put("got a record")
    except KeyboardInterrupt:
        result.put("interrupted")
    except Exception as exc:  # report, the test decides
        result.put(repr(exc))


def block_on_full(tx, ready) -> None:
    tx.put(b"x" * tx.ring.max_record)
    ready.set()
    tx.put(b"y", timeout=30)   # blocks until the test kills this process


def fan_in_worker(tx, index: int, n: int) -> None:
    for i in range(0, n, 50):
        tx.put_many([index.to_bytes(2, "little") + j.to_bytes(4, "little") * 10
                     for j in range(i, min(n, i + 50))], timeout=30)
    tx.close()


def die_after(tx, n: int) -> None:
    tx.put_many([b"last words %d" % i for i in range(n)], timeout=30)
    os.kill(os.getpid(), signal.SIGKILL)


def await_first_job(rx) -> None:
    """A worker before its first job: exit 3 once the producer is known dead."""
    try:
        rx.get_many(timeout=60)
    except PeerDied:
        os._exit(3)
    except Exception:   # Empty after a minute: the producer was never seen to die
        os._exit(1)
    os._exit(0)


def supervise_and_send_nothing(n: int, impl, pids) -> None:
    """A supervisor that starts ``n`` workers on a fan-out and dies before any job."""
    import multiprocessing as mp

    from engine.transport import FanOut

    ctx = mp.get_context("fork")
    fan = FanOut(n, 1 << 12, impl)
    procs = [ctx.Process(target=await_first_job, args=(fan.consumer(i),)) for i in range(n)]
    for i, p in enumerate(procs):
        p.start()
        fan.bind(i, p.pid)
    pids.put([p.pid for p in procs])
    time.sleep(60)      # the test kills this process
