"""A plain re-run after ``--refresh-edits`` runs: the resumed assembly reads the refresh
segments wholly below what it streams for their peers alone (engine/render/stream.py
``refreshed``), and its outputs equal a rebuild of every output from the archive."""

from __future__ import annotations

import shutil
import subprocess
import sys

import msgspec

from engine import model as m
from engine.archive.store import ChatMeta, ChatStore
from engine.render.stream import refreshed
from engine.supervisor.catalogue import archive_batch
from tests._export import CHANNEL_DIR, env_for, outputs, served, tgarc


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr


def test_a_rerun_after_refreshes_equals_a_rebuild_from_the_archive(tmp_path):
    """The archive is filled up to the last message before 04:00 UTC, local midnight in
    UTC-4, and refreshed twice; the new messages come after it, so the resumed assembly
    streams only new segments, above both refresh segments."""
    out, tz = tmp_path / "a", ("--tz", "Etc/GMT+4")
    with served(300) as dc:
        chat = dc.corpus.chats["channel"]
        midnight = chat.date_of(chat.top_id) // 86400 * 86400 + 4 * 3600
        assert chat.date_of(chat.top_id) < midnight
        while chat.date_of(chat.top_id + 1) < midnight:
            dc.corpus.add_message("channel", "before midnight")
        _ok(tgarc(dc, out, *tz))
        alive = [i for i in range(chat.top_id - 30, chat.top_id + 1) if chat.exists(i)]
        dc.corpus.edit_message("channel", alive[-3], "edited text ✍️")
        dc.corpus.delete_messages("channel", [alive[-5]])
        _ok(tgarc(dc, out, "--refresh-edits", "40", *tz))
        dc.corpus.edit_message("channel", alive[-3], "edited again")
        _ok(tgarc(dc, out, "--refresh-edits", "40", *tz))    # two refresh segments
        for i in range(250):
            dc.corpus.add_message("channel", f"later message {i}")
        _ok(tgarc(dc, out, *tz))
    said = [x for x in (out / "tgarc.log").read_text().splitlines() if ": assembled " in x][-1]
    assert "assembled 250 new message(s)" in said and "result.json extended" in said \
        and "1 day note(s) written" in said, said
    shutil.copytree(out, tmp_path / "b")
    r = subprocess.run([sys.executable, "-m", "engine", "render",
                        str(tmp_path / "b" / CHANNEL_DIR), *tz], env=env_for(dc),
                       capture_output=True, text=True, timeout=120)
    _ok(r)
    assert outputs(out) == outputs(tmp_path / "b")
    doc = outputs(out)["result.json"]
    assert b"edited again" in doc and b"later message 249" in doc


def _msg(i: int, text: str) -> m.Message:
    return m.Message(id=i, chat=m.PeerRef("channel", 7), date=1700000000 + i, text=text)


def test_refresh_segments_below_the_stream_give_their_peers_alone(tmp_path):
    ref = m.PeerRef("channel", 7)
    store = ChatStore.open(tmp_path, ChatMeta(ref, "channel", "chat"))
    archive_batch(store, "0000000001-0000000100.1.0.seg", "history", 1, 100,
                  m.Batch(0, ref, [_msg(i, "v1") for i in range(1, 101)]))
    for k, (lo, hi) in enumerate([(10, 20), (50, 60)]):
        who = m.PeerInfo(m.PeerRef("user", 100 + k), f"user {k}")
        archive_batch(store, f"r{k}.seg", "refresh", lo, hi,
                      m.Batch(0, ref, [_msg(i, f"v{k + 2}") for i in range(lo, hi + 1)], [who]))
    everything, peers = refreshed(store)
    assert sorted(everything) == [*range(10, 21), *range(50, 61)] and len(peers) == 2
    above, peers_above = refreshed(store, since=30)
    assert sorted(above) == list(range(50, 61))
    assert peers_above == peers                    # the one below gave its peers
    assert all(msgspec.structs.asdict(above[i]) == msgspec.structs.asdict(everything[i])
               for i in above)
