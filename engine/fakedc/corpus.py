"""A deterministic synthetic Telegram world, generated lazily.

Nothing is stored per message: message ``id`` of a chat is rebuilt from
``(seed, chat id, id)`` whenever it is asked for, so a 5-million-message channel
costs no more memory than a small one.  Ids have gaps (deleted messages) on a
fixed period, dates rise by ``INTERVAL`` seconds an id from the chat's ``epoch``, and
a mutation API (add, edit, delete) changes a chat while it is served, for
incremental-export tests.

``text_only=True`` makes plain chats of short texts (benchmarks); the default
adds entities with UTF-16 offsets over emoji, astral and combining characters,
replies, forwards, edits, views and service messages.

The world's fixed facts (ids, dates, ``Chat``, invites, roles) are in world.py; how each
message looks is corpus_messages.py (``Messages``, a part of ``Corpus``).
"""

from __future__ import annotations

import random

from telethon.tl import types

from . import bigfiles, files
from .corpus_messages import Messages
from .world import (
    BASE_DATE,
    BOT_ID,
    CHANNEL_ID,
    DISCUSSION_ID,
    EXTRA_BASE,
    INTERVAL,
    INVITES,
    OLD_GROUP_ID,
    PREVIEW_ID,
    ROLES,
    SUPERGROUP_ID,
    Chat,
    Invite,
    tl_date,
    utf16_len,
)

__all__ = ["Chat", "Corpus", "Invite", "utf16_len"]


