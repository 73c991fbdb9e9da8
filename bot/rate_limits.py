"""Slack's Web API budgets for one workspace, shared by every streamer and card in it.

Slack limits each method per app per workspace (chat.update is Tier 3, about 50 a minute, for
all messages the app edits there) and chat.postMessage to about one a second per channel
(docs/slack-platform.md §1, pitfall 1). Per-message throttling alone still gets 429s when several
answers stream at once, so whoever builds the bot makes one `SlackRateLimiter` per workspace and
passes it to everything that calls these methods.

Each budget is a token bucket (GCRA: a theoretical arrival time, so waiters are served in order
and nobody stampedes). A 429's Retry-After closes the method until the window ends, for
`acquire` and `try_acquire` alike, and the bucket restarts empty after it.

Where the buckets live is a `BudgetStore`: this process's memory (`MemoryBudgetStore`, one
process, no I/O per call) or the database, shared by replicas (`bot.shared_budget`). The GCRA
arithmetic is `BucketState.book`, the same for both.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
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

    @property
    def interval(self) -> float:
        """Seconds one call moves the bucket's theoretical arrival time on."""
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        """How far ahead of now the arrival time may run: the burst, in seconds."""
        return (self.burst - 1) * self.interval


def lane(method: str, name: str) -> str:
    """A budget of its own inside one Slack method's limit (`chat.update/decisions`)."""
    return f"{method}/{name}"


def slack_method(budget_name: str) -> str:
    """The Slack method a budget belongs to: 429 windows close the method, all lanes alike."""
    return budget_name.split("/", 1)[0]


DECISION_CARDS = lane("chat.update", "decisions")
POSTS_ACROSS_CHANNELS = lane("chat.postMessage", "workspace")
"""chat.postMessage's workspace-wide cap, on top of its one-a-second per channel: every post
books both."""


def default_budgets() -> dict[str, Budget]:
    """Budgets a little under Slack's published limits, leaving room for approval-card edits."""
    return {
        # Slack allows ~50/min (burst ~8) per workspace. Streaming answers share 38 of it; a
        # lane of 8 is kept for decision cards, so a click's card edit never queues behind
        # every answer's edits. Requests can bunch on the way, so the bursts stay under 8.
        "chat.update": Budget(38 / 60, burst=4),
        DECISION_CARDS: Budget(8 / 60, burst=2),
        "chat.postMessage": Budget(1.0, burst=3, per_key=True),
        # Slack: "several hundred a minute" per workspace, short bursts tolerated. Under load
        # answers go on in new messages rather than wait for edits; this keeps them under it.
        POSTS_ACROSS_CHANNELS: Budget(540 / 60, burst=90),
        # Native streams (DMs): start and stop are Tier 2 (20 a minute), appends Tier 4.
        "chat.startStream": Budget(18 / 60, burst=3),
        "chat.appendStream": Budget(90 / 60, burst=10),
        "chat.stopStream": Budget(18 / 60, burst=3),
        # Like chat.postMessage, per conversation.
        "assistant.threads.setStatus": Budget(1.0, burst=3, per_key=True),
        "agents.sessions.setStatus": Budget(45 / 60, burst=5),
        "chat.delete": Budget(45 / 60, burst=5),
        "conversations.replies": Budget(45 / 60, burst=5),
    }


GENEROUS = Budget(90 / 60, burst=20)
"""For methods without a budget of their own: Tier 4 (100+/min) with some headroom."""


@dataclass(frozen=True, slots=True)
class BucketKey:
    """One bucket: a budget (a method or a lane) and, for per-key budgets, the channel."""

    budget: str
    scope: str = ""

    @property
    def method(self) -> str:
        """The Slack method whose Retry-After windows close this bucket."""
        return slack_method(self.budget)


