"""What a re-run's assembly resumes from, so that one which only adds newer messages reads
the new segments (and the last day's) instead of the whole archive.

Day notes need two things the earlier segments taught the stream: the (id, date) of
every message streamed before (reply links find their target's day note) and the peers
met so far (names, as of each day's completion). Both are kept in ``state/``:

- ``catalogue.q``: (id, date) pairs as int64, in the stream's order; only ever appended.
  The checkpoint's ``output.catalogue`` says how many pairs are valid (a crash after an
  append and before the checkpoint leaves pairs past it, overwritten next time);
- ``peers.msgpack``: the peers by the end of the last assembly, with the number of
  catalogue entries (``output.assembled``) it was written for; any other number means a
  crash came between the two writes, and the assembly streams everything again.

Neither is the archive: losing them costs one full pass, never a message.
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path

import msgspec

from engine import model as m
from engine.archive import layout
from engine.archive.atomic import write_atomic


class _Peers(msgspec.Struct, array_like=True):
    assembled: int
    peers: list[m.PeerInfo]


_ENC = msgspec.msgpack.Encoder()
_DEC = msgspec.msgpack.Decoder(_Peers)
PAIR = 16                        # bytes of one (id, date) pair


def _paths(state: Path) -> tuple[Path, Path]:
    return state / layout.CATALOGUE, state / layout.PEERS


def load(state: Path, entries: int, assembled: int
         ) -> tuple[array, array, dict[m.PeerRef, m.PeerInfo]] | None:
    """(ids, dates, peers) as the last assembly left them, or None when they cannot be
    trusted (missing, short, written for another checkpoint)."""
    cat, peers = _paths(state)
    try:
        got = _DEC.decode(peers.read_bytes())
        if got.assembled != assembled:
            return None
        with open(cat, "rb") as f:
            raw = f.read(entries * PAIR)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    if len(raw) != entries * PAIR:
        return None
    pairs = array("q")
    pairs.frombytes(raw)
    return pairs[0::2], pairs[1::2], {p.ref: p for p in got.peers}


def save(state: Path, ids: array, dates: array, start: int,
         peers: dict[m.PeerRef, m.PeerInfo], assembled: int) -> None:
    """Write the pairs from ``start`` on over the catalogue's tail (durably) and the peers
    for ``assembled``; the caller's checkpoint then names ``len(ids)`` valid pairs."""
    cat, peers_path = _paths(state)
    fd = os.open(cat, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size < start * PAIR:     # never pad with zeros: write it all
            start = 0
        pairs = array("q", bytes(PAIR * (len(ids) - start)))
        pairs[0::2], pairs[1::2] = ids[start:], dates[start:]
        os.ftruncate(fd, start * PAIR)
        os.lseek(fd, start * PAIR, os.SEEK_SET)
        view = memoryview(pairs.tobytes())
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    write_atomic(peers_path, _ENC.encode(_Peers(assembled, list(peers.values()))))
