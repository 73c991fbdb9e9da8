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
from typing import Any, Literal

from slack_bolt.context.ack.async_ack import AsyncAck

from bot import log_context
from bot.conversations import Conversations
from bot.request_checks import obj, text
from bot.runtime import BotRuntime
from bot.store import ThreadRef

logger = logging.getLogger(__name__)

Audience = Literal["us", "maybe", "others"]

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

    async def on_event(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Bolt's listener: accept the message durably; Slack gets its ack when this returns.

        Fields of the wrong type raise PayloadError (acked and logged by bot.listeners).
        """
        event = obj(body, "event")
        subtype = text(event, "subtype")
        if (subtype is not None and subtype not in CONVERSATIONAL_SUBTYPES) or event.get("bot_id"):
            return
        user, channel, ts = text(event, "user"), text(event, "channel"), text(event, "ts")
        if not (user and channel and ts) or user == self._runtime.identity.user_id:
            return
        said = text(event, "text") or ""
        ref = ThreadRef(
            text(body, "team_id") or self._runtime.identity.team_id,
            channel,
            text(event, "thread_ts") or ts,
        )
        log_context.learned(thread=ref.thread_id)
        audience = await self._audience(event, ref, said)
        if audience == "others":
            return
        await self._conversations.accept_message(
            ref,
            user,
            clean_text(said, self._runtime.identity.user_id),
            ts=ts,
            event_id=text(body, "event_id"),
            early=audience == "maybe",
        )

    async def _audience(self, event: dict[str, Any], ref: ThreadRef, said: str) -> Audience:
        """Whether a message is for the bot; "maybe" for a reply in a thread not (yet) its own.

        The mention that starts a thread can reach the bot after a reply in it: Slack retries a
        delivery the bot missed (a restart) a minute later. Such a reply is kept for a while and
        answered after the mention, if one comes.
        """
        if event.get("type") == "app_mention" or event.get("channel_type") == "im":
            return "us"
        if f"<@{self._runtime.identity.user_id}" in said:
            return "us"  # a mention seen as a `message`: answered once with its twin
        if ref.thread_ts == text(event, "ts"):
            return "others"
        return "us" if await self._runtime.store.is_conversation(ref.thread_id) else "maybe"
