"""Send one Slack Web API call within the workspace's budget: the one place a 429 is handled.

Every call is booked with the workspace's `SlackRateLimiter` first (per-message throttling alone
still gets 429s when several answers share a workspace, pitfall 1). A 429, or a `ratelimited`
error code, closes the method in the limiter for its Retry-After window (pitfall 2), so every
caller of that method waits it out, not just the one that met it (on every replica, when the
budget is shared: bot.shared_budget). 5xx and connection errors are retried a bounded number of
times with backoff; anything else is raised as Slack's client raised it, so callers keep
catching `SlackApiError`.

A connection that fails after the request went out (dropped, timed out) is ambiguous: Slack may
have applied the call. Retrying it is safe for an edit, or for a post the caller can look up
first (`recover`); a policy with `retry_ambiguous=False` raises it instead of risking a twin.

A must-land call waits for budget (`acquire`) and retries. A skippable call (a streaming frame
whose text the next frame carries anyway) goes only if the budget has room right now
(`try_acquire`) and is dropped, never retried, on a 429 or a transient error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.rate_limits import SlackRateLimiter

T = TypeVar("T")

_TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_RATE_LIMIT_ERRORS = frozenset({"ratelimited", "rate_limited"})
_CONNECTION_ERRORS = (aiohttp.ClientError, TimeoutError)
_NEVER_SENT = (aiohttp.ClientConnectorError,)
"""Connection errors raised before the request left: Slack cannot have applied the call."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one must-land call tries before its error is raised."""

    max_rate_limited: int = 20
    """429s one call may meet before it gives up."""
    transient_retries: int = 3
    """5xx or connection errors retried before the last one is raised."""
    retry_backoff: float = 0.5
    """First wait after a 5xx or connection error; doubles on each retry."""
    retry_ambiguous: bool = True
    """Retry a connection that failed after the request went out; False where a retry could
    double a post nobody can find."""


ONE_TRY = RetryPolicy(max_rate_limited=0, transient_retries=0)
"""For a best-effort check: one attempt, but a 429 still closes the method for everyone."""


class BudgetedCalls:
    """Slack calls booked with one workspace's limiter and retried by one policy."""

    def __init__(
        self,
        limiter: SlackRateLimiter,
        policy: RetryPolicy | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._limiter = limiter
        self._policy = policy or RetryPolicy()
        self._log = logger or logging.getLogger(__name__)

    async def must_land(
        self,
        method: str,
        send: Callable[[], Awaitable[T]],
        *,
        key: str = "",
        recover: Callable[[], Awaitable[T | None]] | None = None,
        policy: RetryPolicy | None = None,
    ) -> T:
        """Wait for budget and retry until `send` succeeds; out of tries, raise its last error.

        `recover` runs after a transient failure, before the retry: an error can hide a call
        that landed, and what `recover` finds is returned instead of sending a twin. An error
        `recover` raises is raised from here: better no retry than a blind one.
        """
        policy = policy or self._policy
        failures = limited = 0
        while True:
            await self._limiter.acquire(method, key)
            try:
                return await send()
            except SlackApiError as error:
                if await self._rate_limited(method, error):
                    limited += 1
                    if limited > policy.max_rate_limited:
                        raise
                    continue
                if not is_transient(error):
                    raise
                cause: Exception = error
            except _CONNECTION_ERRORS as error:
                if not (policy.retry_ambiguous or isinstance(error, _NEVER_SENT)):
                    raise
                cause = error
            failures += 1
            if failures > policy.transient_retries:
                raise cause
            self._log.warning("%s failed (%r), retry %d", method, cause, failures)
            await asyncio.sleep(policy.retry_backoff * 2 ** (failures - 1))
            if recover is not None and (found := await recover()) is not None:
                return found

    async def best_effort(
        self, method: str, send: Callable[[], Awaitable[T]], *, key: str = "", about: str = ""
    ) -> bool:
        """One try within the budget, for what only decorates (a status line, prompts): a
        refusal is one warning line naming `about`, never an exception."""
        try:
            await self.must_land(method, send, key=key, policy=ONE_TRY)
        except (SlackClientError, *_CONNECTION_ERRORS) as error:
            self._log.warning("%s refused for %s: %s", method, about or "-", failure_code(error))
            return False
        return True

    async def skippable(
        self, method: str, send: Callable[[], Awaitable[T]], *, key: str = ""
    ) -> T | None:
        """Send only if the budget has room now; None when there was none or it failed briefly."""
        if not await self._limiter.try_acquire(method, key):
            return None
        try:
            return await send()
        except SlackApiError as error:
            if await self._rate_limited(method, error):
                return None  # a dropped frame: the next one carries the latest text
            if not is_transient(error):
                raise
            cause: Exception = error
        except _CONNECTION_ERRORS as error:
            cause = error
        self._log.warning("%s failed (%r); frame dropped", method, cause)
        return None

    async def _rate_limited(self, method: str, error: SlackApiError) -> bool:
        """On a 429, close `method` in the limiter for the Retry-After window (for every
        replica, when the budget is shared)."""
        if not is_rate_limited(error):
            return False
        await self._limiter.note_retry_after(method, retry_after(error))
        return True


def is_rate_limited(error: SlackApiError) -> bool:
    """A 429, or Slack's `ratelimited` code on another status."""
    return int(error.response.status_code) == 429 or error_code(error) in _RATE_LIMIT_ERRORS


def is_transient(error: SlackApiError) -> bool:
    """A 5xx or one of Slack's codes for a failure on its side: worth another try."""
    return int(error.response.status_code) >= 500 or error_code(error) in _TRANSIENT_ERRORS


def failure_code(error: BaseException) -> str:
    """What to report for a call that failed for good: Slack's code, or the cause."""
    if isinstance(error, SlackApiError):
        refused = is_rate_limited(error) or not is_transient(error)
        return error_code(error) if refused else repr(error)
    if isinstance(error, SlackClientError):
        return str(error)
    return repr(error)


def error_code(error: SlackApiError) -> str:
    """Slack's `error` field, e.g. `cant_update_message`."""
    data = error.response.data
    return str(data.get("error", "unknown_error")) if isinstance(data, dict) else "unknown_error"


def retry_after(error: SlackApiError) -> float:
    """Retry-After in seconds (an int by Slack's docs); 1 s when missing or unreadable."""
    headers = error.response.headers or {}
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            with contextlib.suppress(ValueError):
                return max(0.0, float(value))
    return 1.0
