"""👍 / 👎 under a finished answer: the buttons, and one vote per person per answer.

Slack's feedback UI (a `feedback_buttons` element in a `context_actions` block) goes under an
answer that ended on its own; a stopped, failed or paused one has nothing to rate yet. Each
button's value names the answer (the inbox item's answer id), so a vote is kept with the turn it
rates. A person has one vote per answer and the latest counts: it lives in `slack_feedback`, and
each change is an `audit` row (shown by `python -m bot audit`) written in the same transaction.
Two clicks on the same thumb record one vote; a change of mind records the change.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Literal

from slack_bolt.context.ack.async_ack import AsyncAck

from agent import Database
from bot import log_context
from bot.request_checks import PayloadError, need_text, obj, text
from bot.runtime import BotRuntime
from bot.store import ThreadRef

logger = logging.getLogger(__name__)

Block = dict[str, Any]
Body = dict[str, Any]
Vote = Literal["up", "down"]

FEEDBACK = "answer_feedback"
"""The action_id of the feedback buttons."""
AUDIT_ACTION = "feedback"
THUMBS: dict[Vote, str] = {"up": "👍", "down": "👎"}

TABLE = """CREATE TABLE IF NOT EXISTS slack_feedback (
    thread_id TEXT NOT NULL,
    answer_id TEXT NOT NULL,
    voter TEXT NOT NULL,
    vote TEXT NOT NULL,
    voted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (thread_id, answer_id, voter)
)"""
"""Each person's current vote on an answer; its history is in `audit`."""

_VALUE = re.compile(r"(up|down):([A-Za-z0-9_-]{1,64})")
"""A button's value as `feedback_actions` writes it: the vote, then the answer's id."""


def feedback_actions(answer_id: str) -> list[Block]:
    """The 👍 / 👎 buttons under a finished answer; their values name the answer."""
    return [
        {
            "type": "context_actions",
            "block_id": f"feedback-{uuid.uuid4().hex[:8]}",  # fresh per render, as Slack asks
            "elements": [
                {
                    "type": "feedback_buttons",
                    "action_id": FEEDBACK,
                    "positive_button": _button("Good answer", "up", answer_id),
                    "negative_button": _button("Bad answer", "down", answer_id),
                }
            ],
        }
    ]


def vote_of(value: str | None) -> tuple[Vote, str]:
    """(vote, answer id) of a feedback button's value; PayloadError for one we did not write."""
    matched = _VALUE.fullmatch(value or "")
    if matched is None:
        raise PayloadError("a feedback value we did not write")
    vote: Vote = "up" if matched[1] == "up" else "down"
    return vote, matched[2]


async def record_vote(
    database: Database, *, thread_id: str, answer_id: str, voter: str, vote: Vote
) -> bool:
    """Keep `voter`'s vote on the answer and audit it; False when it was their vote already.

    Serialised per voter and answer, so two replicas taking a double click record it once.
    """
    async with database.transaction() as transaction:
        await transaction.serialize(f"feedback:{thread_id}:{answer_id}:{voter}")
        row = await transaction.fetch_one(
            "SELECT vote FROM slack_feedback WHERE thread_id = ? AND answer_id = ? AND voter = ?",
            (thread_id, answer_id, voter),
        )
        previous = row["vote"] if row else None
        if previous == vote:
            return False
        now = time.time()
        await transaction.execute(
            "INSERT INTO slack_feedback VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (thread_id, answer_id, voter)"
            " DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
            (thread_id, answer_id, voter, vote, now),
        )
        detail = f"{THUMBS[vote]} answer {answer_id}"
        if previous in THUMBS:
            detail += f" (was {THUMBS[previous]})"
        await transaction.execute(
            "INSERT INTO audit(at, thread_id, interrupt_id, action, actor, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (now, thread_id, answer_id, AUDIT_ACTION, voter, detail),
        )
    return True


class FeedbackClicks:
    """The Bolt listener for a click on 👍 or 👎."""

    def __init__(self, runtime: BotRuntime) -> None:
        self._runtime = runtime

    async def on_click(self, ack: AsyncAck, body: Body) -> None:
        """Record the vote with its answer and thread, then thank the clicker privately."""
        await ack()
        voter = need_text(body, "user", "id")
        vote, answer_id = vote_of(text(body, "actions", 0, "value"))
        channel = need_text(body, "channel", "id")
        message, container = obj(body, "message"), obj(body, "container")
        thread_ts = (
            text(message, "thread_ts")
            or text(container, "thread_ts")
            or need_text(container, "message_ts")
        )
        team = text(body, "team", "id") or self._runtime.identity.team_id
        ref = ThreadRef(team, channel, thread_ts)
        log_context.learned(thread=ref.thread_id)
        if not await self._runtime.store.is_conversation(ref.thread_id):
            raise PayloadError("a feedback click outside the bot's conversations")
        recorded = await record_vote(
            self._runtime.agent.database,
            thread_id=ref.thread_id,
            answer_id=answer_id,
            voter=voter,
            vote=vote,
        )
        if recorded:
            logger.info("%s voted %s on answer %s", voter, vote, answer_id)
        slack = self._runtime.slack

        async def thank() -> None:
            await slack.ephemeral(channel, voter, f"Thanks — noted {THUMBS[vote]}", thread_ts)

        self._runtime.tasks.submit(thank, name="thank a voter")


def _button(label: str, vote: Vote, answer_id: str) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": label},
        "accessibility_label": f"Mark this answer as {'good' if vote == 'up' else 'bad'}",
        "value": f"{vote}:{answer_id}",
    }
