"""Slack Web API calls that must land (cards, questions, ephemerals), within the shared budget.

The streamer sends the answers; everything else the bot sends goes through `SlackCalls`. Both
go through bot.budgeted_calls, so each call is booked with the workspace's rate limiter and a
429's Retry-After is waited out (pitfall 2) instead of dropping the call. Other errors reach the
caller as Slack's client raised them, unretried: a retried post could land twice, and unlike the
streamer's posts it carries no marker to find the first one by.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.budgeted_calls import BudgetedCalls, RetryPolicy
from bot.rate_limits import DECISION_CARDS, SlackRateLimiter

logger = logging.getLogger(__name__)

POLICY = RetryPolicy(max_rate_limited=4, transient_retries=0)
"""Five tries through 429s; any other error at once, to the caller."""
Block = dict[str, Any]


class SlackCalls:
    """The few calls the bot makes outside streaming, each booked and retried on 429."""

    def __init__(self, client: AsyncWebClient, limiter: SlackRateLimiter) -> None:
        self.client = client
        self._calls = BudgetedCalls(limiter, POLICY, logger)

    async def post(self, channel: str, thread_ts: str, text: str, blocks: list[Block]) -> str:
        """Post a reply in a thread; returns its ts."""
        response = await self._calls.must_land(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text, blocks=blocks
            ),
            key=channel,
        )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        """Replace a message the bot posted (cards after a decision), in the cards' own lane."""
        await self._calls.must_land(
            DECISION_CARDS,
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, parse="none"
            ),
        )

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        """Tell one person something only they see (a refused click, a stale button)."""
        try:
            await self._calls.must_land(
                "chat.postEphemeral",
                lambda: self.client.chat_postEphemeral(
                    channel=channel, user=user, text=text, thread_ts=thread_ts
                ),
            )
        except SlackApiError:
            logger.warning("could not tell %s: %s", user, text, exc_info=True)