@dataclass(frozen=True, slots=True)
class BucketState:
    """A bucket's theoretical arrival time (0 for a full, never-used bucket) and the end of its
    method's Retry-After window (0 when none was ever noted).

    The window is applied when a bucket is read, not written into every bucket when the 429
    comes: a channel's bucket made after the 429 is closed all the same.
    """

    tat: float = 0.0
    closed_until: float = 0.0

    def free_at(self, budget: Budget) -> float:
        """When the next call may go: after the window, and the bucket restarts empty then."""
        return max(self.tat - budget.tolerance, self.closed_until)

    def book(self, budget: Budget, now: float, *, wait: bool) -> tuple[float | None, float]:
        """GCRA: (when the booked call may start, the new arrival time).

        The start is None, and nothing is booked, while the window is closed, or when the
        bucket has no room now and the caller would not `wait` for a later slot.
        """
        if self.closed_until > now:
            return None, self.tat
        tat = max(self.tat, now)
        if self.closed_until:  # the bucket restarts empty after the window
            tat = max(tat, self.closed_until + budget.tolerance)
        free = tat - budget.tolerance
        if not wait and now + _EPSILON < free:
            return None, self.tat
        return max(now, free - _EPSILON), tat + budget.interval


@dataclass(frozen=True, slots=True)
class Booking:
    """What a store did: `start` of the booked slot (None: nothing booked) and the bucket as it
    is now, for hints."""

    start: float | None
    state: BucketState


class BudgetStore(ABC):
    """Where the buckets and Retry-After windows live; each `book` is atomic."""

    clock: Clock
    """The time the stored states are in (`book` reads it itself, under its lock)."""

    @abstractmethod
    async def book(self, bucket: BucketKey, budget: Budget, *, wait: bool) -> Booking:
        """Read the bucket and its method's window, book a slot (see `BucketState.book`),
        store it; nobody else books the bucket in between."""

    @abstractmethod
    async def close(self, method: str, until: float) -> None:
        """Close `method` (all its lanes and channels) until `until`; windows only extend."""

    @abstractmethod
    async def closed_until(self, method: str) -> float:
        """The end of `method`'s window as it stands now (for a caller that slept)."""

    @abstractmethod
    def view(self, bucket: BucketKey) -> BucketState:
        """The bucket as this process last saw it, without I/O: for hints only."""

    def publish_streams(self, count: int) -> None:  # noqa: B027  (optional: one process has none)
        """This process now streams `count` answers; a shared store tells the other replicas."""

    def streams_elsewhere(self) -> int:
        """Answers other replicas stream in the workspace, as last heard."""
        return 0

    async def aclose(self) -> None:  # noqa: B027  (optional: memory has nothing to close)
        """Stop background work and withdraw this process's published state."""


class MemoryBudgetStore(BudgetStore):
    """The buckets in this process's memory: for one process (SQLite), no I/O per call.

    Also the local view a shared store keeps for its hints."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._tats: dict[BucketKey, float] = {}
        self._closed_until: dict[str, float] = {}

    def __len__(self) -> int:
        """How many buckets are remembered (idle ones are forgotten)."""
        return len(self._tats)

    async def book(self, bucket: BucketKey, budget: Budget, *, wait: bool) -> Booking:
        now = self.clock()
        state = self.view(bucket)
        start, tat = state.book(budget, now, wait=wait)
        if start is not None:
            self.remember(bucket, tat, now)
        return Booking(start, BucketState(tat, state.closed_until))

    async def close(self, method: str, until: float) -> None:
        self.remember_window(method, until)

    async def closed_until(self, method: str) -> float:
        return self._closed_until.get(method, 0.0)

    def view(self, bucket: BucketKey) -> BucketState:
        return BucketState(self._tats.get(bucket, 0.0), self._closed_until.get(bucket.method, 0.0))

    def remember(self, bucket: BucketKey, tat: float, now: float) -> None:
        """Store a bucket's arrival time; per-channel buckets would otherwise pile up, so a
        new one first drops those full again (indistinguishable from new)."""
        if bucket not in self._tats and len(self._tats) >= _PRUNE_AT:
            self._tats = {key: old for key, old in self._tats.items() if old > now}
        self._tats[bucket] = tat

    def remember_window(self, method: str, until: float) -> None:
        """Store a Retry-After window's end; a shorter one does not shorten it."""
        self._closed_until[method] = max(self._closed_until.get(method, 0.0), until)


