"""A gateway on a real HTTP port, run on its own loop thread, for synchronous HTTP clients."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from streamgraph.engines.loop_thread import LoopThread


class LiveGateway:
    """Serves an aiohttp app on 127.0.0.1 (a free port) until `close()`."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._loop = LoopThread(name="live-gateway")
        self._runner = web.AppRunner(app)
        try:
            self.port = self._loop.run(self._start())
        except BaseException:
            self._loop.stop()
            raise

    async def _start(self) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server  # aiohttp keeps the listening sockets here
        port: int = server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the gateway's loop (to read its state safely)."""
        return self._loop.run(coro)

    def close(self) -> None:
        try:
            self._loop.run(self._runner.cleanup())
        finally:
            self._loop.stop()

    def __enter__(self) -> LiveGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
