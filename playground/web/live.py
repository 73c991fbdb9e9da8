"""Live updates for the page over server-sent events: what changed, as soon as it changes.

Every change in the workspace wakes each open page's stream, which sends the parts of that
person's view that differ from what it sent last (a conversation's messages, their modal…) and
the new lines of the API log. Bursts (a streamed answer edits its message many times a second)
are coalesced, so a page gets at most one update per `COALESCE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from playground.slack import SlackEmulator
from playground.web.snapshot import JSONObject, call_summary, state

COALESCE_SECONDS = 0.05
KEEPALIVE_SECONDS = 15.0
CALL_HISTORY = 500
"""A page that connects late gets at most this many past API calls."""


class ChangeFeed:
    """Wakes every subscribed stream on a change; `close()` ends them all (shutdown)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()
        self.closed = False

    def notify(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def close(self) -> None:
        self.closed = True
        self.notify()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Event]:
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            yield waiter
        finally:
            self._waiters.discard(waiter)


@dataclass
class _Sent:
    """What one stream already sent, so it sends only what changed."""

    calls: int
    parts: dict[str, str] = field(default_factory=dict)


def changed_parts(full: JSONObject, sent: _Sent) -> JSONObject:
    """The parts of `full` that differ from the last ones sent (each conversation separately)."""
    out: JSONObject = {}
    for key, value in full.items():
        if key == "messages":
            continue
        if _remember(sent, key, value):
            out[key] = value
    changed = {
        cid: msgs
        for cid, msgs in full["messages"].items()
        if _remember(sent, f"messages:{cid}", msgs)
    }
    if changed:
        out["messages"] = changed
    return out


async def stream(
    request: web.Request, slack: SlackEmulator, feed: ChangeFeed, settings: JSONObject, user: str
) -> web.StreamResponse:
    """The `text/event-stream` of `state` and `calls` events for one person's page."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    sent = _Sent(calls=max(0, len(slack.calls) - CALL_HISTORY))
    with feed.subscribe() as changed, contextlib.suppress(ConnectionError):
        while not feed.closed:
            changed.clear()
            parts = changed_parts(state(slack, settings, user), sent)
            if parts:
                await _send(response, "state", parts)
            if len(slack.calls) > sent.calls:
                new = slack.calls[sent.calls :]
                await _send(
                    response, "calls", [call_summary(sent.calls + i, c) for i, c in enumerate(new)]
                )
                sent.calls += len(new)
            try:
                await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
            await asyncio.sleep(COALESCE_SECONDS)
    return response


def _remember(sent: _Sent, key: str, value: Any) -> bool:
    encoded = json.dumps(value, sort_keys=True)
    if sent.parts.get(key) == encoded:
        return False
    sent.parts[key] = encoded
    return True


async def _send(response: web.StreamResponse, event: str, data: Any) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
