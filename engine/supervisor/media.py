"""A chat's media pass: after its history is fetched, inside the same takeout session.

    open the ledger (state/media.ledger) → number and plan (media_plan.py, in a thread)
    → download what is wanted (media_fetch.py) → remember the settings it ran with

``--media none`` runs no pass at all, so a chat exported that way gets exactly the
outputs it had before tgarc downloaded media. Files an earlier run downloaded stay
where they are and keep being pointed at (the outputs read the ledger, not the flags).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from engine.archive.media_ledger import Ledger
from engine.archive.ranges import IdRanges
from engine.archive.store import ChatStore
from engine.config import ExportConfig
from engine.supervisor.media_fetch import MediaFetch, MediaTally, Stopped
from engine.supervisor.media_plan import MediaPlanner
from engine.supervisor.outcome import Interrupted, say

log = logging.getLogger("tgarc.media")


async def media_pass(cfg: ExportConfig, store: ChatStore, source, tz: str,
                     stop: asyncio.Event, tally: MediaTally) -> bool:
    """Download the chat's wanted media; True when an earlier run's entry changed (the
    outputs must then be rendered in full, not only for the new messages)."""
    if not cfg.media:
        return False
    ledger = await asyncio.to_thread(Ledger.open, store.root)
    try:
        for line in ledger.notices:
            say(f"{store.root.name}: {line}")
        planner = MediaPlanner(store, ledger, cfg.media, cfg.max_media_size, tz)
        t0 = time.perf_counter()
        plan = await asyncio.to_thread(planner.run)
        log.info("%s: media: %d new file(s) numbered, %d to download (%s skipped), "
                 "%d downloaded before; planned in %.2f s", store.root.name, plan.numbered,
                 len(plan.wanted), sum(plan.skipped.values()), plan.done_before,
                 time.perf_counter() - t0)
        if plan.wanted:
            lanes = source.lanes(cfg.media_lanes)
            try:
                fetch = MediaFetch(store.root, ledger, source, source.wrap(lanes.call),
                                   store.cp.chat.ref, source.home_dc, stop, tally)
                await fetch.run(plan)
            except Stopped:
                raise Interrupted() from None
            finally:
                await lanes.close()
        await asyncio.to_thread(planner.save_settings)
        _report(store.root.name, plan, tally)
        return plan.changed_old or bool(plan.wanted and _old(store, plan))
    finally:
        ledger.close()


def _report(folder: str, plan, tally: MediaTally) -> None:
    """One line for the user when files came or failed (tgarc.log has the details)."""
    if not plan.wanted:
        return
    mb = tally.bytes_fetched / 1e6
    rate = f", {mb / tally.seconds:.1f} MB/s" if tally.seconds > 0 and mb else ""
    line = f"{folder}: media: {tally.files} file(s) downloaded ({mb:.1f} MB{rate})"
    if tally.dedup_files:
        line += f", {tally.dedup_files} stored once as a link to an identical file"
    if tally.failed:
        line += (f"; {tally.failed} could not be downloaded (marked unavailable, tried again "
                 f"by the next run): {tally.errors[0]}")
    if tally.failed:
        say(line)                  # a warning, in tgarc.log too
    else:
        log.info("%s", line)
        print(f"tgarc: {line}", file=sys.stderr)


def _old(store: ChatStore, plan) -> bool:
    """Whether a file downloaded now belongs to a message an earlier assembly rendered."""
    rendered = IdRanges((s.lo, s.hi) for s in store.cp.segments[:store.cp.output.assembled]
                        if s.kind == "history" and s.count)
    return any(w.entry.msg_id in rendered for w in plan.wanted)


__all__ = ["MediaTally", "media_pass"]
