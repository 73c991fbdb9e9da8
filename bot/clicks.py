"""Buttons and modals: Approve, Edit & approve, Deny (with a reason), Show full, Stop, Retry.

Thin translators from Slack payloads to Conversations. Every listener acks; Slack gets the
answer once the listener returns, so a decision is stored before Slack hears back (DESIGN §4
rule 8). The order of checks: is the pause still the one pending, is the clicker allowed
(checked here, on every click, pitfall 14), and only then the decision. Modals open right away,
while the trigger_id is valid. A refused click changes nothing and tells the clicker why, in a
message only they see. A payload we cannot read is logged in one line and changes nothing.

The same buttons are on the App Home tab (bot.app_home). A click there has no channel, message
or response_url, only its view: the answer to it (refused, counted, done) is shown as a notice
at the top of the clicker's Home, where they are looking, rather than in a DM they would have
to go and find.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError

from agent import (
    ApprovalTally,
    Approve,
    Decision,
    Deny,
    Edit,
    InvalidArguments,
    Pause,
    ResumeRefused,
)
from bot import cards, log_context
from bot.approvers import Action
from bot.conversations import Conversations
from bot.home_refresh import AppHome
from bot.request_checks import PayloadError, need_text, obj, objects, text
from bot.runtime import BotRuntime
from bot.store import ThreadRef

logger = logging.getLogger(__name__)

Body = dict[str, Any]

REFUSALS = {
    "already_handled": "Someone already answered this request; nothing more will run from it.",
    "stale": "This request is no longer pending: the conversation has moved on.",
    "unknown_thread": "I can't find the conversation this button belongs to.",
    "wrong_kind": "That answer doesn't fit this request.",
    "already_counted": "Your approval is already counted; this needs someone else's approval now.",
    "own_request": "You asked for this, and it needs approvals from other people.",
}
OLD_BUTTON = "This button is from an earlier version of the bot; ask again in the thread."
DECIDED_HERE = "✅ Done: the card in the thread shows your decision, and the run continues there."


class ClickHandler:
    """Bolt listeners for the card's buttons and modals."""

    def __init__(self, runtime: BotRuntime, conversations: Conversations, home: AppHome) -> None:
        self._runtime = runtime
        self._conversations = conversations
        self._home = home
        self._retiring: set[tuple[str, str]] = set()

    # --- buttons ----------------------------------------------------------------------------

    async def on_approve(self, ack: AsyncAck, body: Body) -> None:
        """Approve at once: the run continues with the proposed arguments."""
        await ack()
        checked = await self._check(body, "approve")
        if checked is not None:
            ref, pause = checked
            await self._decide(body, ref, pause.interrupt_id, Approve())

    async def on_deny(self, ack: AsyncAck, body: Body) -> None:
        """Open the reason modal; the decision is made when it is submitted."""
        await ack()
        checked = await self._check(body, "deny")
        if checked is not None:
            await self._open(body, cards.deny_modal(await self._card(checked[1])))

    async def on_edit(self, ack: AsyncAck, body: Body) -> None:
        """Open the arguments form, prefilled with what would run."""
        await ack()
        checked = await self._check(body, "approve")
        if checked is None:
            return
        pause = checked[1]
        schema = self._runtime.agent.tool_schema(pause.tool or "") or {}
        await self._open(body, cards.edit_modal(await self._card(pause), schema))

    async def on_view_arguments(self, ack: AsyncAck, body: Body) -> None:
        """Show the full arguments the card had to shorten (anyone in the conversation)."""
        await ack()
        checked = await self._check(body, None)
        if checked is not None:
            await self._open(body, cards.arguments_modal(await self._card(checked[1])))

    async def on_stop(self, ack: AsyncAck, body: Body) -> None:
        """Stop the streaming answer this button belongs to: its starter or an approver may."""
        await ack()
        clicker, item = _clicker(body), cards.item_of(_button_value(body))
        refusal = (
            "This answer has already finished."
            if item is None
            else await self._conversations.stop(item, clicker)
        )
        if refusal is not None:
            await self._tell(body, refusal)

    async def on_retry(self, ack: AsyncAck, body: Body) -> None:
        """Continue an answer that stopped after two interruptions in a row."""
        await ack()
        clicker, item = _clicker(body), cards.item_of(_button_value(body))
        refusal = OLD_BUTTON if item is None else await self._conversations.retry(item, clicker)
        if refusal is not None:
            await self._tell(body, refusal)

    # --- modals -----------------------------------------------------------------------------

    async def on_deny_submitted(self, ack: AsyncAck, body: Body) -> None:
        """Deny with the optional reason; the modal closes at once."""
        await ack()
        view = obj(body, "view")
        ref = _pause_ref(text(view, "private_metadata"))
        reason = (text(view, "state", "values", "reason", "reason", "value") or "").strip()
        await self._decide_submitted(body, ref, Deny(reason or None), "deny")

    async def on_edit_submitted(self, ack: AsyncAck, body: Body) -> None:
        """Validate against the tool's schema: errors stay in the modal; else approve as edited."""
        try:
            ref, arguments, errors = cards.parse_edit_submission(obj(body, "view"))
        except ValueError as unreadable:  # PayloadError included: acked by bot.listeners
            raise PayloadError(f"an edit submission we did not write ({unreadable})") from None
        pause = await self._runtime.agent.pending(ref.thread_id)
        if not errors and pause is not None and pause.interrupt_id == ref.interrupt_id:
            try:
                self._runtime.agent.validate_arguments(pause.tool or "", arguments)
            except InvalidArguments as invalid:
                errors = {
                    f"arg:{name.split('.')[0]}": message for name, message in invalid.errors.items()
                }
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await self._decide_submitted(body, ref, Edit(arguments), "approve")

    # --- shared -----------------------------------------------------------------------------

    async def _check(self, body: Body, action: Action | None) -> tuple[ThreadRef, Pause] | None:
        """The pause this button answers, if it is still pending and the clicker may act."""
        return await self._check_ref(body, _pause_ref(_button_value(body)), action)

    async def _check_ref(
        self, body: Body, pause_ref: cards.PauseRef, action: Action | None
    ) -> tuple[ThreadRef, Pause] | None:
        log_context.learned(thread=pause_ref.thread_id)
        runtime = self._runtime
        clicker = _clicker(body)
        ref = await runtime.store.conversation(pause_ref.thread_id)
        pause = await runtime.agent.pending(pause_ref.thread_id)
        if ref is None or pause is None or pause.interrupt_id != pause_ref.interrupt_id:
            explanation = await self._explain(pause_ref, "stale")
            await self._refuse(body, pause_ref, clicker, "no longer pending", explanation)
            self._retire_card(body)
            return None
        if action is not None:
            verdict = await runtime.approvers.check(
                clicker,
                pause.requested_by,
                action,
                pause.rule,
                escalated=await self._conversations.pauses.escalated(pause),
            )
            if not verdict.allowed:
                await self._refuse(body, pause_ref, clicker, "not allowed", verdict.explanation)
                return None
        return ref, pause

    async def _decide(
        self,
        body: Body,
        ref: ThreadRef,
        interrupt_id: str,
        decision: Decision,
    ) -> None:
        """Store the decision with the work that applies it; the card says so once it runs."""
        clicker = _clicker(body)
        taken = await self._conversations.accept_decision(
            ref.thread_id, interrupt_id, decision, clicker
        )
        pause_ref = cards.PauseRef(ref.thread_id, interrupt_id)
        if isinstance(taken, ResumeRefused):
            explanation = await self._explain(pause_ref, taken.reason, taken)
            await self._refuse(body, pause_ref, clicker, taken.reason, explanation)
        elif not taken.tally.complete:
            await self._counted(body, ref, taken.tally)
        elif _from_home(body):
            self._home.tell(clicker, DECIDED_HERE)

    async def _counted(self, body: Body, ref: ThreadRef, tally: ApprovalTally) -> None:
        """One approval of several (audited and shown on the card by accept_decision): tell
        the approver what happens next."""
        missing = tally.needed - len(tally.approved_by)
        more = "1 more person approves" if missing == 1 else f"{missing} more people approve"
        await self._tell(
            body,
            f"Your approval is counted ({len(tally.approved_by)} of {tally.needed}). "
            f"It runs once {more}.",
            ref.thread_id,
        )

    async def _decide_submitted(
        self, body: Body, pause_ref: cards.PauseRef, decision: Decision, action: Action
    ) -> None:
        checked = await self._check_ref(body, pause_ref, action)
        if checked is not None:
            await self._decide(body, checked[0], pause_ref.interrupt_id, decision)

    async def _explain(
        self, ref: cards.PauseRef, reason: str, refused: ResumeRefused | None = None
    ) -> str:
        decided = await self._runtime.store.decision_for(ref.thread_id, ref.interrupt_id)
        if decided is not None:
            action, actor = decided
            if action == "expired":
                return "This request expired before anyone decided; nothing ran."
            return f"This request was already {action} by <@{actor}>."
        return REFUSALS.get(reason, str(refused) if refused else REFUSALS["stale"])

    async def _refuse(
        self, body: Body, ref: cards.PauseRef, clicker: str, why: str, explanation: str
    ) -> None:
        await self._runtime.store.audit(
            thread_id=ref.thread_id,
            interrupt_id=ref.interrupt_id,
            action="refused",
            actor=clicker,
            detail=why,
        )
        await self._tell(body, explanation, ref.thread_id)

    def _retire_card(self, body: Body) -> None:
        """A stale card must not keep live buttons (pitfall 13).

        Once per card at a time: every click on it would queue another edit in the lane that
        decided cards share (8 a minute), ahead of the next real decision.
        """
        message = obj(body, "message")
        blocks = objects(message, "blocks")
        channel, ts = _channel(body), text(message, "ts")
        if not channel or not ts or not any(block.get("type") == "actions" for block in blocks):
            return
        if (channel, ts) in self._retiring:
            return
        kept = [block for block in blocks if block.get("type") != "actions"]
        kept.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "No longer pending."}]}
        )
        slack, shown = self._runtime.slack, text(message, "text") or ""

        async def retire() -> None:
            try:
                await slack.update(channel, ts, shown, kept)
            except SlackApiError as exc:  # the click named a message that is not ours to edit
                logger.warning("could not retire the card %.40s: %s", ts, _error(exc))
            finally:
                self._retiring.discard((channel, ts))

        self._retiring.add((channel, ts))
        self._runtime.tasks.submit(retire, name="retire a stale card")

    async def _open(self, body: Body, view: dict[str, Any]) -> None:
        trigger_id = need_text(body, "trigger_id")
        try:
            await self._runtime.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:  # an expired or forged trigger: the person clicks again
            logger.warning("could not open a form for %s: %s", _clicker(body), _error(exc))

    async def _tell(self, body: Body, notice: str, thread_id: str | None = None) -> None:
        """Tell the clicker privately where they clicked (a modal: in its conversation)."""
        if _from_home(body):
            self._home.tell(_clicker(body), notice)
            return
        channel = _channel(body)
        message = obj(body, "message")
        thread_ts = text(message, "thread_ts") or text(message, "ts")
        if not channel and thread_id is not None:
            ref = await self._runtime.store.conversation(thread_id)
            if ref is not None:
                channel, thread_ts = ref.channel, ref.thread_ts
        if not channel:
            logger.info("refused %s without a channel to tell them: %s", _clicker(body), notice)
            return
        slack, user = self._runtime.slack, _clicker(body)

        async def tell() -> None:
            await slack.ephemeral(str(channel), user, notice, thread_ts)

        self._runtime.tasks.submit(tell, name="tell a clicker")

    async def _card(self, pause: Pause) -> cards.ApprovalCard:
        return await self._conversations.pauses.card(pause)


def _clicker(body: Body) -> str:
    """Who clicked; a click from nobody is not one we can check or answer."""
    return need_text(body, "user", "id")


def _channel(body: Body) -> str | None:
    return text(body, "channel", "id")


def _from_home(body: Body) -> bool:
    """A click on the App Home tab (it carries its view, and no channel or message)."""
    return text(body, "container", "type") == "view" and text(body, "view", "type") == "home"


def _button_value(body: Body) -> str:
    return text(body, "actions", 0, "value") or ""


def _pause_ref(value: str | None) -> cards.PauseRef:
    try:
        return cards.PauseRef.decode(value or "")
    except ValueError:
        raise PayloadError("a pause reference we did not write") from None


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or exc.response.status_code)
