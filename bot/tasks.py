"""Background work the bot owns: kept referenced, ordered per conversation, drained at shutdown.

Bolt starts listener bodies without keeping a reference (pitfall 11), so anything that outlives
the ack goes through here: it cannot be garbage-collected mid-run, turns in one thread run one
after another in arrival order, and shutdown can wait for all of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class TaskSupervisor:
    """Runs jobs in the background; jobs sharing a key run in the order they were submitted."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}

    def submit(self, job: Job, *, key: str | None = None, name: str = "job") -> asyncio.Task[None]:
        """Start `job`; with a key, only after the previous job of that key has ended."""
        previous = self._tails.get(key) if key is not None else None
        task = asyncio.create_task(self._run(job, previous, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key is not None:
            self._tails[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
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
        """How many jobs are running or waiting their turn."""
        return len(self._tasks)

    @staticmethod
    async def _run(job: Job, previous: asyncio.Task[None] | None, name: str) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background job %s failed", name)

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(key) is task:
            del self._tails[key]
