"""Expire pauses nobody answered in time, driven from the database so it survives restarts."""

from __future__ import annotations

import asyncio
import functools
import logging

from agent import Expire
from bot.decisions import decide
from bot.runtime import BotRuntime
from bot.store import ThreadRef

logger = logging.getLogger(__name__)


class ExpirySweeper:
    """Finds pauses older than APPROVAL_TTL_SECONDS and resumes them as expired."""

    def __init__(self, runtime: BotRuntime) -> None:
        self._runtime = runtime
        self._in_flight: set[str] = set()

    def interval(self) -> float:
        """How often to look: often enough to be on time, rarely enough to cost nothing."""
        return max(0.2, min(30.0, self._runtime.settings.approval_ttl_seconds / 10))

    async def run_forever(self) -> None:
        """Sweep now (catching up after a restart), then at every interval."""
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("expiry sweep failed; trying again later")
            await asyncio.sleep(self.interval())

    async def sweep(self) -> int:
        """Queue every overdue pause for expiry; returns how many were queued."""
        runtime = self._runtime
        queued = 0
        for pause in await runtime.agent.expired_pauses(runtime.settings.approval_ttl_seconds):
            if pause.interrupt_id in self._in_flight:
                continue
            ref = await runtime.store.conversation(pause.thread_id)
            if ref is None:
                logger.warning("pause %s has no Slack thread; cannot expire it", pause.interrupt_id)
                continue
            self._in_flight.add(pause.interrupt_id)
            runtime.tasks.submit(
                functools.partial(self._expire, ref, pause.interrupt_id),
                key=pause.thread_id,
                name=f"expire {pause.interrupt_id}",
            )
            queued += 1
        return queued

    async def _expire(self, ref: ThreadRef, interrupt_id: str) -> None:
        try:
            refused = await decide(self._runtime, ref, interrupt_id, Expire(), actor=None)
            if refused is not None:
                logger.info("pause %s was decided before it expired", interrupt_id)
        finally:
            self._in_flight.discard(interrupt_id)
