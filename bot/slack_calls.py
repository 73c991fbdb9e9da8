"""Slack Web API calls that must land (cards, questions, ephemerals), within the shared budget.

The streamer handles its own calls; everything else the bot sends goes through `SlackCalls`,
which books each call with the workspace's rate limiter and waits out a 429's Retry-After
(pitfall 2) instead of dropping the call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.rate_limits import SlackRateLimiter

logger = logging.getLogger(__name__)

MAX_RATE_LIMITED = 5
Block = dict[str, Any]


class SlackCalls:
    """The few calls the bot makes outside streaming, each booked and retried on 429."""

    def __init__(self, client: AsyncWebClient, limiter: SlackRateLimiter) -> None:
        self.client = client
        self._limiter = limiter

    async def post(self, channel: str, thread_ts: str, text: str, blocks: list[Block]) -> str:
        """Post a reply in a thread; returns its ts."""
        response = await self._call(
            "chat.postMessage",
            channel,
            lambda: self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text, blocks=blocks
            ),
        )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        """Replace a message the bot posted (cards after a decision)."""
        await self._call(
            "chat.update",
            "",
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, parse="none"
            ),
        )

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        """Tell one person something only they see (a refused click, a stale button)."""
        try:
            await self._call(
                "chat.postEphemeral",
                "",
                lambda: self.client.chat_postEphemeral(
                    channel=channel, user=user, text=text, thread_ts=thread_ts
                ),
            )
        except SlackApiError:
            logger.warning("could not tell %s: %s", user, text, exc_info=True)

    async def _call(
        self, method: str, key: str, send: Callable[[], Awaitable[AsyncSlackResponse]]
    ) -> AsyncSlackResponse:
        attempt = 0
        while True:
            await self._limiter.acquire(method, key)
            try:
                return await send()
            except SlackApiError as exc:
                attempt += 1
                if exc.response.status_code != 429 or attempt >= MAX_RATE_LIMITED:
                    raise
                retry_after = float(exc.response.headers.get("Retry-After", 1))
                self._limiter.note_retry_after(method, retry_after)
