"""People talking in the bench channels while answers stream: every message is an event the
bot must verify, claim and ack, so its ack time shows how the bot answers Slack under load."""

from __future__ import annotations

import asyncio
import contextlib

from bench.conversations import Ack, post_as
from bench.workspace import APPROVER
from playground.slack import SlackEmulator


async def chatter(
    slack: SlackEmulator,
    channels: list[str],
    *,
    per_second: float,
    stop: asyncio.Event,
    max_events: int,
) -> list[Ack]:
    """Post at a steady pace (not waiting on acks) until `stop` is set or `max_events` are out."""
    interval = 1.0 / per_second
    sends: list[asyncio.Task[list[Ack]]] = []
    for n in range(max_events):
        if stop.is_set():
            break
        channel = channels[n % len(channels)]
        text = f"chatter {n}: lunch at noon?"
        sends.append(asyncio.create_task(_send(slack, channel, text)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    results = await asyncio.gather(*sends)
    return [ack for acks in results for ack in acks]


async def _send(slack: SlackEmulator, channel: str, text: str) -> list[Ack]:
    _, acks = await post_as(slack, APPROVER, channel, text, kind="chatter")
    return acks
