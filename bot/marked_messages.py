"""Slack message metadata that names what a bot message is, and finding a message by it.

A post whose answer was lost (the connection dropped after Slack applied it) may be in the thread
already, and posting it again would show it twice (pitfall 7). So a post that must land carries a
marker in its message metadata (DESIGN §4 rule 9), and the thread is searched for that marker
before the post is sent again. The search covers the whole thread, page by page, because a busy
thread does not fit in one page.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.budgeted_calls import BudgetedCalls, RetryPolicy

MARKER_EVENT = "countersign_marker"
"""The metadata `event_type` of the bot's marked posts outside answers (cards, questions)."""
PAGE_SIZE = 200
"""Messages per conversations.replies page; Slack advises no more than 200."""

Marker = dict[str, Any]
"""A small flat dict naming one message, e.g. `{"pause": "<interrupt id>"}`."""


def marker_metadata(marker: Marker, event_type: str = MARKER_EVENT) -> dict[str, Any]:
    """Slack's `metadata` argument for a post carrying `marker`."""
    return {"event_type": event_type, "event_payload": marker}


async def find_marked(
    client: AsyncWebClient,
    calls: BudgetedCalls,
    *,
    channel: str,
    thread_ts: str,
    metadata: dict[str, Any],
    oldest: str | None = None,
    policy: RetryPolicy | None = None,
) -> str | None:
    """The ts of a message in the thread that carries `metadata`, or None if there is none.

    Only messages newer than `oldest` are searched, when it is given. Each page is booked with
    `calls` under `policy`. If a page cannot be read, its error is raised: a failed search does
    not mean the message is absent.
    """
    messages = thread_messages(
        client, calls, channel=channel, thread_ts=thread_ts, oldest=oldest, policy=policy
    )
    async with contextlib.aclosing(messages):
        async for message in messages:
            if _carries(message, metadata):
                return str(message["ts"])
    return None


async def thread_messages(
    client: AsyncWebClient,
    calls: BudgetedCalls,
    *,
    channel: str,
    thread_ts: str,
    oldest: str | None = None,
    policy: RetryPolicy | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Every message of a thread with its metadata, page by page; a page's error is raised."""
    cursor: str | None = None
    while True:
        page = await calls.must_land(
            "conversations.replies",
            _page(client, channel, thread_ts, cursor, oldest),
            policy=policy,
        )
        for message in page.get("messages") or []:
            yield message
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def _page(
    client: AsyncWebClient, channel: str, thread_ts: str, cursor: str | None, oldest: str | None
) -> Callable[[], Awaitable[AsyncSlackResponse]]:
    """Slack returns message metadata only when `include_all_metadata` asks for it."""
    return lambda: client.conversations_replies(
        channel=channel,
        ts=thread_ts,
        cursor=cursor,
        oldest=oldest,
        limit=PAGE_SIZE,
        include_all_metadata=True,
    )


def _carries(message: dict[str, Any], metadata: dict[str, Any]) -> bool:
    found = message.get("metadata") or {}
    return bool(
        found.get("event_type") == metadata["event_type"]
        and found.get("event_payload") == metadata["event_payload"]
    )
