"""A worker process: jobs in from its job ring, durable segments and fragments out.

For each job — raw history pages (``PagesJob``: the TL is decoded here, not in the
supervisor, keeping each message's TL bytes) or an already decoded ``BatchJob`` — build
the Batch, render its result.json and messages.jsonl fragments, write the Batch as an
archive segment (fsynced) and the fragments into the render cache of the store the job
names (the chat's own, or a comment thread's nested in it), then acknowledge on the
event ring. A job that cannot be processed is reported as ``Failed`` and the worker
goes on.

The worker ignores SIGINT (Ctrl-C reaches the whole process group; the supervisor
decides what an interrupt means) and exits on its own when the supervisor dies: the
rings report the dead peer within a wait slice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import msgspec

from engine import model as m
from engine.archive import layout
from engine.archive.segment import write_segment
from engine.media.numbering import files_in
from engine.model import events as ev
from engine.render import fragments
from engine.transport import Closed, PeerDied


def run(index: int, jobs, events, root: str, tz_name: str, md: bool = True) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):           # what `top` and `ps -o comm` show
        Path("/proc/self/comm").write_text(f"tgarc-worker-{index}"[:15])
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)

    jobs.claim()
    events.claim()
    from engine.telegram import tl  # Telethon: only where pages arrive

    decode_job, encode = ev.JOB_DECODER.decode, ev.ENCODER.encode
    here = Here(root, tz_name, tz, md, tl)
    try:
        while True:
            try:
                records = jobs.get_many()
            except Closed:
                return 0
            for rec in records:
                job = decode_job(rec)
                if isinstance(job, ev.Stop):
                    events.close()
                    return 0
                events.put(encode(answer(job, index, here)))
    except PeerDied:
        return 3                       # the supervisor is gone: nothing to do for anyone


class Here:
    """What a process that works jobs keeps between them: the pool's root, zone and
    formats, and each job's zone and store, looked up once."""

    def __init__(self, root: str, tz_name: str, tz, md: bool, tl):
        self.root, self.tz_name, self.tz, self.md, self.tl = root, tz_name, tz, md, tl
        self.zone, self.place = _Zones(tz_name, tz), _Places(root)


def answer(job, index: int, here: Here):
    """The event that answers ``job`` (anything but ``Stop``), its work done: a history
    job's segment durable and its fragments cached. A job that cannot be done is answered
    ``Failed``; only the process's death ends it otherwise. Also a cluster task's body
    (engine/cluster/tasks.py)."""
    root, md = here.root, here.md
    if isinstance(job, ev.ProbeJob):
        return _probe(job, index, root)
    if isinstance(job, ev.TranscodeJob):
        return _transcode(job, index, root)
    if isinstance(job, ev.RenderJob):
        return _render(job, index, here.place(job.folder), *here.zone(job.tz), md)
    tl, perf = here.tl, time.perf_counter
    t0 = perf()
    read0 = tl.counts()
    try:
        if isinstance(job, ev.PagesJob):
            batch = tl.decode_pages(job.pages, job.origin or job.chat, job.lo, job.hi)
            batch.chat = job.chat
            payload = ev.ENCODER.encode(batch)
            archive, cache = here.place(job.folder)
            zname, ztz = here.zone(job.tz)
        else:
            archive, cache = here.place("")
            payload = job.payload
            batch = m.BATCH_DECODER.decode(payload)
            zname, ztz = here.tz_name, here.tz
        t1 = perf()
        frags = fragments.render(batch, zname, ztz, md=md, payload=payload)
        # only messages with a photo, document or contact can carry a file
        files = files_in([batch.messages[i] for i in frags.media])
        t2 = perf()
        write_segment(archive, job.segment, payload)
        fragments.write(cache / (job.segment + ".frag"), frags)
        t3 = perf()
    except OSError as exc:              # the disk, not the batch: the supervisor stops
        return ev.Failed(job.seq, index, exc.strerror or str(exc), exc.errno or 0,
                         str(exc.filename or ""))
    except Exception as exc:            # one bad batch never stops the worker
        return ev.Failed(job.seq, index, f"{type(exc).__name__}: {exc}")
    dates = [d for d in frags.dates if d]
    read = tl.counts()
    return ev.Ack(job.seq, index, len(batch.messages), min(dates, default=0),
                  max(dates, default=0), t1 - t0, t2 - t1, t3 - t2, read[0] - read0[0],
                  read[1] - read0[1], files)


