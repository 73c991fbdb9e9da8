"""Reminders and escalation for approvals nobody decided in time (a rule's `remind_after`).

When a pause has waited past its rule's `remind_after`, the thread mentions the deciders who
have not approved yet, and `escalate_to` become deciders too: they get the card by DM, and the
card says they may decide. Each pause is reminded once, across restarts and replicas: the
reminder is claimed first-wins before it is posted (a crash in between loses the reminder,
never doubles it; the card and its expiry still stand).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from agent import Pause
from bot import cards
from bot.inbox import Inbox
from bot.pause_messages import PauseMessages
from bot.runtime import BotRuntime
from bot.store import ThreadRef

logger = logging.getLogger(__name__)


class Reminders:
    """Posts each due reminder once, and sends the escalation's DMs."""

    def __init__(
        self,
        runtime: BotRuntime,
        pauses: PauseMessages,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runtime = runtime
        self._pauses = pauses
        self._clock = clock

    async def sweep(self) -> int:
        """Remind about every approval past its `remind_after`; returns how many were."""
        now = self._clock()
        reminded = 0
        for pause in await self._runtime.agent.waiting_pauses():
            remind_after = pause.rule.remind_after
            if pause.kind != "approval" or remind_after is None:
                continue
            if now < pause.created_at + remind_after:
                continue
            ref = await self._runtime.store.conversation(pause.thread_id)
            if ref is None or not await self._claim(pause):
                continue
            try:
                await self._remind(ref, pause)
            except Exception:
                logger.warning("could not remind about %s", pause.interrupt_id, exc_info=True)
                continue
            reminded += 1
        return reminded

    async def _claim(self, pause: Pause) -> bool:
        async with self._runtime.agent.database.transaction() as transaction:
            return await Inbox.claim(
                transaction, "reminder", f"{pause.thread_id}:{pause.interrupt_id}"
            )

    async def _remind(self, ref: ThreadRef, pause: Pause) -> None:
        runtime, pauses = self._runtime, self._pauses
        tally = await runtime.agent.tally(pause)
        waiting_on = [
            who
            for who in runtime.approvers.who(pause.rule)
            if who not in tally.approved_by and who != pause.requested_by
        ]
        escalating = bool(pause.rule.escalate_to)
        text = reminder_text(pause, waiting_on, len(tally.approved_by))
        if escalating:
            text += "\n" + escalation_text(pause.rule.escalate_to)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        marker = {"reminder": pause.interrupt_id}
        await pauses.slack.post(ref.channel, ref.thread_ts, text, blocks, marker=marker)
        await runtime.store.audit(
            thread_id=pause.thread_id,
            interrupt_id=pause.interrupt_id,
            action="reminded",
            actor="reminder",
            tool=pause.tool,
            detail=" ".join(waiting_on) or None,
        )
        if not escalating:
            return
        # Recorded first: from here on the escalation's people may decide (bot.approvers).
        await runtime.store.audit(
            thread_id=pause.thread_id,
            interrupt_id=pause.interrupt_id,
            action="escalated",
            actor="reminder",
            tool=pause.tool,
            detail=" ".join(pause.rule.escalate_to),
        )
        await pauses.send_copies(ref, pause, escalated=True, always=set(pause.rule.escalate_to))
        await pauses.refresh(ref, pause, tally)  # the card now names them as deciders


def reminder_text(pause: Pause, waiting_on: list[str], approvals: int) -> str:
    """The thread's reminder: who it waits on, how far the count is, when it expires."""
    mentions = " ".join(_mention(who) for who in waiting_on)
    what = f"*{cards.tool_in_words(pause.tool or '')}* is still waiting for a decision"
    count = (
        f" ({approvals} of {pause.rule.approvals} approvals so far)"
        if pause.rule.approvals > 1
        else ""
    )
    return f"⏰ {mentions + ': ' if mentions else ''}{what}{count}."


def escalation_text(escalate_to: tuple[str, ...]) -> str:
    """The line that says who may decide now too."""
    names = " ".join(_mention(who) for who in escalate_to)
    return f"⏫ Escalated to {names}: they can decide now too (the card is in their DMs)."


def _mention(who: str) -> str:
    return f"<!subteam^{who}>" if who.startswith("S") else f"<@{who}>"
