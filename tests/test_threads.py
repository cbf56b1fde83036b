"""A history made of several parts, through the CLI against fakedc: the basic group a
supergroup migrated from (one history, Telegram Desktop's id − 1e9 rule), a forum's
topics (views of the whole export, or ``--topic ID`` alone) and a channel's comment
threads (``--comments``)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time

from engine.model import MIGRATED_ID_SHIFT
from engine.render import topic_views
from tests._export import ROOT, env_for, export_args, kill_group, outputs, served, tgarc

GROUP_DIR = "channel1500000002-tgarc-supergroup"
CHANNEL_DIR = "channel1500000001-tgarc-demo-channel"


def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def run_cli(dc, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], env=env_for(dc),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def existing(corpus, key: str) -> list[int]:
    chat = corpus.chats[key]
    return [i for i in range(1, chat.top_id + 1) if chat.exists(i)]


def doc_of(folder):
    return json.loads((folder / "result.json").read_bytes())


# ---- a basic group that migrated ----------------------------------------------------------------
def test_a_migrated_basic_group_is_one_history_with_desktops_ids(tmp_path):
    with served(150) as dc:
        corpus = dc.corpus
        r = tgarc(dc, tmp_path, "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        ids = [x["id"] for x in doc_of(tmp_path / GROUP_DIR)["messages"]]
        old = existing(corpus, "oldgroup")
        new = existing(corpus, "supergroup")
        # every message of both, the basic group's first, numbered as Telegram Desktop does
        assert ids == [i - MIGRATED_ID_SHIFT for i in old] + new
        msgs = doc_of(tmp_path / GROUP_DIR)["messages"]
        by_id = {x["id"]: x for x in msgs}
        assert by_id[old[-1] - MIGRATED_ID_SHIFT]["action"] == "migrate_to_supergroup"
        replies = [x for x in msgs if x["id"] < 0 and "reply_to_message_id" in x]
        assert replies, "the corpus has replies in the old group"
        # a reply inside the old history points at a message of the old history
        assert all(x["reply_to_message_id"] in by_id and x["reply_to_message_id"] < 0
                   for x in replies)
        jsonl = [json.loads(line) for line in
                 (tmp_path / GROUP_DIR / "messages.jsonl").read_text().splitlines()]
        assert [(x["chat"][0], x["id"]) for x in jsonl] == \
            [("chat", i) for i in old] + [("channel", i) for i in new]

        # a re-run asks for no page of either history
        before = len(dc.calls_to("GetHistoryRequest"))
        r = tgarc(dc, tmp_path, "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        pages = [c for c in dc.calls_to("GetHistoryRequest")[before:] if c.args["limit"] > 1]
        assert pages == []

        # --min-id numbers the supergroup's own messages: the older history stays out
        r = tgarc(dc, tmp_path / "window", "--quiet", "--min-id", "5", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        ids = [x["id"] for x in doc_of(tmp_path / "window" / GROUP_DIR)["messages"]]
        assert ids == [i for i in new if i >= 5]


def tree(root) -> dict:
    """Every user-facing file of a chat folder, nested topic folders included."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".json", ".jsonl", ".md")
            and not {"state", "archive"} & set(p.relative_to(root).parts)
            and p.name not in ("chat.json", "manifest.json")}


