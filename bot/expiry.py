"""Expire pauses nobody answered in time, driven from the database so it survives restarts.

An expiry is a decision like a click: stored first-wins with the inbox item that applies it,
so a pause decided at the last second is never also expired.
"""

from __future__ import annotations

import asyncio
import logging

from agent import Expire, ResumeRefused
from bot.conversations import Conversations
from bot.reminders import Reminders
from bot.runtime import BotRuntime

logger = logging.getLogger(__name__)


class ExpirySweeper:
    """Finds pauses older than their rule's `expires_after` (else APPROVAL_TTL_SECONDS) and
    decides them as expired."""

    def __init__(self, runtime: BotRuntime, conversations: Conversations) -> None:
        self._runtime = runtime
        self._conversations = conversations
        self._reminders = Reminders(runtime, conversations.pauses)

    def interval(self) -> float:
        """How often to look: often enough to be on time, rarely enough to cost nothing."""
        return max(0.2, min(30.0, self._runtime.settings.approval_ttl_seconds / 10))

    async def run_forever(self) -> None:
        """Remind and expire now (catching up after a restart), then at every interval."""
        while True:
            try:
                await self._reminders.sweep()
                await self.sweep()
            except Exception:
                logger.exception("expiry sweep failed; trying again later")
            await asyncio.sleep(self.interval())

    async def sweep(self) -> int:
        """Decide every overdue pause as expired; returns how many were."""
        runtime = self._runtime
        expired = 0
        for pause in await runtime.agent.expired_pauses(runtime.settings.approval_ttl_seconds):
            refused = await self._conversations.accept_decision(
                pause.thread_id, pause.interrupt_id, Expire(), None
            )
            if not isinstance(refused, ResumeRefused):
                expired += 1
            else:
                logger.info("pause %s was decided before it expired", pause.interrupt_id)
        return expired
