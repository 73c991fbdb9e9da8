"""The LLM gateway: the only way the graph talks to a model.

It streams one answer through litellm (any provider, or the offline demo model), hands text to the
caller as it arrives, assembles tool calls from their deltas, bounds the whole call and every gap
between chunks, retries transient failures only before anything was shown, and turns every
provider failure into one `LLMError` with a message a person can act on.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm: no network fetch

import asyncio
import contextlib
import importlib
import logging
import re
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import litellm
from litellm import exceptions as errors

from agent import demo_model
from agent.events import FailureKind
from agent.settings import AgentSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolCall:
    """A tool call as the model wrote it; `arguments` is raw JSON text and may be invalid."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelReply:
    """One model turn. `stopped`: the caller asked to stop; `text` is partial, no tool calls."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stopped: bool = False


class LLMError(Exception):
    """The model call failed; `message` is short and fit to show a person."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message


class LLMGateway:
    """Streams completions through litellm with timeouts, retries and clear errors."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 4.0,
    ) -> None:
        self._settings = settings
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay
        self._demo = settings.llm_model == "demo"
        litellm.suppress_debug_info = True
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
        should_stop: Callable[[], bool],
    ) -> ModelReply:
        """Stream one answer; `on_text` gets each text piece as it arrives.

        Raises `LLMError` on a provider failure or a timeout.
        """
        total = self._settings.llm_timeout_seconds
        progress = _Progress()
        try:
            async with asyncio.timeout(total):
                return await self._with_retries(messages, tools, on_text, should_stop, progress)
        except TimeoutError:
            verb = "finish" if progress.emitted else "answer"
            log.warning("LLM call to %r took longer than %s s", self._settings.llm_model, total)
            message = f"The model did not {verb} within {_secs(total)} s."
            raise LLMError("timeout", message) from None

    async def _with_retries(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: Callable[[str], None],
        should_stop: Callable[[], bool],
        progress: _Progress,
    ) -> ModelReply:
        attempt = 0
        while True:
            if should_stop():
                return ModelReply(text="", tool_calls=(), stopped=True)
            try:
                return await self._stream_once(messages, tools, on_text, should_stop, progress)
            except _ProviderFailure as failure:
                error = failure.error
                if (
                    progress.emitted
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

    async def _stream_once(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: Callable[[str], None],
        should_stop: Callable[[], bool],
        progress: _Progress,
    ) -> ModelReply:
        idle = self._settings.llm_idle_timeout_seconds
        response = await self._guarded(
            idle,
            f"The model did not start answering within {_secs(idle)} s.",
            litellm.acompletion(**self._call_arguments(messages, tools)),
        )
        text: list[str] = []
        calls = _ToolCallAssembler()
        try:
            while True:
                try:
                    chunk = await self._guarded(
                        idle,
                        f"The model stopped responding for {_secs(idle)} s.",
                        anext(response),
                    )
                except StopAsyncIteration:
                    break
                for choice in getattr(chunk, "choices", None) or []:
                    delta = getattr(choice, "delta", None)
                    if delta is None:
                        continue
                    for fragment in getattr(delta, "tool_calls", None) or []:
                        progress.emitted = True
                        calls.add(fragment)
                    piece = getattr(delta, "content", None)
                    if piece:
                        progress.emitted = True
                        text.append(piece)
                        on_text(piece)
                if should_stop():
                    return ModelReply(text="".join(text), tool_calls=(), stopped=True)
        finally:
            await _close(response)
        return ModelReply(text="".join(text), tool_calls=calls.result())

    def _call_arguments(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "tools": tools or None,
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


@dataclass
class _Progress:
    """Whether any text or tool delta reached the caller: after that, never retry."""

    emitted: bool = False


class _ProviderFailure(Exception):
    """Internal: a provider error, kept apart from errors raised by the caller's callbacks."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class _ToolCallAssembler:
    """Joins streamed tool-call fragments into whole calls.

    Fragments are matched by `index`; a provider that repeats the id on every fragment, omits the
    index, or reuses index 0 for parallel calls with new ids is handled too.
    """

    def __init__(self) -> None:
        self._calls: list[_PartialCall] = []
        self._by_index: dict[int, _PartialCall] = {}

    def add(self, fragment: Any) -> None:
        index = _field(fragment, "index")
        call_id = _field(fragment, "id") or ""
        function = _field(fragment, "function")
        name = (_field(function, "name") or "") if function is not None else ""
        piece = (_field(function, "arguments") or "") if function is not None else ""
        found = self._find(index if isinstance(index, int) else None, call_id)
        call = found if found is not None else _PartialCall()
        if found is None:
            self._calls.append(call)
        if isinstance(index, int):
            self._by_index[index] = call
        call.id = call.id or call_id
        call.name = call.name or name
        if piece:
            call.arguments.append(piece)

    def _find(self, index: int | None, call_id: str) -> _PartialCall | None:
        if call_id:
            for call in self._calls:
                if call.id == call_id:
                    return call
        if index is not None:
            known = self._by_index.get(index)
            if known is not None and call_id and known.id and known.id != call_id:
                return None  # a new call that reuses an index (seen with some providers)
            return known
        if not call_id and self._calls:
            return self._calls[-1]
        return None

    def result(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(
                id=call.id or f"call_{secrets.token_hex(12)}",
                name=call.name,
                arguments="".join(call.arguments),
            )
            for call in self._calls
        )


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


