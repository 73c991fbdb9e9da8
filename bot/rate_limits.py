"""Slack's Web API budgets for one workspace, shared by every streamer and card in it.

Slack limits each method per app per workspace (chat.update is Tier 3, about 50 a minute, for
all messages the app edits there) and chat.postMessage to about one a second per channel
(docs/slack-platform.md §1, pitfall 1). Per-message throttling alone still gets 429s when several
answers stream at once, so whoever builds the bot makes one `SlackRateLimiter` per workspace and
passes it to everything that calls these methods.

Each budget is a token bucket (GCRA: a theoretical arrival time, so waiters are served in order
and nobody stampedes). A 429's Retry-After closes the method until the window ends, for
`acquire` and `try_acquire` alike, and the bucket restarts empty after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_PRUNE_AT = 512
_EPSILON = 1e-9  # float slack, so that exactly `burst` calls fit in a full bucket


@dataclass(frozen=True, slots=True)
class Budget:
    """A sustained rate with a burst allowance; `per_key` gives each key (channel) its own."""

    per_second: float
    burst: int = 1
    per_key: bool = False

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError(f"a budget needs a positive rate and a burst of at least 1: {self}")


def lane(method: str, name: str) -> str:
    """A budget of its own inside one Slack method's limit (`chat.update/decisions`)."""
    return f"{method}/{name}"


def slack_method(budget_name: str) -> str:
    """The Slack method a budget belongs to: 429 windows close the method, all lanes alike."""
    return budget_name.split("/", 1)[0]


DECISION_CARDS = lane("chat.update", "decisions")


def default_budgets() -> dict[str, Budget]:
    """Budgets a little under Slack's published limits, leaving room for approval-card edits."""
    return {
        # Slack allows ~50/min (burst ~8) per workspace. Streaming answers share 38 of it; a
        # lane of 8 is kept for decision cards, so a click's card edit never queues behind
        # every answer's edits. Requests can bunch on the way, so the bursts stay under 8.
        "chat.update": Budget(38 / 60, burst=4),
        DECISION_CARDS: Budget(8 / 60, burst=2),
        "chat.postMessage": Budget(1.0, burst=3, per_key=True),
        "chat.delete": Budget(45 / 60, burst=5),
        "conversations.replies": Budget(45 / 60, burst=5),
    }


GENEROUS = Budget(90 / 60, burst=20)
"""For methods without a budget of their own: Tier 4 (100+/min) with some headroom."""


class _Bucket:
    """One GCRA bucket: calls may go at `_tat - _tolerance`; each call moves `_tat` on by one."""

    def __init__(self, budget: Budget, now: float) -> None:
        self._interval = 1.0 / budget.per_second
        self._tolerance = (budget.burst - 1) * self._interval
        self._tat = now

    def reserve(self, now: float) -> float:
        """Book the next slot and return when it starts (now or later)."""
        start = max(now, self._tat - self._tolerance - _EPSILON)
        self._tat = max(self._tat, now) + self._interval
        return start

    def try_take(self, now: float) -> bool:
        """Take a slot only if one is free right now."""
        if now + _EPSILON < self._tat - self._tolerance:
            return False
        self._tat = max(self._tat, now) + self._interval
        return True

    def wait_time(self, now: float) -> float:
        """Seconds until a slot is free, if nobody else books it first."""
        return max(0.0, self._tat - self._tolerance - now)

    def is_idle(self, now: float) -> bool:
        """Full again, so indistinguishable from a new bucket and safe to forget."""
        return now >= self._tat

    def restart_empty_at(self, moment: float) -> None:
        """After a Retry-After window: first slot at `moment`, no burst credit."""
        self._tat = max(self._tat, moment + self._tolerance)


class SlackRateLimiter:
    """Per-method budgets for one workspace, plus the count of answers streaming in it."""

    def __init__(
        self,
        budgets: Mapping[str, Budget] | None = None,
        *,
        fallback: Budget = GENEROUS,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._budgets = dict(default_budgets() if budgets is None else budgets)
        self._fallback = fallback
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._closed_until: dict[str, float] = {}
        self._streams = 0

    def budget(self, method: str) -> Budget:
        """The budget that applies to `method`."""
        return self._budgets.get(method, self._fallback)

    async def acquire(self, method: str, key: str = "") -> None:
        """Wait until a call of `method` (for `key`, e.g. a channel) fits the budget; book it."""
        while True:
            closed = self.blocked_for(method)
            if closed > 0:
                await self._sleep(closed)
                continue
            now = self._clock()
            start = self._bucket(method, key, now).reserve(now)
            if start > now:
                await self._sleep(start - now)
            if self.blocked_for(method) == 0:
                return
            # A 429 closed the method while we waited: the booked slot is void; book again.

    def try_acquire(self, method: str, key: str = "") -> bool:
        """Book a call only if it may go right now; for frames that can be skipped."""
        if self.blocked_for(method) > 0:
            return False
        now = self._clock()
        return self._bucket(method, key, now).try_take(now)

    def wait_time(self, method: str, key: str = "") -> float:
        """A hint: seconds until `try_acquire` could succeed (Retry-After window included)."""
        now = self._clock()
        return max(self.blocked_for(method), self._bucket(method, key, now).wait_time(now))

    def note_retry_after(self, method: str, seconds: float) -> None:
        """Slack said 429: make no call of `method` (any of its lanes) until `seconds` from now."""
        method = slack_method(method)
        until = self._clock() + max(0.0, seconds)
        self._closed_until[method] = max(self._closed_until.get(method, 0.0), until)
        for (bucket_method, _), bucket in self._buckets.items():
            if slack_method(bucket_method) == method:
                bucket.restart_empty_at(self._closed_until[method])

    def blocked_for(self, method: str) -> float:
        """Seconds left in the Retry-After window of `method` (0 when open)."""
        return max(0.0, self._closed_until.get(slack_method(method), 0.0) - self._clock())

    def suggested_interval(self, method: str) -> float:
        """Seconds between one streamer's calls so that all active streamers share the budget."""
        return max(1, self._streams) / self.budget(method).per_second

    @property
    def active_streams(self) -> int:
        """How many answers are streaming in this workspace now."""
        return self._streams

    def register_stream(self) -> None:
        """Count one more streaming answer (pair with `unregister_stream`)."""
        self._streams += 1

    def unregister_stream(self) -> None:
        """Count one streaming answer less."""
        if self._streams == 0:
            raise RuntimeError("unregister_stream() without a matching register_stream()")
        self._streams -= 1

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """Count a streaming answer for the duration of the block."""
        self.register_stream()
        try:
            yield
        finally:
            self.unregister_stream()

    def _bucket(self, method: str, key: str, now: float) -> _Bucket:
        budget = self.budget(method)
        bucket_key = (method, key if budget.per_key else "")
        bucket = self._buckets.get(bucket_key)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:  # per-channel buckets would otherwise pile up
                self._buckets = {k: b for k, b in self._buckets.items() if not b.is_idle(now)}
            bucket = self._buckets[bucket_key] = _Bucket(budget, now)
            closed = self._closed_until.get(method, 0.0)
            if closed > now:
                bucket.restart_empty_at(closed)
        return bucket
