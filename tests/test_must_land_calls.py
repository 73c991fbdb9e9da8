"""Cards, edits and ephemerals land through 5xx, dropped connections and 429s, never doubled.

Real emulator, real slack_sdk client (built with `retry_handlers=[]` as the bot builds it), real
`SlackRateLimiter` and `SlackCalls`. The emulator and the limiter share a fake clock, so a
Retry-After is waited out without sleeping; the retry backoff is shrunk through the policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.budgeted_calls import RetryPolicy
from bot.marked_messages import MARKER_EVENT
from bot.rate_limits import SlackRateLimiter
from bot.slack_calls import SlackCalls
from playground.slack import Message, SlackEmulator
from tests.fake_clock import FakeClock

CHANNEL = "C0GENERAL"
FAST = RetryPolicy(max_rate_limited=4, transient_retries=3, retry_backoff=0.001)
CARD = [{"type": "section", "text": {"type": "mrkdwn", "text": "Approve `deploy`?"}}]
MARKER = {"pause": "interrupt-1"}

FAULTS: dict[str, dict[str, Any]] = {
    "two 5xx": {"error": "internal_error", "status": 500, "times": 2},
    "dropped before": {"drop": "before"},
    "dropped after": {"drop": "after"},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def slack(clock: FakeClock) -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def calls(slack: SlackEmulator, clock: FakeClock) -> SlackCalls:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
    return SlackCalls(client, SlackRateLimiter(clock=clock, sleep=clock.sleep), FAST)


async def new_thread(slack: SlackEmulator, replies: int = 0) -> str:
    parent, _ = await slack.user_says("UALICE", CHANNEL, "deploy please", deliver=False)
    for n in range(replies):
        await slack.user_says("UBOB", CHANNEL, f"chatter {n}", thread_ts=parent.ts, deliver=False)
    return parent.ts


def cards(slack: SlackEmulator, thread_ts: str, marker: dict[str, Any] = MARKER) -> list[Message]:
    """The bot's messages in the thread that carry `marker`."""
    return [
        m
        for m in slack.bot_messages(CHANNEL, thread_ts)
        if m.metadata == {"event_type": MARKER_EVENT, "event_payload": marker}
    ]


def assert_waited_out(slack: SlackEmulator, method: str, retry_after: int) -> None:
    first, second = slack.calls_to(method)[-2:]
    assert first.status == 429
    assert second.at - first.at >= retry_after
    assert slack.calls_inside_retry_after == 0


# ---- posts with a marker ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_a_marked_post_lands_once_through_a_fault(
    slack: SlackEmulator, calls: SlackCalls, fault: dict[str, Any]
) -> None:
    """A 5xx or a dropped connection: the card is in the thread exactly once, at the ts returned."""
    thread_ts = await new_thread(slack)
    await calls.post(CHANNEL, thread_ts, "other card", CARD, marker={"pause": "interrupt-0"})
    slack.fail_next("chat.postMessage", **fault)

    ts = await calls.post(CHANNEL, thread_ts, "Approve deploy?", CARD, marker=MARKER)

    [card] = cards(slack, thread_ts)
    assert card.ts == ts
    assert len(slack.bot_messages(CHANNEL, thread_ts)) == 2
    lookups = slack.calls_to("conversations.replies")
    assert lookups, "the thread was not searched before the retry"
    assert all(c.params.get("include_all_metadata") in (True, "1", "true") for c in lookups)


async def test_a_marked_post_that_landed_is_not_sent_again(
    slack: SlackEmulator, calls: SlackCalls
) -> None:
    """Dropped after Slack posted: the lookup finds the card, so only one post is ever sent."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postMessage", drop="after")
    ts = await calls.post(CHANNEL, thread_ts, "Approve deploy?", CARD, marker=MARKER)
    assert [c.error for c in slack.calls_to("chat.postMessage")] == ["connection_dropped"]
    assert [m.ts for m in cards(slack, thread_ts)] == [ts]


async def test_a_marked_post_waits_out_a_429(
    slack: SlackEmulator, calls: SlackCalls, clock: FakeClock
) -> None:
    """A 429 on the card: posted once, after Retry-After, with no call inside the window."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postMessage", retry_after=7)
    ts = await calls.post(CHANNEL, thread_ts, "Approve deploy?", CARD, marker=MARKER)
    assert [m.ts for m in cards(slack, thread_ts)] == [ts]
    assert_waited_out(slack, "chat.postMessage", 7)


