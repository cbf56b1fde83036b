"""How fakedc's loopback servers (the DC itself, the test proxies) are run: as an async
context manager inside a loop, or from a background thread's loop for a ``with`` block
(tests and the demo call them from synchronous code)."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Served:
    """Mixin for a loopback TCP server: ``host``, ``_port`` (0: any free one) and
    ``_server`` set by the subclass, which serves each connection in ``_on_connection``
    and closes the open ones in ``_drop_connections``."""

    label = "fakedc"              # the serving thread's name, and in errors
    _server = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` (what TGARC_DC takes, for the DC)."""
        return f"{self.host}:{self.port}"

    async def start(self):
        self._server = await asyncio.start_server(self._on_connection, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._drop_connections()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self):
        """Serve from a background thread's event loop for the ``with`` block."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name=self.label, daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the {self.label} did not start")
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
