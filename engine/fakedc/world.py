"""The fixed facts of fakedc's synthetic world: ids, dates (``Chat.date_of``), the words
texts are made of, the chats (``Chat``: which ids exist, gaps, additions, edits, deletions),
the invite links and who created or administers which chat.  engine/fakedc/corpus.py builds
the world from these; corpus_messages.py makes its messages.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

from telethon.tl import types

BASE_DATE = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
INTERVAL = 37            # seconds between consecutive ids
GAP_PERIOD = 53          # one id in GAP_PERIOD was "deleted" before the export (a gap)
POOL = 2048              # distinct texts a corpus draws from (made once, on first use)
MASK64 = (1 << 64) - 1
CHANNEL_ID, SUPERGROUP_ID, DISCUSSION_ID = 1_500_000_001, 1_500_000_002, 1_500_000_003
OLD_GROUP_ID = 400_002     # a basic group migrated to the supergroup
FORUM_TOPICS = (2, 3, 4)   # the forum supergroup's topics (their creation messages' ids)
BOT_ID = 1_000_900         # an inline bot some messages are sent via
BIG_FILE_ID = 200          # the channel message carrying a 3 MB file (multi-part downloads)
DOCUMENT_KINDS = ("video", "round", "voice", "sticker", "animation", "audio", "file")
PREVIEW_ID = 1_500_000_004  # a private channel the account is not in (seen through an invite)
EXTRA_BASE = 1_600_000_000  # ``Corpus(chats=N)``: channels EXTRA_BASE .. EXTRA_BASE + N - 1
PEEK_SECONDS = 3600        # how long an invite's preview (chatInvitePeek) lets a non-member read

WORDS = tuple(
    "archive telegram channel message history export resume worker ring batch "
    "journalist research platform offline media photo video voice sticker "
    "café naïve façade Zürich Ελληνικά русский 日本語 עברית العربية".split(" "))
EMOJI = ("🙂", "🚀", "👍🏽", "🇺🇦", "👨‍👩‍👧", "❤️", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "e\u0301", "🏳️‍🌈")


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def tl_date(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def geo_point(h: int):
    return types.GeoPoint(long=-180 + (h % 36000) / 100, lat=-80 + ((h >> 16) % 16000) / 100,
                          access_hash=h >> 1)


@dataclass
class Chat:
    """One chat of the corpus; ``kind`` is channel, supergroup, group or user.

    Channels and supergroups number their messages from 1. Private chats and basic
    groups share one id sequence per account in Telegram, so here each gets a
    disjoint range above ``base`` (messages.getMessages finds them by id alone).
    """
    key: str
    kind: str
    id: int
    access_hash: int
    title: str
    username: str | None
    about: str
    top_id: int
    members: list[int]
    text_only: bool = False
    forum: bool = False
    base: int = 0
    gaps: bool = True
    linked: int | None = None        # channel <-> discussion group
    migrated_to: int | None = None   # a basic group that became this supergroup
    migrated_from: int | None = None
    joined: bool = True              # False: not in the account's dialogs (an invite's preview)
    epoch: int = BASE_DATE           # the date of message ``base`` (one before the first)
    added: dict[int, tuple[str, int]] = field(default_factory=dict)   # id -> (text, from user)
    edited: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (text, edit date)
    deleted: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def gap_phase(self) -> int:
        return self.id % GAP_PERIOD

    @property
    def first_id(self) -> int:
        return self.base + 1

    def date_of(self, msg_id: int) -> int:
        """The date of message ``msg_id``: one every INTERVAL seconds from ``epoch``. A
        discussion group's messages follow their channel's posts (its automatic copy 5 s
        after the post, the comments a minute apart), so they are dated by the post."""
        if self.linked and self.kind == "supergroup":
            k, pos = (msg_id + 3) // 4, (msg_id - 1) % 4
            return self.epoch + 10 * k * INTERVAL + 5 + 60 * pos
        return self.epoch + (msg_id - self.base) * INTERVAL

    def last_before(self, ts: int) -> int:
        """The highest id (existing or not) dated before ``ts``; ``base`` if none is."""
        lo, hi = self.base, self.top_id          # date_of grows with the id
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.date_of(mid) < ts:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def is_gap(self, msg_id: int) -> bool:
        return (self.gaps and msg_id % GAP_PERIOD == self.gap_phase and msg_id > self.first_id
                and msg_id not in self.added)

    def exists(self, msg_id: int) -> bool:
        return (self.base < msg_id <= self.top_id and not self.is_gap(msg_id)
                and msg_id not in self.deleted)

    def count(self) -> int:
        """Messages that exist now (what messages.getHistory reports as ``count``)."""
        gaps = 0
        if self.gaps:
            r = self.gap_phase

            def upto(x: int) -> int:       # ids in [1, x] congruent to r
                return x // GAP_PERIOD if r == 0 else (0 if x < r else (x - r) // GAP_PERIOD + 1)

            gaps = upto(self.top_id) - upto(self.first_id)
            gaps -= sum(1 for i in self.added if i % GAP_PERIOD == r)
        return self.top_id - self.base - gaps - len(self.deleted)

    def peer(self):
        if self.kind in ("channel", "supergroup"):
            return types.PeerChannel(self.id)
        if self.kind == "group":
            return types.PeerChat(self.id)
        return types.PeerUser(self.id)


@dataclass(frozen=True)
class Invite:
    """An invite link ``t.me/+<hash>``. ``chat_key``: the corpus chat it opens (an account in
    the chat gets chatInviteAlready; otherwise chatInvitePeek when ``peek``, else a plain
    chatInvite); None: a chat outside the corpus, described by ``title``/``participants``
    only. ``expired``: INVITE_HASH_EXPIRED. Any other hash is INVITE_HASH_INVALID."""
    hash: str
    chat_key: str | None = None
    peek: bool = False
    expired: bool = False
    title: str = ""
    participants: int = 0


INVITES = (
    Invite("tgarcJoinedGroup", "supergroup"),
    Invite("tgarcJoinedBasic", "group"),
    Invite("tgarcPeekChannel", "preview", peek=True),
    Invite("tgarcClosedGroup", title="tgarc closed group", participants=42),
    Invite("tgarcExpiredLink", expired=True),
)

# chat key -> (creator, admins). The account (1_000_001) created the groups it is in (it is
# the actor of their create / migrate service messages); the channels belong to others and
# the account is a plain subscriber of @tgarc_demo (so it may not list the subscribers:
# CHAT_ADMIN_REQUIRED) and not in the preview channel at all.
ROLES = {
    "channel": (1_000_101, (1_000_102,)),
    "discussion": (1_000_101, (1_000_102,)),
    "supergroup": (1_000_001, (1_000_100, 1_000_101)),
    "group": (1_000_001, (1_000_100,)),
    "oldgroup": (1_000_001, ()),
    "preview": (1_000_103, (1_000_104,)),
}
