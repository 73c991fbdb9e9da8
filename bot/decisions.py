"""Apply a decision to a pause, exactly once, and show it in Slack.

Clicks, thread replies and the expiry sweep all end here: the agent claims the pause (first
wins, in the database), the card or question is edited to say who decided what and when, the
decision is audited, and the continuation streams into the same thread.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from agent import (
    Answer,
    Approve,
    Decision,
    Deny,
    Edit,
    Expire,
    InvalidArguments,
    Pause,
    Resumed,
    ResumeRefused,
)
from bot import cards
from bot.runtime import BotRuntime
from bot.store import SlackPlace, ThreadRef
from bot.turns import approval_card, render_run

logger = logging.getLogger(__name__)


def outcome_of(decision: Decision) -> cards.Outcome:
    """How the card describes a decision."""
    if isinstance(decision, Edit):
        return "edited"
    if isinstance(decision, Deny):
        return "denied"
    if isinstance(decision, Expire):
        return "expired"
    return "approved"


def audit_action(decision: Decision) -> str:
    """The audit log's word for a decision."""
    if isinstance(decision, Answer):
        return "answered"
    return outcome_of(decision)


async def decide(
    runtime: BotRuntime,
    ref: ThreadRef,
    interrupt_id: str,
    decision: Decision,
    actor: str | None,
    card: SlackPlace | None = None,
) -> ResumeRefused | None:
    """Resume the pause; returns the refusal (nothing changed) if the agent refused.

    `card` is where a click says the card is: used if the bot died before recording it.
    """
    events = runtime.agent.resume(ref.thread_id, interrupt_id, decision)
    try:
        first = await anext(events)
    except (ResumeRefused, InvalidArguments) as refused:
        await events.aclose()
        if isinstance(refused, InvalidArguments):
            return ResumeRefused("wrong_kind", str(refused))
        return refused
    assert isinstance(first, Resumed)  # the agent's first event of an accepted resume
    arguments = _arguments_that_run(runtime, first.pause, decision)
    await _close_pause_message(runtime, first.pause, decision, actor, arguments, card)
    await runtime.store.audit(
        thread_id=ref.thread_id,
        interrupt_id=interrupt_id,
        action=audit_action(decision),
        actor=actor or "expiry",
        tool=first.pause.tool,
        arguments=arguments,
        detail=decision.reason if isinstance(decision, Deny) else None,
    )
    status = "Continuing…" if isinstance(decision, Approve | Edit | Answer) else "Noted…"
    await render_run(runtime, ref, events, first.pause.requested_by, status=status)
    return None


def _arguments_that_run(
    runtime: BotRuntime, pause: Pause, decision: Decision
) -> dict[str, Any] | None:
    if pause.kind != "approval":
        return None
    if isinstance(decision, Edit):
        tool = runtime.agent.toolbox.get(pause.tool or "")
        return tool.validate(decision.arguments) if tool else decision.arguments
    return pause.arguments


async def _close_pause_message(
    runtime: BotRuntime,
    pause: Pause,
    decision: Decision,
    actor: str | None,
    arguments: dict[str, Any] | None,
    hint: SlackPlace | None,
) -> None:
    """Every end state edits the card or question: its buttons go, a line says what happened."""
    place = await runtime.store.pause_place(pause.thread_id, pause.interrupt_id) or hint
    if place is None:
        logger.warning("no card recorded for pause %s; nothing to edit", pause.interrupt_id)
        return
    now = time.time()
    if pause.kind == "approval":
        card = approval_card(runtime, pause, arguments)
        reason = decision.reason if isinstance(decision, Deny) else None
        blocks = cards.decided_blocks(card, outcome_of(decision), actor, now, reason)
        text = f"{cards.tool_in_words(card.tool)}: {outcome_of(decision)}"
    else:
        note = (
            f"⌛ Expired {cards.slack_date(now, 'just now')}: no answer came in time."
            if isinstance(decision, Expire)
            else f"✅ Answered by <@{actor}> · {cards.slack_date(now, 'just now')}"
        )
        blocks = cards.answered_question_blocks(pause.requested_by, pause.question or "", note)
        text = cards.question_text(pause.requested_by, pause.question or "")
    try:
        await runtime.slack.update(place.channel, place.message_ts, text, blocks)
    except Exception:
        logger.warning("could not edit the card of %s", pause.interrupt_id, exc_info=True)
