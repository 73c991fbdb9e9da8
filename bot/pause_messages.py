"""The Slack messages of a pause: its approval card or question, posted once, closed once.

A pause's message carries Slack message metadata naming the pause, so a post that failed
ambiguously, or a reconciler that finds a pause without a recorded card, looks for it in the
thread before posting: a card never appears twice (DESIGN §4 rule 9, pitfall 30).

Deciders who are not members of the conversation get a copy of the card by DM, with the same
buttons (they answer the same pause, through the same checks); every change to the card
(a count toward two-person approval, the decision) edits the copies too. Whoever watches the
pauses (the App Home, bot.home_refresh) hears of every such change through `on_change`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Any

from slack_sdk.errors import SlackApiError

from agent import ApprovalTally, Decision, Deny, Edit, Expire, Pause
from bot import cards
from bot.budgeted_calls import error_code
from bot.runtime import BotRuntime
from bot.slack_calls import SlackCalls
from bot.store import SlackPlace, ThreadRef

logger = logging.getLogger(__name__)

REFUSED_BLOCKS = frozenset({"invalid_blocks", "msg_too_long", "msg_blocks_too_long"})
"""What Slack answers a card it will not show; the plain card goes instead (pitfall 40)."""


def outcome_of(decision: Decision) -> cards.Outcome:
    """How the card describes a decision."""
    if isinstance(decision, Edit):
        return "edited"
    if isinstance(decision, Deny):
        return "denied"
    if isinstance(decision, Expire):
        return "expired"
    return "approved"


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
        self._watchers: list[Callable[[], None]] = []

    def on_change(self, watcher: Callable[[], None]) -> None:
        """Call `watcher` (at once, without waiting) whenever a pause appears, is counted,
        escalated or decided: it learns that something changed, and looks itself."""
        self._watchers.append(watcher)

    def changed(self) -> None:
        """Tell the watchers the pauses changed (also called for a decision just accepted)."""
        for watcher in self._watchers:
            watcher()

    @property
    def slack(self) -> SlackCalls:
        """The bot's calls outside streaming (read at each use: tests swap in a limiter)."""
        return self._runtime.slack

    async def card(
        self,
        pause: Pause,
        arguments: dict[str, Any] | None = None,
        tally: ApprovalTally | None = None,
    ) -> cards.ApprovalCard:
        """Everything the card of an approval shows, now: its rule, its count, who may decide.

        `arguments` are the ones that ran when they differ from the proposal (an edit);
        otherwise the current round's edit, if an approver made one. Its expiry is the one the
        sweeper applies: the pause's creation plus the rule's `expires_after`, else the TTL.
        """
        rule = pause.rule
        tally = tally or await self._agent.tally(pause)
        shown = arguments if arguments is not None else tally.arguments
        policy_set = self._settings.policy_file is not None
        return cards.ApprovalCard(
            ref=cards.PauseRef(pause.thread_id, pause.interrupt_id),
            tool=pause.tool or "",
            arguments=dict(pause.arguments if shown is None else shown),
            reason=pause.reason,
            requested_by=pause.requested_by,
            expires_at=pause.created_at
            + (rule.expires_after or self._settings.approval_ttl_seconds),
            schema=self._agent.tool_schema(pause.tool or "") or {},
            original_arguments=(
                dict(pause.arguments) if shown is not None and shown != pause.arguments else None
            ),
            rule=rule.rule if policy_set else None,
            rule_reason=rule.reason if policy_set else None,
            approvals_needed=rule.approvals,
            approved_by=tally.approved_by,
            # Named only when the rule names them: a card mentioning APPROVERS' groups would
            # notify every member on every card.
            approvers=(
                self._runtime.approvers.who(rule, escalated=await self.escalated(pause))
                if rule.approvers
                else ()
            ),
            edited_by=tally.edited_by,
        )

    async def escalated(self, pause: Pause) -> bool:
        """Whether the pause's reminder escalated it, so `escalate_to` may decide too."""
        if not pause.rule.escalate_to:
            return False
        return await self._store.audited(pause.thread_id, pause.interrupt_id, "escalated")

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
            text, blocks = await self._content(pause)
            try:
                ts = await self.slack.post(ref.channel, ref.thread_ts, text, blocks, marker=marker)
            except SlackApiError as refused:
                if pause.kind != "approval" or error_code(refused) not in REFUSED_BLOCKS:
                    raise
                logger.error(
                    "Slack refused the card for %s (%s): posting it plain",
                    pause.thread_id,
                    error_code(refused),
                )
                plain = cards.plain_approval_blocks(await self.card(pause), error_code(refused))
                ts = await self.slack.post(ref.channel, ref.thread_ts, text, plain, marker=marker)
        place = SlackPlace(ref.channel, ref.thread_ts, ts)
        await self._store.remember_pause(
            pause.thread_id, pause.interrupt_id, pause.kind, place, pause.requested_by
        )
        if pause.kind == "approval":
            await self.send_copies(ref, pause, escalated=await self.escalated(pause))
        self.changed()
        return place

    async def send_copies(
        self,
        ref: ThreadRef,
        pause: Pause,
        *,
        escalated: bool,
        always: Collection[str] = (),
    ) -> list[str]:
        """DM the card to deciders who cannot see the conversation (and to `always`, the
        people an escalation tells); who got one.

        Once per person: the copies are recorded, and a person with a copy is skipped. A copy
        that fails is logged and left out; the card in the thread still stands.
        """
        deciders = await self._runtime.approvers.people(pause.rule, escalated=escalated)
        if not deciders and not always:
            return []
        sent = await self._store.pause_copies(pause.thread_id, pause.interrupt_id)
        try:
            members = await self.slack.members(ref.channel) if deciders else set()
        except Exception:
            logger.warning("could not list members of %s", ref.channel, exc_info=True)
            members = deciders  # nobody outside we could know of; `always` still hear
        card = await self.card(pause)
        text = cards.approval_fallback_text(card)
        blocks = [cards.asked_in(ref.channel), *cards.approval_blocks(card)]
        reached = []
        outside = (deciders - members) | set(always)
        for person in sorted(outside - set(sent) - {pause.requested_by}):
            try:
                channel, ts = await self.slack.direct(person, text, blocks)
            except Exception:
                logger.warning("could not DM the card to %s", person, exc_info=True)
                continue
            place = SlackPlace(channel, ts, ts)
            await self._store.remember_copy(pause.thread_id, pause.interrupt_id, place, person)
            reached.append(person)
        return reached

    async def refresh(self, ref: ThreadRef, pause: Pause, tally: ApprovalTally) -> None:
        """Show a count toward two-person approval on the card and its copies; buttons stay."""
        card = await self.card(pause, tally=tally)
        await self._edit_everywhere(
            ref, pause, cards.approval_fallback_text(card), cards.approval_blocks(card)
        )
        self.changed()

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
        if pause.kind == "approval":
            card = await self.card(pause, arguments)
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
        await self._edit_everywhere(ref, pause, text, blocks)
        self.changed()

    async def _edit_everywhere(
        self, ref: ThreadRef, pause: Pause, text: str, blocks: list[cards.Block]
    ) -> None:
        """Write the same content to the pause's message and each DM copy (copies say where
        the conversation is). Idempotent: a second attempt writes the same content."""
        place = await self._store.pause_place(pause.thread_id, pause.interrupt_id)
        if place is None:
            found = await self.slack.find(ref.channel, ref.thread_ts, pause_marker(pause))
            place = SlackPlace(ref.channel, ref.thread_ts, found) if found else None
        if place is None:
            logger.info("pause %s has no card to edit", pause.interrupt_id)
        targets = [(place, blocks)] if place is not None else []
        copies = await self._store.pause_copies(pause.thread_id, pause.interrupt_id)
        targets += [(copy, [cards.asked_in(ref.channel), *blocks]) for copy in copies.values()]
        for target, shown in targets:
            try:
                await self.slack.update(target.channel, target.message_ts, text, shown)
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

    async def _content(self, pause: Pause) -> tuple[str, list[cards.Block]]:
        if pause.kind == "approval":
            card = await self.card(pause)
            return cards.approval_fallback_text(card), cards.approval_blocks(card)
        anyone = self._settings.ask_human_responders == "anyone"
        question = pause.question or ""
        return (
            cards.question_text(pause.requested_by, question),
            cards.question_blocks(pause.requested_by, question, anyone),
        )
