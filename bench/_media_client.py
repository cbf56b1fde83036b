"""One download contender of bench/test_media.py, in a process of its own.

    python bench/_media_client.py SPEC_JSON       (TGARC_DC, TGARC_DC_KEY, TGARC_SESSION set)

A process per contender, not a coroutine in pytest's: fakedc runs in pytest's process, so the
client's CPU, its memory (PSS is sampled from outside) and a SIGKILL all stay apart from the
server's. SPEC is JSON: ``mode`` (``baseline``: a sequential ``client.download_media`` loop;
``tgarc``: ``engine.telegram.download`` over ``lanes`` connections, ``big_at_once`` big files
and ``small_at_once`` photos at a time), ``big`` (message ids of @tgarc_demo), ``ids`` (more
message ids, downloaded after ``big``: the files a ``tgarc export`` fetched, one message per
file), ``photos`` (how many of its newest photos) and ``out``, the folder. Connecting and
fetching the messages is not timed, for either contender. The last stdout line is JSON:
seconds, bytes and each file's path and id.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import orjson
from telethon import functions, types

from engine import model as m
from engine.telegram import client as tgclient
from engine.telegram.download import download, location_of
from engine.telegram.download_lanes import Lanes
from engine.telegram.middleware import TelegramStats, stack


def _media(msg):
    """(file id, size, location, name) of a message's photo (largest size) or document."""
    media = msg.media
    if isinstance(media, types.MessageMediaPhoto):
        p = media.photo
        size = max(p.sizes, key=lambda s: getattr(s, "size", 0))
        loc = location_of(m.Photo(id=p.id, access_hash=p.access_hash,
                                  file_reference=p.file_reference, thumb_type=size.type))
        return p.id, size.size, loc, f"{msg.id}.jpg"
    d = media.document
    loc = location_of(m.Document(id=d.id, access_hash=d.access_hash,
                                 file_reference=d.file_reference))
    return d.id, d.size, loc, f"{msg.id}.bin"


async def _baseline(client, msgs, out) -> list[dict]:
    done = []
    for msg in msgs:
        fid, size, _, name = _media(msg)
        path = await client.download_media(msg, file=os.path.join(out, name))
        done.append({"path": path, "id": fid, "size": size})
    return done


async def _tgarc(client, big, photos, out, spec) -> tuple[list[dict], float]:
    stats = TelegramStats()
    lanes = Lanes(client, stack(client, stats), spec["lanes"], stats)
    # an export opens its lanes once, not per file: the clock starts with them up, as the
    # baseline's one connection is
    await asyncio.gather(*(call(functions.help.GetConfigRequest()) for call in lanes.calls))
    done = []

    async def worker(queue):
        while queue:
            fid, size, loc, name = _media(queue.pop())
            got = await download(lanes.call, loc, size, os.path.join(out, name),
                                 part=spec["part"], parallel=spec["parallel"])
            done.append({"path": got.path, "id": fid, "size": size, "sha256": got.sha256})

    big, photos = list(reversed(big)), list(reversed(photos))
    t0 = time.perf_counter()
    try:
        # two queues as Telegram's appConfig sizes them (large / small files per DC)
        await asyncio.gather(*(worker(big) for _ in range(spec["big_at_once"])),
                             *(worker(photos) for _ in range(spec["small_at_once"])))
    finally:
        took = time.perf_counter() - t0
        await lanes.close()
    return done, took


async def main(spec: dict) -> dict:
    env = os.environ
    client = tgclient.make_client(tgclient.open_session(None, env), *tgclient.credentials(env))
    await client.connect()
    try:
        big = await client.get_messages("tgarc_demo", ids=spec["big"]) if spec["big"] else []
        if spec.get("ids"):        # any media message: what a `tgarc export` downloaded
            big += await client.get_messages("tgarc_demo", ids=spec["ids"])
        photos = []
        if spec["photos"]:
            async for msg in client.iter_messages("tgarc_demo", wait_time=0):
                if isinstance(msg.media, types.MessageMediaPhoto):
                    photos.append(msg)
                    if len(photos) == spec["photos"]:
                        break
        os.makedirs(spec["out"], exist_ok=True)
        if spec["mode"] == "baseline":
            t0 = time.perf_counter()
            done = await _baseline(client, [*big, *photos], spec["out"])
            took = time.perf_counter() - t0
        else:
            done, took = await _tgarc(client, big, photos, spec["out"], spec)
    finally:
        await client.disconnect()
    return {"seconds": took, "bytes": sum(f["size"] for f in done), "files": done}


if __name__ == "__main__":
    result = asyncio.run(main(orjson.loads(sys.argv[1])))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
