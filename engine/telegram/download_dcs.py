"""Connections to the DCs a run's files live on when that is not the account's home DC.

    dcs = OtherDCs(client, call, stats, link=link, timeout=30)
    on4 = await dcs.call(4)           # a middleware-wrapped call on DC 4
    await download(on4, location, size, dest)
    await dcs.close()            # at the end of the run

An auth key works only on the DC that made it, so reaching DC 4 takes what Telethon's
``_create_exported_sender`` does: a key exchange with DC 4 (its address from
``help.getConfig``, asked once per run through the home stack), ``auth.exportAuthorization``
on the home DC, then ``invokeWithLayer(initConnection(auth.importAuthorization))`` as the
new connection's first request. That happens once per DC per run, on the first request
for it, under the connection's lock: files that start together wait for the one export.
The connection stays open for the run and is closed by ``close()``.

Why not ``client._borrow_exported_sender`` itself: its sender is built with
``auto_reconnect=True`` and 5 retries, so it would reconnect silently behind the
middleware's ``Link`` (the house runs Telethon with ``connection_retries=0`` for that
reason), and ``_get_dc`` caches the DC list on the client *class*. Here the sender is
built as a home lane's (engine/telegram/download_lanes.py): ``retries=0,
auto_reconnect=False``, under its own Retry ∘ Reconnect ∘ FloodWait ∘ Timeout stack whose
``Reconnect`` link shares the run's outage handling (``_LaneLink``). A reconnect keeps the
sender's key, which DC 4 already knows as the account's, so it needs no new export: it
sends ``initConnection(help.getConfig)`` as a home lane does. A key DC 4 forgot (the
sender dropped it) is exported for again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telethon import functions
from telethon.network import MTProtoSender
from telethon.tl.alltlobjects import LAYER

from engine.telegram.download import DownloadFailed
from engine.telegram.download_lanes import _Lane, _LaneLink
from engine.telegram.middleware import Call, Link, TelegramStats, stack

__all__ = ["OtherDCs"]

log = logging.getLogger("tgarc.telegram")


class _DCLane(_Lane):
    """One connection to DC ``dc_id`` with its own key, authorized from home."""

    def __init__(self, client, dc_id: int, dcs: OtherDCs):
        self.client, self.dc_id, self.dcs = client, dc_id, dcs
        self.sender = MTProtoSender(None, loggers=client._log, retries=0,
                                    auto_reconnect=False)
        self.authorized = False
        self.exports = 0
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        async with self._lock:              # one export, however many files wait
            if self.sender.is_connected():
                return
            self._forget()
            host, port = self.dcs.addresses[self.dc_id]
            if not self.sender.auth_key:
                self.authorized = False       # a new key: that DC does not know it yet
            c = self.client
            await self.sender.connect(c._connection(
                host, port, self.dc_id, loggers=c._log, proxy=c._proxy,
                local_addr=c._local_addr))
            try:
                if self.authorized:
                    first = functions.help.GetConfigRequest()
                else:
                    auth = await self.dcs.home(functions.auth.ExportAuthorizationRequest(
                        self.dc_id))
                    self.exports += 1
                    log.info("exported the authorization to DC %d", self.dc_id)
                    first = functions.auth.ImportAuthorizationRequest(auth.id, auth.bytes)
                c._init_request.query = first       # serialized by send(), before any await
                await self.sender.send(functions.InvokeWithLayerRequest(LAYER,
                                                                        c._init_request))
                self.authorized = True
            except BaseException:
                # never leave a connected sender whose key the DC has not accepted: the next
                # call would take it for an authorized one
                with contextlib.suppress(Exception):
                    await self.sender.disconnect()
                raise


class OtherDCs:
    """The run's connections to DCs other than home, one per DC, opened on first use.

    ``home`` is the home DC's stack (auth.exportAuthorization and help.getConfig go
    through it); ``stack_kw`` and ``link`` shape each DC's stack as the home lanes'."""

    def __init__(self, client, home: Call, stats: TelegramStats, *, link: Link | None = None,
                 **stack_kw):
        self.client, self.home, self.stats, self.link = client, home, stats, link
        self.stack_kw = stack_kw
        self.lanes: dict[int, _DCLane] = {}
        self._calls: dict[int, Call] = {}
        self.addresses: dict[int, tuple[str, int]] = {}
        self._options: dict[int, list] | None = None
        self._lock = asyncio.Lock()

    async def call(self, dc_id: int) -> Call:
        """The call for DC ``dc_id``, the same one for the whole run. Its address is
        looked up now (``DownloadFailed`` when Telegram names none); the connection and
        the export wait for its first request."""
        async with self._lock:               # one getConfig, one stack per DC
            got = self._calls.get(dc_id)
            if got is None:
                self.addresses[dc_id] = await self._address(dc_id)
                lane = self.lanes[dc_id] = _DCLane(self.client, dc_id, self)
                link = None if self.link is None else _LaneLink(lane, self.link)
                got = self._calls[dc_id] = stack(lane, self.stats, link=link,
                                                 **self.stack_kw)
            return got

    @property
    def exports(self) -> int:
        """Authorizations exported this run, all DCs together."""
        return sum(lane.exports for lane in self.lanes.values())

    async def _address(self, dc_id: int) -> tuple[str, int]:
        """Where DC ``dc_id`` listens, from the home DC's ``help.getConfig`` (asked once)."""
        if self._options is None:
            config = await self.home(functions.help.GetConfigRequest())
            options: dict[int, list] = {}
            for o in config.dc_options:
                if not (o.cdn or o.tcpo_only):
                    options.setdefault(o.id, []).append(o)
            self._options = options
        ipv6 = bool(getattr(self.client, "_use_ipv6", False))
        # as Telethon's _get_dc: the first of the wanted IP version, else any
        found = sorted(self._options.get(dc_id, ()), key=lambda o: bool(o.ipv6) != ipv6)
        if not found:
            raise DownloadFailed(f"Telegram names no address for DC {dc_id} "
                                 f"(help.getConfig)")
        return found[0].ip_address, found[0].port

    async def close(self) -> None:
        for lane in self.lanes.values():
            await lane.close()
