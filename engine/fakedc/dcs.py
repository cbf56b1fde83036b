"""Other DCs next to the home one, in the same server: each its own loopback port, with the
same corpus, accounts, rules and call log.  As on Telegram, an auth key works only on the DC
that made it, a file is served only by the DC it lives on (elsewhere: ``303 FILE_MIGRATE_X``),
and a client reaches another DC by a key exchange there and an authorization exported from
home (``auth.exportAuthorization``) and imported there (``auth.importAuthorization``), which
is Telethon's ``_borrow_exported_sender``.
"""

from __future__ import annotations

import os
import struct

from telethon.tl import functions, types

from .rpc import RpcError, handles
from .serving import Served


class OtherDC(Served):
    """DC ``dc_id`` of FakeDC ``home``: a listener whose connections ``home`` serves."""

    label = "fakedc-dc"

    def __init__(self, home, dc_id: int):
        self.home, self.dc_id = home, dc_id
        self.host, self._port = home.host, 0

    async def _on_connection(self, reader, writer):
        await self.home.serve_connection(reader, writer, None, self.dc_id)

    def _drop_connections(self) -> None:
        self.home.drop_connections(self.dc_id)


@handles(functions.auth.ExportAuthorizationRequest)
def export_authorization(dc, conn, req):
    if conn.account.user_id is None:
        raise RpcError(401, "AUTH_KEY_UNREGISTERED")
    if req.dc_id == conn.dc_id or req.dc_id not in dc.dc_ports():
        raise RpcError(400, "DC_ID_INVALID")
    export_id = struct.unpack("<q", os.urandom(8))[0] >> 1
    token = os.urandom(32)
    dc.exported[export_id] = (token, conn.account.user_id, req.dc_id)
    return types.auth.ExportedAuthorization(id=export_id, bytes=token)


@handles(functions.auth.ImportAuthorizationRequest)
def import_authorization(dc, conn, req):
    # one use, on the DC it was exported for
    token, user_id, target = dc.exported.pop(req.id, (None, None, None))
    if token is None or token != req.bytes or target != conn.dc_id:
        raise RpcError(400, "AUTH_BYTES_INVALID")
    conn.account.user_id = user_id
    return types.auth.Authorization(user=dc.corpus.users[user_id])
