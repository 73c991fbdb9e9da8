"""The LLM gateway: the only way the graph talks to a model.

It streams one answer through litellm (any provider, or the offline demo model), hands text to the
caller as it arrives, assembles tool calls from their deltas, bounds the whole call and every gap
between chunks, retries transient failures only before anything was shown, stops as soon as the
run's stop event is set (even while the provider has not answered yet), sends providers only the
OpenAI chat keys of each message, and turns every provider failure into one `LLMError` with a
message a person can act on.

Which failures are transient and what to say about them is agent.llm_errors; joining tool-call
fragments is agent.tool_call_assembly. `LLMError` and `ToolCall` are re-exported, so callers
import everything about a model call from here.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm: no network fetch

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import litellm
from opentelemetry.trace import Span

from agent import demo_model
from agent.instrumentation import Instrumentation
from agent.llm_errors import LLMError, describe_error, is_transient, seconds_text
from agent.settings import AgentSettings
from agent.tool_call_assembly import ToolCall, ToolCallAssembler

__all__ = ["LLMError", "LLMGateway", "ModelReply", "ToolCall"]

log = logging.getLogger(__name__)

PROVIDER_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name"})
"""The OpenAI chat message keys providers accept; the agent may tag its messages with more."""


@dataclass(frozen=True)
class ModelReply:
    """One model turn. `stopped`: the caller asked to stop; `text` is partial, no tool calls."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stopped: bool = False


