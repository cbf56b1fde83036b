"""Invite links (resolved with messages.checkChatInvite, never joined) and --members
(chat.json's member list), end to end: the tgarc CLI against fakedc with the real client."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from telethon import TelegramClient
from telethon.sessions import StringSession

from engine.fakedc.corpus import Corpus
from engine.telegram.source import Source
from tests._export import outputs, served, tgarc

GROUP_DIR = "channel1500000002-tgarc-supergroup"
BASIC_DIR = "chat400001-basic-group"
PREVIEW_DIR = "channel1500000004-tgarc-private-preview"
NEVER_CALLED = ("ImportChatInviteRequest", "JoinChannelRequest", "AddChatUserRequest")


def one_line(r) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def chat_json(out: Path, folder: str) -> dict:
    return json.loads((out / folder / "chat.json").read_bytes())


def expected_members(corpus: Corpus, key: str) -> list[dict]:
    """The member list as the corpus defines it (not as any RPC handler builds it)."""
    chat = corpus.chats[key]
    out = []
    for uid in sorted(chat.members):
        user, joined = corpus.users[uid], corpus.joined_date(chat, uid)
        out.append({"id": uid, "name": f"{user.first_name} {user.last_name}",
                    "username": user.username, "bot": False, "role": corpus.role(chat, uid),
                    "joined": None if joined is None else
                    dt.datetime.fromtimestamp(joined, dt.UTC).isoformat(timespec="seconds")})
    return out


def test_an_invite_to_a_joined_group_exports_it_and_members_match_the_corpus(tmp_path):
    with served(60) as dc:
        r = tgarc(dc, tmp_path / "ref", "--quiet", target="@tgarc_group")
        assert r.returncode == 0, r.stderr
        r = tgarc(dc, tmp_path / "link", "--quiet", "--members",
                  target="https://t.me/joinchat/tgarcJoinedGroup")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""                                # a member: no preview warning
        assert dc.calls_to("CheckChatInviteRequest")
        assert not any(dc.calls_to(m) for m in NEVER_CALLED)
        corpus = dc.corpus
    assert outputs(tmp_path / "link", GROUP_DIR) == outputs(tmp_path / "ref", GROUP_DIR)
    info = chat_json(tmp_path / "link", GROUP_DIR)
    want = expected_members(corpus, "supergroup")
    assert info["members"] == want and info["members_count"] == len(want) == 21
    assert "members_error" not in info
    roles = {x["role"] for x in info["members"]}
    assert roles == {"creator", "admin", "member"}
    assert "members" not in chat_json(tmp_path / "ref", GROUP_DIR)     # only with --members


def test_a_peek_invite_exports_the_preview_with_a_one_line_warning(tmp_path):
    with served(60) as dc:
        before = dt.datetime.now(dt.UTC)
        r = tgarc(dc, tmp_path, "--quiet", target="t.me/+tgarcPeekChannel")
        assert r.returncode == 0, r.stderr
        line = one_line(r)
        assert not any(dc.calls_to(m) for m in NEVER_CALLED)
        chat = dc.corpus.chats["preview"]
    assert line.startswith("tgarc: warning: t.me/+tgarcPeekChannel: this account is not a "
                           'member of "tgarc private preview"')
    expires = dt.datetime.strptime(line.split("expires at ")[1][:16], "%Y-%m-%d %H:%M")
    assert before < expires.replace(tzinfo=dt.UTC) + dt.timedelta(minutes=1) < \
        before + dt.timedelta(hours=2)
    doc = json.loads((tmp_path / PREVIEW_DIR / "result.json").read_bytes())
    ids = [x["id"] for x in doc["messages"]]
    assert ids == [i for i in range(1, chat.top_id + 1) if chat.exists(i)] and len(ids) == 30
    assert doc["name"] == "tgarc private preview" and doc["type"] == "private_channel"
    assert chat_json(tmp_path, PREVIEW_DIR)["kind"] == "channel"


def test_invites_that_need_joining_or_are_dead_are_exit_2_and_write_nothing(tmp_path):
    cases = {
        "https://t.me/+tgarcClosedGroup": (
            'tgarc: the invite link https://t.me/+tgarcClosedGroup is for "tgarc closed group", '
            "which this account has not joined; tgarc does not join chats on its own: join it "
            "in Telegram, then export it by the link or its id"),
        "t.me/joinchat/tgarcExpiredLink": (
            "tgarc: the invite link t.me/joinchat/tgarcExpiredLink has expired or is not valid"),
        "t.me/+NoSuchInviteHash": (
            "tgarc: the invite link t.me/+NoSuchInviteHash has expired or is not valid"),
    }
    with served(20) as dc:
        for target, says in cases.items():
            out = tmp_path / str(len(list(tmp_path.iterdir())))
            r = tgarc(dc, out, "--quiet", target=target)
            assert r.returncode == 2, (target, r.stderr)
            assert one_line(r) == says
            assert not out.exists(), target     # no chat folder: the fresh --out is gone
        outcomes = [c.outcome for c in dc.calls_to("CheckChatInviteRequest")]
        assert not any(dc.calls_to(m) for m in NEVER_CALLED)
    assert outcomes == ["ok", "rpc_error 400 INVITE_HASH_EXPIRED",
                        "rpc_error 400 INVITE_HASH_INVALID"]


def test_members_of_a_broadcast_channel_are_null_with_the_reason(tmp_path):
    with served(60) as dc:
        r = tgarc(dc, tmp_path, "--quiet", "--members")
        assert r.returncode == 0, r.stderr
        line = one_line(r)
        assert dc.calls_to("GetParticipantsRequest")[0].outcome == \
            "rpc_error 400 CHAT_ADMIN_REQUIRED"
    assert line == ('tgarc: warning: --members: cannot list the members of "tgarc demo '
                    "channel\": only a channel's admins may list its subscribers "
                    '(CHAT_ADMIN_REQUIRED); chat.json has "members": null')
    info = chat_json(tmp_path, "channel1500000001-tgarc-demo-channel")
    assert info["members"] is None and "admins" in info["members_error"]
    assert info["members_count"] == 21                   # the subscriber count is public
    assert info["messages"] > 0 and info["exports"][-1]["status"] == "done"


def test_members_of_a_basic_group_and_a_private_chat(tmp_path):
    with served(60) as dc:
        r = tgarc(dc, tmp_path, "--quiet", "--members", target="t.me/+tgarcJoinedBasic")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        r = tgarc(dc, tmp_path, "--quiet", "--members", target="@synthetic_user_0")
        assert r.returncode == 0, r.stderr
        corpus = dc.corpus
    info = chat_json(tmp_path, BASIC_DIR)
    assert info["members"] == expected_members(corpus, "group")
    assert info["members"][0] == {"id": Corpus.ME, "name": "Archivist Test",
                                  "username": "archivist", "bot": False, "role": "creator",
                                  "joined": None}
    private = chat_json(tmp_path, "user1000100-user0-synthetic")
    assert [(x["id"], x["username"], x["role"]) for x in private["members"]] == [
        (Corpus.ME, "archivist", "member"), (1_000_100, "synthetic_user_0", "member")]
    assert private["members_count"] == 2


def test_members_are_paged_until_all_are_read():
    """Source.members over the real client, with a page smaller than the group."""
    async def body(dc):
        client = TelegramClient(StringSession(dc.session), 1, "x", receive_updates=False)
        await client.connect()
        try:
            source = Source(client, client)
            await source.resolve("@tgarc_group")
            whole = await source.members()
            source.participants_page = 8
            paged = await source.members()
        finally:
            await client.disconnect()
        return whole, paged

    with served(20) as dc:
        whole, paged = asyncio.run(asyncio.wait_for(body(dc), 60))
        calls = dc.calls_to("GetParticipantsRequest")
    assert paged == whole and len(whole["members"]) == 21
    assert [c.args.get("limit") for c in calls] == [200, 8, 8, 8]      # 21 = 8 + 8 + 5
