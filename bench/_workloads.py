"""Cross-process throughput workloads: one producer process feeding 1 or 2 consumer processes.

Plain code, no pytest: ``bench/test_ring.py`` drives it through pytest-benchmark, and
``python bench/_workloads.py [--rounds N] [--only KEY,...] [--sizes ...] [--consumers ...]``
runs the same cases from a shell (``TGARC_BENCH_QUICK=1`` for tiny ones) and prints the same
table.  Consumers start through multiprocessing's forkserver, which re-imports the main module:
a script of your own that uses this module needs the ``if __name__ == "__main__":`` guard.

Shape (like msgspec's benchmarks): a ``Transport`` has a ``key``, a ``label`` and opens a
``Channel``; a ``Transfer`` is one round -- ``setup()`` starts the consumers and waits until
each is ready, ``run()`` is the timed part, ``close()`` joins and releases everything.

What one round measures: the producer (the calling process) sends ``records`` records of
``size`` bytes, split evenly over the consumers (one channel per consumer, whole batches
dealt in turn); each consumer counts records and payload bytes, checks the sequence stamp
of the first and last record of every chunk it receives, and notes the time it got the
end-of-stream marker.  The round's time runs from the producer's first send to the last
consumer's end of stream (``time.monotonic`` is one system-wide clock on Linux).  Records
come from a pre-built pool of distinct ``bytes`` objects (about 16 MB, cycled), so building
payloads is not timed and the pool does not sit in cache the whole time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.transport import Closed, FanOut, Ring
from engine.transport.ring import DEFAULT_MAX_BYTES

QUICK = os.environ.get("TGARC_BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("TGARC_BENCH_ROUNDS", "1" if QUICK else "7"))

SIZES = (64, 500, 4096, 32768)
TOPOLOGIES = (1, 2)                  # consumers per producer
RING_CAPACITY = 4 << 20              # bytes; also faster_fifo's max_size_bytes
RING_BATCH = 256                     # records per put_many
FIFO_BATCH = 64                      # records per faster_fifo put_many (FACTS.md) and per
                                     # mp.Queue / Pipe message in their batched variants
LOOP_CHUNK = 256                     # per-record transports: records per producer loop step
POOL_BYTES = 16 << 20
STAMP = 8                            # every record starts with its 8-byte sequence number
TARGET_S = 0.02 if QUICK else 0.5    # aimed-for duration of one transfer
TIMEOUT_S = 120.0                    # give up on a consumer that says nothing for this long

# Consumers start from a forkserver, not as forks of this process: a fork child inherits the
# parent's glibc malloc state, and glibc raises its mmap/trim thresholds for good the first time
# a process frees a large mmap'd block.  Consumers forked from the pytest process therefore
# copied big records out of the ring fast or slow depending on which benchmark had run before
# (native 32 KB: 1.2 GB/s for 1->1, 8.2 GB/s for 1->2 right after a batched-pickle case; a
# consumer's get_many of 32 KB records went from 0.8 to 22 GB/s once its process had freed one
# 4 MB block).  Forkserver children all start from one small, fresh process -- as a worker
# tgarc starts would -- still in milliseconds.  TGARC_BENCH_START=fork restores plain fork.
START_METHOD = os.environ.get("TGARC_BENCH_START", "forkserver")
CTX = mp.get_context(START_METHOD)
if START_METHOD == "forkserver":
    CTX.set_forkserver_preload(["_workloads"])

_END = b""                           # end-of-stream marker for byte-only channels


# --------------------------------------------------------------------------- records


class Tally:
    """What one consumer received: count, payload bytes, and stamp mismatches."""

    __slots__ = ("bad", "n", "nbytes", "period")

    def __init__(self, period: int):
        self.period = period
        self.n = 0
        self.nbytes = 0
        self.bad: str | None = None

    def many(self, chunk: Sequence[bytes]) -> None:
        n, k, p = self.n, len(chunk), self.period
        if (int.from_bytes(chunk[0][:STAMP], "little") != n % p
                or int.from_bytes(chunk[-1][:STAMP], "little") != (n + k - 1) % p):
            self._mismatch(chunk)
        self.n = n + k
        self.nbytes += sum(map(len, chunk))

    def one(self, rec: bytes) -> None:
        if int.from_bytes(rec[:STAMP], "little") != self.n % self.period:
            self._mismatch((rec,))
        self.n += 1
        self.nbytes += len(rec)

    def _mismatch(self, chunk: Sequence[bytes]) -> None:
        if self.bad is None:
            got = [int.from_bytes(r[:STAMP], "little") for r in (chunk[0], chunk[-1])]
            first, last = self.n % self.period, (self.n + len(chunk) - 1) % self.period
            self.bad = (f"chunk of {len(chunk)} at record {self.n}: stamps {got}, "
                        f"expected {first} .. {last}")


_pools: dict[int, list[bytes]] = {}
_batches: dict[tuple[int, int], list[list[bytes]]] = {}


def pool(size: int) -> list[bytes]:
    """Distinct records of ``size`` bytes; record i starts with i as 8 little-endian bytes."""
    if size not in _pools:
        n = max(512, min(16384, POOL_BYTES // size))
        filler = bytes(range(256)) * (size // 256 + 1)
        _pools[size] = [i.to_bytes(STAMP, "little") + filler[: size - STAMP] for i in range(n)]
    return _pools[size]


def batches(size: int, chunk: int) -> list[list[bytes]]:
    """The pool cut into lists of ``chunk`` records (the pool size is a multiple of it)."""
    if (size, chunk) not in _batches:
        recs = pool(size)
        assert len(recs) % chunk == 0
        _batches[size, chunk] = [recs[j : j + chunk] for j in range(0, len(recs), chunk)]
    return _batches[size, chunk]


# --------------------------------------------------------------------------- transports


class Channel:
    """One producer (this process) to ``n`` consumers; subclasses implement the transport.

    ``reader(i)`` is what consumer ``i``'s process gets (pickled to it): an object with
    ``prepare()`` (before it reports ready) and ``consume(tally)`` (until end of stream).
    """

    def reader(self, i: int):
        raise NotImplementedError

    def started(self, i: int, pid: int) -> None:
        """Parent, right after consumer ``i`` started."""

    def ready(self) -> None:
        """Parent, once every consumer is ready and before the clock starts."""

    def send(self, i: int, batch: list[bytes]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """End of stream on every consumer's channel."""
        raise NotImplementedError

    def release(self, clean: bool) -> None:
        """Parent, after the consumers exited (``clean`` False after a failure)."""


