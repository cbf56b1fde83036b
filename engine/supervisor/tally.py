"""The run's figures and the one ticker that sends them to the aggregator.

Everything in a ``Tally`` is written and read on the event loop: the fetchers add their
samples there, and the pool's news reaches it through ``Dispatch`` (engine/supervisor/
dispatch.py), which hands it to the loop. One ticker sends it all, so only one thread
ever writes the aggregator's ring.
"""

from __future__ import annotations

import asyncio
import time

from engine.model import events as ev


class Tally:
    def __init__(self, workers: int):
        self.samples: dict[str, list[float]] = {}
        self.messages = 0                    # made durable, all chats of the run together
        self.busy = [0.0] * workers          # per worker: decode + render + write seconds
        self.procs: list[ev.Proc] = []
        self.floods: list[ev.Flood] = []
        self.tl_native = self.tl_telethon = 0   # messages each TL decoder read

    def sample(self, stage: str, seconds: float) -> None:
        self.samples.setdefault(stage, []).append(seconds)

    def acknowledged(self, ack: ev.Ack) -> None:
        self.messages += ack.messages
        self.busy[ack.worker] += ack.decode_s + ack.render_s + ack.write_s
        self.tl_native += ack.tl_native
        self.tl_telethon += ack.tl_telethon
        for stage, s in (("decode", ack.decode_s), ("render", ack.render_s),
                         ("write", ack.write_s)):
            self.sample(stage, s)

    def take(self):
        samples, self.samples = self.samples, {}
        procs, self.procs = self.procs, []
        floods, self.floods = self.floods, []
        return samples, procs, floods, self.messages, list(self.busy)


async def ticker(agg, tally: Tally, stats, cache, exports: list) -> None:
    while True:
        report_tally(agg, tally, stats, cache, exports)
        await asyncio.sleep(0.5)


def report_tally(agg, tally: Tally, stats, cache, exports: list) -> None:
    """Send what the tally gathered since the last report, with the running totals of the
    Telegram link, the peer cache and the worker pool of the chat being exported
    (``exports``: the ChatExports so far, the last one current)."""
    samples, procs, floods, messages, busy = tally.take()
    for p in procs:
        agg.send(p)
    for stage, secs in samples.items():
        agg.send(ev.Stages(stage, secs))
    for f in floods:
        agg.send(f)
    agg.send(ev.Progress(messages))
    agg.send(ev.TelegramSnapshot(stats.requests, stats.flood_waits, stats.flood_wait_seconds,
                                 stats.retries, stats.timeouts, stats.reconnects))
    agg.send(ev.LinkState(stats.offline_now(), stats.reconnect_limit, stats.offline_total()))
    gov = getattr(stats, "governor", None)
    if gov is not None and gov.changed():
        agg.send(ev.GovernorState(gov.summary()))
    if cache is not None:
        agg.send(ev.CacheSnapshot("input_peer_cache", cache.hits, cache.misses,
                                  cache.evictions, cache.expirations))
    dispatch = next((e.dispatch for e in reversed(exports) if e.dispatch is not None), None)
    if dispatch is not None:
        agg.send(ev.QueueSample(dispatch.pool.fill(), dispatch.pool.blocked_seconds))
    for i, b in enumerate(busy):
        agg.send(ev.WorkerBusy(i, b))
    if tally.tl_native or tally.tl_telethon:
        from engine.telegram import tl

        agg.send(ev.Decoded(tl.IMPLEMENTATION, tally.tl_native, tally.tl_telethon))
    media = media_snapshot(stats, exports)
    if media is not None:
        agg.send(media)


# MediaSnapshot field <- TranscodeTally field (engine/supervisor/media_transcode.py), summed
_COPIES = (("transcoded", "files"), ("transcode_wanted", "wanted"),
           ("transcode_linked", "linked"),
           ("transcode_failed", "failed"), ("replaced", "replaced"),
           ("not_replaced", "not_replaced"), ("fallbacks", "fallbacks"),
           ("transcode_seconds", "seconds"), ("transcode_frames", "frames"),
           ("transcode_video_seconds", "video_seconds"), ("transcode_bytes_in", "bytes_in"),
           ("transcode_bytes_out", "bytes_out"))


def media_snapshot(stats, exports: list) -> ev.MediaSnapshot | None:
    """The run's media downloads so far, summed over its chats; None when the run asked
    for no media (``--media none``: no record, so its metrics stay as they were)."""
    if not exports or not exports[-1].cfg.media:
        return None
    now, snap = time.perf_counter(), ev.MediaSnapshot(False, *[0] * 8, 0.0, 0, {},
                                                       encoders={})
    for e in exports:
        t = e.media
        snap.files += t.files
        snap.failed += t.failed
        snap.bytes_total += t.bytes_total
        snap.bytes_done += t.bytes_done
        snap.bytes_fetched += t.bytes_fetched
        snap.dedup_files += t.dedup_files
        snap.dedup_bytes += t.dedup_bytes
        snap.refreshes += t.refreshes
        snap.probed += t.probed
        snap.corrupt += t.corrupt
        snap.probe_seconds += t.probe_seconds
        snap.seconds += t.seconds
        if t.busy_since is not None:            # files downloading now: their time so far
            snap.seconds += now - t.busy_since
        snap.retries += e.media_retries
        for dc, n in t.by_dc.items():
            snap.by_dc[dc] = snap.by_dc.get(dc, 0) + n
        c = t.copies
        for mine, theirs in _COPIES:
            setattr(snap, mine, getattr(snap, mine) + getattr(c, theirs))
        for name, n in (c.encoders or {}).items():
            snap.encoders[name] = snap.encoders.get(name, 0) + n
        if t.hwaccel is not None:
            snap.hwaccel = t.hwaccel
        if e.media_since is not None:           # a media run under way
            snap.active = True
            snap.retries += stats.retries - e.media_retries0
    return snap
