"""Slack's agent view in the Messages tab: suggested prompts, and Slack's own Stop.

`agent_view` in the manifest makes the DM with the bot Slack's agent experience. When someone
opens it (`app_home_opened`, tab `messages`) the bot offers the prompts below; they are the
manifest's `suggested_prompts` too, so a new conversation looks the same either way. While an
answer streams, Slack shows its own Stop button; pressing it sends `agent_session_stopped`,
which stops the run exactly as the Stop button on an answer does (who may stop is checked the
same way). Without that subscription Slack's Stop does nothing and the status stays
"processing" for an hour (pitfall 39).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.budgeted_calls import BudgetedCalls
from bot.conversations import Conversations
from bot.request_checks import obj, text
from bot.runtime import BotRuntime
from bot.store import ThreadRef

logger = logging.getLogger(__name__)

SUGGESTED_PROMPTS: tuple[tuple[str, str], ...] = (
    ("What can you do?", "What can you do, and what do you ask before doing?"),
    ("Save a note", "Save a note: the deploy is on Thursday"),
    ("Search my notes", "Search my notes for deploy"),
)
"""(title, message): what the agent view offers when a conversation opens; the manifest's
`agent_view.suggested_prompts` list the same."""
PROMPTS_TITLE = "Try one of these"


class AgentView:
    """Listeners for the agent view's events."""

    def __init__(self, runtime: BotRuntime, conversations: Conversations) -> None:
        self._runtime = runtime
        self._conversations = conversations

    async def on_session_stopped(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Slack's Stop: stop whatever the thread is running, as the Stop button would."""
        await ack()
        event = obj(body, "event")
        user, channel = text(event, "user"), text(event, "channel")
        thread_ts = text(event, "thread_ts")
        if not (user and channel and thread_ts):
            logger.warning("agent_session_stopped without user, channel or thread_ts: ignored")
            return
        team = text(body, "team_id") or self._runtime.identity.team_id
        ref = ThreadRef(team, channel, thread_ts)
        refusal = await self._conversations.stop_thread(ref.thread_id, user)
        if refusal is not None:
            logger.info("Slack's Stop in %s did nothing: %s", ref.thread_id, refusal)

    async def on_messages_opened(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """`app_home_opened` for the Messages tab (the Home tab has its own listener): offer
        the suggested prompts in the DM."""
        await ack()
        channel = text(obj(body, "event"), "channel")
        if channel:  # after the ack: Slack hears back when this listener returns
            self._runtime.tasks.submit(lambda: self.offer_prompts(channel), name="prompts")

    async def offer_prompts(self, channel: str) -> None:
        """Suggested prompts for the DM someone just opened (best effort)."""
        prompts = [{"title": title, "message": message} for title, message in SUGGESTED_PROMPTS]

        async def send() -> Any:
            return await self._runtime.client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, title=PROMPTS_TITLE, prompts=prompts
            )

        calls = BudgetedCalls(self._runtime.limiter, logger=logger)
        await calls.best_effort("assistant.threads.setSuggestedPrompts", send, about=channel)