class SlackRateLimiter:
    """Per-method budgets for one workspace, plus the count of answers streaming in it."""

    def __init__(
        self,
        budgets: Mapping[str, Budget] | None = None,
        *,
        fallback: Budget = GENEROUS,
        store: BudgetStore | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`store` defaults to this process's memory on `clock` (monotonic); a store of your
        own brings its own clock."""
        if store is not None and clock is not None:
            raise TypeError("pass the clock to the store: its states are in its time")
        self._budgets = dict(default_budgets() if budgets is None else budgets)
        self._fallback = fallback
        self._store = store if store is not None else MemoryBudgetStore(clock or time.monotonic)
        self._clock = self._store.clock
        self._sleep = sleep
        self._streams = 0

    def budget(self, method: str) -> Budget:
        """The budget that applies to `method`."""
        return self._budgets.get(method, self._fallback)

    async def acquire(self, method: str, key: str = "") -> None:
        """Wait until a call of `method` (for `key`, e.g. a channel) fits the budget; book it.
        A per-channel budget with a workspace-wide cap books the cap as well."""
        await self._acquire(method, key)
        if (cap := self._cap_of(method)) is not None:
            await self._acquire(cap, "")

    async def _acquire(self, method: str, key: str) -> None:
        bucket = self._bucket(method, key)
        while True:
            booking = await self._store.book(bucket, self.budget(method), wait=True)
            if booking.start is None:  # inside a Retry-After window
                await self._sleep(max(0.0, booking.state.closed_until - self._clock()))
                continue
            delay = booking.start - self._clock()
            if delay <= 0:
                return
            await self._sleep(delay)
            if await self._store.closed_until(bucket.method) <= self._clock():
                return
            # A 429 closed the method while we waited: the booked slot is void; book again.

    async def try_acquire(self, method: str, key: str = "") -> bool:
        """Book a call only if it may go right now; for frames that can be skipped."""
        booking = await self._store.book(self._bucket(method, key), self.budget(method), wait=False)
        if booking.start is None:
            return False
        cap = self._cap_of(method)
        if cap is None:
            return True
        capped = await self._store.book(self._bucket(cap, ""), self.budget(cap), wait=False)
        return capped.start is not None

    def _cap_of(self, method: str) -> str | None:
        """The workspace-wide lane over a per-channel budget, if the limiter has one."""
        cap = lane(method, "workspace")
        return cap if cap in self._budgets else None

    def wait_time(self, method: str, key: str = "") -> float:
        """A hint: seconds until `try_acquire` could succeed (Retry-After window included), as
        this process last saw the bucket."""
        free_at = self._store.view(self._bucket(method, key)).free_at(self.budget(method))
        return max(0.0, free_at - self._clock())

    async def note_retry_after(self, method: str, seconds: float) -> None:
        """Slack said 429: make no call of `method` (any of its lanes) until `seconds` from now."""
        await self._store.close(slack_method(method), self._clock() + max(0.0, seconds))

    def blocked_for(self, method: str) -> float:
        """Seconds left in the Retry-After window of `method` (0 when open), as last seen."""
        closed_until = self._store.view(self._bucket(method, "")).closed_until
        return max(0.0, closed_until - self._clock())

    def suggested_interval(self, method: str) -> float:
        """Seconds between one streamer's calls so that all active streamers share the budget."""
        return max(1, self.active_streams) / self.budget(method).per_second

    @property
    def active_streams(self) -> int:
        """How many answers are streaming in this workspace now: ours, and the other
        replicas' as last heard."""
        return self._streams + self._store.streams_elsewhere()

    def register_stream(self) -> None:
        """Count one more streaming answer (pair with `unregister_stream`)."""
        self._streams += 1
        self._store.publish_streams(self._streams)

    def unregister_stream(self) -> None:
        """Count one streaming answer less."""
        if self._streams == 0:
            raise RuntimeError("unregister_stream() without a matching register_stream()")
        self._streams -= 1
        self._store.publish_streams(self._streams)

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """Count a streaming answer for the duration of the block."""
        self.register_stream()
        try:
            yield
        finally:
            self.unregister_stream()

    async def aclose(self) -> None:
        """Stop the store's background work (a shared store withdraws this replica's count)."""
        await self._store.aclose()

    def _bucket(self, method: str, key: str) -> BucketKey:
        return BucketKey(method, key if self.budget(method).per_key else "")
