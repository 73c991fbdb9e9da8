"""The Slack messages of a pause: its approval card or question, posted once, closed once.

A pause's message carries Slack message metadata naming the pause, so a post that failed
ambiguously, or a reconciler that finds a pause without a recorded card, looks for it in the
thread before posting: a card never appears twice (DESIGN §4 rule 9, pitfall 30).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from agent import Decision, Deny, Edit, Expire, Pause
from bot import cards
from bot.runtime import BotRuntime
from bot.settings import BotSettings
from bot.slack_calls import SlackCalls
from bot.store import SlackPlace, ThreadRef

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


def approval_card(
    settings: BotSettings, pause: Pause, arguments: dict[str, Any] | None = None
) -> cards.ApprovalCard:
    """The card of a pause (showing `arguments` when they differ, e.g. edited).

    Its expiry is the one the sweeper applies: the pause's creation plus the TTL.
    """
    return cards.ApprovalCard(
        ref=cards.PauseRef(pause.thread_id, pause.interrupt_id),
        tool=pause.tool or "",
        arguments=dict(pause.arguments if arguments is None else arguments),
        reason=pause.reason,
        requested_by=pause.requested_by,
        expires_at=pause.created_at + settings.approval_ttl_seconds,
    )


def pause_marker(pause: Pause) -> dict[str, Any]:
    """What a pause's message carries in its metadata."""
    return {"pause": pause.interrupt_id}


class PauseMessages:
    """Posts, finds and closes the card or question of each pause."""

    def __init__(self, runtime: BotRuntime) -> None:
        self._runtime = runtime
        self._settings = runtime.settings
        self._agent = runtime.agent
        self._store = runtime.store

    @property
    def slack(self) -> SlackCalls:
        """The bot's calls outside streaming (read at each use: tests swap in a limiter)."""
        return self._runtime.slack

    async def post(self, ref: ThreadRef, pause: Pause, *, look_first: bool) -> SlackPlace:
        """Make sure the pause's message is in the thread, and recorded; idempotent.

        `look_first` when an earlier attempt may have posted it unrecorded (a re-run, the
        reconciler): the thread is searched for its marker before posting. A first attempt
        skips that search (a Tier 3 call); its own retries still search before re-posting.
        """
        place = await self._store.pause_place(pause.thread_id, pause.interrupt_id)
        if place is not None:
            return place
        marker = pause_marker(pause)
        ts = await self.slack.find(ref.channel, ref.thread_ts, marker) if look_first else None
        if ts is None:
            text, blocks = self._content(pause)
            ts = await self.slack.post(ref.channel, ref.thread_ts, text, blocks, marker=marker)
        place = SlackPlace(ref.channel, ref.thread_ts, ts)
        await self._store.remember_pause(
            pause.thread_id, pause.interrupt_id, pause.kind, place, pause.requested_by
        )
        return place

    async def close(
        self,
        ref: ThreadRef,
        pause: Pause,
        decision: Decision,
        actor: str | None,
        arguments: dict[str, Any] | None,
        decided_at: float,
    ) -> None:
        """Every end state edits the card or question: its buttons go, a line says what happened.

        Idempotent: a second attempt writes the same content.
        """
        place = await self._store.pause_place(pause.thread_id, pause.interrupt_id)
        if place is None:
            found = await self.slack.find(ref.channel, ref.thread_ts, pause_marker(pause))
            place = SlackPlace(ref.channel, ref.thread_ts, found) if found else None
        if place is None:
            logger.info("pause %s has no card to close", pause.interrupt_id)
            return
        if pause.kind == "approval":
            card = approval_card(self._settings, pause, arguments)
            reason = decision.reason if isinstance(decision, Deny) else None
            blocks = cards.decided_blocks(card, outcome_of(decision), actor, decided_at, reason)
            text = f"{cards.tool_in_words(card.tool)}: {outcome_of(decision)}"
        else:
            note = (
                f"⌛ Expired {cards.slack_date(decided_at, 'just now')}: no answer came in time."
                if isinstance(decision, Expire)
                else f"✅ Answered by <@{actor}> · {cards.slack_date(decided_at, 'just now')}"
            )
            blocks = cards.answered_question_blocks(pause.requested_by, pause.question or "", note)
            text = cards.question_text(pause.requested_by, pause.question or "")
        try:
            await self.slack.update(place.channel, place.message_ts, text, blocks)
        except Exception:
            logger.warning("could not edit the card of %s", pause.interrupt_id, exc_info=True)

    async def pointer(self, thread_id: str) -> str:
        """One line (our mrkdwn) pointing at what the thread waits on."""
        pause = await self._agent.pending(thread_id)
        if pause is None:
            return "This conversation is busy; try again in a moment."
        place = await self._store.pause_place(thread_id, pause.interrupt_id)
        where = "above"
        if place is not None:
            with contextlib.suppress(Exception):
                link = await self.slack.client.chat_getPermalink(
                    channel=place.channel, message_ts=place.message_ts
                )
                where = f"<{link['permalink']}|above>"
        if pause.kind == "approval":
            return (
                f"⏸ I'm waiting for a decision on *{cards.tool_in_words(pause.tool or '')}* "
                f"({where}) before I continue."
            )
        return f"⏸ I'm waiting for <@{pause.requested_by}> to answer my question ({where})."

    def _content(self, pause: Pause) -> tuple[str, list[cards.Block]]:
        if pause.kind == "approval":
            card = approval_card(self._settings, pause)
            return cards.approval_fallback_text(card), cards.approval_blocks(card)
        anyone = self._settings.ask_human_responders == "anyone"
        question = pause.question or ""
        return (
            cards.question_text(pause.requested_by, question),
            cards.question_blocks(pause.requested_by, question, anyone),
        )
