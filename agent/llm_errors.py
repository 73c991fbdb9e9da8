"""Provider failures in words a person can act on, and which of them are worth another try.

litellm raises one exception class per kind of failure, but its messages are long and stacked
with class names, and a refused connection arrives as a 500. The gateway asks here whether to
retry and what to tell the person waiting for the answer.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm: no network fetch

import re
import socket

from litellm import exceptions as errors

from agent.events import FailureKind


class LLMError(Exception):
    """The model call failed; `message` is short and fit to show a person."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message


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
        return LLMError("timeout", f"The model did not answer within {seconds_text(timeout)} s.")
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


def seconds_text(seconds: float) -> str:
    """A number of seconds as people write it: 30, 2.5."""
    return f"{seconds:g}"
