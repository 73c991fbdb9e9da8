"""A monotonic clock tests move by hand, so rate limits, caches and expiry need no sleeping."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Call it for the time; `advance` moves it; `sleep` moves it as a real sleep would."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        await asyncio.sleep(0)  # let other waiters run, as a real sleep would
        self.now = max(self.now, target)
