"""The authorizations (auth keys) fakedc knows: made by the handshake, used by the server."""

from __future__ import annotations

from telethon.crypto import AuthKey

HOME_DC = 2        # the DC sessions start on; fakedc can serve others next to it (dcs.py)


class Account:
    """An authorization (auth key) the server knows, on the DC that made it: as on
    Telegram, a key works only there (another DC answers -404)."""

    def __init__(self, key: bytes, user_id: int | None, bot: bool = False,
                 dc_id: int = HOME_DC):
        self.key = key
        self.dc_id = dc_id
        self.key_id = AuthKey(key).key_id
        self.user_id = user_id
        self.bot = bot
        self.revoked = False
        self.sees: frozenset[int] | None = None   # the chat ids in its dialogs (None: all)

    def can_see(self, chat) -> bool:
        return self.sees is None or chat.id in self.sees
