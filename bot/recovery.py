"""After a restart: answers that were streaming when the process died are marked interrupted.

Without this they would say "Thinking…" forever. Each gets a line saying what happened and a
Retry button that continues the run from its last checkpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import cards
from bot.runtime import BotRuntime

logger = logging.getLogger(__name__)


async def mark_interrupted_turns(runtime: BotRuntime) -> int:
    """Edit every answer left streaming; returns how many were marked."""
    marked = 0
    for turn in await runtime.store.interrupted_turns():
        place = turn.place
        try:
            replies = await runtime.client.conversations_replies(
                channel=place.channel,
                ts=place.thread_ts,
                latest=place.message_ts,
                inclusive=True,
                limit=200,
            )
            messages: list[dict[str, Any]] = replies.get("messages", [])
            message = next((m for m in messages if m.get("ts") == place.message_ts), {})
            kept = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
            await runtime.slack.update(
                place.channel,
                place.message_ts,
                message.get("text") or "Interrupted",
                kept + cards.interrupted_blocks(turn.thread_id),
            )
            marked += 1
        except SlackApiError:
            logger.warning("could not mark interrupted answer %s", place.message_ts, exc_info=True)
        await runtime.store.turn_ended(turn.turn_id)
    return marked
