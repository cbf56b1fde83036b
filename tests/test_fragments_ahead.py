"""The assembly reads the render cache a few segments ahead, in a thread of its own: the
fragments still come in segment order, each after its ``wait``, and an assembly that stops
early leaves no read behind."""

from __future__ import annotations

import threading
import time

from engine import model as m
from engine.archive.segment import Segment
from engine.render import fragments
from engine.render.fragments import RENDER_VERSION, Fragments, write


def _segments(folder, n: int) -> list[Segment]:
    segs = []
    for k in range(n):
        seg = Segment(f"h{k:04d}", "history", 10 * k + 1, 10 * k + 1, 1)
        frags = Fragments("UTC", [10 * k + 1], [b"{}"], [b"{}\n"],
                          dates=[1_700_000_000 + k], chat=m.PeerRef("channel", 5),
                          version=RENDER_VERSION)
        if k % 3:                                      # the others are not in the cache
            write(folder / (seg.name + ".frag"), frags)
        segs.append(seg)
    return segs


def test_fragments_come_in_order_each_after_its_wait(tmp_path):
    segs = _segments(tmp_path, 12)
    waited: list[str] = []

    def wait(name: str) -> None:
        time.sleep(0.002 * (int(name[1:]) % 4))       # segments ready out of step
        waited.append(name)

    got = list(fragments.loads(tmp_path, segs, "UTC", wait, ahead=3))
    assert waited == [s.name for s in segs]
    assert [g is None for g in got] == [k % 3 == 0 for k in range(12)]
    assert [g.ids for g in got if g is not None] == [[s.lo] for s in segs if int(s.name[1:]) % 3]


def test_an_assembly_that_stops_early_leaves_no_read_behind(tmp_path):
    segs = _segments(tmp_path, 50)
    waited: list[str] = []
    gen = fragments.loads(tmp_path, segs, "UTC", waited.append, ahead=4)
    next(gen), next(gen)
    gen.close()
    assert len(waited) <= 2 + 4 + 1
    assert not [t for t in threading.enumerate() if t.name.startswith("tgarc-frags")]
