"""An OpenAI-compatible chat completions server for tests and benchmarks.

A real aiohttp server on 127.0.0.1, so the real litellm → openai SDK → httpx path is exercised:
SSE framing, tool-call deltas split across chunks, HTTP errors, errors in the middle of a stream,
and streams that stall. Replies are scripted with `enqueue`; when the queue is empty the
`default` reply is used (an echo of the last user message).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

JSONObject = dict[str, Any]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    `status` alone answers with that HTTP error before any chunk. With `fail_after_chunks` the
    stream starts normally and, after that many chunks, sends an OpenAI-style error event and ends
    (what a provider does when it fails mid-answer). `stall_after_chunks` stops sending (without
    closing) after that many chunks. `tokens_per_second` paces chunks like a real model;
    `delay_per_chunk` adds a fixed pause before each chunk. `delay_before_headers` holds the
    response back entirely (a provider slow to accept the call); `delay_first_chunk` sends the
    headers at once and then waits before the first chunk (a slow first token). Both delays end
    early when the server closes.
    """

    text: str = ""
    tool_calls: list[tuple[str, JSONObject]] = field(default_factory=list)
    chunk_chars: int = 4
    delay_per_chunk: float = 0.0
    tokens_per_second: float = 0.0
    status: int | None = None
    error_body: JSONObject | str | None = None
    stall_after_chunks: int | None = None
    fail_after_chunks: int | None = None
    interleave_tool_calls: bool = False
    repeat_tool_call_id: bool = False
    omit_tool_call_index: bool = False
    delay_before_headers: float = 0.0
    delay_first_chunk: float = 0.0


@dataclass(frozen=True)
class SentChunk:
    """A chunk as it left the server: when (time.monotonic()), for which request, what text."""

    at: float
    request: int
    text: str
    tool_arguments: str


def echo(body: JSONObject) -> Reply:
    """The default reply: repeat the last user message."""
    last = ""
    for message in body.get("messages", []):
        if message.get("role") == "user":
            content = message.get("content")
            last = content if isinstance(content, str) else json.dumps(content)
    return Reply(text=f"You said: {last}")


class MockLLMServer:
    """`async with MockLLMServer() as server:` then point litellm at `server.base_url`."""

    def __init__(
        self,
        default: Reply | Callable[[JSONObject], Reply] = echo,
        tokens_per_second: float = 0.0,
    ) -> None:
        self.default = default
        self.tokens_per_second = tokens_per_second
        self.requests: list[JSONObject] = []
        self.sent_chunks: list[SentChunk] = []
        self._queue: deque[Reply] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        self._queue.extend(replies)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockLLMServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _next_reply(self, body: JSONObject) -> Reply:
        if self._queue:
            return self._queue.popleft()
        return self.default(body) if callable(self.default) else self.default

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body: JSONObject = await request.json()
        self.requests.append(body)
        number = len(self.requests) - 1
        reply = self._next_reply(body)
        model = str(body.get("model", "mock"))
        mid_stream = reply.fail_after_chunks is not None and body.get("stream")
        if reply.status is not None and not mid_stream:
            return _error_response(reply.status, reply.error_body)
        if not body.get("stream"):
            return web.json_response(_whole_completion(reply, model, number))
        return await self._stream(request, reply, model, number, body)

    async def _stream(
        self, request: web.Request, reply: Reply, model: str, number: int, body: JSONObject
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        if not await self._paused(reply.delay_before_headers):
            return response
        await response.prepare(request)
        if not await self._paused(reply.delay_first_chunk):
            return response
        pace = reply.tokens_per_second or self.tokens_per_second
        created = int(time.time())
        for sent, delta in enumerate(_deltas(reply, number)):
            if reply.stall_after_chunks is not None and sent >= reply.stall_after_chunks:
                await self._closing.wait()
                return response
            if reply.fail_after_chunks is not None and sent >= reply.fail_after_chunks:
                error = _error_payload(reply.status or 500, reply.error_body)
                await response.write(f"data: {json.dumps(error)}\n\n".encode())
                return response
            delay = reply.delay_per_chunk + (1 / pace if pace > 0 else 0.0)
            if delay > 0:
                await asyncio.sleep(delay)
            finish = delta.pop("finish_reason", None)
            chunk = _chunk(number, created, model, delta, finish)
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.sent_chunks.append(
                SentChunk(
                    at=time.monotonic(),
                    request=number,
                    text=delta.get("content") or "",
                    tool_arguments="".join(
                        call["function"].get("arguments", "")
                        for call in delta.get("tool_calls", [])
                    ),
                )
            )
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
            chunk = {**_chunk(number, created, model, None, None), "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _paused(self, seconds: float) -> bool:
        """Sleep; false when the server closed meanwhile (a test's teardown never waits on it)."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), seconds)
        return not self._closing.is_set()


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _call_id(request: int, index: int) -> str:
    return f"call_mock_{request}_{index}"


def _deltas(reply: Reply, number: int) -> Iterator[JSONObject]:
    """The `delta` (plus `finish_reason`) of every chunk, in order."""
    yield {"role": "assistant", "content": ""}
    for piece in _pieces(reply.text, reply.chunk_chars):
        yield {"content": piece}
    streams = [
        list(_tool_call_fragments(reply, _call_id(number, index), index, name, arguments))
        for index, (name, arguments) in enumerate(reply.tool_calls)
    ]
    if reply.interleave_tool_calls:
        longest = max((len(s) for s in streams), default=0)
        ordered = [s[i] for i in range(longest) for s in streams if i < len(s)]
    else:
        ordered = [fragment for s in streams for fragment in s]
    for fragment in ordered:
        yield {"tool_calls": [fragment]}
    yield {"finish_reason": "tool_calls" if reply.tool_calls else "stop"}


def _tool_call_fragments(
    reply: Reply, call_id: str, index: int, name: str, arguments: JSONObject
) -> Iterator[JSONObject]:
    """First fragment: id, type, name and no arguments; then the arguments in pieces."""
    first: JSONObject = {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    if reply.omit_tool_call_index:
        del first["index"]
    yield first
    for piece in _pieces(json.dumps(arguments), reply.chunk_chars):
        fragment: JSONObject = {"index": index, "function": {"arguments": piece}}
        if reply.repeat_tool_call_id:
            fragment["id"] = call_id
            fragment["type"] = "function"
        if reply.omit_tool_call_index:
            del fragment["index"]
        yield fragment


def _chunk(
    number: int, created: int, model: str, delta: JSONObject | None, finish: str | None
) -> JSONObject:
    return {
        "id": f"chatcmpl-mock-{number}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


def _whole_completion(reply: Reply, model: str, number: int) -> JSONObject:
    message: JSONObject = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(number, index),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for index, (name, arguments) in enumerate(reply.tool_calls)
        ]
    return {
        "id": f"chatcmpl-mock-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def _error_payload(status: int, body: JSONObject | str | None) -> JSONObject:
    if isinstance(body, dict):
        return body
    message = body or f"mock error {status}"
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": status,
        }
    }


def _error_response(status: int, body: JSONObject | str | None) -> web.Response:
    headers = {"Retry-After": "0"} if status == 429 else None
    return web.json_response(_error_payload(status, body), status=status, headers=headers)
