"""``--members``: who is in the chat, for chat.json.

``Members`` is mixed into ``engine.telegram.source.Source`` and reads the chat it
resolved (``self.peer``, ``self.chat_meta``) through its ``call`` and ``full()``.
Telegram's refusals become a reason in chat.json, never a failed export (a revoked
session excepted).
"""

from __future__ import annotations

import contextlib

from telethon import errors, functions, types

from engine.telegram import convert
from engine.telegram.middleware import TelegramFailure


class Members:
    async def members(self) -> dict:
        """``--members``: what chat.json gets — ``members`` (each: id, name, username, bot,
        role creator|admin|member, joined ISO UTC or None; sorted by id) and
        ``members_count`` (how many Telegram says the chat has). Where the account may not
        read the list (a broadcast channel's subscribers are for its admins:
        CHAT_ADMIN_REQUIRED; a hidden member list; a group it was removed from) the export
        goes on: ``members`` is null, ``members_error`` says why, and one warning goes to
        stderr. A revoked session still fails the run."""
        import logging
        import sys

        from engine.telegram.middleware import AuthRevoked, method_name

        peer = self.peer
        try:
            if isinstance(peer, types.InputPeerChannel):
                found = await self._channel_members(peer)
            elif isinstance(peer, types.InputPeerChat):
                found = await self._group_members(peer)
            else:
                found = await self._private_members(peer)
        except AuthRevoked:
            raise
        except (errors.RPCError, TelegramFailure) as exc:
            if isinstance(exc, errors.ChatAdminRequiredError):
                why = ("only a channel's admins may list its subscribers (CHAT_ADMIN_REQUIRED)"
                       if self.chat_meta.kind == "channel" else "only its admins may see this "
                       "group's members: the list is hidden (CHAT_ADMIN_REQUIRED)")
            elif isinstance(exc, errors.ChannelPrivateError):
                why = "this account is not in the chat (or was removed from it)"
            elif isinstance(exc, errors.RPCError):
                why = f"Telegram refused {method_name(exc.request)}: {exc.message}"
            else:
                why = str(exc)
            found = {"members": None, "members_count": await self._members_count(),
                     "members_error": why}
        if found["members"] is None:
            line = (f"--members: cannot list the members of \"{self.chat_meta.name}\": "
                    f"{found['members_error']}; chat.json has \"members\": null")
            logging.getLogger("tgarc.export").warning(line)
            print(f"tgarc: warning: {line}", file=sys.stderr)
        elif found["members_count"] is not None and len(found["members"]) < \
                found["members_count"]:
            line = (f"--members: Telegram listed {len(found['members'])} of the "
                    f"{found['members_count']} members of \"{self.chat_meta.name}\" "
                    f"(it stops plain listing near 10,000)")
            logging.getLogger("tgarc.export").warning(line)
            print(f"tgarc: warning: {line}", file=sys.stderr)
        return found

    participants_page = 200        # channels.getParticipants: Telegram's most per call

    @staticmethod
    def _member(user, role: str, joined) -> dict:
        import datetime as dt

        info = convert.peer_info(user)
        return {"id": user.id,
                "name": info.name or ("Deleted Account" if info.deleted else ""),
                "username": info.username, "bot": info.bot, "role": role,
                "joined": joined.astimezone(dt.UTC).isoformat(timespec="seconds")
                if joined is not None else None}

    async def _channel_members(self, peer) -> dict:
        """channels.getParticipants (recent), ``participants_page`` at a time until a page comes
        back empty or ``count`` are read. Telegram stops plain listing around 10,000 members
        (later pages are empty while ``count`` stays true): past that, a list is partial —
        searching by name (ChannelParticipantsSearch per letter) could reach more; not done."""
        channel = types.InputChannel(peer.channel_id, peer.access_hash)
        out: dict[int, dict] = {}
        offset, count = 0, 0
        while True:
            res = await self.call(functions.channels.GetParticipantsRequest(
                channel, types.ChannelParticipantsRecent(), offset, self.participants_page,
                hash=0))
            if not isinstance(res, types.channels.ChannelParticipants):
                break                                    # NotModified: only with a hash
            users = {u.id: u for u in res.users}
            count = res.count
            for p in res.participants:
                user = users.get(getattr(p, "user_id", None))
                if user is None:                         # banned / left, or not a user
                    continue
                role = ("creator" if isinstance(p, types.ChannelParticipantCreator) else
                        "admin" if isinstance(p, types.ChannelParticipantAdmin) else "member")
                out.setdefault(user.id, self._member(user, role, getattr(p, "date", None)))
            offset += len(res.participants)
            if not res.participants or offset >= res.count:
                break
        return {"members": [out[k] for k in sorted(out)], "members_count": max(count, len(out))}

    async def _group_members(self, peer) -> dict:
        full = await self.full()
        parts = full.full_chat.participants
        if isinstance(parts, types.ChatParticipantsForbidden):
            return {"members": None, "members_count": None,
                    "members_error": "this account is no longer in the group"}
        users = {u.id: u for u in full.users}
        out = {}
        for p in parts.participants:
            user = users.get(p.user_id)
            if user is not None:
                role = ("creator" if isinstance(p, types.ChatParticipantCreator) else
                        "admin" if isinstance(p, types.ChatParticipantAdmin) else "member")
                out[user.id] = self._member(user, role, getattr(p, "date", None))
        return {"members": [out[k] for k in sorted(out)], "members_count": len(out)}

    async def _private_members(self, peer) -> dict:
        """A private chat: the account and the other user (Saved Messages: the account)."""
        wanted = [types.InputUserSelf()]
        if isinstance(peer, types.InputPeerUser):
            wanted.append(types.InputUser(peer.user_id, peer.access_hash))
        users = await self.call(functions.users.GetUsersRequest(wanted))
        out = {u.id: self._member(u, "member", None) for u in users
               if isinstance(u, types.User)}
        return {"members": [out[k] for k in sorted(out)], "members_count": len(out)}

    async def _members_count(self) -> int | None:
        """How many members Telegram says the chat has (channels: visible to subscribers
        too), None where it will not say."""
        peer = self.peer
        if not isinstance(peer, types.InputPeerChannel):
            return None
        with contextlib.suppress(errors.RPCError, TelegramFailure):
            full = await self.full()
            return getattr(full.full_chat, "participants_count", None)
        return None