@dataclass(frozen=True)
class Transport:
    key: str               # column name in the tables
    label: str             # what exactly is measured
    chunk: int             # records per producer send() call
    channel: type
    options: tuple = ()
    rate: dict[int, float] = field(default_factory=dict)  # rough records/s, sizes the counts

    def open(self, n: int, size: int) -> Channel:
        return self.channel(n, size, *self.options)


class RingReader:
    def __init__(self, rx, max_bytes: int):
        self.rx, self.max_bytes = rx, max_bytes

    def prepare(self):
        self.rx.claim()

    def consume(self, tally):
        get, many, mb = self.rx.get_many, tally.many, self.max_bytes
        try:
            while True:
                many(get(max_bytes=mb))
        except Closed:
            pass


class RingChannel(Channel):
    """tgarc's ring: ``Ring`` for one consumer, ``FanOut`` (one ring each) for several."""

    def __init__(self, n: int, size: int, impl: str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        if n == 1:
            self.ring = Ring.create(RING_CAPACITY, impl=impl)
            self.fan = None
            self.tx = self.ring.producer()
            self.rx = [self.ring.consumer()]
        else:
            self.ring = None
            self.fan = FanOut(n, RING_CAPACITY, impl=impl)
            self.rx = [self.fan.consumer(i) for i in range(n)]

    def reader(self, i):
        return RingReader(self.rx[i], self.max_bytes)

    def started(self, i, pid):
        self.rx[i].bind(pid)

    def ready(self):
        if self.fan is None:
            self.tx.claim()

    def send(self, i, batch):
        if self.fan is None:
            self.tx.put_many(batch)
        else:
            self.fan.put_many(i, batch)

    def finish(self):
        if self.fan is None:
            self.tx.close()
        else:
            self.fan.close()

    def release(self, clean):
        if self.fan is None:
            self.ring.close()
        else:
            self.fan.release()


class QueueReader:
    def __init__(self, q, batched: bool):
        self.q, self.batched = q, batched

    def prepare(self):
        pass

    def consume(self, tally):
        get = self.q.get
        if self.batched:
            many = tally.many
            while (chunk := get()) is not None:
                many(chunk)
        else:
            one = tally.one
            while (rec := get()) is not None:
                one(rec)


class MpQueueChannel(Channel):
    """multiprocessing.Queue, one per consumer; per record, or lists of FIFO_BATCH records."""

    def __init__(self, n: int, size: int, batched: bool):
        self.batched = batched
        self.qs = [CTX.Queue() for _ in range(n)]

    def reader(self, i):
        return QueueReader(self.qs[i], self.batched)

    def send(self, i, batch):
        if self.batched:
            self.qs[i].put(batch)
        else:
            put = self.qs[i].put
            for rec in batch:
                put(rec)

    def finish(self):
        for q in self.qs:
            q.put(None)

    def release(self, clean):
        for q in self.qs:
            q.close()
            if clean:
                q.join_thread()
            else:
                q.cancel_join_thread()


class PipeReader:
    def __init__(self, conn, batched: bool):
        self.conn, self.batched = conn, batched

    def prepare(self):
        pass

    def consume(self, tally):
        if self.batched:
            recv, many = self.conn.recv, tally.many
            while (chunk := recv()) is not None:
                many(chunk)
        else:
            recv_bytes, one = self.conn.recv_bytes, tally.one
            while rec := recv_bytes():
                one(rec)


class PipeChannel(Channel):
    """multiprocessing.Pipe, one per consumer; send_bytes per record, or send() of a list."""

    def __init__(self, n: int, size: int, batched: bool):
        self.batched = batched
        self.pipes = [CTX.Pipe(duplex=False) for _ in range(n)]   # (reader, writer)

    def reader(self, i):
        return PipeReader(self.pipes[i][0], self.batched)

    def started(self, i, pid):
        self.pipes[i][0].close()    # so a consumer that dies breaks the pipe, not hangs it

    def send(self, i, batch):
        w = self.pipes[i][1]
        if self.batched:
            w.send(batch)
        else:
            send_bytes = w.send_bytes
            for rec in batch:
                send_bytes(rec)

    def finish(self):
        for _, w in self.pipes:
            if self.batched:
                w.send(None)
            else:
                w.send_bytes(_END)

    def release(self, clean):
        for _, w in self.pipes:
            w.close()


def _same(b):
    return b


class FifoReader:
    def __init__(self, q):
        self.q = q

    def prepare(self):
        pass

    def consume(self, tally):
        get, many = self.q.get_many, tally.many
        while True:
            chunk = get(block=True, timeout=TIMEOUT_S)
            if not chunk[-1]:               # b"" or None: end of stream (records are >= 64 B)
                chunk.pop()
                if chunk:
                    many(chunk)
                return
            many(chunk)


class FasterFifoChannel(Channel):
    """faster_fifo.Queue, one per consumer, put_many/get_many of FIFO_BATCH records.

    ``raw``: dumps passes the bytes through and loads copies them out of faster_fifo's
    buffer (it hands loads a memoryview); otherwise faster_fifo's default pickling.
    """

    def __init__(self, n: int, size: int, raw: bool):
        import faster_fifo

        self.raw = raw
        kw = {"loads": bytes, "dumps": _same} if raw else {}
        self.qs = [faster_fifo.Queue(max_size_bytes=RING_CAPACITY, **kw) for _ in range(n)]

    def reader(self, i):
        return FifoReader(self.qs[i])

    def send(self, i, batch):
        self.qs[i].put_many(batch, block=True, timeout=TIMEOUT_S)

    def finish(self):
        for q in self.qs:
            q.put_many([_END if self.raw else None], block=True, timeout=TIMEOUT_S)

    def release(self, clean):
        for q in self.qs:
            q.close()


def _rates(small: float, r500: float, r4k: float, r32k: float) -> dict[int, float]:
    return {64: small, 500: r500, 4096: r4k, 32768: r32k}


# rough 1->1 records/s on the 2-vCPU machine; only used to size each transfer near TARGET_S
TRANSPORTS: tuple[Transport, ...] = (
    Transport("native", "tgarc ring, native core: put_many 256 / get_many() (64 KiB a call)",
              RING_BATCH, RingChannel, ("native",), _rates(1e7, 5e6, 1.5e6, 3e5)),
    Transport("native-4M", "the same, get_many(max_bytes=4 MiB): the glibc trim trap",
              RING_BATCH, RingChannel, ("native", 4 << 20), _rates(6e6, 4e6, 2.8e5, 3e4)),
    Transport("pure", "tgarc ring, pure-Python core: put_many 256 / get_many()",
              RING_BATCH, RingChannel, ("pure",), _rates(8e5, 7e5, 2.5e5, 3.5e4)),
    Transport("ff", "faster_fifo.Queue put_many/get_many, batch 64, raw bytes (no pickling)",
              FIFO_BATCH, FasterFifoChannel, (True,), _rates(4e5, 3.8e5, 2.5e5, 9e4)),
    Transport("ff-pickle", "faster_fifo.Queue put_many/get_many, batch 64, default pickling",
              FIFO_BATCH, FasterFifoChannel, (False,), _rates(1.5e5, 1.5e5, 1e5, 3e4)),
    Transport("mpq-batch", "multiprocessing.Queue, put()/get() of a list of 64 records",
              FIFO_BATCH, MpQueueChannel, (True,), _rates(2e6, 1.2e6, 1e5, 1.5e4)),
    Transport("mpq", "multiprocessing.Queue, put()/get() per record",
              LOOP_CHUNK, MpQueueChannel, (False,), _rates(8e4, 6e4, 5e4, 2.5e4)),
    Transport("pipe-batch", "multiprocessing.Pipe, send()/recv() of a list of 64 records",
              FIFO_BATCH, PipeChannel, (True,), _rates(2e6, 1.5e6, 1.5e5, 3e4)),
    Transport("pipe", "multiprocessing.Pipe, send_bytes()/recv_bytes() per record",
              LOOP_CHUNK, PipeChannel, (False,), _rates(2e5, 2e5, 1e5, 4e4)),
)
BY_KEY = {t.key: t for t in TRANSPORTS}


def records_for(transport: Transport, size: int, consumers: int) -> int:
    """Records in one transfer (all consumers together): about TARGET_S at the rough rate,
    a whole number of send() chunks per consumer, at least two."""
    want = transport.rate[size] * TARGET_S
    per = max(2, round(want / consumers / transport.chunk))
    return per * transport.chunk * consumers


# --------------------------------------------------------------------------- one transfer


@dataclass
class Result:
    seconds: float
    records: int
    nbytes: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def mbps(self) -> float:
        return self.nbytes / self.seconds / 1e6


def _consumer_main(reader, conn, period: int) -> None:
    try:
        tally = Tally(period)
        reader.prepare()
        conn.send("ready")
        reader.consume(tally)
        end = time.monotonic()
        conn.send(("done", tally.n, tally.nbytes, tally.bad, end))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class Transfer:
    """One round: ``setup()`` (untimed), ``run()`` (timed), ``close()`` (untimed, idempotent)."""

    def __init__(self, transport: Transport, size: int, consumers: int, records: int):
        self.transport, self.size, self.n = transport, size, consumers
        self.per = records // consumers
        assert self.per % transport.chunk == 0 and self.per * consumers == records
        self.batches = batches(size, transport.chunk)
        self.period = len(pool(size))
        self.chan: Channel | None = None
        self.procs: list = []
        self.conns: list = []
        self.clean = False

    def setup(self) -> None:
        self.chan = self.transport.open(self.n, self.size)
        for i in range(self.n):
            r, w = CTX.Pipe(duplex=False)
            p = CTX.Process(target=_consumer_main, args=(self.chan.reader(i), w, self.period),
                            name=f"bench-consumer-{i}", daemon=True)
            p.start()
            w.close()
            self.procs.append(p)
            self.conns.append(r)
            self.chan.started(i, p.pid)
        for i, conn in enumerate(self.conns):
            msg = self._recv(conn, i)
            if msg != "ready":
                raise RuntimeError(f"consumer {i} did not start: {msg}")
        self.chan.ready()

    def _recv(self, conn, i):
        if not conn.poll(TIMEOUT_S):
            raise TimeoutError(f"consumer {i} said nothing for {TIMEOUT_S} s")
        msg = conn.recv()
        if isinstance(msg, tuple) and msg[0] == "error":
            raise RuntimeError(f"consumer {i} failed:\n{msg[1]}")
        return msg

    def run(self) -> Result:
        chan, n, todo = self.chan, self.n, self.batches
        send, k = chan.send, len(todo)
        t0 = time.monotonic()
        for j in range(self.per // self.transport.chunk):
            batch = todo[j % k]
            for i in range(n):
                send(i, batch)
        chan.finish()
        ends = []
        for i, conn in enumerate(self.conns):
            _, count, nbytes, bad, end = self._recv(conn, i)
            assert bad is None, f"consumer {i}: records out of order or corrupt: {bad}"
            assert count == self.per, f"consumer {i} got {count} records, sent {self.per}"
            assert nbytes == self.per * self.size, (
                f"consumer {i} got {nbytes} payload bytes, sent {self.per * self.size}")
            ends.append(end)
        self.clean = True
        return Result(max(ends) - t0, self.per * n, self.per * n * self.size)

    def close(self) -> None:
        for p in self.procs:
            p.join(10 if self.clean else 1)
            if p.is_alive():
                p.kill()
                p.join()
        for conn in self.conns:
            conn.close()
        self.procs, self.conns = [], []
        if self.chan is not None:
            chan, self.chan = self.chan, None
            chan.release(self.clean)


def run_case(transport: Transport, size: int, consumers: int, rounds: int = ROUNDS,
             records: int | None = None) -> list[Result]:
    """``rounds`` full transfers of one case, outside pytest."""
    records = records or records_for(transport, size, consumers)
    out = []
    for _ in range(rounds):
        t = Transfer(transport, size, consumers, records)
        try:
            t.setup()
            out.append(t.run())
        finally:
            t.close()
    return out


# --------------------------------------------------------------------------- reporting


@dataclass
class CaseStats:
    key: str
    size: int
    consumers: int
    results: list[Result]

    @property
    def rate(self) -> float:          # median records/s over the rounds
        return statistics.median(r.rate for r in self.results)

    @property
    def mbps(self) -> float:
        return statistics.median(r.mbps for r in self.results)


def topo(consumers: int) -> str:
    return f"1->{consumers}"


def human(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f}M"
    if rate >= 1e3:
        return f"{rate / 1e3:.0f}k"
    return f"{rate:.0f}"


# (numerator, denominator, column header)
RATIOS = (
    ("native", "ff", "nat/ff"),
    ("native", "native-4M", "nat/n4M"),
    ("native", "pure", "nat/pure"),
    ("native", "mpq", "nat/mpq"),
    ("native", "mpq-batch", "nat/mpqb"),
)


def tables(stats: Iterable[CaseStats]) -> list[str]:
    """The records/s + ratio table, the MB/s table and the acceptance lines."""
    by = {(s.key, s.size, s.consumers): s for s in stats}
    keys = [t.key for t in TRANSPORTS if any(k[0] == t.key for k in by)]
    ratios = [r for r in RATIOS if r[0] in keys and r[1] in keys]
    cases = sorted({(k[1], k[2]) for k in by})

    def row(cells, widths):
        return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))

    widths = [6, 5, *(max(7, len(k)) for k in keys)]
    rwidths = [max(6, len(r[2])) for r in ratios]
    lines = ["records/s, median of the rounds (a/b = a's records/s over b's)",
             row(["size", "topo", *keys, *(r[2] for r in ratios)], widths + rwidths)]
    for size, n in cases:
        cells = [size, topo(n)]
        cells += [human(by[k, size, n].rate) if (k, size, n) in by else "-" for k in keys]
        for a, b, _ in ratios:
            sa, sb = by.get((a, size, n)), by.get((b, size, n))
            cells.append(f"{sa.rate / sb.rate:.1f}x" if sa and sb else "-")
        lines.append(row(cells, widths + rwidths))

    lines += ["", "MB/s of payload (MB = 10^6 bytes), median of the rounds",
              row(["size", "topo", *keys], widths)]
    for size, n in cases:
        cells = [size, topo(n)]
        cells += [f"{by[k, size, n].mbps:.0f}" if (k, size, n) in by else "-" for k in keys]
        lines.append(row(cells, widths))

    lines += ["", "acceptance figures (measured and printed only; the bench asserts no speed):"]
    ff500 = by.get(("ff", 500, 1))
    for key in ("native",):
        nat500, nat32 = by.get((key, 500, 1)), by.get((key, 32768, 1))
        if nat500:
            lines.append(f"  {key} 500 B 1->1: {nat500.rate:,.0f} records/s (target >= 3,000,000): "
                         f"{'met' if nat500.rate >= 3e6 else 'NOT met'}")
        if nat500 and ff500:
            ratio = nat500.rate / ff500.rate
            lines.append(f"  {key} / faster_fifo batched, 500 B 1->1: {ratio:.1f}x (target >= 5x): "
                         f"{'met' if ratio >= 5 else 'NOT met'}")
        if nat32:
            gbps = nat32.mbps / 1e3
            lines.append(f"  {key} 32 KB 1->1: {gbps:.2f} GB/s (target >= 3 GB/s): "
                         f"{'met' if gbps >= 3 else 'NOT met'}")
    return lines


def main(argv: Sequence[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--only", default="", help="comma-separated transport keys")
    ap.add_argument("--sizes", default="", help="comma-separated record sizes")
    ap.add_argument("--consumers", default="", help="comma-separated: 1,2")
    args = ap.parse_args(argv)
    keys = args.only.split(",") if args.only else list(BY_KEY)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SIZES
    topos = [int(s) for s in args.consumers.split(",")] if args.consumers else TOPOLOGIES
    stats = []
    for key in keys:
        for size in sizes:
            for n in topos:
                res = run_case(BY_KEY[key], size, n, args.rounds)
                st = CaseStats(key, size, n, res)
                stats.append(st)
                print(f"{key:>10} {size:>6} B {topo(n)}: {human(st.rate):>7} records/s "
                      f"{st.mbps:8.0f} MB/s  ({res[0].records} records, "
                      f"{statistics.median(r.seconds for r in res):.3f} s)", flush=True)
    print("\n".join(["", *tables(stats)]))


if __name__ == "__main__":
    main(sys.argv[1:])
