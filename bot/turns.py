"""Render one agent run into a Slack thread: the streamed answer, progress, pauses, failures.

The run's events arrive from the agent; this module owns the MessageStreamer for the answer,
posts the approval card or the question when the run pauses, and records where they are so a
click hours later (or after a restart) finds them.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from agent import (
    AgentEvent,
    ApprovalRequested,
    Failed,
    Finished,
    Pause,
    QuestionAsked,
    Resumed,
    TextDelta,
    ThreadPaused,
    ToolFinished,
    ToolStarted,
)
from bot import cards
from bot.runtime import BotRuntime
from bot.store import SlackPlace, ThreadRef
from bot.streaming import MessageStreamer, StreamError

logger = logging.getLogger(__name__)

PROGRESS = {
    "search_notes": "🔎 Searching notes…",
    "save_note": "📝 Saving the note…",
}


def progress_line(tool: str) -> str:
    """What people see while a tool runs."""
    return PROGRESS.get(tool, f"⚙️ Running {cards.tool_in_words(tool)}…")


async def render_run(
    runtime: BotRuntime,
    ref: ThreadRef,
    events: AsyncGenerator[AgentEvent, None],
    started_by: str,
    status: str = "Thinking…",
) -> None:
    """Stream one run into the thread; always leaves the messages in a final state."""
    streamer = MessageStreamer(
        runtime.client,
        channel=ref.channel,
        thread_ts=ref.thread_ts,
        limiter=runtime.limiter,
        settings=runtime.streamer_settings,
    )
    await streamer.start(status)
    turn_id = uuid.uuid4().hex
    assert streamer.ts is not None  # start() posted the first message
    await runtime.store.turn_started(
        turn_id, ref.thread_id, SlackPlace(ref.channel, ref.thread_ts, streamer.ts), started_by
    )
    runtime.running_turns[ref.thread_id] = started_by
    streamer.set_actions(cards.stop_actions(ref.thread_id))
    try:
        async with contextlib.aclosing(events):
            await _consume(runtime, ref, events, streamer)
    except ThreadPaused as paused:
        await streamer.finish(footer=await pointer_to(runtime, paused.pause.thread_id))
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("rendering a run in %s failed [%s]", ref.thread_id, reference)
        if streamer.state == "streaming":
            with contextlib.suppress(StreamError):
                await streamer.fail("Something went wrong on our side.", reference)
    finally:
        runtime.running_turns.pop(ref.thread_id, None)
        if streamer.state == "streaming":
            await streamer.aclose()
        await runtime.store.turn_ended(turn_id)


async def _consume(
    runtime: BotRuntime,
    ref: ThreadRef,
    events: AsyncGenerator[AgentEvent, None],
    streamer: MessageStreamer,
) -> None:
    async for event in events:
        if isinstance(event, TextDelta):
            await streamer.append(event.text)
        elif isinstance(event, ToolStarted):
            streamer.set_status(progress_line(event.tool))
        elif isinstance(event, ToolFinished):
            streamer.set_status(None)
        elif isinstance(event, Finished):
            await streamer.finish(footer="⏹ Stopped." if event.stopped else None)
        elif isinstance(event, Failed):
            logger.warning(
                "run failed in %s [%s]: %s", ref.thread_id, event.reference, event.message
            )
            await streamer.fail(event.message, event.reference)
        elif isinstance(event, ApprovalRequested):
            await streamer.finish(footer="Waiting for approval ↓")
            await post_approval(runtime, ref, event)
        elif isinstance(event, QuestionAsked):
            await streamer.finish(footer=None if streamer.text else "Waiting for an answer ↓")
            await post_question(runtime, ref, event)
        elif isinstance(event, Resumed):
            continue


def approval_card(
    runtime: BotRuntime, pause: Pause, arguments: dict[str, Any] | None = None
) -> cards.ApprovalCard:
    """The card for a pause (showing `arguments` when they differ, e.g. edited), with its expiry."""
    return cards.ApprovalCard(
        ref=cards.PauseRef(pause.thread_id, pause.interrupt_id),
        tool=pause.tool or "",
        arguments=dict(pause.arguments if arguments is None else arguments),
        reason=pause.reason,
        requested_by=pause.requested_by,
        expires_at=pause.created_at + runtime.settings.approval_ttl_seconds,
    )


async def post_approval(runtime: BotRuntime, ref: ThreadRef, event: ApprovalRequested) -> None:
    """Post the Approve / Deny card and remember where it is."""
    card = cards.ApprovalCard(
        ref=cards.PauseRef(ref.thread_id, event.interrupt_id),
        tool=event.tool,
        arguments=dict(event.arguments),
        reason=event.reason,
        requested_by=event.requested_by,
        expires_at=time.time() + runtime.settings.approval_ttl_seconds,
    )
    ts = await runtime.slack.post(
        ref.channel, ref.thread_ts, cards.approval_fallback_text(card), cards.approval_blocks(card)
    )
    await runtime.store.remember_pause(
        ref.thread_id,
        event.interrupt_id,
        "approval",
        SlackPlace(ref.channel, ref.thread_ts, ts),
        event.requested_by,
    )


async def post_question(runtime: BotRuntime, ref: ThreadRef, event: QuestionAsked) -> None:
    """Ask in the thread, mentioning who should answer, and remember where."""
    anyone = runtime.settings.ask_human_responders == "anyone"
    ts = await runtime.slack.post(
        ref.channel,
        ref.thread_ts,
        cards.question_text(event.asked_of, event.question),
        cards.question_blocks(event.asked_of, event.question, anyone),
    )
    await runtime.store.remember_pause(
        ref.thread_id,
        event.interrupt_id,
        "question",
        SlackPlace(ref.channel, ref.thread_ts, ts),
        event.asked_of,
    )


async def pointer_to(runtime: BotRuntime, thread_id: str) -> str:
    """One line pointing at what the thread waits on (for messages sent while it is paused)."""
    pause = await runtime.agent.pending(thread_id)
    if pause is None:
        return "This conversation is busy; try again in a moment."
    place = await runtime.store.pause_place(thread_id, pause.interrupt_id)
    where = "above"
    if place is not None:
        with contextlib.suppress(Exception):
            link = await runtime.client.chat_getPermalink(
                channel=place.channel, message_ts=place.message_ts
            )
            where = f"<{link['permalink']}|above>"
    if pause.kind == "approval":
        return (
            f"⏸ I'm waiting for a decision on *{cards.tool_in_words(pause.tool or '')}* "
            f"({where}) before I continue."
        )
    return f"⏸ I'm waiting for <@{pause.requested_by}> to answer my question ({where})."
