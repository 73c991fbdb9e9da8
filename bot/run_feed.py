"""The events of the runs this process is running, for whoever watches them (the HTTP API).

The runner relays every run's events through here on their way to Slack (or to nobody, for a
conversation that lives only in the API), so a client can follow a run it started, a run a
decision continued, or re-attach to one already going: it gets the run's events from its first,
then each as it comes. The last run of each thread is kept after it ends, so a client that was
a moment late still reads how it ended; the next run of the thread replaces it.

In-process only: with several replicas a client sees the runs of the replica it is connected
to, and learns the outcome of a run elsewhere from the thread's state (http_api does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from agent import AgentEvent

KEEP_ENDED_SECONDS = 600.0
"""How long a finished run stays readable: a client reconnecting after a blip finds it."""


@dataclass
class _Run:
    """One run's events so far, and whether it ended."""

    item_id: int
    events: list[AgentEvent] = field(default_factory=list)
    ended: bool = False
    ended_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, event: AgentEvent) -> None:
        self.events.append(event)
        self._wake()

    def end(self) -> None:
        self.ended = True
        self.ended_at = time.monotonic()
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class RunFeed:
    """Per thread: the current (or last) run's events, replayed to each new watcher."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._started: dict[str, asyncio.Event] = {}

    async def relay(
        self, thread_id: str, item_id: int, events: AsyncGenerator[AgentEvent, None]
    ) -> AsyncGenerator[AgentEvent, None]:
        """Pass a run's events through unchanged, publishing each one first."""
        self._forget_old()
        run = _Run(item_id)
        self._runs[thread_id] = run
        self._started.pop(thread_id, asyncio.Event()).set()
        try:
            async for event in events:
                run.publish(event)
                yield event
        finally:
            run.end()
            await events.aclose()

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - KEEP_ENDED_SECONDS
        for thread_id, run in list(self._runs.items()):
            if run.ended and run.ended_at < cutoff:
                del self._runs[thread_id]

    async def next_start(self, thread_id: str) -> int:
        """Wait for the thread's next run to start here; its item."""
        started = self._started.setdefault(thread_id, asyncio.Event())
        await started.wait()
        return self._runs[thread_id].item_id

    def current(self, thread_id: str) -> int | None:
        """The item of the thread's run still going here, if one is."""
        run = self._runs.get(thread_id)
        return run.item_id if run is not None and not run.ended else None

    async def watch(self, thread_id: str, item_id: int | None = None) -> AsyncIterator[AgentEvent]:
        """The events of the thread's run (of `item_id`'s, when given; wait for it to start),
        from its first, until it ends. Without `item_id`: the run going now, or nothing."""
        run = self._runs.get(thread_id)
        while item_id is not None and (run is None or run.item_id < item_id):
            started = self._started.setdefault(thread_id, asyncio.Event())
            await started.wait()
            run = self._runs.get(thread_id)
        if run is None or (item_id is not None and run.item_id != item_id):
            return
        seen = 0
        while True:
            changed = run.changed
            while seen < len(run.events):
                seen += 1
                yield run.events[seen - 1]
            if run.ended:
                return
            await changed.wait()