async def test_no_blind_retry_when_the_thread_cannot_be_searched(
    slack: SlackEmulator, calls: SlackCalls
) -> None:
    """Dropped after posting, and the lookup fails too: raise rather than risk a twin."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postMessage", drop="after")
    slack.fail_next("conversations.replies", error="internal_error", status=500, times=4)
    with pytest.raises(SlackApiError):
        await calls.post(CHANNEL, thread_ts, "Approve deploy?", CARD, marker=MARKER)
    assert len(cards(slack, thread_ts)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_a_marked_post_is_found_past_the_first_pages_of_a_long_thread(
    slack: SlackEmulator, calls: SlackCalls
) -> None:
    """A card after 1,000 replies is found (`find` and a retried post), page by page."""
    thread_ts = await new_thread(slack, replies=1000)
    assert await calls.find(CHANNEL, thread_ts, MARKER) is None
    slack.fail_next("chat.postMessage", drop="after")

    ts = await calls.post(CHANNEL, thread_ts, "Approve deploy?", CARD, marker=MARKER)

    assert [m.ts for m in cards(slack, thread_ts)] == [ts]
    assert await calls.find(CHANNEL, thread_ts, MARKER) == ts
    pages = slack.calls_to("conversations.replies")
    assert len(pages) > 3
    assert all(int(c.params.get("limit", 1000)) <= 200 for c in pages)


async def test_find_says_none_only_when_it_looked(slack: SlackEmulator, calls: SlackCalls) -> None:
    """A thread without the card gives None; a thread Slack will not show raises."""
    thread_ts = await new_thread(slack)
    await calls.post(CHANNEL, thread_ts, "other card", CARD, marker={"pause": "interrupt-0"})
    assert await calls.find(CHANNEL, thread_ts, MARKER) is None
    slack.fail_next("conversations.replies", error="internal_error", status=500, times=4)
    with pytest.raises(SlackApiError):
        await calls.find(CHANNEL, thread_ts, MARKER)


# ---- posts without a marker ------------------------------------------------------------------


async def test_an_unmarked_post_is_retried_after_a_5xx(
    slack: SlackEmulator, calls: SlackCalls
) -> None:
    """Slack answered 500, so it made nothing: the retry posts the one message."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postMessage", error="service_unavailable", status=503, times=2)
    ts = await calls.post(CHANNEL, thread_ts, "pointer", CARD)
    assert [m.ts for m in slack.bot_messages(CHANNEL, thread_ts)] == [ts]


async def test_an_unmarked_post_is_not_retried_after_a_drop(
    slack: SlackEmulator, calls: SlackCalls
) -> None:
    """Without a marker nothing can be looked up: a dropped post is raised, never doubled."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postMessage", drop="after")
    with pytest.raises(aiohttp.ClientError):
        await calls.post(CHANNEL, thread_ts, "pointer", CARD)
    assert len(slack.bot_messages(CHANNEL, thread_ts)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


# ---- edits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_an_edit_lands_through_a_fault(
    slack: SlackEmulator, calls: SlackCalls, fault: dict[str, Any]
) -> None:
    """A 5xx or a dropped connection on a card's edit: the card says what was decided."""
    thread_ts = await new_thread(slack)
    ts = await calls.post(CHANNEL, thread_ts, "Approve deploy?", CARD, marker=MARKER)
    slack.fail_next("chat.update", **fault)

    await calls.update(CHANNEL, ts, "Approved by bob", [])

    assert slack.message(CHANNEL, ts).visible_text() == "Approved by bob"
    assert len(slack.bot_messages(CHANNEL, thread_ts)) == 1


async def test_an_edit_waits_out_a_429(slack: SlackEmulator, calls: SlackCalls) -> None:
    """A 429 on a card's edit: applied after Retry-After, with no call inside the window."""
    thread_ts = await new_thread(slack)
    ts = await calls.post(CHANNEL, thread_ts, "Approve deploy?", CARD, marker=MARKER)
    slack.fail_next("chat.update", retry_after=5)
    await calls.update(CHANNEL, ts, "Approved by bob", [])
    assert slack.message(CHANNEL, ts).visible_text() == "Approved by bob"
    assert_waited_out(slack, "chat.update", 5)


# ---- ephemerals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "seen"),
    [
        ({"error": "internal_error", "status": 500}, 1),
        ({"drop": "before"}, 1),
        # Nobody can look an ephemeral up: the one retry repeats a notice that had landed.
        # Seeing it twice is the price of not leaving a click unanswered after a drop.
        ({"drop": "after"}, 2),
    ],
    ids=["5xx", "dropped before", "dropped after"],
)
async def test_an_ephemeral_is_retried_once(
    slack: SlackEmulator, calls: SlackCalls, fault: dict[str, Any], seen: int
) -> None:
    """One 5xx or dropped connection on an ephemeral: the person is still told."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postEphemeral", **fault)
    await calls.ephemeral(CHANNEL, "UBOB", "Already handled.", thread_ts)
    assert [e["text"] for e in slack.ephemerals(CHANNEL, "UBOB")] == ["Already handled."] * seen


async def test_an_ephemeral_gives_up_quietly_after_one_retry(
    slack: SlackEmulator, calls: SlackCalls
) -> None:
    """Best effort: two failures in a row are logged, not raised, and not retried further."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postEphemeral", drop="before", times=3)
    await calls.ephemeral(CHANNEL, "UBOB", "Already handled.", thread_ts)
    assert slack.ephemerals(CHANNEL, "UBOB") == []
    assert len(slack.calls_to("chat.postEphemeral")) == 2


async def test_an_ephemeral_waits_out_a_429(slack: SlackEmulator, calls: SlackCalls) -> None:
    """A 429 on an ephemeral: sent once after Retry-After, with no call inside the window."""
    thread_ts = await new_thread(slack)
    slack.fail_next("chat.postEphemeral", retry_after=3)
    await calls.ephemeral(CHANNEL, "UBOB", "Already handled.", thread_ts)
    assert [e["text"] for e in slack.ephemerals(CHANNEL, "UBOB")] == ["Already handled."]
    assert_waited_out(slack, "chat.postEphemeral", 3)
