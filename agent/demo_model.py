"""The offline `demo` model: a deterministic litellm provider that behaves like a good assistant.

`LLM_MODEL=demo` (the default) lets anyone run Countersign with no key and no network, and still
see the whole flow: streamed Markdown, a write that waits for approval, parallel tool calls, a
question back to the person, and replies that follow what really happened to each call.

This module is the litellm glue: `DemoLLM` streams the plan that demo_planner.py (pure, tested
directly) makes for the conversation, at a natural pace, text as word-sized tokens and tool-call
arguments in small fragments; `register` makes it callable as `MODEL`.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm: no network fetch

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.llms.openai import ChatCompletionToolCallChunk, ChatCompletionUsageBlock
from litellm.types.utils import GenericStreamingChunk, ModelResponse
from litellm.utils import custom_llm_setup

from agent.demo_planner import DemoReply, Message, plan_reply

PROVIDER = "countersign-demo"
MODEL = f"{PROVIDER}/demo"
PACE_PARAM = "demo_tokens_per_second"
"""Per-call pace: the gateway passes it, so one registered handler serves every gateway."""


_FRAGMENT_SIZES = (7, 9, 12, 8, 11, 10)


def text_tokens(text: str) -> list[str]:
    """Word-sized tokens, each with its trailing whitespace, that join back to `text`."""
    return re.findall(r"\s*\S+\s*|\s+", text)


def argument_fragments(arguments: str) -> list[str]:
    """JSON arguments cut into 7–12 character pieces, the way providers stream them."""
    pieces, start, turn = [], 0, 0
    while start < len(arguments):
        size = _FRAGMENT_SIZES[turn % len(_FRAGMENT_SIZES)]
        pieces.append(arguments[start : start + size])
        start, turn = start + size, turn + 1
    return pieces


def chunks(reply: DemoReply) -> Iterator[GenericStreamingChunk]:
    """The reply as litellm generic streaming chunks (text, then each tool call, then the end)."""
    tokens = text_tokens(reply.text)
    for token in tokens:
        yield _chunk(text=token)
    for index, call in enumerate(reply.tool_calls):
        yield _chunk(
            tool_use=ChatCompletionToolCallChunk(
                id=call.id,
                type="function",
                index=index,
                function={"name": call.name, "arguments": ""},
            )
        )
        for piece in argument_fragments(json.dumps(call.arguments, ensure_ascii=False)):
            yield _chunk(
                tool_use=ChatCompletionToolCallChunk(
                    id=None,
                    type="function",
                    index=index,
                    function={"name": None, "arguments": piece},
                )
            )
    words = len(tokens) + 10 * len(reply.tool_calls)
    yield _chunk(
        finish_reason="tool_calls" if reply.tool_calls else "stop",
        usage=ChatCompletionUsageBlock(
            prompt_tokens=0, completion_tokens=words, total_tokens=words
        ),
    )


def _chunk(
    text: str = "",
    tool_use: ChatCompletionToolCallChunk | None = None,
    finish_reason: str = "",
    usage: ChatCompletionUsageBlock | None = None,
) -> GenericStreamingChunk:
    return GenericStreamingChunk(
        text=text,
        tool_use=tool_use,
        is_finished=bool(finish_reason),
        finish_reason=finish_reason,
        usage=usage,
        index=0,
    )


def tool_names_from(optional_params: Mapping[str, Any] | None) -> set[str]:
    """Names of the tools offered in an OpenAI-format `tools` list."""
    tools = (optional_params or {}).get("tools") or []
    return {
        str(tool.get("function", {}).get("name"))
        for tool in tools
        if isinstance(tool, Mapping) and tool.get("function")
    }


class DemoLLM(CustomLLM):
    """The litellm provider behind `LLM_MODEL=demo`."""

    def __init__(self, tokens_per_second: float = 0.0) -> None:
        super().__init__()
        self.tokens_per_second = tokens_per_second

    def _plan(
        self, messages: list[Message], optional_params: Mapping[str, Any] | None
    ) -> DemoReply:
        return plan_reply(messages, tool_names_from(optional_params))

    def _paced(
        self, messages: list[Message], optional_params: Mapping[str, Any] | None
    ) -> Iterator[tuple[float, GenericStreamingChunk]]:
        """Each chunk with the pause to take before it (none before the final one)."""
        pace = float((optional_params or {}).get(PACE_PARAM, self.tokens_per_second) or 0)
        delay = 1 / pace if pace > 0 else 0.0
        for chunk in chunks(self._plan(messages, optional_params)):
            yield (0.0 if chunk["is_finished"] else delay), chunk

    # litellm declares astreaming as a coroutine, but iterates what it returns with `async for`:
    # an async generator is what works (langgraph-litellm notes §6.3).
    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        for wait, chunk in self._paced(messages, kwargs.get("optional_params")):
            if wait:
                await asyncio.sleep(wait)
            yield chunk

    def streaming(
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> Iterator[GenericStreamingChunk]:
        for wait, chunk in self._paced(messages, kwargs.get("optional_params")):
            if wait:
                time.sleep(wait)
            yield chunk

    async def acompletion(
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        return self.completion(model, messages, *args, **kwargs)

    def completion(
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        reply = self._plan(messages, kwargs.get("optional_params"))
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in reply.tool_calls
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        return ModelResponse(
            model=model,
            choices=[{"index": 0, "finish_reason": finish, "message": message}],
        )


def register(tokens_per_second: float = 0.0) -> str:
    """Make `MODEL` callable through litellm; calling it again changes nothing.

    Returns the litellm model string to use.
    """
    if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": DemoLLM(tokens_per_second)},
        ]
    custom_llm_setup()  # type: ignore[no-untyped-call]
    return MODEL
