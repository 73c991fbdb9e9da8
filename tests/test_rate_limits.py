"""The workspace budget: buckets, Retry-After windows and the cadence hint, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from bot.rate_limits import (
    DECISION_CARDS,
    Budget,
    MemoryBudgetStore,
    SlackRateLimiter,
    default_budgets,
)
from tests.fake_clock import FakeClock


def limiter_on(clock: FakeClock, **budgets: Budget) -> SlackRateLimiter:
    table = default_budgets()
    table.update({name.replace("_", "."): budget for name, budget in budgets.items()})
    return SlackRateLimiter(table, clock=clock, sleep=clock.sleep)


def test_defaults_sit_under_slack_limits() -> None:
    """chat.update, cards' lane included, stays under Tier 3's 50/min; postMessage is 1/s."""
    budgets = default_budgets()
    streams, cards = budgets["chat.update"], budgets[DECISION_CARDS]
    assert (streams.per_second + cards.per_second) * 60 == pytest.approx(46)
    assert streams.burst + cards.burst == 6
    assert budgets["chat.postMessage"] == Budget(1.0, burst=3, per_key=True)
    with pytest.raises(ValueError, match="positive rate"):
        Budget(0)


async def test_burst_then_sustained_rate() -> None:
    """A full bucket allows the burst at once, then one call per interval."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    assert [await limiter.try_acquire("chat.update") for _ in range(5)] == [True] * 4 + [False]
    clock.advance(60 / 38 - 0.01)
    assert not await limiter.try_acquire("chat.update")
    clock.advance(0.01)
    assert await limiter.try_acquire("chat.update")
    assert not await limiter.try_acquire("chat.update")


async def test_acquire_waits_its_turn_in_order() -> None:
    """Blocking callers are spaced by the rate after the burst, in the order they asked."""
    clock = FakeClock()
    limiter = limiter_on(clock, chat_update=Budget(1.0, burst=2))
    start = clock.now
    done: list[tuple[int, float]] = []

    async def call(n: int) -> None:
        await limiter.acquire("chat.update")
        done.append((n, clock.now - start))

    await asyncio.gather(*(call(n) for n in range(6)))
    assert [n for n, _ in done] == list(range(6))
    assert [round(at, 6) for _, at in done] == [0, 0, 1, 2, 3, 4]


async def test_calls_never_exceed_budget_in_any_window() -> None:
    """However many callers share it, no minute sees more than burst + rate x 60 calls."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    times: list[float] = []

    async def streamer() -> None:
        for _ in range(5):
            await limiter.acquire("chat.update")
            times.append(clock.now)

    await asyncio.gather(*(streamer() for _ in range(30)))
    times.sort()
    for i, first in enumerate(times):
        in_window = [t for t in times[i:] if t < first + 60]
        assert len(in_window) <= 4 + 38


async def test_post_message_is_per_channel() -> None:
    """One busy channel does not hold back posts to another."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    assert all([await limiter.try_acquire("chat.postMessage", "C1") for _ in range(3)])
    assert not await limiter.try_acquire("chat.postMessage", "C1")
    assert await limiter.try_acquire("chat.postMessage", "C2")


async def test_unknown_methods_get_a_generous_budget() -> None:
    """Methods without a budget of their own still get one."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    assert sum([await limiter.try_acquire("reactions.add") for _ in range(30)]) == 20


async def test_retry_after_closes_the_method_for_try_acquire() -> None:
    """Inside the window nothing goes; after it, one call, with no burst credit."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    await limiter.note_retry_after("chat.update", 3)
    assert limiter.blocked_for("chat.update") == pytest.approx(3)
    assert limiter.wait_time("chat.update") == pytest.approx(3)
    assert not await limiter.try_acquire("chat.update")
    assert await limiter.try_acquire("chat.postMessage", "C1")  # other methods are unaffected
    clock.advance(2.99)
    assert not await limiter.try_acquire("chat.update")
    clock.advance(0.01)
    assert await limiter.try_acquire("chat.update")
    assert not await limiter.try_acquire("chat.update")


async def test_retry_after_holds_back_blocking_callers() -> None:
    """acquire() returns no earlier than the end of the Retry-After window."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    start = clock.now
    await limiter.note_retry_after("chat.update", 5)
    await limiter.acquire("chat.update")
    assert clock.now - start >= 5


async def test_a_429_while_waiting_voids_the_booked_slot() -> None:
    """A caller who booked a slot before a 429 still waits for the window to end."""
    clock = FakeClock()
    limiter = limiter_on(clock, chat_update=Budget(1.0, burst=1))
    assert await limiter.try_acquire("chat.update")
    start = clock.now
    waiter = asyncio.create_task(limiter.acquire("chat.update"))
    await asyncio.sleep(0)  # it has booked the slot at +1 s and is sleeping
    await limiter.note_retry_after("chat.update", 4)
    await waiter
    assert clock.now - start >= 4


async def test_windows_only_extend() -> None:
    """A shorter Retry-After does not shorten a longer window already in force."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    await limiter.note_retry_after("chat.update", 10)
    await limiter.note_retry_after("chat.update", 1)
    assert limiter.blocked_for("chat.update") == pytest.approx(10)


async def test_a_new_channel_bucket_is_closed_by_an_earlier_429() -> None:
    """A Retry-After closes buckets made after it too (the window is applied when read)."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    await limiter.note_retry_after("chat.postMessage", 2)
    assert not await limiter.try_acquire("chat.postMessage", "CNEW")
    assert limiter.wait_time("chat.postMessage", "CNEW") == pytest.approx(2)
    clock.advance(2)
    assert [await limiter.try_acquire("chat.postMessage", "CNEW") for _ in range(2)] == [
        True,
        False,
    ]


def test_a_store_keeps_its_own_time() -> None:
    """A limiter on a store reads the store's clock; a second clock would be a mistake."""
    with pytest.raises(TypeError, match="clock"):
        SlackRateLimiter(store=MemoryBudgetStore(), clock=FakeClock())


def test_suggested_interval_shares_the_budget_between_streams() -> None:
    """The cadence hint grows with the number of answers streaming at once."""
    limiter = SlackRateLimiter()
    one = limiter.suggested_interval("chat.update")
    assert one == pytest.approx(60 / 38)
    with limiter.streaming(), limiter.streaming():
        limiter.register_stream()
        assert limiter.active_streams == 3
        assert limiter.suggested_interval("chat.update") == pytest.approx(3 * one)
        limiter.unregister_stream()
    assert limiter.active_streams == 0
    with pytest.raises(RuntimeError, match="without a matching"):
        limiter.unregister_stream()


async def test_idle_channel_buckets_are_forgotten() -> None:
    """Per-channel buckets do not pile up forever on a long-running bot."""
    clock = FakeClock()
    store = MemoryBudgetStore(clock)
    limiter = SlackRateLimiter(store=store)
    for n in range(2000):
        assert await limiter.try_acquire("chat.postMessage", f"C{n}")
        clock.advance(1.0)
    assert len(store) <= 600


async def test_decision_cards_have_their_own_lane_but_share_429_windows() -> None:
    """A card edit does not queue behind streaming edits; a 429 still closes every lane."""
    clock = FakeClock()
    limiter = limiter_on(clock)
    while await limiter.try_acquire("chat.update"):
        pass  # the answers used up their share
    assert limiter.wait_time("chat.update") > 0
    assert await limiter.try_acquire(DECISION_CARDS)  # the card goes at once
    await limiter.note_retry_after(DECISION_CARDS, 5)
    assert limiter.blocked_for("chat.update") == pytest.approx(5)
    assert not await limiter.try_acquire(DECISION_CARDS)
