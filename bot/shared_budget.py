"""The workspace's Slack budget in the database, so that N replicas spend one budget, not N.

Slack's limits are per workspace, whichever process calls. So on PostgreSQL every bucket's
theoretical arrival time (by team, budget and channel) and every method's Retry-After window
live in tables, and each booking is one short transaction serialised on its bucket: read the
bucket and its method's window, do the GCRA arithmetic (`BucketState.book`, the same as in
memory), write the bucket back. A 429 any replica meets is written to the window table, which
every booking reads, so no replica calls inside it. A booking costs a few round trips (about
1.5 ms against a local server), next to a Slack call's tens to hundreds; with SQLite there is
one process and the budget stays in its memory (`budget_store`).

Times are wall-clock (`time.time()`), the one clock replicas share, so replicas need their
clocks synchronised (NTP). Small skew is harmless: a replica whose clock runs δ ahead may book
δ × rate calls early (at chat.update's 0.63 a second, 10 ms of skew is a hundredth of a call)
and sees a window end δ early, against budgets that sit below Slack's limits and Retry-After
windows counted in whole seconds.

The count of answers streaming, which spreads chat.update among them
(`SlackRateLimiter.suggested_interval`), is a hint, not a limit: each replica publishes its own
count (on every change and, while it streams, every `streams_refresh` seconds) and reads the
others' at the same time, in the background, off the booking path. A replica that died stops
refreshing and its count stops counting after three refreshes.

Full buckets are indistinguishable from missing ones, so idle rows (per-channel buckets for
chat.postMessage would pile up) are deleted every `prune_every` seconds by whichever replica
books then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from agent import Database
from bot.rate_limits import (
    Booking,
    BucketKey,
    BucketState,
    Budget,
    BudgetStore,
    Clock,
    MemoryBudgetStore,
)

BUCKETS = """CREATE TABLE IF NOT EXISTS slack_budget_buckets (
    team TEXT NOT NULL,
    budget TEXT NOT NULL,
    scope TEXT NOT NULL,
    tat DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (team, budget, scope)
)"""
WINDOWS = """CREATE TABLE IF NOT EXISTS slack_budget_windows (
    team TEXT NOT NULL,
    method TEXT NOT NULL,
    closed_until DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (team, method)
)"""
STREAMS = """CREATE TABLE IF NOT EXISTS slack_budget_streams (
    team TEXT NOT NULL,
    replica TEXT NOT NULL,
    streams INTEGER NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (team, replica)
)"""
TABLES = (BUCKETS, WINDOWS, STREAMS)

STREAMS_REFRESH = 10.0
PRUNE_EVERY = 600.0
IDLE_MARGIN = 60.0
"""A bucket full for this long is deleted: far beyond any clock skew between replicas."""

_READ = """SELECT
    (SELECT tat FROM slack_budget_buckets
     WHERE team = :team AND budget = :budget AND scope = :scope) AS tat,
    (SELECT closed_until FROM slack_budget_windows
     WHERE team = :team AND method = :method) AS closed_until"""
_WRITE = """INSERT INTO slack_budget_buckets(team, budget, scope, tat) VALUES (?, ?, ?, ?)
ON CONFLICT (team, budget, scope) DO UPDATE SET tat = excluded.tat"""
_CLOSE = """INSERT INTO slack_budget_windows(team, method, closed_until) VALUES (?, ?, ?)
ON CONFLICT (team, method) DO UPDATE SET closed_until = excluded.closed_until
WHERE slack_budget_windows.closed_until < excluded.closed_until"""
_PUBLISH = """INSERT INTO slack_budget_streams(team, replica, streams, seen_at) VALUES (?, ?, ?, ?)
ON CONFLICT (team, replica) DO UPDATE SET streams = excluded.streams, seen_at = excluded.seen_at"""
_ELSEWHERE = """SELECT COALESCE(SUM(streams), 0) AS streams FROM slack_budget_streams
WHERE team = ? AND replica <> ? AND seen_at >= ?"""


class SharedBudgetStore(BudgetStore):
    """One workspace's buckets, windows and stream counts in the database, for every replica."""

    def __init__(
        self,
        database: Database,
        team: str,
        *,
        clock: Clock = time.time,
        streams_refresh: float = STREAMS_REFRESH,
        prune_every: float = PRUNE_EVERY,
        logger: logging.Logger | None = None,
    ) -> None:
        self.clock = clock
        self._database = database
        self._team = team
        self._replica = uuid.uuid4().hex
        self._seen = MemoryBudgetStore(clock)
        """The buckets and windows as this replica last read them: the hints' source."""
        self._refresh = streams_refresh
        self._prune_every = prune_every
        self._pruned_at = clock()
        self._log = logger or logging.getLogger(__name__)
        self._streams = 0
        self._elsewhere = 0
        self._streams_changed = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None

    async def book(self, bucket: BucketKey, budget: Budget, *, wait: bool) -> Booking:
        async with self._database.transaction() as transaction:
            await transaction.serialize(f"slack-budget/{self._team}/{bucket.budget}/{bucket.scope}")
            row = await transaction.fetch_one(
                _READ,
                {
                    "team": self._team,
                    "budget": bucket.budget,
                    "scope": bucket.scope,
                    "method": bucket.method,
                },
            )
            assert row is not None  # a SELECT without FROM has one row
            now = self.clock()
            state = BucketState(float(row["tat"] or 0.0), float(row["closed_until"] or 0.0))
            start, tat = state.book(budget, now, wait=wait)
            if start is not None:
                await transaction.execute(_WRITE, (self._team, bucket.budget, bucket.scope, tat))
        self._seen.remember(bucket, tat, now)
        self._seen.remember_window(bucket.method, state.closed_until)
        if self._streams:
            self._keep_publishing()
        if now - self._pruned_at >= self._prune_every:
            await self._prune(now)
        return Booking(start, BucketState(tat, state.closed_until))

    async def close(self, method: str, until: float) -> None:
        await self._database.execute(_CLOSE, (self._team, method, until))
        self._seen.remember_window(method, until)

    async def closed_until(self, method: str) -> float:
        row = await self._database.fetch_one(
            "SELECT closed_until FROM slack_budget_windows WHERE team = ? AND method = ?",
            (self._team, method),
        )
        until = float(row["closed_until"]) if row else 0.0
        self._seen.remember_window(method, until)
        return until

    def view(self, bucket: BucketKey) -> BucketState:
        return self._seen.view(bucket)

    def publish_streams(self, count: int) -> None:
        """Publish in the background: registering a stream must not wait on the database."""
        self._streams = count
        self._streams_changed.set()
        self._keep_publishing()

    def streams_elsewhere(self) -> int:
        return self._elsewhere

    async def aclose(self) -> None:
        """Stop publishing and withdraw this replica's count (a clean shutdown)."""
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        await self._database.execute(
            "DELETE FROM slack_budget_streams WHERE team = ? AND replica = ?",
            (self._team, self._replica),
        )

    def _keep_publishing(self) -> None:
        """Start the publisher unless it runs (it stops when there is nothing to publish, or
        when the database fails: then the next change or booking starts it again)."""
        if self._publisher is not None and not self._publisher.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to publish from: the next change or booking will
            return
        self._publisher = loop.create_task(self._keep_published(), name="slack-stream-count")

    async def _keep_published(self) -> None:
        """Publish each change at once, and refresh while streaming so the row stays live."""
        while True:
            self._streams_changed.clear()
            try:
                await self._publish()
            except Exception as error:  # a hint: a missed write only skews the cadence a while
                self._log.warning("could not publish the stream count: %r", error)
                return
            if self._streams == 0 and not self._streams_changed.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._streams_changed.wait(), self._refresh)

    async def _publish(self) -> None:
        now = self.clock()
        await self._database.execute(_PUBLISH, (self._team, self._replica, self._streams, now))
        row = await self._database.fetch_one(
            _ELSEWHERE, (self._team, self._replica, now - 3 * self._refresh)
        )
        self._elsewhere = int(row["streams"]) if row else 0

    async def _prune(self, now: float) -> None:
        """Forget buckets full for a while and replicas long gone; a failure waits a round."""
        self._pruned_at = now
        try:
            await self._database.execute(
                "DELETE FROM slack_budget_buckets WHERE team = ? AND tat < ?",
                (self._team, now - IDLE_MARGIN),
            )
            await self._database.execute(
                "DELETE FROM slack_budget_streams WHERE team = ? AND seen_at < ?",
                (self._team, now - max(IDLE_MARGIN, 3 * self._refresh)),
            )
        except Exception as error:
            self._log.warning("could not prune idle Slack budget rows: %r", error)


def budget_store(database: Database, team: str) -> BudgetStore:
    """Where this workspace's budget lives: in the database when replicas may share it
    (PostgreSQL), in memory with SQLite (one process, so no round trip per Slack call)."""
    if database.dialect == "postgres":
        return SharedBudgetStore(database, team)
    return MemoryBudgetStore()
