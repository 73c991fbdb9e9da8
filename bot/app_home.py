"""Block Kit for the bot's Home tab, "Waiting for you": the requests the viewer may decide.

Pure functions from values to a view. An approval shows its tool and arguments in short (the
card's own renderers, bot.cards and bot.argument_text) and the card's own buttons, with the
same action ids and values: a click here is handled by the same listeners, checks and
exactly-once path as a click on the card. A question links to its thread, where it is
answered. Slack allows 100 blocks in a Home view, so the list is cut after HOME_ENTRIES.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent import format_duration
from bot import cards
from bot.argument_text import shown_arguments
from bot.formatting import escape_mrkdwn

HOME_ENTRIES = 20
"""Requests listed at most: each takes 4 blocks, and a Home view holds 100."""
HOME_ARGUMENTS = 4
"""Arguments shown per request; the card in the thread (or Show full arguments) has them all."""
SHOWN_REASON_CHARS = 200
OPEN_THREAD = "countersign_home_open_thread"
"""The action id of a question's link button (Slack sends a click on it too; it is acked)."""
EMPTY = (
    "🎉 *Nothing is waiting for you.*\n"
    "When the agent needs your approval or an answer from you, the request shows up here "
    "as well as in its thread."
)


@dataclass(frozen=True)
class Place:
    """Where a request was asked: its channel, and a link to its message when Slack gave one."""

    channel: str
    link: str | None = None

    def mrkdwn(self) -> str:
        """`<#C…>`, followed by a link to the thread when there is one."""
        channel = f"<#{self.channel}>"
        return f"{channel} (<{self.link}|open the thread>)" if self.link else channel


@dataclass(frozen=True)
class WaitingApproval:
    """An approval the viewer may decide, as its card shows it now."""

    card: cards.ApprovalCard
    place: Place
    since: float


@dataclass(frozen=True)
class WaitingQuestion:
    """A question the viewer may answer (in its thread)."""

    asked_of: str
    question: str
    place: Place
    since: float


Waiting = WaitingApproval | WaitingQuestion


def home_view(
    waiting: Sequence[Waiting], *, now: float, notice: str | None = None, metadata: str = ""
) -> cards.View:
    """The whole Home tab: a notice for the viewer if any, then the list, newest first.

    `waiting` comes newest first; `metadata` is kept in the view's private_metadata.
    """
    blocks: list[cards.Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Waiting for you"}}
    ]
    if notice:
        blocks.append(_section(notice))
    if not waiting:
        blocks.append(_section(EMPTY))
    else:
        count = "1 request" if len(waiting) == 1 else f"{len(waiting)} requests"
        blocks.append(_context(f"{count} you can decide, newest first."))
    for entry in waiting[:HOME_ENTRIES]:
        blocks.append({"type": "divider"})
        if isinstance(entry, WaitingApproval):
            blocks += _approval(entry, now)
        else:
            blocks += _question(entry, now)
    if (hidden := len(waiting) - HOME_ENTRIES) > 0:
        blocks.append(_context(f"…and {hidden} older requests, not shown here."))
    return {"type": "home", "private_metadata": metadata, "blocks": blocks}


def waited(seconds: float) -> str:
    """How long a request has waited, to the minute: `less than a minute`, `12m`, `1h5m`."""
    minutes = int(max(0.0, seconds) // 60)
    return format_duration(minutes * 60) if minutes else "less than a minute"


def _approval(entry: WaitingApproval, now: float) -> list[cards.Block]:
    card = entry.card
    shown, total = shown_arguments(
        card.arguments, card.schema, card.original_arguments, limit=HOME_ARGUMENTS
    )
    lines = [f"*{escape_mrkdwn(cards.tool_in_words(card.tool))}*"]
    if card.reason:
        lines.append(f"_Why:_ {escape_mrkdwn(_shorten(card.reason, SHOWN_REASON_CHARS))}")
    lines += [argument.line for argument in shown] or ["_No arguments._"]
    if total > len(shown):
        lines.append(f"_…and {total - len(shown)} more arguments, on the card in the thread._")
    about = [
        f"Requested by <@{card.requested_by}> in {entry.place.mrkdwn()}",
        f"waiting {waited(now - entry.since)}",
    ]
    if card.approvals_needed > 1:
        about.append(f"{len(set(card.approved_by))} of {card.approvals_needed} approvals")
    about.append(f"expires {cards.slack_date(card.expires_at)}")
    return [_section("\n".join(lines)), _context(" · ".join(about)), _buttons(card)]


def _question(entry: WaitingQuestion, now: float) -> list[cards.Block]:
    about = f"Asked in {entry.place.mrkdwn()} · waiting {waited(now - entry.since)}"
    if entry.place.link is None:
        return [
            _section("*Question*\n" + cards.question_text(entry.asked_of, entry.question)),
            _context(about + " · reply in its thread to answer"),
        ]
    answer = {
        "type": "button",
        "action_id": OPEN_THREAD,
        "text": {"type": "plain_text", "text": "Answer in the thread"},
        "url": entry.place.link,
    }
    return [
        _section("*Question*\n" + cards.question_text(entry.asked_of, entry.question)),
        _context(about),
        {"type": "actions", "elements": [answer]},
    ]


def _buttons(card: cards.ApprovalCard) -> cards.Block:
    """The card's own buttons (Approve, Edit & approve, Deny, Show full arguments)."""
    return next(block for block in cards.approval_blocks(card) if block["type"] == "actions")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _section(text: str) -> cards.Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _shorten(text, 3000)}}


def _context(text: str) -> cards.Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _shorten(text, 3000)}]}
