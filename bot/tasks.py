"""Background work the bot owns that need not survive a crash: kept referenced, drained at exit.

Bolt starts listener bodies without keeping a reference (pitfall 11), and a task nobody holds
can be garbage-collected mid-run. Work that must survive a crash goes through the inbox
(bot.conversations); what is left (telling a clicker their click was refused, retiring a stale
card's buttons) runs here, after the listener returns, so the ack does not wait on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class TaskSupervisor:
    """Runs jobs in the background and can wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, job: Job, *, name: str = "job") -> asyncio.Task[None]:
        """Start `job` now."""
        task = asyncio.create_task(self._run(job, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, grace_seconds: float) -> None:
        """Wait for running jobs to end; cancel what is left after the grace period."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2)

    @property
    def running(self) -> int:
        """How many jobs are running."""
        return len(self._tasks)

    @staticmethod
    async def _run(job: Job, name: str) -> None:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background job %s failed", name)
