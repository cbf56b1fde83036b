"""A deterministic synthetic Telegram world, generated lazily.

Nothing is stored per message: message ``id`` of a chat is rebuilt from
``(seed, chat id, id)`` whenever it is asked for, so a 5-million-message channel
costs no more memory than a small one.  Ids have gaps (deleted messages) on a
fixed period, dates rise by ``INTERVAL`` seconds an id, and a mutation API (add,
edit, delete) changes a chat while it is served, for incremental-export tests.

``text_only=True`` makes plain chats of short texts (benchmarks); the default
adds entities with UTF-16 offsets over emoji, astral and combining characters,
replies, forwards, edits, views and service messages.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from dataclasses import dataclass, field

from telethon.tl import types

from . import files

BASE_DATE = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
INTERVAL = 37            # seconds between consecutive ids
GAP_PERIOD = 53          # one id in GAP_PERIOD was "deleted" before the export (a gap)
POOL = 2048              # distinct texts a corpus draws from (made once, on first use)
MASK64 = (1 << 64) - 1
CHANNEL_ID, SUPERGROUP_ID, DISCUSSION_ID = 1_500_000_001, 1_500_000_002, 1_500_000_003
OLD_GROUP_ID = 400_002     # a basic group migrated to the supergroup
FORUM_TOPICS = (2, 3, 4)   # the forum supergroup's topics (their creation messages' ids)
BIG_FILE_ID = 200          # the channel message carrying a 3 MB file (multi-part downloads)
DOCUMENT_KINDS = ("video", "round", "voice", "sticker", "animation", "audio", "file")
PREVIEW_ID = 1_500_000_004  # a private channel the account is not in (seen through an invite)
PEEK_SECONDS = 3600        # how long an invite's preview (chatInvitePeek) lets a non-member read

WORDS = tuple(
    "archive telegram channel message history export resume worker ring batch "
    "journalist research platform offline media photo video voice sticker "
    "café naïve façade Zürich Ελληνικά русский 日本語 עברית العربية".split(" "))
EMOJI = ("🙂", "🚀", "👍🏽", "🇺🇦", "👨‍👩‍👧", "❤️", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "e\u0301", "🏳️‍🌈")


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def date_of(msg_id: int) -> int:
    return BASE_DATE + msg_id * INTERVAL


def _date(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _geo(h: int):
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


class Corpus:
    """The world one fakedc serves: the account, its contacts, and its chats."""

    ME = 1_000_001

    def __init__(self, seed: int = 1, messages: int = 1000, text_only: bool = False):
        self.seed = seed
        self.text_only = text_only
        self._pools: dict[bool, list] = {}
        self.version = 0          # bumped by every mutation (invalidates cached pages)
        self.file_ref_version = 0  # bumped by expire_file_references()
        self.me = types.User(id=self.ME, is_self=True, access_hash=self._hash(self.ME),
                             first_name="Archivist", last_name="Test", username="archivist",
                             phone="15550001234")
        self.users = {self.ME: self.me}
        for i in range(20):
            uid = 1_000_100 + i
            self.users[uid] = types.User(id=uid, access_hash=self._hash(uid),
                                         first_name=f"User{i}", last_name="Synthetic",
                                         username=f"synthetic_user_{i}")
        member_ids = sorted(self.users)
        small = max(1, messages // 10)
        # key, kind, id, title, username, messages, extra fields
        specs = [
            ("channel", "channel", CHANNEL_ID, "tgarc demo channel", "tgarc_demo", messages,
             {"linked": DISCUSSION_ID}),
            ("supergroup", "supergroup", SUPERGROUP_ID, "tgarc supergroup", "tgarc_group", small,
             {"forum": not text_only, "migrated_from": OLD_GROUP_ID}),
            ("group", "group", 400_001, "Basic group", None, small, {"base": 1_000_000}),
            ("private", "user", 1_000_100, "User0 Synthetic", "synthetic_user_0", small, {}),
            # Saved Messages: the account's chat with itself (InputPeerSelf)
            ("saved", "user", self.ME, "Archivist Test", "archivist", small,
             {"base": 3_000_000}),
        ]
        if not text_only:
            specs += [
                ("discussion", "supergroup", DISCUSSION_ID, "tgarc demo comments",
                 "tgarc_comments", 4 * (messages // 10),
                 {"linked": CHANNEL_ID, "gaps": False}),
                ("oldgroup", "group", OLD_GROUP_ID, "Old basic group", None, 30,
                 {"base": 2_000_000, "migrated_to": SUPERGROUP_ID}),
            ]
        if not text_only:
            # private, not in dialogs: reachable only through its invite link's preview
            specs += [("preview", "channel", PREVIEW_ID, "tgarc private preview", None, 30,
                       {"joined": False})]
        self.chats: dict[str, Chat] = {}
        for key, kind, cid, title, username, n, extra in specs:
            base = extra.get("base", 0)
            self.chats[key] = Chat(key=key, kind=kind, id=cid, access_hash=self._hash(cid),
                                   title=title, username=username,
                                   about=f"Synthetic {kind} for tgarc tests ({n} messages).",
                                   top_id=base + n, members=member_ids, text_only=text_only,
                                   **extra)
        if "preview" in self.chats:       # everyone but the account
            self.chats["preview"].members = [u for u in member_ids if u != self.ME]

    # ---- invite links and roles -------------------------------------------------------
    def invite(self, invite_hash: str) -> Invite | None:
        """The invite link ``t.me/+<hash>`` names (None: INVITE_HASH_INVALID)."""
        found = next((i for i in INVITES if i.hash == invite_hash), None)
        if found is not None and found.chat_key is not None and found.chat_key not in self.chats:
            return None           # a text-only corpus has no preview channel
        return found

    def role(self, chat: Chat, user_id: int) -> str:
        """creator | admin | member (see ``ROLES``)."""
        creator, admins = ROLES.get(chat.key, (None, ()))
        return "creator" if user_id == creator else "admin" if user_id in admins else "member"

    def creator(self, chat: Chat) -> int | None:
        return ROLES.get(chat.key, (None, ()))[0]

    def joined_date(self, chat: Chat, user_id: int) -> int | None:
        """When ``user_id`` joined ``chat`` (None for its creator, as Telegram reports)."""
        if self.role(chat, user_id) == "creator":
            return None
        return BASE_DATE + 600 * (1 + (user_id * 7 + chat.id) % 1000)

    # ---- lookups ---------------------------------------------------------------
    def _hash(self, peer_id: int) -> int:
        return random.Random(self.seed * 7919 + peer_id).getrandbits(63)

    def by_username(self, username: str):
        username = username.lower()
        for chat in self.chats.values():
            if chat.username == username:
                return chat
        for user in self.users.values():
            if user.username == username:
                return user
        return None

    def channel(self, channel_id: int) -> Chat | None:
        return next((c for c in self.chats.values()
                     if c.id == channel_id and c.kind in ("channel", "supergroup")), None)

    def chat_of_peer(self, kind: str, peer_id: int) -> Chat | None:
        for chat in self.chats.values():
            if chat.id == peer_id and (
                (kind == "channel" and chat.kind in ("channel", "supergroup"))
                or (kind == "chat" and chat.kind == "group")
                or (kind == "user" and chat.kind == "user")):
                return chat
        return None

    def chat_object(self, chat: Chat):
        """The TL Chat/Channel (or User, for a private chat) describing ``chat``."""
        if chat.kind in ("channel", "supergroup"):
            return types.Channel(
                id=chat.id, title=chat.title, photo=types.ChatPhotoEmpty(),
                date=_date(BASE_DATE), broadcast=chat.kind == "channel",
                megagroup=chat.kind == "supergroup", forum=chat.forum or None,
                access_hash=chat.access_hash,
                username=chat.username, participants_count=len(chat.members))
        if chat.kind == "group":
            moved = None
            if chat.migrated_to:
                target = self.chat_by_id(chat.migrated_to)
                moved = types.InputChannel(target.id, target.access_hash)
            return types.Chat(id=chat.id, title=chat.title, photo=types.ChatPhotoEmpty(),
                              participants_count=len(chat.members), date=_date(BASE_DATE),
                              version=1, deactivated=bool(moved) or None, migrated_to=moved)
        return self.users[chat.id]

    # ---- history ------------------------------------------------------------------
    def history(self, chat: Chat, offset_id: int = 0, offset_date: int = 0, add_offset: int = 0,
                limit: int = 100, max_id: int = 0, min_id: int = 0, keep=None) -> list[int]:
        """Ids messages.getHistory returns, newest first, with Telegram's semantics:
        only ids in ``min_id < id < max_id`` (0: unbounded) exist for the call; that
        list (newest first) is cut at the first id below ``offset_id`` (or dated
        before ``offset_date``), shifted by ``add_offset`` (negative: newer), and
        ``limit`` (at most 100) long.  ``keep(id)`` narrows the ids (a thread, a search)."""
        exists = chat.exists if keep is None else (lambda i: chat.exists(i) and keep(i))
        with chat.lock:
            upper = chat.top_id if max_id <= 0 else min(chat.top_id, max_id - 1)
            if offset_id > 0:
                start = offset_id - 1
            elif offset_date > 0:
                start = (offset_date - 1 - BASE_DATE) // INTERVAL
            else:
                start = upper
            start = min(start, upper)
            limit = max(0, min(limit, 100))
            ids: list[int] = []
            skip, want = max(0, add_offset), limit
            if add_offset < 0:
                # The window starts k = -add_offset ids above the cut (clipped at the
                # newest id) and is `limit` long: some ids above it, limit - k below.
                k = -add_offset
                above, i = [], max(start + 1, min_id + 1)
                while len(above) < k and i <= upper:
                    if exists(i):
                        above.append(i)
                    i += 1
                take = min(limit, k) if len(above) == k else max(0, len(above) - k + limit)
                ids = above[::-1][:take]
                want = len(ids) + max(0, limit - k)
            i = start
            while len(ids) < want and i > max(min_id, chat.base):
                if exists(i):
                    if skip:
                        skip -= 1
                    else:
                        ids.append(i)
                i -= 1
        return ids

    def count_where(self, chat: Chat, keep) -> int:
        """How many existing messages ``keep`` selects (a scan: for small chats)."""
        with chat.lock:
            return sum(1 for i in range(chat.first_id, chat.top_id + 1)
                       if chat.exists(i) and keep(i))

    # ---- messages -------------------------------------------------------------------
    def _mix(self, chat: Chat, msg_id: int) -> int:
        """A cheap deterministic 64-bit hash of (seed, chat, id): per-message choices
        without building a Random (which costs more than the message)."""
        h = (msg_id * 0x9E3779B97F4A7C15 + chat.id * 0xC2B2AE3D27D4EB4F + self.seed) & MASK64
        h ^= h >> 31
        h = (h * 0xBF58476D1CE4E5B9) & MASK64
        return h ^ (h >> 29)

    def _texts(self, text_only: bool) -> list:
        pool = self._pools.get(text_only)
        if pool is None:
            rnd = random.Random(self.seed)
            pool = self._pools[text_only] = [self._text(rnd, text_only) for _ in range(POOL)]
        return pool

    def topic_of(self, chat: Chat, msg_id: int) -> int:
        """Forum topic of a message of the forum supergroup (1 is General)."""
        if msg_id in FORUM_TOPICS:
            return msg_id
        if msg_id < 5 or msg_id in chat.added:
            return 1
        return (1, *FORUM_TOPICS)[(self._mix(chat, msg_id) >> 16) % (1 + len(FORUM_TOPICS))]

    def file_reference(self) -> bytes:
        return b"fref" + self.file_ref_version.to_bytes(4, "little")

    def message(self, chat: Chat, msg_id: int):
        """The TL message with this id, or None if it does not exist."""
        if not chat.exists(msg_id):
            return None
        if chat.linked and chat.kind == "supergroup":
            return self._comment(chat, msg_id)
        service = self._service(chat, msg_id)
        if service is not None:
            return service
        peer = chat.peer()
        ts = date_of(msg_id)
        h = self._mix(chat, msg_id)
        if msg_id in chat.added:
            text, sender = chat.added[msg_id]
            entities = None
        else:
            sender = chat.members[h % len(chat.members)]
            text, entities = self._texts(chat.text_only)[(h >> 8) % POOL]
        edit_date = None
        if msg_id in chat.edited:
            text, edit_ts = chat.edited[msg_id]
            edit_date, entities = _date(edit_ts), None
        is_channel = chat.kind == "channel"
        kw = {}
        if not chat.text_only and msg_id not in chat.added:
            if chat.forum:
                topic = self.topic_of(chat, msg_id)
                if topic != 1:
                    kw["reply_to"] = types.MessageReplyHeader(forum_topic=True,
                                                              reply_to_msg_id=topic)
            elif chat.kind in ("group", "user") and msg_id % 31 == 15:   # into another chat
                kw["reply_to"] = types.MessageReplyHeader(
                    reply_to_peer_id=types.PeerChannel(CHANNEL_ID),
                    reply_to_msg_id=2 + msg_id % 50)
            elif msg_id % 11 == 0 and msg_id > 2:
                kw["reply_to"] = types.MessageReplyHeader(reply_to_msg_id=msg_id - 1 - msg_id % 3)
            if msg_id % 17 == 0:
                kw["fwd_from"] = types.MessageFwdHeader(date=_date(ts - 86400),
                                                        from_name="Somebody Else")
            if msg_id % 29 == 0 and edit_date is None:
                edit_date = _date(ts + 600)
            extra = self._extras(chat, msg_id, h, ts)
            if "message" in extra:
                text, entities = extra.pop("message"), extra.pop("entities", None)
            kw.update(extra)
            if msg_id % 5 == 0 and chat.kind != "user":
                kw["reactions"] = self._reactions(chat, msg_id, h)
            thread = self.thread_root(chat, msg_id)
            if thread:
                kw["replies"] = types.MessageReplies(
                    replies=3, replies_pts=1, comments=True, channel_id=chat.linked,
                    max_id=thread + 3, recent_repliers=[])
        if chat.kind == "user":
            from_id = types.PeerUser(self.ME if msg_id % 2 else chat.id)
            out = msg_id % 2 == 1
        else:
            from_id, out = (None if is_channel else types.PeerUser(sender)), False
        return types.Message(
            id=msg_id, peer_id=peer, date=_date(ts), message=text, out=out, post=is_channel,
            from_id=from_id, entities=entities or None, edit_date=edit_date,
            views=10 + (h >> 20) % 5000 if is_channel else None,
            forwards=(h >> 40) % 50 if is_channel else None,
            post_author="Editor" if is_channel and msg_id % 9 == 0 else None, **kw)

    def chat_by_id(self, chat_id: int) -> Chat:
        return next(c for c in self.chats.values() if c.id == chat_id)

    def chat_by_message_id(self, msg_id: int) -> Chat | None:
        """The private chat or basic group whose id range holds ``msg_id``."""
        return next((c for c in self.chats.values() if c.kind in ("group", "user")
                     and c.base < msg_id <= c.top_id), None)

    def thread_root(self, chat: Chat, post: int) -> int | None:
        """Id, in the linked discussion group, of the copy of channel ``post`` that
        its comments reply to; None if the post has no comment thread."""
        disc = self.chats.get("discussion")
        if chat.kind != "channel" or not chat.linked or disc is None or post % 10 or post < 10:
            return None
        root = 4 * (post // 10) - 3
        return root if root + 3 <= disc.top_id and post not in chat.added else None

    def _comment(self, disc: Chat, msg_id: int):
        """The discussion group: per commented post, its automatic copy then 3 comments."""
        channel = self.chat_by_id(disc.linked)
        k, pos = (msg_id + 3) // 4, (msg_id - 1) % 4
        post = 10 * k
        root = msg_id - pos
        date = _date(date_of(post) + 5 + 60 * pos)
        h = self._mix(disc, msg_id)
        if pos == 0:
            original = self.message(channel, post)
            return types.Message(
                id=msg_id, peer_id=disc.peer(), date=date,
                message=getattr(original, "message", "") or "",
                from_id=types.PeerChannel(channel.id),
                fwd_from=types.MessageFwdHeader(
                    date=_date(date_of(post)), from_id=types.PeerChannel(channel.id),
                    channel_post=post, saved_from_peer=types.PeerChannel(channel.id),
                    saved_from_msg_id=post))
        reply = (types.MessageReplyHeader(reply_to_msg_id=root) if pos < 3 else
                 types.MessageReplyHeader(reply_to_msg_id=root + 1, reply_to_top_id=root))
        text, entities = self._texts(False)[(h >> 8) % POOL]
        return types.Message(id=msg_id, peer_id=disc.peer(), date=date, message=text,
                             entities=entities or None, reply_to=reply,
                             from_id=types.PeerUser(disc.members[h % len(disc.members)]))

    def _service(self, chat: Chat, msg_id: int):
        peer, date = chat.peer(), _date(date_of(msg_id))
        actor = None if chat.kind == "channel" else types.PeerUser(self.ME)
        action = None
        if msg_id == 1 and chat.migrated_from:
            old = self.chat_by_id(chat.migrated_from)
            action = types.MessageActionChannelMigrateFrom(title=old.title, chat_id=old.id)
        elif msg_id == 1 and chat.kind in ("channel", "supergroup"):
            action = types.MessageActionChannelCreate(title=chat.title)
        elif chat.migrated_to and msg_id == chat.top_id:
            action = types.MessageActionChatMigrateTo(channel_id=chat.migrated_to)
        elif msg_id == chat.first_id and chat.kind == "group":
            action = types.MessageActionChatCreate(title=chat.title, users=chat.members[:5])
        elif chat.text_only or chat.kind == "user" or msg_id in chat.added:
            return None
        elif chat.forum and msg_id in FORUM_TOPICS:
            action = types.MessageActionTopicCreate(title=f"Topic {msg_id}",
                                                    icon_color=0x6FB9F0 + msg_id)
        elif msg_id % 97 == 0:
            return types.MessageService(id=msg_id, peer_id=peer, date=date, from_id=actor,
                                        action=types.MessageActionPinMessage(),
                                        reply_to=types.MessageReplyHeader(
                                            reply_to_msg_id=msg_id - 5))
        elif chat.kind != "channel" and msg_id % 89 == 3:
            who = chat.members[msg_id % len(chat.members)]
            return types.MessageService(id=msg_id, peer_id=peer, date=date,
                                        from_id=types.PeerUser(who),
                                        action=types.MessageActionChatAddUser(users=[who]))
        elif msg_id % 211 == 100:
            action = types.MessageActionChatEditTitle(title=f"{chat.title} (renamed)")
        if action is None:
            return None
        return types.MessageService(id=msg_id, peer_id=peer, date=date, from_id=actor,
                                    action=action)

    def _extras(self, chat: Chat, msg_id: int, h: int, ts: int) -> dict:
        """Media and other attachments, on a fixed schedule of ids."""
        ref = self.file_reference()
        if msg_id == BIG_FILE_ID and chat.kind == "channel":
            return {"media": files.media_for("big", 0, ts, ref)}
        if msg_id % 41 in (20, 21, 22):                          # an album of three photos
            extra = {"media": files.media_for("photo", h, ts, ref),
                     "grouped_id": chat.id * 100_000 + msg_id // 41}
            if msg_id % 41 != 20:
                extra.update(message="", entities=None)
            return extra
        if msg_id % 7 == 3:
            return {"media": files.media_for("photo", h, ts, ref)}
        if msg_id % 13 == 5:
            kind = DOCUMENT_KINDS[(h >> 12) % len(DOCUMENT_KINDS)]
            name = files.HOSTILE_NAMES[(msg_id // 13) % len(files.HOSTILE_NAMES)]
            extra = {"media": files.media_for(kind, h >> 4, ts, ref, name=name)}
            if kind in ("round", "voice", "sticker"):
                extra.update(message="", entities=None)
            return extra
        if msg_id % 43 == 7:
            return {"media": self._poll(msg_id, h), "message": "", "entities": None}
        if msg_id % 59 == 9:
            return {"media": types.MessageMediaGeo(geo=_geo(h)), "message": "",
                    "entities": None}
        if msg_id % 61 == 10:
            return {"media": types.MessageMediaVenue(
                geo=_geo(h), title="Synthetic Café", address="1 Loopback Street, Localhost",
                provider="foursquare", venue_id=f"v{h % 10_000}", venue_type="food/cafe"),
                "message": "", "entities": None}
        if msg_id % 67 == 11:
            user = self.users[chat.members[h % len(chat.members)]]
            return {"media": types.MessageMediaContact(
                phone_number=f"+1555{h % 10_000_000:07d}", first_name=user.first_name,
                last_name=user.last_name or "", vcard="", user_id=user.id),
                "message": "", "entities": None}
        if msg_id % 71 == 12:
            url = f"https://example.org/post/{msg_id}"
            text = f"Read this: {url}"
            return {"message": text,
                    "entities": [types.MessageEntityUrl(offset=11, length=utf16_len(url))],
                    "media": types.MessageMediaWebPage(webpage=types.WebPage(
                        id=h >> 1, url=url, display_url=url[8:], hash=0, type="article",
                        site_name="Example", title=f"Post {msg_id}",
                        description="A synthetic web page preview."))}
        if msg_id % 73 == 13:
            return {"media": types.MessageMediaDice(value=1 + h % 6, emoticon="🎲"),
                    "message": "", "entities": None}
        return {}

    def _poll(self, msg_id: int, h: int):
        answers = [types.PollAnswer(text=types.TextWithEntities(text=t, entities=[]),
                                    option=bytes([i]))
                   for i, t in enumerate(("Yes", "No", "Maybe 🤔"))]
        votes = [(h >> (8 * i)) % 50 for i in range(3)]
        return types.MessageMediaPoll(
            poll=types.Poll(id=msg_id, question=types.TextWithEntities(
                text=f"Poll {msg_id}: keep archiving?", entities=[]),
                answers=answers, hash=0, closed=msg_id % 2 == 0),
            results=types.PollResults(
                results=[types.PollAnswerVoters(option=bytes([i]), voters=v, recent_voters=[],
                                                chosen=i == 0 or None)
                         for i, v in enumerate(votes)],
                total_voters=sum(votes)))

    def _reactions(self, chat: Chat, msg_id: int, h: int):
        results = [types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"),
                                       count=1 + h % 40),
                   types.ReactionCount(reaction=types.ReactionCustomEmoji(
                       document_id=5_000_000_000 + h % 1000), count=1 + (h >> 6) % 7)]
        if msg_id % 25 == 0:
            results.append(types.ReactionCount(reaction=types.ReactionPaid(), count=3))
        recent = None
        if chat.kind != "channel":
            recent = [types.MessagePeerReaction(
                peer_id=types.PeerUser(chat.members[(h >> k) % len(chat.members)]),
                date=_date(date_of(msg_id) + 60 * k),
                reaction=types.ReactionEmoji(emoticon="👍")) for k in (1, 2)]
        return types.MessageReactions(results=results, recent_reactions=recent,
                                      can_see_list=recent is not None or None)

    def _text(self, rnd: random.Random, text_only: bool):
        n = rnd.randrange(3, 30)
        if text_only:
            return " ".join(rnd.choice(WORDS) for _ in range(n)), None
        parts: list[str] = []
        entities = []
        pos = 0
        for k in range(n):
            word = rnd.choice(WORDS) if rnd.random() < 0.85 else rnd.choice(EMOJI)
            if k:
                parts.append(" ")
                pos += 1
            length = utf16_len(word)
            roll = rnd.random()
            if roll < 0.08:
                entities.append(types.MessageEntityBold(pos, length))
            elif roll < 0.12:
                entities.append(types.MessageEntityItalic(pos, length))
            elif roll < 0.14:
                entities.append(types.MessageEntityCode(pos, length))
            elif roll < 0.16:
                entities.append(types.MessageEntityTextUrl(pos, length,
                                                           url=f"https://example.org/{word}"))
            elif roll < 0.17:
                entities.append(types.MessageEntitySpoiler(pos, length))
            parts.append(word)
            pos += length
        if rnd.random() < 0.1:    # a nested pair: bold over the whole text, italic inside
            entities.insert(0, types.MessageEntityBold(0, pos))
        return "".join(parts), entities

    def users_of(self, messages) -> list:
        ids = {self.ME}
        for m in messages:
            fid = getattr(m, "from_id", None)
            if isinstance(fid, types.PeerUser):
                ids.add(fid.user_id)
        return [self.users[i] for i in sorted(ids) if i in self.users]

    # ---- mutations (safe to call while the server runs) ------------------------------
    def add_message(self, key: str, text: str, sender: int | None = None) -> int:
        chat = self.chats[key]
        with chat.lock:
            chat.top_id += 1
            chat.added[chat.top_id] = (text, sender or chat.members[0])
            self.version += 1
            return chat.top_id

    def edit_message(self, key: str, msg_id: int, text: str) -> None:
        chat = self.chats[key]
        with chat.lock:
            if not chat.exists(msg_id):
                raise KeyError(f"no message {msg_id} in {key}")
            chat.edited[msg_id] = (text, date_of(chat.top_id) + 1)
            self.version += 1

    def expire_file_references(self) -> None:
        """Every file reference handed out so far stops working (FILE_REFERENCE_EXPIRED)."""
        self.file_ref_version += 1
        self.version += 1

    def delete_messages(self, key: str, ids) -> None:
        chat = self.chats[key]
        with chat.lock:
            chat.deleted.update(i for i in ids if chat.exists(i))
            self.version += 1