async def _close(response: Any) -> None:
    """Release the HTTP stream (litellm shields its own close from cancellation)."""
    aclose = getattr(response, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


# ── errors ──────────────────────────────────────────────────────────────────────────────────

_PERMANENT: tuple[type[Exception], ...] = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.NotFoundError,
    errors.BadRequestError,  # also context window, content policy, unsupported params
    errors.UnprocessableEntityError,
)
_TRANSIENT: tuple[type[Exception], ...] = (
    errors.RateLimitError,
    errors.ServiceUnavailableError,
    errors.InternalServerError,
    errors.APIConnectionError,
    errors.Timeout,
)


def is_transient(error: BaseException) -> bool:
    """Worth another try: rate limits, timeouts, connection failures and 5xx answers."""
    if isinstance(error, _PERMANENT):
        return False
    if isinstance(error, _TRANSIENT):
        return True
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and status >= 500


def describe_error(
    error: BaseException, *, model: str, api_base: str | None, timeout: float
) -> LLMError:
    """One short, actionable message for a provider failure."""
    if isinstance(error, errors.Timeout):
        return LLMError("timeout", f"The model did not answer within {_secs(timeout)} s.")
    if _could_not_connect(error):
        where = api_base or getattr(error, "llm_provider", None) or model.split("/", 1)[0]
        return LLMError("model", f"Could not reach the model provider at {where}.")
    if isinstance(error, errors.AuthenticationError):
        return LLMError("model", "The model provider rejected the API key (check LLM_API_KEY).")
    if isinstance(error, errors.PermissionDeniedError):
        return LLMError(
            "model",
            f"The model provider refused access to model '{model}' "
            "(check LLM_MODEL and LLM_API_KEY).",
        )
    if isinstance(error, errors.NotFoundError):
        hint = "LLM_MODEL and LLM_API_BASE" if api_base else "LLM_MODEL"
        return LLMError("model", f"Model '{model}' was not found at the provider (check {hint}).")
    if isinstance(error, errors.ContextWindowExceededError):
        return LLMError("model", "The conversation is too long for the model's context window.")
    if isinstance(error, errors.ContentPolicyViolationError):
        return LLMError("model", "The model provider refused the request (content policy).")
    if isinstance(error, errors.RateLimitError):
        return LLMError("model", "The model provider is rate limiting us; try again in a moment.")
    if "LLM Provider NOT provided" in str(error):
        return LLMError(
            "model",
            f"LLM_MODEL '{model}' does not name a provider: use provider/model, "
            "for example openai/gpt-4o-mini.",
        )
    return LLMError("model", f"The model failed: {short_message(error)}")


def _could_not_connect(error: BaseException) -> bool:
    """Whether the cause is a refused connection, an unknown host or a connect timeout.

    litellm reports these as InternalServerError("Connection error."), so look at the cause.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError | socket.gaierror):
            return True
        if type(current).__name__ in {"ConnectError", "ConnectTimeout"}:  # httpx
            return True
        current = current.__cause__ or current.__context__
    return False


_NOISE = re.compile(r"^(?:litellm\.\w+|\w+(?:Error|Exception)|Timeout)\s*[:-]\s*")


def short_message(error: BaseException) -> str:
    """The first line of a provider error without litellm's stacked class-name prefixes."""
    text = str(getattr(error, "message", "") or error).strip()
    text = text.split(" Original exception:", 1)[0]
    line = text.splitlines()[0].strip() if text else ""
    while match := _NOISE.match(line):
        line = line[match.end() :]
    line = line.strip() or type(error).__name__
    return line if len(line) <= 200 else line[:199].rstrip() + "…"


def _secs(seconds: float) -> str:
    return f"{seconds:g}"
