"""Replicas share one Slack budget through the database: buckets, 429 windows, stream counts.

Each "replica" is a `SlackRateLimiter` on a `SharedBudgetStore` with a connection pool of its
own to the same database, as two processes would have. Runs on PostgreSQL (what replicas use)
and on a SQLite file (the same SQL, two connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest

from agent.storage import open_storage
from bot import schema
from bot.rate_limits import (
    DECISION_CARDS,
    Budget,
    MemoryBudgetStore,
    SlackRateLimiter,
    Sleep,
)
from bot.shared_budget import SharedBudgetStore, budget_store
from tests.fake_clock import FakeClock

TEAM = "T0TEAM"
FAST = {
    "chat.update": Budget(20.0, burst=5),
    DECISION_CARDS: Budget(2.0, burst=1),
    "chat.postMessage": Budget(1.0, burst=3, per_key=True),
}


@contextlib.asynccontextmanager
async def replicas(
    url: str,
    *,
    count: int = 2,
    budgets: dict[str, Budget] = FAST,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
    streams_refresh: float = 0.05,
) -> AsyncIterator[list[SlackRateLimiter]]:
    """`count` limiters, each on its own connection pool to the database at `url`."""
    async with contextlib.AsyncExitStack() as stack:
        limiters = []
        for _ in range(count):
            storage = await stack.enter_async_context(open_storage(url))
            await schema.upgrade(storage.database)
            store = SharedBudgetStore(
                storage.database, TEAM, clock=clock, streams_refresh=streams_refresh
            )
            limiter = SlackRateLimiter(budgets, store=store, sleep=sleep)
            stack.push_async_callback(limiter.aclose)
            limiters.append(limiter)
        yield limiters


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `check()` holds (published counts arrive in the background)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_replicas_together_stay_within_the_budget(database_url: str) -> None:
    """Two replicas, each with blocking and skippable callers, book at most burst + rate x t
    calls between them in any window, however they interleave."""
    seconds, window = 1.5, 1.0
    booked: list[float] = []
    async with replicas(database_url) as limiters:
        deadline = time.time() + seconds

        async def blocking(limiter: SlackRateLimiter) -> None:
            while time.time() < deadline:
                await limiter.acquire("chat.update")
                booked.append(time.time())

        async def skippable(limiter: SlackRateLimiter) -> None:
            while time.time() < deadline:
                if await limiter.try_acquire("chat.update"):
                    booked.append(time.time())
                else:
                    await asyncio.sleep(max(0.005, limiter.wait_time("chat.update")))

        await asyncio.gather(
            *(worker(limiter) for limiter in limiters for worker in (blocking, skippable) * 2)
        )
    booked.sort()
    allowed = 5 + 20 * window + 1  # +1: a call is timed a moment after its slot
    busiest = max(
        sum(1 for t in booked[i:] if t < first + window) for i, first in enumerate(booked)
    )
    assert busiest <= allowed
    elapsed = booked[-1] - booked[0]
    assert len(booked) <= 5 + 20 * elapsed + 1
    assert len(booked) >= 20  # they did compete for the budget


async def test_a_429_on_one_replica_closes_the_method_on_the_other(database_url: str) -> None:
    """Inside the window the other replica books nothing, on any lane; `acquire` waits it out,
    and the bucket restarts empty after it."""
    clock = FakeClock()
    async with replicas(database_url, clock=clock, sleep=clock.sleep) as (first, second):
        await first.note_retry_after("chat.update", 5)
        assert not await second.try_acquire("chat.update")
        assert not await second.try_acquire(DECISION_CARDS)
        assert second.blocked_for("chat.update") == pytest.approx(5)
        assert second.wait_time("chat.update") == pytest.approx(5)
        assert await second.try_acquire("chat.postMessage", "C1")  # other methods are open
        start = clock.now
        await second.acquire("chat.update")
        assert clock.now - start >= 5
        assert not await first.try_acquire("chat.update")  # restarted empty: no burst credit


async def test_a_429_while_another_replica_waits_voids_its_slot(database_url: str) -> None:
    """A replica sleeping towards a booked slot checks the shared window before it calls."""
    budgets = {"chat.update": Budget(2.0, burst=1)}
    async with replicas(database_url, budgets=budgets) as (first, second):
        assert await second.try_acquire("chat.update")
        began = time.time()
        waiter = asyncio.create_task(second.acquire("chat.update"))  # its slot is at +0.5 s
        await asyncio.sleep(0.1)
        await first.note_retry_after("chat.update", 1.0)
        await waiter
        assert time.time() - began >= 1.0


async def test_channels_have_buckets_of_their_own(database_url: str) -> None:
    """chat.postMessage is budgeted per channel, across replicas."""
    clock = FakeClock()
    async with replicas(database_url, clock=clock) as (first, second):
        for _ in range(3):
            assert await first.try_acquire("chat.postMessage", "C1")
        assert not await second.try_acquire("chat.postMessage", "C1")
        for _ in range(3):
            assert await second.try_acquire("chat.postMessage", "C2")
        assert not await first.try_acquire("chat.postMessage", "C2")
        clock.advance(1.0)
        assert await second.try_acquire("chat.postMessage", "C1")
        assert not await first.try_acquire("chat.postMessage", "C1")


async def test_stream_counts_add_up_across_replicas(database_url: str) -> None:
    """Each replica's cadence hint divides chat.update by the workspace's streams."""
    async with replicas(database_url) as (first, second):
        first.register_stream()
        first.register_stream()
        for _ in range(3):
            second.register_stream()
        await eventually(lambda: first.active_streams == second.active_streams == 5)
        assert first.suggested_interval("chat.update") == pytest.approx(5 / 20)
        first.unregister_stream()
        first.unregister_stream()
        await eventually(lambda: second.active_streams == 3)
        assert second.suggested_interval("chat.update") == pytest.approx(3 / 20)


async def test_a_dead_replicas_streams_stop_counting(database_url: str) -> None:
    """A count nobody refreshed lately (its replica died) is ignored, then deleted."""
    clock = FakeClock()
    async with (
        open_storage(database_url) as storage,
        replicas(database_url, count=1, clock=clock, streams_refresh=10) as (live,),
    ):
        await storage.database.execute(
            "INSERT INTO slack_budget_streams(team, replica, streams, seen_at) VALUES (?, ?, ?, ?)",
            (TEAM, "gone", 7, clock.now - 31),
        )
        await storage.database.execute(
            "INSERT INTO slack_budget_streams(team, replica, streams, seen_at) VALUES (?, ?, ?, ?)",
            (TEAM, "alive", 4, clock.now - 5),
        )
        live.register_stream()
        await eventually(lambda: live.active_streams == 1 + 4)
        clock.advance(700)  # past the next prune
        await live.try_acquire("chat.update")
        rows = await storage.database.fetch_all("SELECT replica FROM slack_budget_streams")
        assert "gone" not in {row["replica"] for row in rows}


async def test_idle_bucket_rows_are_pruned(database_url: str) -> None:
    """Per-channel rows do not pile up: full buckets are deleted now and then."""
    clock = FakeClock()
    async with (
        open_storage(database_url) as storage,
        replicas(database_url, count=1, clock=clock) as (limiter,),
    ):
        for n in range(40):
            assert await limiter.try_acquire("chat.postMessage", f"C{n}")
        clock.advance(120)  # full again, but not yet due for a prune
        assert await limiter.try_acquire("chat.postMessage", "CBUSY")
        counted = await storage.database.fetch_one("SELECT COUNT(*) AS n FROM slack_budget_buckets")
        assert counted == {"n": 41}
        clock.advance(600)
        assert await limiter.try_acquire("chat.postMessage", "CNEW")
        rows = await storage.database.fetch_all("SELECT scope FROM slack_budget_buckets")
    assert [row["scope"] for row in rows] == ["CNEW"]


async def test_the_store_follows_the_database(database_url: str) -> None:
    """Replicas (PostgreSQL) share the budget in the database; one process (SQLite) keeps it
    in memory, with no round trip per Slack call."""
    async with open_storage(database_url) as storage:
        store = budget_store(storage.database, TEAM)
    expected = SharedBudgetStore if storage.database.dialect == "postgres" else MemoryBudgetStore
    assert type(store) is expected
