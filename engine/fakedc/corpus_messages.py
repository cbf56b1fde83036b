"""The messages of fakedc's synthetic world, rebuilt from ``(seed, chat, id)`` whenever one
is asked for: texts with entities over emoji and astral characters, replies, forwards,
edits, views, reactions, service messages, comment threads of the discussion group, and
media on a fixed schedule of ids (engine/fakedc/files.py describes the files).
``Messages`` is a part of ``Corpus`` (engine/fakedc/corpus.py), which holds the chats.
"""

from __future__ import annotations

import random

from telethon.tl import types

from . import files
from .world import (
    BIG_FILE_ID,
    BOT_ID,
    CHANNEL_ID,
    DOCUMENT_KINDS,
    EMOJI,
    FORUM_TOPICS,
    MASK64,
    POOL,
    WORDS,
    Chat,
    geo_point,
    tl_date,
    utf16_len,
)


def comment_photo(k: int) -> int:
    """The photo of thread ``k``'s first comment: a file of the thread's own (a copy's id,
    files.copy_id), so a test can name it in a fault rule."""
    return files.copy_id(files.file_id("photo", k), 128 + k % 128)


class Messages:
    """Message making for ``Corpus``: uses its ``seed``, ``chats``, ``users``, ``ME``,
    ``file_ref_version``, ``file_epochs``, ``attached`` (big files) and ``chat_by_id``."""

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

    def file_reference(self, fid: int | None = None) -> bytes:
        """The reference messages hand out for file ``fid`` now.  A file expired on its own
        (``expire_file_reference``) gets its epoch appended; the others keep the corpus-wide
        reference they always had (tgarc's archives record it)."""
        ref = b"fref" + self.file_ref_version.to_bytes(4, "little")
        epoch = self.file_epochs.get(fid, 0)
        return ref + epoch.to_bytes(4, "little") if epoch else ref

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
        ts = chat.date_of(msg_id)
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
            edit_date, entities = tl_date(edit_ts), None
        is_channel = chat.kind == "channel"
        kw = {}
        if not chat.text_only and msg_id not in chat.added:
            if chat.forum:
                topic = self.topic_of(chat, msg_id)
                if topic != 1:
                    # every 11th a reply to an earlier message of its topic (the topic's
                    # id then in reply_to_top_id), the others in it reply to its first
                    prev = next((i for i in range(msg_id - 1, max(topic, msg_id - 30), -1)
                                 if chat.exists(i) and self.topic_of(chat, i) == topic
                                 and self._service(chat, i) is None), None) \
                        if msg_id % 11 == 0 else None
                    kw["reply_to"] = types.MessageReplyHeader(
                        forum_topic=True, reply_to_msg_id=prev or topic,
                        reply_to_top_id=topic if prev else None)
            elif chat.kind in ("group", "user") and msg_id % 31 == 15:   # into another chat
                kw["reply_to"] = types.MessageReplyHeader(
                    reply_to_peer_id=types.PeerChannel(CHANNEL_ID),
                    reply_to_msg_id=2 + msg_id % 50)
            elif msg_id % 11 == 0 and msg_id > 2:
                kw["reply_to"] = types.MessageReplyHeader(reply_to_msg_id=msg_id - 1 - msg_id % 3)
            if msg_id % 17 == 0:
                kw["fwd_from"] = types.MessageFwdHeader(date=tl_date(ts - 86400),
                                                        from_name="Somebody Else")
            if msg_id % 29 == 0 and edit_date is None:
                edit_date = tl_date(ts + 600)
            extra = self._extras(chat, msg_id, h, ts)
            if "message" in extra:
                said = extra.pop("message"), extra.pop("entities", None)
                if msg_id not in chat.edited:       # an edit's text wins
                    text, entities = said
            kw.update(extra)
            if msg_id % 5 == 0 and chat.kind != "user":
                kw["reactions"] = self._reactions(chat, msg_id, h)
            thread = self.thread_root(chat, msg_id)
            if thread:
                kw["replies"] = types.MessageReplies(
                    replies=3, replies_pts=1, comments=True, channel_id=chat.linked,
                    max_id=thread + 3, recent_repliers=[])
        big = self.attached.get((chat.id, msg_id))
        if big is not None and files.decode_id(big) is not None:     # a copy (add_copies)
            kind, seed = files.decode_id(big)
            kw["media"] = files.media_for(kind, seed, ts, self.file_reference, fid=big)
        elif big is not None:
            kw["media"] = files.big_media(big, ts, self.file_reference(big),
                                          self.said_dcs.get(big, self.file_dc(big)))
        if chat.kind == "user":
            from_id = types.PeerUser(self.ME if msg_id % 2 else chat.id)
            out = msg_id % 2 == 1
        else:
            from_id, out = (None if is_channel else types.PeerUser(sender)), False
        return types.Message(
            id=msg_id, peer_id=peer, date=tl_date(ts), message=text, out=out, post=is_channel,
            from_id=from_id, entities=entities or None, edit_date=edit_date,
            views=10 + (h >> 20) % 5000 if is_channel else None,
            forwards=(h >> 40) % 50 if is_channel else None,
            post_author="Editor" if is_channel and msg_id % 9 == 0 else None, **kw)

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
        date = tl_date(disc.date_of(msg_id))
        h = self._mix(disc, msg_id)
        if pos == 0:
            original = self.message(channel, post)
            return types.Message(
                id=msg_id, peer_id=disc.peer(), date=date,
                message=getattr(original, "message", "") or "",
                from_id=types.PeerChannel(channel.id),
                fwd_from=types.MessageFwdHeader(
                    date=tl_date(channel.date_of(post)), from_id=types.PeerChannel(channel.id),
                    channel_post=post, saved_from_peer=types.PeerChannel(channel.id),
                    saved_from_msg_id=post),
                media=getattr(original, "media", None))     # the post's file, as Telegram
        reply = (types.MessageReplyHeader(reply_to_msg_id=root) if pos < 3 else
                 types.MessageReplyHeader(reply_to_msg_id=root + 1, reply_to_top_id=root))
        text, entities = self._texts(False)[(h >> 8) % POOL]
        # every thread's first comment carries a photo (comment threads have files too)
        media = files.media_for("photo", k, channel.date_of(post) + 65, self.file_reference,
                                fid=comment_photo(k)) if pos == 1 else None
        return types.Message(id=msg_id, peer_id=disc.peer(), date=date, message=text,
                             entities=entities or None, reply_to=reply, media=media,
                             from_id=types.PeerUser(disc.members[h % len(disc.members)]))

    def _service(self, chat: Chat, msg_id: int):
        peer, date = chat.peer(), tl_date(chat.date_of(msg_id))
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
        ref = self.file_reference          # each file's own (see file_reference)
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
            return {"media": types.MessageMediaGeo(geo=geo_point(h)), "message": "",
                    "entities": None}
        if msg_id % 61 == 10:
            return {"media": types.MessageMediaVenue(
                geo=geo_point(h), title="Synthetic Café", address="1 Loopback Street, Localhost",
                provider="foursquare", venue_id=f"v{h % 10_000}", venue_type="food/cafe"),
                "message": "", "entities": None}
        if msg_id % 67 == 11:
            user = self.users[chat.members[h % len(chat.members)]]
            phone = f"+1555{h % 10_000_000:07d}"
            # every other contact comes with its vCard, as a phone's share does
            vcard = "" if h % 2 else (f"BEGIN:VCARD\nVERSION:3.0\nFN:{user.first_name} "
                                      f"{user.last_name or ''}\nTEL:{phone}\nEND:VCARD\n")
            return {"media": types.MessageMediaContact(
                phone_number=phone, first_name=user.first_name,
                last_name=user.last_name or "", vcard=vcard, user_id=user.id),
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
        if msg_id % 19 == 4:
            text, entities = hard_text(chat.members[h % len(chat.members)])
            return {"message": text, "entities": entities}
        if msg_id % 23 == 6:
            button, row = types.KeyboardInlineButton, types.KeyboardInlineButtonRow
            return {"via_bot_id": BOT_ID, "reply_markup": types.ReplyInlineMarkup(rows=[
                row(buttons=[
                    button("Open [site]", types.InlineButtonTypeUrl("https://example.org/x")),
                    button("Vote *1*", types.InlineButtonTypeCallback(b"v1"))]),
                row(buttons=[button("Share", types.InlineButtonTypeSwitchInline("tgarc"))])])}
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
                date=tl_date(chat.date_of(msg_id) + 60 * k),
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


def hard_text(user_id: int) -> tuple[str, list]:
    """A text with what renderers trip on: lines, Markdown's and the vault's own signs taken
    literally, and every entity kind the random texts lack (pre with a language, mention,
    hashtag, cashtag, bot command, e-mail, phone, blockquote, custom emoji, mention name,
    underline, strikethrough), each at a known place."""
    parts: list[tuple[str, object]] = [
        ("Release notes ", None), ("#release", types.MessageEntityHashtag),
        (" by ", None), ("@tgarc_demo", types.MessageEntityMention), (" for ", None),
        ("a member", lambda o, n: types.MessageEntityMentionName(o, n, user_id)),
        (", price ", None), ("$TGA", types.MessageEntityCashtag), (", ", None),
        ("/start", types.MessageEntityBotCommand), (", ", None),
        ("team@example.org", types.MessageEntityEmail), (", ", None),
        ("+15550001111", types.MessageEntityPhone),
        ("\n> not a quote, *not bold*, _not italic_, [not](a link) | a | table |\n"
         "# not a heading, [[not a note]] ^m1 <b>not html</b> `not code`\n", None),
        ("a quoted line\nand another",        # as read off the wire: the flag unset
         lambda o, n: types.MessageEntityBlockquote(o, n, collapsed=False)),
        ("\n", None),
        ("def f(x):\n    return x * 2  # two spaces\n", lambda o, n:
         types.MessageEntityPre(o, n, language="python")),
        ("then ", None), ("underlined", types.MessageEntityUnderline), (", ", None),
        ("struck", types.MessageEntityStrike), (" and a custom ", None),
        ("🙂", lambda o, n: types.MessageEntityCustomEmoji(o, n, document_id=5368324170671202286)),
        ("\n\nlast line after a blank one", None),
    ]
    text, entities, pos = "", [], 0
    for piece, kind in parts:
        n = utf16_len(piece)
        if kind is not None:
            entities.append(kind(pos, n))
        text += piece
        pos += n
    return text, entities
