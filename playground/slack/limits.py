"""Slack's rate limits as token buckets, injected faults, and Retry-After bookkeeping.

Real Slack limits each Web API method per app per workspace by tier (docs.slack.dev/apis/web-api/
rate-limits), tolerating short bursts. We model a tier as a token bucket that refills at the
tier's per-minute rate and holds `max(3, per_minute // 6)` tokens, i.e. roughly ten seconds'
worth of calls can go out at once:

| Tier | refill        | burst |
|------|---------------|-------|
| 2    | 20 / minute   | 3     |
| 3    | 50 / minute   | 8     |
| 4    | 100 / minute  | 16    |

chat.postMessage is special: 1 / second per channel with a burst of 3, plus a workspace-wide
bucket of 600 / minute (burst 100) for Slack's "several hundred per minute".
assistant.threads.setStatus is limited "like chat.postMessage": its own bucket of 1 / second per
channel, burst 3 (PER_CHANNEL_METHODS).
apps.connections.open is not limited. A rejected call consumes nothing and is told
`Retry-After: ceil(seconds until a token frees)`, at least 1. `RateLimiter.set_limit` overrides
a method's numbers (e.g. to scale time down in a test).

Whether or not limits are enforced, every 429 opens a Retry-After window for its bucket key
(the method, or method + channel for the per-channel methods); calls made while it is open are
counted, because a well-behaved client never makes them.

A fault can also drop the connection without an answer, before Slack applies the call or after
(`Drop`): the second is the ambiguous failure that makes a blind retry post a message twice.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

TIER_PER_MINUTE: dict[int, float] = {2: 20, 3: 50, 4: 100}

METHOD_TIERS: dict[str, int] = {
    "agents.sessions.rename": 3,
    "agents.sessions.setStatus": 3,
    "assistant.threads.setSuggestedPrompts": 4,
    "assistant.threads.setTitle": 4,
    "auth.test": 4,
    "chat.appendStream": 4,
    "chat.delete": 3,
    "chat.getPermalink": 4,
    "chat.postEphemeral": 4,
    "chat.startStream": 2,
    "chat.stopStream": 2,
    "chat.update": 3,
    "conversations.info": 3,
    "conversations.members": 4,
    "conversations.open": 3,
    "conversations.replies": 3,
    "reactions.add": 3,
    "reactions.remove": 3,
    "usergroups.list": 2,
    "usergroups.users.list": 2,
    "users.info": 4,
    "views.open": 4,
    "views.push": 4,
    "views.publish": 4,
    "views.update": 4,
}

POST_MESSAGE_PER_CHANNEL = (60.0, 3)
POST_MESSAGE_WORKSPACE = (600.0, 100)
PER_CHANNEL_METHODS = frozenset({"chat.postMessage", "assistant.threads.setStatus"})
"""Methods Slack limits per conversation rather than per workspace."""


@dataclass(frozen=True)
class Limit:
    """A sustained rate and how many calls may go out at once."""

    per_minute: float
    burst: int

    @classmethod
    def tier(cls, tier: int) -> Limit:
        per_minute = TIER_PER_MINUTE[tier]
        return cls(per_minute, max(3, int(per_minute // 6)))


@dataclass
class TokenBucket:
    """Tokens refill continuously up to `limit.burst`; one call takes one token."""

    limit: Limit
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        rate = self.limit.per_minute / 60.0
        self.tokens = min(float(self.limit.burst), self.tokens + (now - self.updated) * rate)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self.refill(now)
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / (self.limit.per_minute / 60.0)


Drop = Literal["before", "after"]
"""When a dropped connection closes: before Slack applies the call, or after it did."""


@dataclass(frozen=True)
class Fault:
    """One injected failure: what the next call to a method gets instead of an answer."""

    error: str
    status: int
    retry_after: int
    drop: Drop | None = None
    """Close the connection without an answer instead of answering `error` with `status`."""


@dataclass
class RateLimiter:
    """Buckets per method (and per channel for chat.postMessage) for one workspace."""

    limits: dict[str, Limit] = field(
        default_factory=lambda: {m: Limit.tier(t) for m, t in METHOD_TIERS.items()}
    )
    post_message_per_channel: Limit = Limit(*POST_MESSAGE_PER_CHANNEL)
    post_message_workspace: Limit = Limit(*POST_MESSAGE_WORKSPACE)
    set_status_per_channel: Limit = Limit(*POST_MESSAGE_PER_CHANNEL)
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def set_limit(self, method: str, per_minute: float, burst: int) -> None:
        """Override one method's limit (per channel for the per-channel methods); buckets
        restart full."""
        limit = Limit(per_minute, burst)
        if method == "chat.postMessage":
            self.post_message_per_channel = limit
        elif method == "assistant.threads.setStatus":
            self.set_status_per_channel = limit
        else:
            self.limits[method] = limit

    def take(self, method: str, channel: str | None, now: float) -> int | None:
        """Consume a token for this call, or return the Retry-After (whole seconds) to send."""
        buckets = [
            self._bucket(key, limit, now) for key, limit in self._limits_for(method, channel)
        ]
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait > 0:
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.tokens -= 1
        return None

    def _limits_for(self, method: str, channel: str | None) -> list[tuple[str, Limit]]:
        if method == "chat.postMessage":
            return [
                (f"chat.postMessage:{channel}", self.post_message_per_channel),
                ("chat.postMessage", self.post_message_workspace),
            ]
        if method == "assistant.threads.setStatus":
            return [(f"{method}:{channel}", self.set_status_per_channel)]
        limit = self.limits.get(method)
        return [(method, limit)] if limit is not None else []

    def _bucket(self, key: str, limit: Limit, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.limit != limit:  # first use, or the limit was changed
            bucket = self._buckets[key] = TokenBucket(limit, float(limit.burst), now)
        return bucket


@dataclass
class Faults:
    """Failures queued with `fail_next`, consumed one per call of their method."""

    _queued: dict[str, deque[Fault]] = field(default_factory=dict)

    def add(self, method: str, fault: Fault, times: int) -> None:
        self._queued.setdefault(method, deque()).extend([fault] * times)

    def pop(self, method: str) -> Fault | None:
        queue = self._queued.get(method)
        return queue.popleft() if queue else None

    def pending(self, method: str) -> int:
        return len(self._queued.get(method, ()))


@dataclass
class RetryWindows:
    """When each bucket key's last 429 stops applying, and how often a client ignored it."""

    calls_inside: int = 0
    _until: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def key(method: str, channel: str | None) -> str:
        return f"{method}:{channel}" if method in PER_CHANNEL_METHODS else method

    def observe(self, key: str, now: float) -> bool:
        """Count a call made while its window is open; True if it was."""
        inside = now < self._until.get(key, float("-inf"))
        if inside:
            self.calls_inside += 1
        return inside

    def open(self, key: str, now: float, retry_after: int) -> None:
        self._until[key] = now + retry_after
