"""Render one agent run into a Slack thread: the streamed answer, progress, pauses, failures.

The run's events arrive from the agent; this module owns the MessageStreamer of the answer and
hands pauses to PauseMessages. Every answer belongs to one inbox item and is tagged with the
item's answer id, so a second attempt at the item (after a crash or a deploy) finds the
messages the first one posted and replaces them: one answer, never two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from agent import (
    AgentEvent,
    ApprovalRequested,
    Failed,
    Finished,
    QuestionAsked,
    Resumed,
    TextDelta,
    ToolDenied,
    ToolFinished,
    ToolStarted,
)
from bot import cards, feedback
from bot.agent_session import WAITING_FOR_ANSWER, WAITING_FOR_APPROVAL, AgentSession
from bot.answer_messages import answer_pieces
from bot.budgeted_calls import BudgetedCalls
from bot.native_stream import NativeStreamer
from bot.pause_messages import PauseMessages
from bot.runtime import BotRuntime
from bot.store import ThreadRef
from bot.streaming import MessageStreamer, StreamError

logger = logging.getLogger(__name__)

PROGRESS = {
    "search_notes": "🔎 Searching notes…",
    "save_note": "📝 Saving the note…",
}
PAUSED_FOR_RESTART = "⏸ Paused for a restart — continuing when the bot is back."
INTERRUPTED_TWICE = (
    "⚠️ Interrupted twice in a row (the bot restarted while working on this). "
    "Press Retry to continue from where it stopped."
)
LANDING_SECONDS = 5.0
"""How long a shutdown waits for an interrupted answer's last edit."""


def progress_line(tool: str) -> str:
    """What people see while a tool runs."""
    return PROGRESS.get(tool, f"⚙️ Running {cards.tool_in_words(tool)}…")


def refusal_line(event: ToolDenied) -> str:
    """What people see when the policy refuses a call: it is part of the answer, in order."""
    return f"\n\n🚫 Not run: {cards.tool_in_words(event.tool)}. {event.reason}\n\n"


@dataclass(frozen=True)
class AnswerPlace:
    """Where one item's answer goes and who may stop it."""

    ref: ThreadRef
    answer_id: str
    stop_value: str
    """The Stop button's value: it names this item, so a stale button stops nothing else."""
    adopt: bool
    """An earlier attempt may have posted messages of this answer: find and replace them."""
    asker: str | None = None
    """Who the answer is for: in a DM, the person a native stream is shown to."""
    title: str | None = None
    """What the conversation is about, for the agent view's session title (a new turn)."""

    @property
    def in_dm(self) -> bool:
        """A direct message with the bot (Slack's IM ids start with D): the agent view."""
        return self.ref.channel.startswith("D") and self.asker is not None


AnswerStream = MessageStreamer | NativeStreamer


