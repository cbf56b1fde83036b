"""The baseline of bench/test_media.py, in a process of its own: Telethon's own
``client.download_media``, one file after another.

    python bench/_media_client.py SPEC_JSON       (TGARC_DC, TGARC_DC_KEY, TGARC_SESSION set)

A process, not a coroutine in pytest's: fakedc runs in pytest's process, so the client's
CPU stays apart from the server's. SPEC is JSON: ``ids`` (message ids of @tgarc_demo, one
per file: the files a ``tgarc export`` fetched) and ``out``, the folder. Connecting and
fetching the messages is not timed. The last stdout line is JSON: seconds, bytes and each
file's path, id and size.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import orjson
from telethon import types

from engine.telegram import client as tgclient


def _media(msg):
    """(file id, size, name) of a message's photo (largest size) or document."""
    media = msg.media
    if isinstance(media, types.MessageMediaPhoto):
        p = media.photo
        size = max(p.sizes, key=lambda s: getattr(s, "size", 0))
        return p.id, size.size, f"{msg.id}.jpg"
    d = media.document
    return d.id, d.size, f"{msg.id}.bin"


async def main(spec: dict) -> dict:
    env = os.environ
    client = tgclient.make_client(tgclient.open_session(None, env), *tgclient.credentials(env))
    await client.connect()
    try:
        msgs = await client.get_messages("tgarc_demo", ids=spec["ids"])
        os.makedirs(spec["out"], exist_ok=True)
        done = []
        t0 = time.perf_counter()
        for msg in msgs:
            fid, size, name = _media(msg)
            path = await client.download_media(msg, file=os.path.join(spec["out"], name))
            done.append({"path": path, "id": fid, "size": size})
        took = time.perf_counter() - t0
    finally:
        await client.disconnect()
    return {"seconds": took, "bytes": sum(f["size"] for f in done), "files": done}


if __name__ == "__main__":
    result = asyncio.run(main(orjson.loads(sys.argv[1])))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