class Corpus(Messages):
    """The world one fakedc serves: the account, its contacts, and its chats."""

    ME = 1_000_001

    def __init__(self, seed: int = 1, messages: int = 1000, text_only: bool = False,
                 chats: int = 0):
        """``chats``: that many more channels in the dialogs (``extra<i>``, 50–2,000
        messages each, sizes from the seed): an account with many chats."""
        self.seed = seed
        self.text_only = text_only
        self._pools: dict[bool, list] = {}
        self.version = 0          # bumped by every mutation (invalidates cached pages)
        self.file_ref_version = 0  # bumped by expire_file_references()
        self.file_epochs: dict[int, int] = {}   # file id -> expire_file_reference() calls
        self.attached: dict[tuple[int, int], int] = {}   # (chat id, message id) -> big file id
        self.file_dcs: dict[int, int] = {}      # file id -> its DC, where not the home DC (2)
        self.said_dcs: dict[int, int] = {}      # file id -> the DC its message names, where
        #                                         that is not file_dc (moved: FILE_MIGRATE)
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
        self.users[BOT_ID] = types.User(id=BOT_ID, bot=True, bot_info_version=1,
                                        access_hash=self._hash(BOT_ID),
                                        first_name="Helper", username="tgarc_helper_bot")
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
                 {"base": 2_000_000, "migrated_to": SUPERGROUP_ID,
                  # it ends where the supergroup that continues it begins
                  "epoch": BASE_DATE - 30 * INTERVAL}),
            ]
        sizes = random.Random(seed * 7919 + 17)
        specs += [(f"extra{i}", "channel", EXTRA_BASE + i, f"Extra channel {i}",
                   f"extra_channel_{i}", sizes.randint(50, 2000), {}) for i in range(chats)]
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
                date=tl_date(chat.epoch), broadcast=chat.kind == "channel",
                megagroup=chat.kind == "supergroup", forum=chat.forum or None,
                access_hash=chat.access_hash,
                username=chat.username, participants_count=len(chat.members))
        if chat.kind == "group":
            moved = None
            if chat.migrated_to:
                target = self.chat_by_id(chat.migrated_to)
                moved = types.InputChannel(target.id, target.access_hash)
            return types.Chat(id=chat.id, title=chat.title, photo=types.ChatPhotoEmpty(),
                              participants_count=len(chat.members), date=tl_date(chat.epoch),
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
                start = chat.last_before(offset_date)
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

    def chat_by_id(self, chat_id: int) -> Chat:
        return next(c for c in self.chats.values() if c.id == chat_id)

    def chat_by_message_id(self, msg_id: int) -> Chat | None:
        """The private chat or basic group whose id range holds ``msg_id``."""
        return next((c for c in self.chats.values() if c.kind in ("group", "user")
                     and c.base < msg_id <= c.top_id), None)

    def users_of(self, messages) -> list:
        """Every user ``messages`` name, as Telegram sends them beside the messages: senders,
        forward sources, reactors, an action's users, mentions, contacts, inline bots."""
        return self.peers_of(messages)[0]

    def peers_of(self, messages, chat: Chat | None = None) -> tuple[list, list]:
        """(users, chats) that ``messages`` name, as Telegram sends them beside them, in
        one look at each message: the users of users_of; the chats and channels (forward
        sources, replies elsewhere, senders that are chats), ``chat`` itself first."""
        users, found = {self.ME}, set()
        for m in messages:
            _referenced(m, users, found)
        out = [] if chat is None or chat.kind == "user" else [chat]
        for kind, cid in sorted(found):
            c = self.chat_of_peer(kind, cid)
            if c is not None and c not in out and c.kind != "user":
                out.append(c)
        return ([self.users[i] for i in sorted(users) if i in self.users],
                [self.chat_object(c) for c in out])

    # ---- mutations (safe to call while the server runs) ------------------------------
    def add_message(self, key: str, text: str, sender: int | None = None) -> int:
        chat = self.chats[key]
        with chat.lock:
            chat.top_id += 1
            chat.added[chat.top_id] = (text, sender or chat.members[0])
            self.version += 1
            return chat.top_id

    def add_big_files(self, count: int, size: int, key: str = "channel",
                      dc: int = 2, said: int | None = None) -> list[int]:
        """``count`` new messages at the top of chat ``key``, each carrying a big file of
        ``size`` bytes (bigfiles.py: made per offset, never held) that lives on DC ``dc``
        while its message names DC ``said`` (default: ``dc``); their message ids."""
        ids = []
        for _ in range(count):
            fid = bigfiles.big_id(len(self.attached), size)
            if dc != 2:
                self.file_dcs[fid] = dc
            if said is not None and said != dc:
                self.said_dcs[fid] = said
            mid = self.add_message(key, f"Big file {bigfiles.file_name(fid)}: {size} bytes")
            self.attached[(self.chats[key].id, mid)] = fid
            ids.append(mid)
        return ids

    def add_copies(self, count: int, kind: str = "file", key: str = "channel") -> list[int]:
        """``count`` new messages at the top of chat ``key``, each carrying a copy of one
        small ``kind`` file under an id of its own (files.copy_id: same bytes, new id, as a
        re-upload); their message ids."""
        ids = []
        for n in range(1, count + 1):
            fid = files.copy_id(files.file_id(kind, 0), n)
            mid = self.add_message(key, f"The same {kind} again, uploaded anew ({n})")
            self.attached[(self.chats[key].id, mid)] = fid
            ids.append(mid)
        return ids

    def file_dc(self, fid: int) -> int:
        return self.file_dcs.get(fid, 2)

    def edit_message(self, key: str, msg_id: int, text: str) -> None:
        chat = self.chats[key]
        with chat.lock:
            if not chat.exists(msg_id):
                raise KeyError(f"no message {msg_id} in {key}")
            chat.edited[msg_id] = (text, chat.date_of(chat.top_id) + 1)
            self.version += 1

    def expire_file_references(self) -> None:
        """Every file reference handed out so far stops working (FILE_REFERENCE_EXPIRED)."""
        self.file_ref_version += 1
        self.version += 1

    def expire_file_reference(self, fid: int) -> None:
        """File ``fid``'s reference stops working (FILE_REFERENCE_EXPIRED) until the client
        fetches a message carrying it again, which hands out the new one."""
        self.file_epochs[fid] = self.file_epochs.get(fid, 0) + 1
        self.version += 1

    def delete_messages(self, key: str, ids) -> None:
        chat = self.chats[key]
        with chat.lock:
            chat.deleted.update(i for i in ids if chat.exists(i))
            self.version += 1


def _peer(p, users: set, chats: set) -> None:
    if isinstance(p, types.PeerUser):
        users.add(p.user_id)
    elif isinstance(p, types.PeerChannel):
        chats.add(("channel", p.channel_id))
    elif isinstance(p, types.PeerChat):
        chats.add(("chat", p.chat_id))


def _referenced(m, users: set, chats: set) -> None:
    """The users and chats a message names (the fields Telegram's replies cover)."""
    _peer(getattr(m, "from_id", None), users, chats)
    fwd = getattr(m, "fwd_from", None)
    if fwd is not None:
        _peer(fwd.from_id, users, chats)
        _peer(fwd.saved_from_peer, users, chats)
    reply = getattr(m, "reply_to", None)
    if reply is not None:
        _peer(getattr(reply, "reply_to_peer_id", None), users, chats)
    bot = getattr(m, "via_bot_id", None)
    if bot:
        users.add(bot)
    action = getattr(m, "action", None)
    if action is not None:
        users.update(getattr(action, "users", None) or ())
        for key in ("user_id", "inviter_id"):
            if getattr(action, key, None):
                users.add(getattr(action, key))
    reactions = getattr(m, "reactions", None)
    for r in getattr(reactions, "recent_reactions", None) or ():
        _peer(r.peer_id, users, chats)
    for e in getattr(m, "entities", None) or ():
        if isinstance(e, types.MessageEntityMentionName):
            users.add(e.user_id)
    media = getattr(m, "media", None)
    if isinstance(media, types.MessageMediaContact) and media.user_id:
        users.add(media.user_id)