class _Zones(dict):
    """A job's zone ('': the pool's) -> (its name, its ZoneInfo): a run's chats may differ."""

    def __init__(self, name: str, tz):
        super().__init__({"": (name, tz), name: (name, tz)})

    def __call__(self, name: str):
        got = self.get(name)
        if got is None:
            from zoneinfo import ZoneInfo

            got = self[name] = (name, ZoneInfo(name))
        return got


class _Places(dict):
    """A job's folder -> (archive/, render cache) of the store it writes into."""

    def __init__(self, root: str):
        super().__init__()
        self.root = Path(root)

    def __call__(self, folder: str) -> tuple[Path, Path]:
        got = self.get(folder)
        if got is None:
            store = self.root / folder if folder else self.root
            got = self[folder] = (store / layout.ARCHIVE,
                                  store / layout.STATE / layout.RENDER_CACHE)
        return got


def _probe(job: ev.ProbeJob, index: int, root: str) -> ev.Probed:
    """A downloaded file read with PyAV: its streams, or why not. A file that makes the
    decoder crash takes this process with it; the pool then retries it once on a fresh
    worker and reports it failed (supervisor/pool.py)."""
    from engine.media import probe

    t0 = time.perf_counter()
    try:
        got = probe.probe(Path(root) / job.path, decode=job.decode)
    except probe.ProbeFailed as exc:
        return ev.Probed(job.seq, index, error=str(exc), seconds=time.perf_counter() - t0)
    # a map, not the Struct's array: readers need no import of engine.media to read it
    fields = {k: v for k, v in msgspec.structs.asdict(got).items() if v is not None}
    return ev.Probed(job.seq, index, probe=msgspec.msgpack.encode(fields),
                     seconds=time.perf_counter() - t0)


def _render(job: ev.RenderJob, index: int, where: tuple[Path, Path], tz_name: str,
            tz, md: bool) -> ev.Rendered:
    """A segment's fragments in this pool's zone, into the render cache unless it has them."""
    from engine.archive.segment import read_segment_file

    t0 = time.perf_counter()
    archive, cache = where
    try:
        batch = read_segment_file(archive / job.segment)
        path = cache / (job.segment + ".frag")
        frags = fragments.read(path, batch, tz_name)
        if frags is not None and (frags.md is not None or not md) and frags.dates:
            return ev.Rendered(job.seq, index, seconds=time.perf_counter() - t0)
        path.parent.mkdir(parents=True, exist_ok=True)
        fragments.write(path, fragments.render(batch, tz_name, tz, md=md))
    except Exception as exc:           # assembly renders it itself (and says what is wrong)
        return ev.Rendered(job.seq, index, error=f"{type(exc).__name__}: {exc}",
                           seconds=time.perf_counter() - t0)
    return ev.Rendered(job.seq, index, len(batch.messages), seconds=time.perf_counter() - t0)


def _transcode(job: ev.TranscodeJob, index: int, root: str) -> ev.Transcoded:
    """A compact copy of a downloaded video (engine/media/transcode.py), its SHA-256, and,
    when asked, whether it decodes back as the source (``--transcode-replace``). A failure
    is the answer, never the worker's end; one that kills the process is the pool's to
    handle, as for a probe."""
    import hashlib

    from engine.media import transcode as tc
    from engine.media.copy_check import verify

    t0 = time.perf_counter()
    src, dest = Path(root) / job.src, Path(root) / job.dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        got = tc.transcode_auto(src, dest, codec=job.codec, max_height=job.max_height,
                                crf=job.crf, hw=job.hw)
        with open(dest, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except (tc.TranscodeFailed, OSError) as exc:
        return ev.Transcoded(job.seq, index, error=str(exc),
                             seconds=time.perf_counter() - t0)
    fields = msgspec.structs.asdict(got)
    fields["sha256"] = digest
    verified, why = False, ""
    if job.verify:
        try:
            verify(dest, got.duration, got.height, audio=job.audio)
            verified = True
        except tc.TranscodeFailed as exc:
            why = str(exc)
    return ev.Transcoded(job.seq, index, result=msgspec.msgpack.encode(fields),
                         verified=verified, verify_error=why,
                         seconds=time.perf_counter() - t0)


def main(index: int, jobs, events, root: str, tz_name: str, md: bool = True) -> None:
    """multiprocessing target. ``md``: day-note blocks in the render cache too (the export
    writes the vault)."""
    code = run(index, jobs, events, root, tz_name, md)
    sys.stdout.flush()
    os._exit(code)
