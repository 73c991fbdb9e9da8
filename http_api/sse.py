"""A Server-Sent Events response: `event:` and JSON `data:` lines, and a comment line while
nothing else is said, so proxies keep the connection open."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

KEEPALIVE_SECONDS = 15.0


class EventStream:
    """One client's stream; `send` until the run ends, then `close`."""

    def __init__(self, request: web.Request, keepalive_seconds: float) -> None:
        self._request = request
        self._keepalive_seconds = keepalive_seconds
        self._response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx would hold the events back otherwise
            }
        )
        self._lock = asyncio.Lock()
        self._keepalive: asyncio.Task[None] | None = None
        self.gone = False
        """The client went away: the run goes on without it (re-attach with /events)."""

    async def open(self) -> web.StreamResponse:
        await self._response.prepare(self._request)
        self._keepalive = asyncio.create_task(self._keep_alive(), name="sse keepalive")
        return self._response

    @property
    def response(self) -> web.StreamResponse:
        """The response being streamed."""
        return self._response

    async def send(self, event: str, data: dict[str, Any]) -> None:
        payload = json.dumps(data, ensure_ascii=False, default=str)
        await self._write(f"event: {event}\ndata: {payload}\n\n")

    async def close(self) -> web.StreamResponse:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        if not self.gone:
            with contextlib.suppress(ConnectionError):
                await self._response.write_eof()
        return self._response

    async def _keep_alive(self) -> None:
        while not self.gone:
            await asyncio.sleep(self._keepalive_seconds)
            await self._write(": keepalive\n\n")

    async def _write(self, text: str) -> None:
        if self.gone:
            return
        async with self._lock:
            try:
                await self._response.write(text.encode())
            except (ConnectionError, RuntimeError):
                self.gone = True
