"""Incoming messages: which ones start or continue a conversation, each handled exactly once.

A mention in a channel, a DM, or a reply in a thread the bot already answers starts a turn (or
answers the question the thread waits on). Slack delivers at least once (retries, and a mention
arrives as both `app_mention` and `message`), so every event is claimed by `event_id`, and every
message by (channel, ts), in the database, in the same transaction as its inbox item: a retry
after a restart is still recognised, and an acked message is never lost (pitfalls 8, 9, 31).
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from bot.conversations import Conversations
from bot.runtime import BotRuntime
from bot.store import ThreadRef

logger = logging.getLogger(__name__)

# Subtypes that are people writing; everything else (edits, deletions, joins…) is acked and ignored.
CONVERSATIONAL_SUBTYPES = ("thread_broadcast", "file_share")


def clean_text(text: str, bot_user_id: str) -> str:
    """The text the agent sees: without the bot's own mention, with Slack's entities decoded."""
    without_mention = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    return html.unescape(without_mention).strip()


class MessageHandler:
    """Turns message events into inbox items, before Slack is acked."""

    def __init__(self, runtime: BotRuntime, conversations: Conversations) -> None:
        self._runtime = runtime
        self._conversations = conversations

    async def on_event(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Bolt's listener: accept the message durably; Slack gets its ack when this returns."""
        subtype = event.get("subtype")
        if subtype is not None and subtype not in CONVERSATIONAL_SUBTYPES or event.get("bot_id"):
            return
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not all(isinstance(value, str) and value for value in (user, channel, ts)):
            return
        if user == self._runtime.identity.user_id:
            return
        text = event.get("text")
        text = text if isinstance(text, str) else ""
        thread_ts = event.get("thread_ts")
        team = body.get("team_id")
        ref = ThreadRef(
            team if isinstance(team, str) and team else self._runtime.identity.team_id,
            str(channel),
            thread_ts if isinstance(thread_ts, str) and thread_ts else str(ts),
        )
        if not await self._is_for_us(event, ref, text):
            return
        event_id = body.get("event_id")
        await self._conversations.accept_message(
            ref,
            str(user),
            clean_text(text, self._runtime.identity.user_id),
            ts=str(ts),
            event_id=event_id if isinstance(event_id, str) else None,
        )

    async def _is_for_us(self, event: dict[str, Any], ref: ThreadRef, text: str) -> bool:
        if event.get("type") == "app_mention" or event.get("channel_type") == "im":
            return True
        if f"<@{self._runtime.identity.user_id}" in text:
            return True  # a mention seen as a `message`: answered once with its twin
        replying = event.get("thread_ts") not in (None, event.get("ts"))
        return replying and await self._runtime.store.is_conversation(ref.thread_id)
