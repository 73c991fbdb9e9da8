"""Buttons and modals: Approve, Edit & approve, Deny (with a reason), Show full, Stop, Retry.

Every handler acks first (Slack's 3 s deadline; buttons are not auto-acked, pitfall 12). Then,
in order: is the pause still the one pending, is the clicker allowed (checked here, on every
click, pitfall 14), and only then the decision. Modals open right after the ack, while the
trigger_id is valid. A refused click changes nothing and tells the clicker why, privately.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from agent import Approve, Deny, Edit, InvalidArguments, Pause, ResumeRefused
from bot import cards
from bot.approvers import Action
from bot.decisions import decide
from bot.runtime import BotRuntime
from bot.store import SlackPlace, ThreadRef
from bot.turns import approval_card, render_run

logger = logging.getLogger(__name__)

Body = dict[str, Any]

REFUSALS = {
    "already_handled": "Someone already answered this request; nothing more will run from it.",
    "stale": "This request is no longer pending: the conversation has moved on.",
    "not_paused": "This request is no longer pending: the conversation has moved on.",
    "unknown_thread": "I can't find the conversation this button belongs to.",
    "wrong_kind": "That answer doesn't fit this request.",
}


class ClickHandler:
    """Bolt listeners for the card's buttons and modals."""

    def __init__(self, runtime: BotRuntime) -> None:
        self._runtime = runtime

    # --- buttons ----------------------------------------------------------------------------

    async def on_approve(self, ack: AsyncAck, body: Body) -> None:
        """Approve at once: the run continues with the proposed arguments."""
        await ack()
        checked = await self._check(body, "approve")
        if checked is not None:
            ref, pause = checked
            self._decide_later(body, ref, pause, Approve())

    async def on_deny(self, ack: AsyncAck, body: Body) -> None:
        """Open the reason modal; the decision is made when it is submitted."""
        await ack()
        checked = await self._check(body, "deny")
        if checked is not None:
            await self._open(body, cards.deny_modal(self._card(checked[1])))

    async def on_edit(self, ack: AsyncAck, body: Body) -> None:
        """Open the arguments form, prefilled with what would run."""
        await ack()
        checked = await self._check(body, "approve")
        if checked is None:
            return
        pause = checked[1]
        tool = self._runtime.agent.toolbox.get(pause.tool or "")
        schema = tool.openai_schema()["function"]["parameters"] if tool else {}
        await self._open(body, cards.edit_modal(self._card(pause), schema))

    async def on_view_arguments(self, ack: AsyncAck, body: Body) -> None:
        """Show the full arguments the card had to shorten (anyone in the conversation)."""
        await ack()
        checked = await self._check(body, None)
        if checked is not None:
            await self._open(body, cards.arguments_modal(self._card(checked[1])))

    async def on_stop(self, ack: AsyncAck, body: Body) -> None:
        """Stop a streaming answer: its starter or an approver may."""
        await ack()
        runtime = self._runtime
        clicker = body["user"]["id"]
        thread_id = _thread_of(body)
        started_by = runtime.running_turns.get(thread_id or "")
        if thread_id is None or started_by is None:
            await self._tell(body, "This answer has already finished.")
            return
        verdict = await runtime.approvers.check(clicker, started_by, "stop")
        if not verdict.allowed:
            await self._tell(body, verdict.explanation)
            return
        runtime.agent.stop(thread_id)

    async def on_retry(self, ack: AsyncAck, body: Body) -> None:
        """Continue a run a restart cut short, from its last checkpoint."""
        await ack()
        runtime = self._runtime
        thread_id = _thread_of(body)
        ref = await self._runtime.store.conversation(thread_id) if thread_id else None
        if ref is None:
            await self._tell(body, REFUSALS["unknown_thread"])
            return
        message = body.get("message") or {}
        blocks = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
        await runtime.slack.update(
            body["channel"]["id"], message.get("ts", ""), message.get("text", ""), blocks
        )
        user = body["user"]["id"]
        runtime.tasks.submit(
            lambda: render_run(runtime, ref, runtime.agent.retry(ref.thread_id), user),
            key=ref.thread_id,
            name=f"retry {ref.thread_id}",
        )

    # --- modals -----------------------------------------------------------------------------

    async def on_deny_submitted(self, ack: AsyncAck, body: Body) -> None:
        """Deny with the optional reason; the modal closes at once."""
        await ack()
        view = body["view"]
        ref = cards.PauseRef.decode(view["private_metadata"])
        reason = view["state"]["values"].get("reason", {}).get("reason", {}).get("value")
        await self._decide_submitted(body, ref, Deny((reason or "").strip() or None), "deny")

    async def on_edit_submitted(self, ack: AsyncAck, body: Body) -> None:
        """Validate against the tool's schema: errors stay in the modal; else approve as edited."""
        view = body["view"]
        ref, arguments, errors = cards.parse_edit_submission(view)
        pause = await self._runtime.agent.pending(ref.thread_id)
        if not errors and pause is not None and pause.interrupt_id == ref.interrupt_id:
            tool = self._runtime.agent.toolbox.get(pause.tool or "")
            try:
                if tool is not None:
                    tool.validate(arguments)
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
        try:
            pause_ref = cards.PauseRef.decode(body["actions"][0]["value"])
        except (KeyError, IndexError, ValueError):
            logger.warning("ignored a click with a value we did not write: %s", body.get("actions"))
            return None
        return await self._check_ref(body, pause_ref, action)

    async def _check_ref(
        self, body: Body, pause_ref: cards.PauseRef, action: Action | None
    ) -> tuple[ThreadRef, Pause] | None:
        runtime = self._runtime
        clicker = body["user"]["id"]
        ref = await self._runtime.store.conversation(pause_ref.thread_id)
        pause = await runtime.agent.pending(pause_ref.thread_id)
        if ref is None or pause is None or pause.interrupt_id != pause_ref.interrupt_id:
            await self._refuse(body, pause_ref, clicker, "no longer pending", REFUSALS["stale"])
            await self._retire_card(body)
            return None
        if action is not None:
            verdict = await runtime.approvers.check(clicker, pause.requested_by, action)
            if not verdict.allowed:
                await self._refuse(body, pause_ref, clicker, "not allowed", verdict.explanation)
                return None
        return ref, pause

    def _decide_later(self, body: Body, ref: ThreadRef, pause: Pause, decision: Any) -> None:
        clicker = body["user"]["id"]

        card = _card_place(body, ref)

        async def job() -> None:
            refused = await decide(self._runtime, ref, pause.interrupt_id, decision, clicker, card)
            if refused is not None:
                await self._refuse(
                    body,
                    cards.PauseRef(ref.thread_id, pause.interrupt_id),
                    clicker,
                    refused.reason,
                    await self._explain(refused, ref.thread_id, pause.interrupt_id),
                )

        self._runtime.tasks.submit(job, key=ref.thread_id, name=f"decide {pause.interrupt_id}")

    async def _decide_submitted(
        self, body: Body, pause_ref: cards.PauseRef, decision: Any, action: Action
    ) -> None:
        checked = await self._check_ref(body, pause_ref, action)
        if checked is not None:
            self._decide_later(body, checked[0], checked[1], decision)

    async def _explain(self, refused: ResumeRefused, thread_id: str, interrupt_id: str) -> str:
        decided = await self._runtime.store.decision_for(thread_id, interrupt_id)
        if decided is not None:
            action, actor = decided
            if action == "expired":
                return "This request expired before anyone decided; nothing ran."
            return f"This request was already {action} by <@{actor}>."
        return REFUSALS.get(refused.reason, str(refused))

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
        await self._tell(body, explanation)

    async def _retire_card(self, body: Body) -> None:
        """A stale card must not keep live buttons (pitfall 13)."""
        message = body.get("message") or {}
        blocks = message.get("blocks") or []
        if not any(block.get("type") == "actions" for block in blocks):
            return
        kept = [block for block in blocks if block.get("type") != "actions"]
        kept.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "No longer pending."}],
            }
        )
        try:
            await self._runtime.slack.update(
                body["channel"]["id"], message["ts"], message.get("text", ""), kept
            )
        except Exception:
            logger.warning("could not retire a stale card", exc_info=True)

    async def _open(self, body: Body, view: dict[str, Any]) -> None:
        await self._runtime.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def _tell(self, body: Body, text: str) -> None:
        channel = (body.get("channel") or {}).get("id") or (body.get("view") or {}).get("id")
        message = body.get("message") or {}
        if channel is None:
            channel = await self._channel_of_view(body)
        if channel is None:
            logger.info("refused %s without a channel to tell them: %s", body["user"]["id"], text)
            return
        await self._runtime.slack.ephemeral(
            channel, body["user"]["id"], text, message.get("thread_ts") or message.get("ts")
        )

    async def _channel_of_view(self, body: Body) -> str | None:
        try:
            metadata = json.loads(body["view"]["private_metadata"])
        except (KeyError, ValueError, TypeError):
            return None
        ref = await self._runtime.store.conversation(str(metadata.get("t")))
        return ref.channel if ref else None

    def _card(self, pause: Pause) -> cards.ApprovalCard:
        return approval_card(self._runtime, pause)


def _card_place(body: Body, ref: ThreadRef) -> SlackPlace | None:
    """Where the clicked card is, from the click itself (None for modal submissions)."""
    container = body.get("container") or {}
    if container.get("type") != "message" or not container.get("message_ts"):
        return None
    return SlackPlace(ref.channel, ref.thread_ts, str(container["message_ts"]))


def _thread_of(body: Body) -> str | None:
    try:
        return str(json.loads(body["actions"][0]["value"])["t"])
    except (KeyError, IndexError, ValueError, TypeError):
        return None
