"""One MCP server, connected and kept so: a supervisor task owns the `mcp.Client`.

The SDK's client holds task groups that must be entered and left by one task, so a task of its own
owns each connection; tool calls from any turn go through it. When the server goes away (a stdio
process exits, an HTTP server drops the connection), calls in flight fail at once with
`McpServerUnavailable` and the supervisor connects again after 0.5 s, doubling to 30 s while it
keeps failing. A server that cannot be reached at start-up is not retried: its tools were left out.

A stdio server is spawned in its own process group and exits when its stdin closes, so even a
killed agent leaves no server behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import httpx2
import mcp_types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage

from agent.mcp_config import HttpServer, McpServerConfig, StdioServer
from agent.toolkit import ToolFailed

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 15.0
"""Seconds a server gets to start and list its tools, at start-up and at each restart."""

FIRST_RETRY = 0.5
LAST_RETRY = 30.0
"""Restarts wait FIRST_RETRY seconds, doubling up to LAST_RETRY while the server keeps failing."""

HEALTHY_AFTER = 60.0
"""A connection that lasted this long was healthy: the next restart waits FIRST_RETRY again."""

RESTART_WAIT = 5.0
"""A call made while the server is down waits for a restart due within this many seconds."""

_LIST_PAGES = 100
_STOP_GRACE = 10.0
_HTTP_CONNECT_TIMEOUT = 30.0

ReadItem = SessionMessage | Exception


class McpServerUnavailable(ToolFailed):
    """The server could not take the call (down, restarting, or gone mid-call)."""


class McpCallTimeout(ToolFailed):
    """The server did not answer the call in time."""


class McpCallRefused(ToolFailed):
    """The server answered the call with a protocol error (e.g. an unknown tool)."""


@dataclass(frozen=True)
class ListedTools:
    """What a server offered when it was connected, and how long connecting and listing took."""

    tools: list[mcp_types.Tool]
    seconds: float


class McpConnection:
    """A supervised connection to one MCP server: `start`, then `call` from any task, `close`."""

    def __init__(self, config: McpServerConfig, startup_timeout: float = STARTUP_TIMEOUT) -> None:
        self.config = config
        self._startup_timeout = startup_timeout
        self._client: Client | None = None
        self._attempting = False
        self._begun = 0
        self._ended = 0
        self._next_attempt_at = math.inf
        self._last_error = "not started"
        self._http_refusal = ""
        self._stopping = False
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._scope: anyio.CancelScope | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[ListedTools | str] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> ListedTools | str:
        """Connect and list the tools: the listing, or why the server could not be used (then
        the connection is closed and never retried)."""
        self._started = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.name}")
        self._task.add_done_callback(lambda _: self._finish_start("the supervisor ended"))
        return await self._started

    async def call(
        self, tool: str, arguments: dict[str, Any], time_limit: float
    ) -> mcp_types.CallToolResult:
        """Call a tool on the server; raises McpServerUnavailable, McpCallTimeout or
        McpCallRefused when it does not answer with a result."""
        client = await self._ready_client()
        try:
            return await client.call_tool(tool, arguments, read_timeout_seconds=time_limit)
        except MCPError as exc:
            if exc.code == mcp_types.CONNECTION_CLOSED or _session_lost(exc):
                if self._client is client:
                    self._lost.set()  # connect again, even where the transport did not notice
                raise McpServerUnavailable(
                    f"MCP server {self.name} went away during the call; it is being restarted"
                ) from exc
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                raise McpCallTimeout(
                    f"MCP server {self.name} did not answer within {time_limit:g} s"
                ) from exc
            raise McpCallRefused(f"MCP server {self.name} refused the call: {exc}") from exc

    async def close(self) -> None:
        """Stop the supervisor; a stdio server gets its stdin closed, then is terminated."""
        self._stopping = True
        self._stop.set()
        self._lost.set()
        if self._scope is not None and self._client is None:
            self._scope.cancel()  # still connecting: nothing to wind down gracefully
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=_STOP_GRACE)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the supervisor ------------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            await self._keep_connected()
        except Exception:  # a bug here must not pass silently: calls would wait for nothing
            logger.exception("MCP server %s: its supervisor failed; no more restarts", self.name)
            self._stopping = True
            self._set_state()

    async def _keep_connected(self) -> None:
        delay = FIRST_RETRY
        first = True
        while not self._stopping:
            began = time.monotonic()
            listed, reason = await self._serve(first)
            if first:
                first = False
                if listed is None:
                    self._finish_start(reason)
                    return
            if self._stopping:
                return
            if time.monotonic() - began >= HEALTHY_AFTER:
                delay = FIRST_RETRY
            self._last_error = reason
            what = "stopped" if listed is not None else "could not be restarted"
            logger.warning(
                "MCP server %s %s (%s); next try in %.1f s", self.name, what, reason, delay
            )
            self._next_attempt_at = time.monotonic() + delay
            self._publish()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, LAST_RETRY)

    async def _serve(self, first: bool) -> tuple[ListedTools | None, str]:
        """One connection from start to end: what it listed (None when it never got that far)
        and why it ended."""
        listed: ListedTools | None = None
        reason = "stopped"
        self._lost.clear()
        self._http_refusal = ""
        self._begun += 1
        self._set_state(attempting=True)
        began = time.monotonic()
        with anyio.CancelScope(deadline=anyio.current_time() + self._startup_timeout) as scope:
            self._scope = scope
            try:
                async with Client(self._transport(), cache=None) as client:
                    tools = await _list_tools(client)
                    scope.deadline = math.inf
                    listed = ListedTools(tools, time.monotonic() - began)
                    if first:
                        self._finish_start(listed)
                    else:
                        logger.info(
                            "MCP server %s restarted: %d tools listed in %.0f ms",
                            self.name,
                            len(tools),
                            listed.seconds * 1000,
                        )
                    try:
                        self._set_state(client=client)
                        await self._lost.wait()
                        reason = "its connection ended; the server probably exited"
                    finally:  # before the client winds down: calls now wait for the restart
                        self._set_state(restarting=True)
            except Exception as exc:
                reason = describe(exc) + self._http_refusal
            finally:
                self._scope = None
                self._ended += 1
                self._set_state()
        if scope.cancelled_caught and listed is None and not self._stopping:
            reason = f"no answer within {self._startup_timeout:g} s"
        return listed, reason

    def _transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        config = self.config
        if isinstance(config, StdioServer):
            parameters = StdioServerParameters(
                command=config.command,
                args=list(config.args),
                env=dict(config.env) or None,
                cwd=config.cwd,
            )
            return _watched(stdio_client(parameters), self._lost.set)
        return _http_transport(config, self._lost.set, self._note_refusal)

    async def _note_refusal(self, response: httpx2.Response) -> None:
        """Keep an HTTP error status: the SDK reports only "Server returned an error response"."""
        if response.status_code >= 400:
            self._http_refusal = f" (HTTP {response.status_code} {response.reason_phrase})"

    def _finish_start(self, outcome: ListedTools | str) -> None:
        if self._started is not None and not self._started.done():
            self._started.set_result(outcome)

    def _set_state(
        self, client: Client | None = None, attempting: bool = False, restarting: bool = False
    ) -> None:
        """Publish the connection's state: connected (`client`), connecting (`attempting`), just
        lost (`restarting`: the supervisor will say when it tries again) or down."""
        self._client = client
        self._attempting = attempting
        if attempting or client is not None:
            self._next_attempt_at = math.inf
        elif restarting:
            self._next_attempt_at = time.monotonic()
        self._publish()

    def _publish(self) -> None:
        """Wake the calls waiting on the state (never awaits, so it runs in a cancelled scope)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _ready_client(self) -> Client:
        """The live client; waits for one restart, under way or due within RESTART_WAIT."""
        deadline = time.monotonic() + RESTART_WAIT + self._startup_timeout
        awaited = self._begun if self._attempting else self._begun + 1
        while self._client is None:
            now = time.monotonic()
            due = self._attempting or self._next_attempt_at - now <= RESTART_WAIT
            tried = self._ended >= awaited
            if self._stopping or not due or tried or now >= deadline:
                raise McpServerUnavailable(self._down_message(now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - now)
        return self._client

    def _down_message(self, now: float) -> str:
        if self._stopping:
            return f"MCP server {self.name} is shut down"
        retry = self._next_attempt_at - now
        when = f"; next restart in {retry:.0f} s" if math.isfinite(retry) else ""
        return f"MCP server {self.name} is not running ({self._last_error}){when}"


def _session_lost(exc: MCPError) -> bool:
    """An HTTP server that restarted forgot our session: only a new connection helps."""
    return exc.code == mcp_types.INVALID_REQUEST and exc.message == "Session terminated"


async def _list_tools(client: Client) -> list[mcp_types.Tool]:
    """Every tool the server lists, across pages."""
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
    raise RuntimeError(f"tools/list went past {_LIST_PAGES} pages")


def describe(exc: BaseException) -> str:
    """A failure in one line: the first real error inside exception groups, with its type."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError) and exc.code == mcp_types.CONNECTION_CLOSED:
        return "the connection closed; the server probably exited"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.asynccontextmanager
async def _watched(
    transport: contextlib.AbstractAsyncContextManager[Any], on_end: Callable[[], None]
) -> AsyncIterator[tuple[Any, Any]]:
    """The transport's streams, its read stream telling `on_end` when the server is gone."""
    async with transport as (read_stream, write_stream):
        yield _WatchedReadStream(read_stream, on_end), write_stream


@contextlib.asynccontextmanager
async def _http_transport(
    config: HttpServer,
    on_end: Callable[[], None],
    on_response: Callable[[httpx2.Response], Awaitable[None]],
) -> AsyncIterator[tuple[Any, Any]]:
    """Streamable HTTP with the configured headers (the SDK takes them on its httpx client)."""
    timeout = httpx2.Timeout(_HTTP_CONNECT_TIMEOUT, read=max(300.0, config.timeout + 30.0))
    hooks = {"response": [on_response]}
    async with (
        httpx2.AsyncClient(
            headers=dict(config.headers), timeout=timeout, event_hooks=hooks
        ) as http,
        _watched(streamable_http_client(config.url, http_client=http), on_end) as streams,
    ):
        yield streams


class _WatchedReadStream:
    """A read stream that calls `on_end` when it ends: the SDK keeps that to itself, and the
    supervisor needs it to restart a stdio server that exited while idle."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> ReadItem:
        try:
            item: ReadItem = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._on_end()
            raise
        return item

    async def aclose(self) -> None:
        self._on_end()
        await self._inner.aclose()

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> ReadItem:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _WatchedReadStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