def test_kills_during_a_migrated_forum_export_then_rerun_give_identical_outputs(tmp_path):
    """Seeded kill -9s of the whole process group while the old group and the forum are
    fetched; the finished export equals an uninterrupted one with another worker count."""
    rnd = random.Random(20261130)
    with served(2500, rtt_ms=5) as dc:
        r = tgarc(dc, tmp_path / "reference", "--quiet", "--workers", "1",
                  target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        reference = tree(tmp_path / "reference" / GROUP_DIR)
        assert any(k.startswith("topics/") for k in reference)
        out = tmp_path / "run"
        for _ in range(3):
            proc = subprocess.Popen(export_args(out, "--quiet", "--workers", "2",
                                                target="@tgarc_group"),
                                    env=env_for(dc), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
            time.sleep(rnd.uniform(0.8, 2.4))
            kill_group(proc)
        r = tgarc(dc, out, "--quiet", "--workers", "2", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        assert tree(out / GROUP_DIR) == reference
        assert not list(out.rglob("*.tmp"))


def test_render_rebuilds_the_migrated_history_and_topic_views_identically(tmp_path):
    with served(150) as dc:
        assert tgarc(dc, tmp_path, "--quiet", target="@tgarc_group").returncode == 0
        root = tmp_path / GROUP_DIR
        before = outputs(tmp_path, GROUP_DIR)
        topic_before = {p.relative_to(root): p.read_bytes()
                        for p in (root / "topics").rglob("*") if p.is_file()}
        for name in ("result.json", "messages.jsonl"):
            (root / name).unlink()
        shutil.rmtree(root / "markdown")
        shutil.rmtree(root / "topics")
        r = run_cli(dc, "render", str(tmp_path), "--tz", "UTC")
        assert r.returncode == 0, r.stderr
        assert outputs(tmp_path, GROUP_DIR) == before
        assert {p.relative_to(root): p.read_bytes()
                for p in (root / "topics").rglob("*") if p.is_file()} == topic_before


# ---- forum topics -------------------------------------------------------------------------------
def test_a_forum_export_writes_every_topic_as_a_folder_of_its_own(tmp_path):
    with served(150) as dc:
        corpus = dc.corpus
        chat = corpus.chats["supergroup"]
        r = tgarc(dc, tmp_path, "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        root = tmp_path / GROUP_DIR
        info = json.loads((root / "chat.json").read_bytes())
        assert info["topics"] == [{"id": 1, "title": "General"}, {"id": 2, "title": "Topic 2"},
                                  {"id": 3, "title": "Topic 3"}, {"id": 4, "title": "Topic 4"}]
        folders = sorted(p.name for p in (root / "topics").iterdir())
        assert folders == ["1-general", "2-topic-2", "3-topic-3", "4-topic-4"]
        seen = []
        for tid in (2, 3, 4):
            folder = next((root / "topics").glob(f"{tid}-*"))
            doc = doc_of(folder)
            assert doc["name"] == f"tgarc supergroup / Topic {tid}"
            got = [x["id"] for x in doc["messages"]]
            assert got == [i for i in existing(corpus, "supergroup")
                           if corpus.topic_of(chat, i) == tid]
            assert len((folder / "messages.jsonl").read_text().splitlines()) == len(got)
            assert list(folder.rglob("markdown/*/*.md"))
            assert json.loads((folder / "topic.json").read_bytes())["messages"] == len(got)
            seen += got
        general = [x["id"] for x in doc_of(root / "topics" / "1-general")["messages"]]
        # every message is in exactly one topic (the pre-forum history is General's)
        everything = [x["id"] for x in doc_of(root)["messages"]]
        assert sorted(seen + general) == sorted(everything)
        r = run_cli(dc, "verify", str(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr


def test_a_rerun_with_new_messages_extends_the_chat_and_its_topic_views(tmp_path):
    """The assembly resumes (only the new and the last day's segments read, result.json
    extended in place) and so do the topic views: the topics that got nothing keep their
    files untouched; every byte equals a fresh export's, and verify accepts the folder."""
    with served(400) as dc:
        ok = tgarc(dc, tmp_path / "a", "--quiet", target="@tgarc_group")
        assert ok.returncode == 0, ok.stderr
        root = tmp_path / "a" / GROUP_DIR
        quiet = {p: p.stat().st_mtime_ns for p in (root / "topics").glob("[234]-*/*")
                 if p.is_file()}
        assert len(quiet) == 9                   # result.json, messages.jsonl, topic.json
        for i in range(40):
            dc.corpus.add_message("supergroup", f"later message {i}")   # General's
        r = tgarc(dc, tmp_path / "a", "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        log = (tmp_path / "a" / "tgarc.log").read_text().splitlines()
        said = [x for x in log if GROUP_DIR + ": assembled" in x][-1]
        assert "assembled 40 new message(s)" in said and "result.json extended" in said \
            and "messages.jsonl appended" in said, said
        assert tgarc(dc, tmp_path / "fresh", "--quiet", target="@tgarc_group").returncode == 0
        assert run_cli(dc, "verify", str(tmp_path / "a")).returncode == 0
    assert tree(root) == tree(tmp_path / "fresh" / GROUP_DIR)
    assert {p: p.stat().st_mtime_ns for p in quiet} == quiet
    general = doc_of(next((root / "topics").glob("1-*")))["messages"]
    assert general[-1]["text"] == "later message 39"


def test_an_empty_topic_view_does_not_stop_the_views_resuming(tmp_path):
    """A topic without a message (here all of topic 4's are gone before the first export)
    has an empty view: its result.json is the empty document. A re-run that adds messages
    elsewhere still extends the views in place: the other topics' files and the empty
    one's stay untouched, and every byte equals a fresh export's."""
    with served(400) as dc:
        chat = dc.corpus.chats["supergroup"]
        dc.corpus.delete_messages("supergroup", [i for i in existing(dc.corpus, "supergroup")
                                                 if dc.corpus.topic_of(chat, i) == 4])
        ok = tgarc(dc, tmp_path / "a", "--quiet", target="@tgarc_group")
        assert ok.returncode == 0, ok.stderr
        root = tmp_path / "a" / GROUP_DIR
        empty = doc_of(next((root / "topics").glob("4-*")))
        assert empty["messages"] == []
        quiet = {p: p.stat().st_mtime_ns for p in (root / "topics").glob("[234]-*/*")
                 if p.is_file()}
        assert len(quiet) == 9
        for i in range(10):
            dc.corpus.add_message("supergroup", f"later message {i}")    # General's
        r = tgarc(dc, tmp_path / "a", "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        assert tgarc(dc, tmp_path / "fresh", "--quiet", target="@tgarc_group").returncode == 0
        assert run_cli(dc, "verify", str(tmp_path / "a")).returncode == 0
    assert tree(root) == tree(tmp_path / "fresh" / GROUP_DIR)
    assert {p: p.stat().st_mtime_ns for p in quiet} == quiet


def test_one_topic_alone_is_fetched_through_get_replies(tmp_path):
    with served(150) as dc:
        corpus = dc.corpus
        chat = corpus.chats["supergroup"]
        r = tgarc(dc, tmp_path, "--quiet", "--topic", "3", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        folder = tmp_path / GROUP_DIR / "topics" / "3-topic-3"
        want = [i for i in existing(corpus, "supergroup") if corpus.topic_of(chat, i) == 3]
        assert [x["id"] for x in doc_of(folder)["messages"]] == want
        assert json.loads((folder / "chat.json").read_bytes())["topic"] == \
            {"id": 3, "title": "Topic 3"}
        # pages came from the topic, not from the whole history
        assert dc.calls_to("GetRepliesRequest")
        assert all(c.args["limit"] == 1 for c in dc.calls_to("GetHistoryRequest"))
        assert not (tmp_path / GROUP_DIR / "result.json").exists()
        r = run_cli(dc, "verify", str(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr

        # a re-run asks for no page; new messages in the topic are fetched
        before = len(dc.calls_to("GetRepliesRequest"))
        assert tgarc(dc, tmp_path, "--quiet", "--topic", "3",
                     target="@tgarc_group").returncode == 0
        assert all(c.args["limit"] == 1 for c in dc.calls_to("GetRepliesRequest")[before:])

        # then the whole forum: its view of topic 3 is the same messages, and both
        # manifests stay true
        assert tgarc(dc, tmp_path, "--quiet", target="@tgarc_group").returncode == 0
        assert [x["id"] for x in doc_of(folder)["messages"]] == want
        r = run_cli(dc, "verify", str(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "topics/3-topic-3: intact" in r.stderr


def test_a_topic_that_does_not_exist_or_a_chat_without_topics_is_exit_2(tmp_path):
    with served(60) as dc:
        r = tgarc(dc, tmp_path, "--quiet", "--topic", "99", target="@tgarc_group")
        assert r.returncode == 2
        assert one_line(r).startswith("tgarc: --topic: tgarc supergroup has no topic 99; "
                                      "its topics: 1 (General), 2 (Topic 2)")
        r = tgarc(dc, tmp_path, "--quiet", "--topic", "2")
        assert r.returncode == 2
        assert one_line(r) == "tgarc: --topic: tgarc demo channel is not a forum (it has no " \
                              "topics)"
        assert not list(tmp_path.glob("channel*"))


def test_topic_of_reads_the_topic_header_the_creation_and_general():
    from engine import model as m

    chat = m.PeerRef("channel", 5)
    assert topic_views.topic_of(m.Message(7, chat, 0, topic_id=3)) == 3
    assert topic_views.topic_of(m.Message(3, chat, 0, type="service",
                                    action=m.Action("topic_create", {}))) == 3
    assert topic_views.topic_of(m.Message(9, chat, 0)) == topic_views.GENERAL


# ---- comment threads ----------------------------------------------------------------------------
def test_comments_export_each_posts_thread_into_its_own_folder(tmp_path):
    with served(150) as dc:
        corpus = dc.corpus
        channel, disc = corpus.chats["channel"], corpus.chats["discussion"]
        r = tgarc(dc, tmp_path, "--quiet", "--comments")
        assert r.returncode == 0, r.stderr
        root = tmp_path / CHANNEL_DIR
        # posts that announce a comment thread (a service message has none)
        posts = [p for p in existing(corpus, "channel")
                 if corpus.thread_root(channel, p) is not None
                 and getattr(corpus.message(channel, p), "replies", None) is not None]
        assert posts
        assert sorted(int(p.name) for p in (root / "comments").iterdir()) == posts
        for post in posts:
            folder = root / "comments" / str(post)
            thread = corpus.thread_root(channel, post)
            want = [i for i in range(thread + 1, thread + 4) if disc.exists(i)]
            doc = doc_of(folder)
            assert [x["id"] for x in doc["messages"]] == want
            assert doc["id"] == disc.id
            info = json.loads((folder / "thread.json").read_bytes())
            assert (info["post"], info["comments"]) == (post, len(want))
        r = run_cli(dc, "verify", str(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stderr.count("intact") == 1 + len(posts)

        # a re-run does not ask for threads that hold every comment their post announces
        before = len(dc.calls_to("GetRepliesRequest"))
        assert tgarc(dc, tmp_path, "--quiet", "--comments").returncode == 0
        assert len(dc.calls_to("GetRepliesRequest")) == before

        # a thread lost in a crash is fetched again
        shutil.rmtree(root / "comments" / str(posts[0]))
        assert tgarc(dc, tmp_path, "--quiet", "--comments").returncode == 0
        assert len(dc.calls_to("GetRepliesRequest")) > before
        assert (root / "comments" / str(posts[0]) / "result.json").exists()


def test_comments_on_a_chat_that_is_not_a_channel_is_a_warning(tmp_path):
    with served(60) as dc:
        r = tgarc(dc, tmp_path, "--quiet", "--comments", target="@tgarc_group")
        assert r.returncode == 0
        assert "only channel posts have comment threads" in one_line(r)
        assert not (tmp_path / GROUP_DIR / "comments").exists()


def test_a_post_deleted_since_keeps_the_comments_export_going(tmp_path):
    """getReplies answers MSG_ID_INVALID for a post Telegram no longer has: the source
    says so by name (ThreadGone) and the other threads are exported."""
    with served(150) as dc:
        corpus = dc.corpus
        channel = corpus.chats["channel"]
        assert tgarc(dc, tmp_path, "--quiet").returncode == 0
        posts = [p for p in existing(corpus, "channel")
                 if corpus.thread_root(channel, p) is not None
                 and getattr(corpus.message(channel, p), "replies", None) is not None]
        assert len(posts) >= 2
        corpus.delete_messages("channel", [posts[0]])        # archived, gone on Telegram
        r = tgarc(dc, tmp_path, "--quiet", "--comments")
        assert r.returncode == 0, r.stderr
        root = tmp_path / CHANNEL_DIR
        assert not (root / "comments" / str(posts[0]) / "result.json").exists()
        assert all((root / "comments" / str(p) / "result.json").exists() for p in posts[1:])
        assert "comment thread is gone" in (tmp_path / "tgarc.log").read_text()
