"""``tgarc render``: every output of an archive rendered anew, offline."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from pathlib import Path

from engine.archive.layout import stores
from engine.commands.common import local_zone, private_files, say
from engine.config import ConfigError

PREFILL_MIN = 8      # segments: below this a worker pool costs more than it saves


def run(folder: str, formats: list[str], tz: str | None, shared: bool = False,
        workers: int = 1) -> int:
    """Every output of each chat under ``folder`` rendered anew from its archive, offline,
    in ``tz`` (None: the zone each chat was rendered in), notes of days that no longer
    hold a message removed, and each manifest brought up to date. When the render cache
    does not hold a chat's fragments in that zone, ``workers`` processes render them ahead
    of the assembly (``ahead``), which then mostly joins them."""
    from engine import __version__
    from engine.archive import manifest
    from engine.archive.store import ChatStore
    from engine.render import topic_views
    from engine.render.assemble import assemble

    private_files(shared)
    roots = stores(Path(folder))
    if not roots:
        raise ConfigError(f"{folder} holds no tgarc archive (no state/checkpoint.json)")
    for r in roots:
        with ChatStore.load(r) as store:
            for line in store.notices:
                say(line)
            kept = store.cp.output.tz
            zone = tz or kept or local_zone()
            if tz and kept and tz != kept:
                say(f"{r.name}: time zone changed from {kept} to {tz}")
            with ahead(store, zone, workers, formats) as (wait, by_workers):
                done = assemble(store, formats, zone, full=True, wait=wait)
            topics = topic_views.saved_topics(store)
            if topics:
                topic_views.render_topics(store, topics, formats, zone)
            old = manifest.read(r) or {}
            manifest.update(r, tool=f"tgarc {__version__}", api_layer=old.get("api_layer"),
                            runs=old.get("runs") or [], tz=store.cp.output.tz)
        print(f"{r}: {done.messages} messages rendered ({', '.join(formats)}, {zone})"
              + (f" and {len(topics)} topics" if topics else "")
              + (f"; {by_workers[0]} of them by {workers} worker(s) ahead of the assembly"
                 if by_workers[0] else ""),
              file=sys.stderr)
    return 0


@contextlib.contextmanager
def ahead(store, zone: str, workers: int, formats=("md",)):
    """While the block assembles, a worker pool renders the history segments' fragments in
    ``zone`` into the cache, in id order, when the cache cannot hold them already (another
    zone, or files missing). Yields (``wait``: segment name -> returns once its fragments
    are in or a worker gave up on it, or None; the messages the workers rendered, once the
    block is done). A segment no worker could render is rendered by the assembly itself."""
    from engine.archive import layout
    from engine.render.stream import history_segments

    segments = history_segments(store)
    cache = store.root / layout.STATE / layout.RENDER_CACHE
    have = sum(1 for _ in cache.glob("*.frag")) if cache.is_dir() else 0
    rendered = [0]
    if len(segments) < PREFILL_MIN or (zone == store.cp.output.tz and have >= len(segments)):
        yield None, rendered
        return
    ready = {s.name: threading.Event() for s in segments}

    async def run_pool() -> None:
        from engine.supervisor.dispatch import Dispatch
        from engine.supervisor.outcome import Outcome
        from engine.supervisor.tally import Tally

        dispatch = Dispatch(workers, 1, store.root, zone, Tally(workers), Outcome(),
                            asyncio.Event(), md="md" in formats)
        aborted = False
        try:
            futures = []
            for s in segments:
                fut = dispatch.render(s.name)
                fut.add_done_callback(lambda f, name=s.name: ready[name].set())
                futures.append(fut)
            every = asyncio.gather(*futures)
            while not every.done():
                if stop.is_set():              # the assembly failed or was interrupted
                    aborted = True
                    dispatch.abort()
                    dispatch.pool.release()
                    break
                await asyncio.wait({every}, timeout=0.1)
            got = await every
            rendered[0] = sum(g.messages for g in got if not isinstance(g, str))
        finally:
            if not aborted:
                await dispatch.close()
            for event in ready.values():       # the pool gone: the assembly renders the rest
                event.set()

    failed: list[BaseException] = []
    stop = threading.Event()

    def pool_thread() -> None:
        try:
            asyncio.run(run_pool())
        except BaseException as exc:          # the assembly goes on alone; said after it
            failed.append(exc)
            for event in ready.values():
                event.set()

    thread = threading.Thread(target=pool_thread, name="tgarc-render-pool", daemon=True)
    thread.start()
    try:
        yield (lambda name: ready[name].wait()), rendered
    except BaseException:
        stop.set()
        raise
    finally:
        thread.join()
    if failed:
        say(f"{store.root.name}: the render workers failed ({failed[0]}); rendered here")
