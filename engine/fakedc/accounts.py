"""The authorizations (auth keys) fakedc knows: made by the handshake, used by the server."""

from __future__ import annotations

from telethon.crypto import AuthKey


class Account:
    """An authorization (auth key) the server knows."""

    def __init__(self, key: bytes, user_id: int | None, bot: bool = False):
        self.key = key
        self.key_id = AuthKey(key).key_id
        self.user_id = user_id
        self.bot = bot
        self.revoked = False
