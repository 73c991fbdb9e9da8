"""Hand streamed text on in batches rather than one write per token.

Every write to LangGraph's stream writer costs a `call_soon_threadsafe`, a queue hop, an event
object and a bot-side append; per token that was a large share of the bot's CPU while answers
stream (bench, issue 5). Slack shows new text at most about once a second per answer, so batching
the pieces that arrive within `interval` changes nothing people see: the first piece of a run
still goes out at once, later ones within `interval` of arriving, and `flush()` at the node's
end (or before a failure is reported) hands on whatever is left, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

TEXT_BATCH_SECONDS = 0.1
"""Longest a piece of text waits for company before it is written."""


class TextBatcher:
    """Collects text pieces; writes them joined, at most once per `interval` (first one at once)."""

    def __init__(self, write: Callable[[str], None], interval: float = TEXT_BATCH_SECONDS) -> None:
        self._write = write
        self._interval = interval
        self._pending: list[str] = []
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def add(self, text: str) -> None:
        """Take one piece; it is written now if the last write is `interval` old, else soon."""
        if not text:
            return
        self._pending.append(text)
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last + self._interval - loop.time()
        if wait <= 0:
            self.flush()
        else:
            self._timer = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Write whatever waits, now (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._last = asyncio.get_running_loop().time()
        self._write(text)
