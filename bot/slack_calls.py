"""Slack calls outside answers (cards, questions, pointers, card edits, ephemerals) that must land.

The streamer sends the answers. Everything else the bot sends goes through `SlackCalls`, and both
go through bot.budgeted_calls: each call is booked with the workspace's rate limiter, and a 429's
Retry-After is waited out (pitfall 2) instead of dropping the call.

These calls must land (pitfall 30: a card lost to one 5xx orphans its pause), so 5xx and
connection errors are retried with backoff. A retry must never double a post (pitfall 7), and a
dropped connection can hide a post Slack already made. A post with a `marker` carries it in its
message metadata, and the thread is searched for the marker before every retry
(bot.marked_messages). A post without one is retried only when Slack cannot have made it (it
answered with an error status, or the connection never opened). An edit can be repeated safely.
An ephemeral is retried once: nobody can look an ephemeral up, and seeing a notice twice is
better than never seeing it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.budgeted_calls import BudgetedCalls, RetryPolicy, failure_code
from bot.marked_messages import Marker, find_marked, marker_metadata
from bot.rate_limits import DECISION_CARDS, SlackRateLimiter

logger = logging.getLogger(__name__)

POLICY = RetryPolicy(max_rate_limited=4, transient_retries=3, retry_backoff=0.5)
"""Five tries through 429s; four through 5xx and connection errors (0.5 + 1 + 2 s of backoff)."""
Block = dict[str, Any]


class SlackCalls:
    """The few calls the bot makes outside streaming, each booked, retried and never doubled."""

    def __init__(
        self, client: AsyncWebClient, limiter: SlackRateLimiter, policy: RetryPolicy = POLICY
    ) -> None:
        self.client = client
        self._calls = BudgetedCalls(limiter, policy, logger)
        self._blind = dataclasses.replace(policy, retry_ambiguous=False)
        self._once = dataclasses.replace(policy, transient_retries=1)

    async def post(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: list[Block],
        *,
        marker: Marker | None = None,
    ) -> str:
        """Post a reply in a thread and return its ts. With a `marker`, the post is made once.

        With a `marker`, a message carrying it that is already in the thread is returned instead
        of posting a second one. Without a marker, a dropped connection is raised, not retried.
        """
        metadata = marker_metadata(marker) if marker is not None else None

        async def send() -> str:
            response = await self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, metadata=metadata
            )
            return str(response["ts"])

        if marker is None:
            return await self._calls.must_land(
                "chat.postMessage", send, key=channel, policy=self._blind
            )
        return await self._calls.must_land(
            "chat.postMessage",
            send,
            key=channel,
            recover=lambda: self.find(channel, thread_ts, marker),
        )

    async def find(self, channel: str, thread_ts: str, marker: Marker) -> str | None:
        """The ts of the bot's message carrying `marker` in the thread, or None if there is none.

        The whole thread is searched. Raises `SlackApiError` or a connection error when Slack
        cannot be asked. A failed search never returns None.
        """
        return await find_marked(
            self.client,
            self._calls,
            channel=channel,
            thread_ts=thread_ts,
            metadata=marker_metadata(marker),
        )

    async def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        """Replace a message the bot posted (cards after a decision), in the cards' own lane."""
        await self._calls.must_land(
            DECISION_CARDS,
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, parse="none"
            ),
        )

    async def members(self, channel: str) -> set[str]:
        """Everyone in a conversation (every page of conversations.members)."""
        members: set[str] = set()
        cursor: str | None = None
        while True:

            async def page(cursor: str | None = cursor) -> Any:
                return await self.client.conversations_members(
                    channel=channel, cursor=cursor, limit=200
                )

            response = await self._calls.must_land("conversations.members", page)
            members |= {str(member) for member in response.get("members") or []}
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return members

    async def direct(self, user: str, text: str, blocks: list[Block]) -> tuple[str, str]:
        """Post to one person in their DM with the bot; (channel, ts). A dropped connection is
        raised, not retried: a DM is a copy, and two of it would be worse than a late one."""
        opened = await self._calls.must_land(
            "conversations.open", lambda: self.client.conversations_open(users=user)
        )
        channel = str(opened["channel"]["id"])

        async def send() -> str:
            response = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            return str(response["ts"])

        ts = await self._calls.must_land("chat.postMessage", send, key=channel, policy=self._blind)
        return channel, ts

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        """Tell one person something only they see (a refused click, a stale button)."""
        try:
            await self._calls.must_land(
                "chat.postEphemeral",
                lambda: self.client.chat_postEphemeral(
                    channel=channel, user=user, text=text, thread_ts=thread_ts
                ),
                policy=self._once,
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            logger.warning("could not tell %s (%s): %s", user, failure_code(error), text)
