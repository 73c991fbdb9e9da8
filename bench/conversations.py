"""One person's side of a conversation: post (signed events, each POST timed), click, record.

Events are delivered one POST at a time so each ack is timed on its own: a mention in a channel
arrives as both `app_mention` and `message`, concurrently, exactly as the emulator's
`user_says` delivers them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

from bench import model
from bench.workspace import APPROVER, ASKER
from playground.slack import Message, SlackEmulator
from playground.slack.payloads import app_mention_event, message_event

APPROVE_ACTION = "countersign_approve"
"""The card's Approve button (bot.cards.APPROVE; not imported, the bench stays out of bot/)."""

ConversationKind = Literal["chat", "approval"]


@dataclass(frozen=True, slots=True)
class Ack:
    """One POST to the bot and its answer: when it was sent, how long the answer took."""

    kind: str
    sent_at: float
    seconds: float
    status: int


@dataclass
class ConversationRun:
    """What the bench did in one conversation, with monotonic times."""

    index: int
    channel: str
    kind: ConversationKind
    tag: str = ""
    root_ts: str = ""
    started_at: float = 0.0
    acks: list[Ack] = field(default_factory=list)
    card_ts: str | None = None
    clicked_at: float | None = None
    click: Ack | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        self.tag = self.tag or model.tag(self.index)


async def deliver_timed(slack: SlackEmulator, kind: str, event: dict[str, object]) -> Ack:
    """Deliver one event in its own signed POST and time the answer."""
    sent = time.monotonic()
    delivery = await slack.deliver_event(event)
    return Ack(kind, sent, time.monotonic() - sent, delivery.status)


async def post_as(
    slack: SlackEmulator, user: str, channel: str, text: str, *, kind: str = ""
) -> tuple[Message, list[Ack]]:
    """A person posts `text` (Slack wire syntax); its events are delivered and timed."""
    message, _ = await slack.user_says(user, channel, text, deliver=False)
    conversation = slack.workspace.channels[channel]
    events: list[tuple[str, dict[str, object]]] = [
        (kind or "message", message_event(slack.workspace, message, conversation))
    ]
    if f"<@{slack.bot_user_id}>" in text:
        events.insert(0, (kind or "app_mention", app_mention_event(slack.workspace, message)))
    acks = await asyncio.gather(*(deliver_timed(slack, k, e) for k, e in events))
    return message, list(acks)


async def start(slack: SlackEmulator, run: ConversationRun, text: str) -> None:
    """Mention the bot in the conversation's channel; the message is the thread's root."""
    run.started_at = time.monotonic()
    message, run.acks = await post_as(slack, ASKER, run.channel, f"<@{slack.bot_user_id}> {text}")
    run.root_ts = message.ts


async def chat(slack: SlackEmulator, run: ConversationRun) -> None:
    """Ask for a long answer; the phase waits for the bot to finish."""
    await start(slack, run, model.chat_question(run.tag))


def approval_card(slack: SlackEmulator, run: ConversationRun) -> Message | None:
    """The bot's message in the thread that shows an Approve button, if any."""
    for message in slack.bot_messages(run.channel, run.root_ts):
        if any(b.get("action_id") == APPROVE_ACTION for b in message.buttons()):
            return message
    return None


async def approval(
    slack: SlackEmulator, run: ConversationRun, *, think_seconds: float, wait_seconds: float
) -> None:
    """Ask to save a note, wait for the card, look at it, click Approve (timed)."""
    await start(slack, run, model.note_request(run.tag))
    try:
        await slack.wait_until(lambda: approval_card(slack, run) is not None, timeout=wait_seconds)
    except AssertionError:
        run.error = f"no approval card within {wait_seconds:.0f} s"
        return
    card = approval_card(slack, run)
    assert card is not None
    run.card_ts = card.ts
    await asyncio.sleep(think_seconds)
    run.clicked_at = time.monotonic()
    delivery = await slack.click(APPROVER, run.channel, card.ts, APPROVE_ACTION)
    run.click = Ack("click", run.clicked_at, time.monotonic() - run.clicked_at, delivery.status)