class LLMGateway:
    """Streams completions through litellm with timeouts, retries and clear errors."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 4.0,
        instrumentation: Instrumentation | None = None,
    ) -> None:
        self._settings = settings
        instrumentation = instrumentation or Instrumentation()
        self._observer = instrumentation.observer
        self._tracer = instrumentation.tracer
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay
        self._demo = settings.llm_model == "demo"
        litellm.suppress_debug_info = True
        if not _litellm_callbacks():
            # litellm prices every call as it starts, counting the prompt's tokens with tiktoken:
            # the whole conversation, on every turn, and about 60 MB of encoding tables loaded on
            # the first call. Only litellm's logging callbacks read that price.
            litellm.disable_token_counter = True
        self._model = settings.llm_model
        if self._demo:
            self._model = demo_model.register(settings.demo_tokens_per_second)
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
        self._api_key = key or None  # unset: litellm falls back to OPENAI_API_KEY etc.

    async def warm_up(self) -> None:
        """Pay litellm's first-call cost (lazy imports, about a second) at start-up.

        Real providers get a `mock_response` call, which never leaves the process.
        """
        extra: dict[str, Any] = (
            {demo_model.PACE_PARAM: 0} if self._demo else {"mock_response": "ok"}
        )
        try:
            response = await litellm.acompletion(
                model=self._model,
                messages=[{"role": "user", "content": "hi"}],
                tools=[_WARM_UP_TOOL],
                stream=True,
                timeout=self._settings.llm_timeout_seconds,
                num_retries=0,
                **extra,
            )
            async for _ in response:
                pass
            if not self._demo:
                importlib.import_module("openai.resources")  # the SDK's first client builds it
        except Exception:
            log.warning("LLM warm-up failed for model %r", self._settings.llm_model, exc_info=True)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: Callable[[str], None],
        stop: asyncio.Event,
    ) -> ModelReply:
        """Stream one answer; `on_text` gets each text piece as it arrives.

        Setting `stop` ends the call at once, wherever it waits (connecting, the first chunk, a
        gap between chunks, a retry's backoff): the reply is `stopped`, with the text so far.
        Raises `LLMError` on a provider failure or a timeout.
        """
        call = _Call(provider_messages(messages), tools, on_text, stop)
        if stop.is_set():
            return call.stopped()
        model = self._settings.llm_model
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
        with self._tracer.start_as_current_span(f"chat {model}", attributes=attributes) as span:
            try:
                async with _StopScope(stop):
                    return await self._bounded(call)
                return call.stopped()  # reached only when the stop cut the call short
            finally:
                self._report(call, span)

    def _output_arrived(self, call: _Call) -> None:
        """A text or tool-call delta: count it, and time the call's first one."""
        call.chunks += 1
        if not call.emitted:
            call.emitted = True
            call.first_output_seconds = time.perf_counter() - call.started
            self._observer.model_first_token(call.first_output_seconds)

    def _report(self, call: _Call, span: Span) -> None:
        """Tokens as the provider counted them, else the streamed deltas; onto the span too."""
        usage = call.usage
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        if usage is not None:
            self._observer.model_tokens("prompt", "usage", prompt)
            self._observer.model_tokens("completion", "usage", completion)
        else:
            self._observer.model_tokens("completion", "chunks", call.chunks)
        if span.is_recording():
            span.set_attribute("countersign.model.chunks", call.chunks)
            if usage is not None:
                span.set_attribute("gen_ai.usage.input_tokens", prompt)
                span.set_attribute("gen_ai.usage.output_tokens", completion)
            if call.first_output_seconds is not None:
                span.set_attribute(
                    "countersign.model.first_token_seconds", call.first_output_seconds
                )
            span.set_attribute("countersign.model.stopped", call.stop.is_set())

    async def _bounded(self, call: _Call) -> ModelReply:
        """The whole call, retries included, within LLM_TIMEOUT_SECONDS."""
        total = self._settings.llm_timeout_seconds
        try:
            async with asyncio.timeout(total):
                return await self._with_retries(call)
        except TimeoutError:
            verb = "finish" if call.emitted else "answer"
            log.warning("LLM call to %r took longer than %s s", self._settings.llm_model, total)
            message = f"The model did not {verb} within {seconds_text(total)} s."
            raise LLMError("timeout", message) from None

    async def _with_retries(self, call: _Call) -> ModelReply:
        attempt = 0
        while True:
            try:
                return await self._stream_once(call)
            except _ProviderFailure as failure:
                error = failure.error
                if (
                    call.emitted
                    or attempt >= self._settings.llm_max_retries
                    or not is_transient(error)
                ):
                    log.warning(
                        "LLM call to %r failed (attempt %d)",
                        self._settings.llm_model,
                        attempt + 1,
                        exc_info=error,
                    )
                    raise self._describe(error) from error
                delay = min(self._retry_base_delay * 2**attempt, self._retry_max_delay)
                attempt += 1
                log.info(
                    "LLM call to %r failed (%s); retry %d in %.1f s",
                    self._settings.llm_model,
                    type(error).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _stream_once(self, call: _Call) -> ModelReply:
        idle = self._settings.llm_idle_timeout_seconds
        response = await self._guarded(
            idle,
            f"The model did not start answering within {seconds_text(idle)} s.",
            litellm.acompletion(**self._call_arguments(call)),
        )
        text = call.text
        assembled = ToolCallAssembler()
        try:
            while True:
                try:
                    chunk = await self._guarded(
                        idle,
                        f"The model stopped responding for {seconds_text(idle)} s.",
                        anext(response),
                    )
                except StopAsyncIteration:
                    break
                finished = False
                if (usage := getattr(chunk, "usage", None)) is not None:
                    call.usage = usage
                for choice in getattr(chunk, "choices", None) or []:
                    finished = finished or bool(getattr(choice, "finish_reason", None))
                    delta = getattr(choice, "delta", None)
                    if delta is None:
                        continue
                    for fragment in getattr(delta, "tool_calls", None) or []:
                        self._output_arrived(call)
                        assembled.add(fragment)
                    piece = getattr(delta, "content", None)
                    if piece:
                        self._output_arrived(call)
                        text.append(piece)
                        call.on_text(piece)
                if call.stop.is_set():  # on_text may have set it: stop before reading on
                    return call.stopped()
                # Let the loop run others between chunks: when chunks are already buffered
                # (the bot is behind), reading the next one does not suspend, and one answer
                # would run through its whole backlog while Slack's events wait to be acked.
                await asyncio.sleep(0)
                if not _litellm_callbacks():
                    if finished:
                        break  # see _litellm_callbacks: the answer is whole, skip the bookkeeping
                    _forget_old_chunks(response)
        finally:
            await _close(response)
        return ModelReply(text="".join(text), tool_calls=assembled.result())

    def _call_arguments(self, call: _Call) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self._model,
            "messages": call.messages,  # already provider_messages()
            "tools": call.tools or None,
            "stream": True,
            "timeout": self._settings.llm_timeout_seconds,
            "api_base": self._settings.llm_api_base,
            "api_key": self._api_key,
            # Our retry loop is the only one: the openai SDK would otherwise retry 429/5xx twice
            # on its own, unseen and unbounded by our backoff.
            "num_retries": 0,
        }
        if self._demo:
            arguments[demo_model.PACE_PARAM] = self._settings.demo_tokens_per_second
        return arguments

    @staticmethod
    async def _guarded(idle: float, message: str, awaitable: Awaitable[Any]) -> Any:
        """Await a provider step: an idle timeout becomes LLMError, a provider error a failure."""
        timer = asyncio.timeout(idle)
        try:
            async with timer:
                return await awaitable
        except StopAsyncIteration:
            raise
        except TimeoutError as exc:
            if timer.expired():
                log.warning("LLM idle timeout: %s", message)
                raise LLMError("timeout", message) from None
            raise _ProviderFailure(exc) from exc
        except Exception as exc:
            raise _ProviderFailure(exc) from exc

    def _describe(self, error: Exception) -> LLMError:
        return describe_error(
            error,
            model=self._settings.llm_model,
            api_base=self._settings.llm_api_base,
            timeout=self._settings.llm_timeout_seconds,
        )


_WARM_UP_TOOL = {
    "type": "function",
    "function": {
        "name": "warm_up",
        "description": "Not a real tool: only here so the tools path is imported at start-up.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def provider_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each message with only the keys providers accept: some reject unknown keys outright."""
    return [
        {key: value for key, value in message.items() if key in PROVIDER_MESSAGE_KEYS}
        for message in messages
    ]


@dataclass
class _Call:
    """One model call, retries included: what it sends, where its text goes, when to stop,
    and what reached the caller so far (after any text or tool delta, never retry)."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    on_text: Callable[[str], None]
    stop: asyncio.Event
    emitted: bool = False
    text: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    first_output_seconds: float | None = None
    chunks: int = 0
    """Text and tool-call deltas received (the token count when the provider gives none)."""
    usage: Any = None
    """The provider's token usage, when a chunk carried it (litellm's `Usage`)."""

    def stopped(self) -> ModelReply:
        """The reply of a call stopped now: the text shown so far, no tool calls."""
        return ModelReply(text="".join(self.text), tool_calls=(), stopped=True)


class _StopScope:
    """Cancels the calling task when `stop` is set and swallows that cancellation on the way out.

    A stop must not wait for the provider's next chunk (the first one can take as long as the
    idle timeout). Racing every await against the event would cost a task per chunk; this costs
    one waiter per call. Like `asyncio.timeout`, it tells its own cancellation apart from anyone
    else's (shutdown) with `Task.uncancel`, and lets theirs through.
    """

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._cancelled = False
        self._exited = False

    async def __aenter__(self) -> _StopScope:
        task = asyncio.current_task()
        assert task is not None  # complete() always runs in a task
        self._task = task
        self._cancelling = task.cancelling()
        self._waiter = asyncio.ensure_future(self._stop.wait())
        self._waiter.add_done_callback(self._on_stop)
        return self

    def _on_stop(self, waiter: asyncio.Future[Any]) -> None:
        # Runs only while the task is suspended inside the block: the cancel lands at its await.
        if self._exited or waiter.cancelled():
            return
        self._cancelled = True
        self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._exited = True
        self._waiter.cancel()
        if not self._cancelled:
            return False
        ours_only = self._task.uncancel() <= self._cancelling
        # A timeout that fired in the same instant becomes LLMError: the stop still wins.
        return ours_only and exc_type in (asyncio.CancelledError, LLMError)


class _ProviderFailure(Exception):
    """Internal: a provider error, kept apart from errors raised by the caller's callbacks."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _litellm_callbacks() -> bool:
    """Whether anyone registered litellm logging callbacks (Langfuse, custom loggers, …).

    litellm sends its chunk with `finish_reason` once the provider's stream has ended, and only
    on the next read rebuilds the whole response from every chunk (`stream_chunk_builder`, in a
    thread that holds the GIL), counts the prompt's tokens (loading tiktoken on first use) and
    prices the call, all for its logging callbacks. Nobody here reads those: the bench measured
    a fifth of the bot's CPU in it with 30 answers streaming, and a 0.5 s stall of the event loop
    on the first answer. So the gateway stops reading at that chunk, unless callbacks are set.
    """
    return bool(
        litellm.callbacks
        or litellm.success_callback
        or litellm._async_success_callback
        or litellm.failure_callback
        or litellm._async_failure_callback
    )


_KEPT_CHUNKS = 8
"""litellm's stream keeps every chunk it returned (as pydantic objects, about 2 KB each) for
the end-of-stream rebuild that `_litellm_callbacks` lets us skip; it only looks back two chunks
otherwise (its repetition check). Keeping the last few bounds an answer's memory: the bench
measured about 2.8 MB per streaming conversation with the whole list."""


def _forget_old_chunks(response: Any) -> None:
    chunks = getattr(response, "chunks", None)
    if isinstance(chunks, list) and len(chunks) > 8 * _KEPT_CHUNKS:
        del chunks[:-_KEPT_CHUNKS]


async def _close(response: Any) -> None:
    """Release the HTTP stream (litellm shields its own close from cancellation)."""
    aclose = getattr(response, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
