"""psutil samples of tgarc's processes, folded into the ``resources`` section."""

from __future__ import annotations

import time

import psutil

MB = 1024 * 1024
MIN_CPU_INTERVAL = 0.2   # seconds: a CPU percentage over a shorter span is mostly noise


class _Tracked:
    __slots__ = ("alive", "cpu_first", "cpu_mark", "cpu_seconds", "io_first", "io_last", "peak_pss",
                 "peak_rss", "proc", "role")

    def __init__(self, proc: psutil.Process, role: str):
        self.proc = proc
        self.role = role
        self.alive = True
        self.cpu_seconds: float | None = None     # user+system since the process started
        self.cpu_first: float | None = None       # ... at its first sample
        self.cpu_mark: tuple[float, float] | None = None   # (monotonic, cpu_seconds)
        self.io_first: tuple[int, int] | None = None
        self.io_last: tuple[int, int] | None = None
        self.peak_pss = 0
        self.peak_rss = 0


class Sampler:
    """Samples every registered pid; a pid that is gone keeps its last figures."""

    def __init__(self):
        self.procs: dict[int, _Tracked] = {}
        self.tasks: dict = {}               # node -> events.Tasks: a cluster job's workers
        self.samples = 0
        self.peak_cpu = 0.0
        self.peak_pss = 0
        self.peak_rss = 0
        self.rss_sum_total = 0
        self.first_mono: float | None = None
        self.last_mono: float | None = None
        self.net_first = self._net()
        self.net_last = self.net_first

    @staticmethod
    def _net() -> tuple[int, int] | None:
        try:
            c = psutil.net_io_counters()
        except (OSError, RuntimeError):
            return None
        return None if c is None else (c.bytes_recv, c.bytes_sent)

    def add(self, pid: int, role: str, alive: bool = True) -> None:
        t = self.procs.get(pid)
        if t is not None:
            t.role = role or t.role
            if not alive:
                t.alive = False
            return
        try:
            proc = psutil.Process(pid)
        except (psutil.NoSuchProcess, ValueError):
            proc = None
        t = _Tracked(proc, role)
        t.alive = alive and proc is not None
        self.procs[pid] = t

    def sample(self) -> None:
        """One sample of every live pid; sums are taken over this one sample."""
        now = time.monotonic()
        cpu_sum, cpu_valid, pss_sum, rss_sum = 0.0, False, 0, 0
        for t in self.procs.values():
            if not t.alive:
                continue
            p = t.proc
            try:
                with p.oneshot():
                    times = p.cpu_times()
                    cpu = times.user + times.system
                    try:
                        mem = p.memory_full_info()
                        pss = getattr(mem, "pss", mem.rss)
                    except psutil.AccessDenied:
                        mem = p.memory_info()
                        pss = mem.rss
                    rss = mem.rss
                    try:
                        io = p.io_counters()
                        io_pair = (io.read_bytes, io.write_bytes)
                    except (psutil.AccessDenied, AttributeError):
                        io_pair = None
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                t.alive = False
                continue
            except psutil.AccessDenied:
                continue
            t.cpu_seconds = cpu
            if t.cpu_first is None:
                t.cpu_first = cpu
            if t.cpu_mark is None:
                t.cpu_mark = (now, cpu)
            elif now - t.cpu_mark[0] >= MIN_CPU_INTERVAL:
                cpu_sum += (cpu - t.cpu_mark[1]) / (now - t.cpu_mark[0]) * 100.0
                cpu_valid = True
                t.cpu_mark = (now, cpu)
            if io_pair is not None:
                if t.io_first is None:
                    t.io_first = io_pair
                t.io_last = io_pair
            t.peak_pss = max(t.peak_pss, pss)
            t.peak_rss = max(t.peak_rss, rss)
            pss_sum += pss
            rss_sum += rss
        if cpu_valid:
            self.peak_cpu = max(self.peak_cpu, cpu_sum)
        self.peak_pss = max(self.peak_pss, pss_sum)
        self.peak_rss = max(self.peak_rss, rss_sum)
        self.rss_sum_total += rss_sum
        self.samples += 1
        if self.first_mono is None:
            self.first_mono = now
        self.last_mono = now
        net = self._net()
        if net is not None:
            self.net_last = net

    def resources(self) -> dict:
        span = ((self.last_mono or 0.0) - (self.first_mono or 0.0))
        disk_r = disk_w = 0
        for t in self.procs.values():
            if t.io_first is not None and t.io_last is not None:
                disk_r += max(0, t.io_last[0] - t.io_first[0])
                disk_w += max(0, t.io_last[1] - t.io_first[1])
        net_r = net_s = 0
        if self.net_first is not None and self.net_last is not None:
            net_r = max(0, self.net_last[0] - self.net_first[0])
            net_s = max(0, self.net_last[1] - self.net_first[1])
        cpu_used = sum(t.cpu_seconds - t.cpu_first for t in self.procs.values()
                       if t.cpu_seconds is not None and t.cpu_first is not None)
        return {
            "peak_cpu_percent": round(self.peak_cpu, 1),
            "avg_cpu_percent": round(cpu_used / span * 100.0, 1) if span > 0 else 0.0,
            "peak_pss_mb": round(self.peak_pss / MB, 3),
            "peak_rss_mb": round(self.peak_rss / MB, 3),
            "avg_rss_mb": round(self.rss_sum_total / self.samples / MB, 3) if self.samples else 0.0,
            "disk_read_mb": round(disk_r / MB, 3),
            "disk_write_mb": round(disk_w / MB, 3),
            "net_recv_mb": round(net_r / MB, 3),
            "net_sent_mb": round(net_s / MB, 3),
            "samples": self.samples,
            "per_process": {
                str(pid): {
                    "role": t.role,
                    "peak_pss_mb": round(t.peak_pss / MB, 3),
                    "peak_rss_mb": round(t.peak_rss / MB, 3),
                    "cpu_seconds": round(t.cpu_seconds or 0.0, 3),
                }
                for pid, t in self.procs.items()
            } | {           # a cluster job's workers, as Ray reported them (no memory figures)
                f"tasks@{node[:12]}": {"role": "worker", "peak_pss_mb": 0.0, "peak_rss_mb": 0.0,
                                       "cpu_seconds": round(t.cpu_seconds, 3),
                                       "tasks": t.tasks, "node": node[:12]}
                for node, t in self.tasks.items()
            },
        }