class TurnRenderer:
    """Streams runs into threads: one streamer per answer, natively in DMs."""

    def __init__(self, runtime: BotRuntime, pauses: PauseMessages) -> None:
        self._runtime = runtime
        self._agent = runtime.agent
        self._pauses = pauses

    async def render(
        self,
        answer: AnswerPlace,
        events: AsyncGenerator[AgentEvent, None],
        status: str = "Thinking…",
        on_tool: Callable[[ToolStarted], Awaitable[None]] | None = None,
    ) -> None:
        """Stream one run into the thread; always leaves its messages in a final state.

        Cancelled (a shutdown past its grace period), the answer lands what it has with a note
        that it continues after the restart, and the cancellation goes on.
        """
        started = time.perf_counter()
        metrics = self._runtime.metrics
        session = self._session(answer)
        streamer = await self._streamer(
            answer, lambda: metrics.first_visible_text(time.perf_counter() - started), session
        )
        try:
            await streamer.start(status)
        except StreamError as refused:  # logged where Slack refused it: no place to answer in
            logger.warning("no answer in %s: %s", answer.ref.thread_id, refused)
            return
        streamer.set_actions(cards.stop_actions(answer.stop_value))
        try:
            async with contextlib.aclosing(events):
                await self._consume(answer, events, streamer, on_tool, session)
        except asyncio.CancelledError:
            if streamer.state == "streaming":
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        asyncio.shield(streamer.finish(footer=PAUSED_FOR_RESTART)),
                        LANDING_SECONDS,
                    )
            raise
        except StreamError as refused:  # logged where Slack refused it: one more line is enough
            logger.warning("the answer in %s was cut short: %s", answer.ref.thread_id, refused)
        except Exception:
            reference = uuid.uuid4().hex[:8]
            logger.exception("rendering a run in %s failed [%s]", answer.ref.thread_id, reference)
            if streamer.state == "streaming":
                with contextlib.suppress(StreamError):
                    await streamer.fail("Something went wrong on our side.", reference)
        finally:
            if streamer.state == "streaming":
                await streamer.aclose()

    async def show(
        self, answer: AnswerPlace, footer: str, actions: list[cards.Block] | None
    ) -> None:
        """Put a final line (and buttons) on an answer without running anything."""
        streamer = await self._streamer(answer)
        await streamer.start(footer)
        await streamer.finish(footer=footer, actions=actions)

    def _session(self, answer: AnswerPlace) -> AgentSession | None:
        """The agent view's status line and session, for an answer in a DM."""
        if not answer.in_dm:
            return None
        return AgentSession(
            self._runtime.client,
            BudgetedCalls(self._runtime.limiter, logger=logger),
            channel=answer.ref.channel,
            thread_ts=answer.ref.thread_ts,
        )

    async def _streamer(
        self,
        answer: AnswerPlace,
        on_first_text: Callable[[], None] | None = None,
        session: AgentSession | None = None,
    ) -> AnswerStream:
        """A native stream in a DM (a fresh answer), edits anywhere else or after a restart."""
        ref = answer.ref
        limiter = self._runtime.limiter
        settings = self._runtime.streamer_settings
        adopted: list[str] = []
        if answer.adopt:
            calls = BudgetedCalls(limiter, logger=logger)
            adopted = await answer_pieces(
                self._runtime.client, calls, ref.channel, ref.thread_ts, answer.answer_id
            )

        def edits(adopt: Sequence[str]) -> MessageStreamer:
            return MessageStreamer(
                self._runtime.client,
                channel=ref.channel,
                thread_ts=ref.thread_ts,
                limiter=limiter,
                settings=settings,
                answer_id=answer.answer_id,
                adopt=adopt,
                on_first_text=on_first_text,
                later=lambda job: self._runtime.tasks.submit(job, name="answer-last-touches"),
            )

        if session is None or answer.asker is None or adopted:
            return edits(adopted)
        return NativeStreamer(
            self._runtime.client,
            channel=ref.channel,
            thread_ts=ref.thread_ts,
            recipient_user=answer.asker,
            recipient_team=ref.team_id,
            limiter=limiter,
            session=session,
            fallback=edits,
            title=answer.title,
            min_interval=settings.min_interval,
            logger=logger,
        )

    async def _consume(
        self,
        answer: AnswerPlace,
        events: AsyncGenerator[AgentEvent, None],
        streamer: AnswerStream,
        on_tool: Callable[[ToolStarted], Awaitable[None]] | None,
        session: AgentSession | None = None,
    ) -> None:
        ref = answer.ref
        async for event in events:
            if isinstance(event, TextDelta):
                await streamer.append(event.text)
            elif isinstance(event, ToolStarted):
                streamer.set_status(progress_line(event.tool))
                if on_tool is not None:
                    await on_tool(event)
            elif isinstance(event, ToolFinished):
                streamer.set_status(None)
            elif isinstance(event, ToolDenied):
                await streamer.append(refusal_line(event))
            elif isinstance(event, Finished):
                if event.stopped:
                    await streamer.finish(footer="⏹ Stopped.")
                else:
                    await streamer.finish(actions=feedback.feedback_actions(answer.answer_id))
                if session is not None:
                    await session.done()
            elif isinstance(event, Failed):
                logger.warning(
                    "run failed in %s [%s]: %s", ref.thread_id, event.reference, event.message
                )
                await streamer.fail(event.message, event.reference)
                if session is not None:
                    await session.done()
            elif isinstance(event, ApprovalRequested | QuestionAsked):
                pause = await self._agent.pending(ref.thread_id)
                if isinstance(event, ApprovalRequested):
                    footer: str | None = "Waiting for approval ↓"
                else:
                    footer = None if streamer.text else "Waiting for an answer ↓"
                await streamer.finish(footer=footer)
                if pause is not None:
                    await self._pauses.post(ref, pause, look_first=answer.adopt)
                if session is not None:
                    question = isinstance(event, QuestionAsked)
                    await session.waiting(WAITING_FOR_ANSWER if question else WAITING_FOR_APPROVAL)
            elif isinstance(event, Resumed):
                continue
