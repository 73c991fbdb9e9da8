"""Incoming messages: which ones start or continue a conversation, each handled exactly once.

A mention in a channel, a DM, or a reply in a thread the bot already answers starts a turn.
Slack delivers at least once (retries, and a mention arrives as both `app_mention` and
`message`), so every event is claimed by `event_id`, and every message by (channel, ts), in
the database: a retry after a restart is still recognised (pitfalls 8, 9).
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from agent import Answer, Pause
from bot.decisions import decide
from bot.runtime import BotRuntime
from bot.store import ThreadRef
from bot.turns import pointer_to, render_run

logger = logging.getLogger(__name__)

# Subtypes that are people writing; everything else (edits, deletions, joins…) is acked and ignored.
CONVERSATIONAL_SUBTYPES = {None, "thread_broadcast", "file_share"}


def clean_text(text: str, bot_user_id: str) -> str:
    """The text the agent sees: without the bot's own mention, with Slack's entities decoded."""
    without_mention = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text)
    return html.unescape(without_mention).strip()


class MessageHandler:
    """Turns message events into agent turns (or answers to the agent's questions)."""

    def __init__(self, runtime: BotRuntime) -> None:
        self._runtime = runtime

    async def on_event(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Bolt's listener (after the ack): hand over to a task the bot owns (pitfall 11)."""
        self._runtime.tasks.submit(lambda: self._receive(body, event), name="receive event")

    async def _receive(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Claim the event and the message, then queue the turn in its thread."""
        runtime = self._runtime
        if event.get("subtype") not in CONVERSATIONAL_SUBTYPES or event.get("bot_id"):
            return
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not (user and channel and ts) or user == runtime.identity.user_id:
            return
        event_id = body.get("event_id")
        if event_id and not await runtime.store.claim("event", str(event_id)):
            logger.info("duplicate delivery of %s ignored", event_id)
            return
        text = str(event.get("text", ""))
        ref = ThreadRef(
            str(body.get("team_id") or runtime.identity.team_id),
            str(channel),
            str(event.get("thread_ts") or ts),
        )
        if not await self._is_for_us(event, ref, text):
            return
        if not await runtime.store.claim("message", f"{channel}:{ts}"):
            return  # the other half of an app_mention / message pair
        runtime.tasks.submit(
            lambda: self._handle(ref, str(user), clean_text(text, runtime.identity.user_id)),
            key=ref.thread_id,
            name=f"message {channel}:{ts}",
        )

    async def _is_for_us(self, event: dict[str, Any], ref: ThreadRef, text: str) -> bool:
        if event.get("type") == "app_mention" or event.get("channel_type") == "im":
            return True
        if f"<@{self._runtime.identity.user_id}" in text:
            return True  # a mention seen as a `message`: answered once with its twin
        replying = event.get("thread_ts") not in (None, event.get("ts"))
        return replying and await self._runtime.store.is_conversation(ref.thread_id)

    async def _handle(self, ref: ThreadRef, user: str, text: str) -> None:
        """Runs in the thread's queue: one turn at a time, in arrival order."""
        runtime = self._runtime
        pause = await runtime.agent.pending(ref.thread_id)
        if pause is not None:
            await self._while_paused(ref, user, text, pause)
            return
        if not text:
            text = "Hi!"
        await runtime.store.remember_conversation(ref)
        await render_run(runtime, ref, runtime.agent.start(ref.thread_id, text, user), user)

    async def _while_paused(self, ref: ThreadRef, user: str, text: str, pause: Pause) -> None:
        """A reply may answer the pending question; anything else is pointed at the pause."""
        runtime = self._runtime
        anyone = runtime.settings.ask_human_responders == "anyone"
        if pause.kind == "question" and text and (anyone or user == pause.requested_by):
            await decide(runtime, ref, pause.interrupt_id, Answer(text), actor=user)
            return
        await runtime.slack.post(
            ref.channel,
            ref.thread_ts,
            "Waiting on a decision",
            [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": await pointer_to(runtime, ref.thread_id)},
                }
            ],
        )
