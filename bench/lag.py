"""How late the bench's own event loop runs: the emulator, the mock model and the people all
live in it, so a busy loop here would inflate every latency the bench reports."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

TICK_SECONDS = 0.01
MAX_SAMPLES = 200_000


class LoopLag:
    """Sleeps `TICK_SECONDS` again and again and records how late each wake-up was."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        for _ in range(MAX_SAMPLES):
            before = time.monotonic()
            await asyncio.sleep(TICK_SECONDS)
            self.samples.append(max(0.0, time.monotonic() - before - TICK_SECONDS))

    @contextlib.contextmanager
    def running(self) -> Iterator[LoopLag]:
        """Measure for the duration of the block."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield self
        finally:
            self._task.cancel()
