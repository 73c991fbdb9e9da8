"""The tickets example in Slack: a real MCP server (examples/tickets, over stdio) behind the real
bot, with the example policy, driven by the demo model as the README says to try it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.bot_harness import SlackBot, slack_bot
from tests.test_bot_approvals import CHANNEL, card_in, click

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tickets"
APPROVE = "countersign_approve"


def changes(tickets_file: Path) -> list[str]:
    """What the tickets server wrote, one line per change (none: it never wrote)."""
    if not tickets_file.exists():
        return []
    return list(json.loads(tickets_file.read_text())["log"])


async def ask(bot: SlackBot, text: str) -> str:
    """Start a thread with `text`; everything the bot said there."""
    asked = await bot.say("UALICE", CHANNEL, f"<@UBOT> {text}")
    return asked.ts


async def test_the_tickets_example_runs_allows_asks_two_people_and_denies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    tickets = tmp_path / "tickets.json"
    monkeypatch.setenv("TICKETS_FILE", str(tickets))
    monkeypatch.chdir(ROOT)  # mcp.json names the server by its path from the repository root
    async with slack_bot(
        tmp_path,
        database_url=database_url,
        mcp_config=EXAMPLE / "mcp.json",
        policy_file=EXAMPLE / "policy.yaml",
    ) as bot:
        listed = await ask(bot, "use tickets__list_tickets")
        shown = "\n".join(bot.texts(CHANNEL, listed))
        assert "#4" in shown and "Approval needed" not in shown  # read-only: no card
        assert changes(tickets) == []

        closed = await ask(bot, 'call tickets__close_ticket {"id": 3, "priority": "low"}')
        assert not any("Approval needed" in text for text in bot.texts(CHANNEL, closed))
        assert len(changes(tickets)) == 1  # the policy allowed it: it ran, once

        deleted = await ask(bot, 'call tickets__delete_ticket {"id": 2}')
        shown = "\n".join(bot.texts(CHANNEL, deleted))
        assert "Not run: Delete ticket · tickets. Deleting is not allowed from Slack" in shown
        assert len(changes(tickets)) == 1

        refund = await ask(
            bot, 'call tickets__refund_customer {"ticket_id": 4, "amount": 900, "currency": "EUR"}'
        )
        card = card_in(bot, refund)
        text = card.visible_text()
        assert "Refund customer · tickets" in text and "Needs 2 approvals" in text
        assert "Asked by policy: rule 2" in text and "Refunds above 500" in text
        assert "900" in text and "EUR" in text and '{"' not in text  # in words, not JSON
        await click(bot, "UBOB", card, APPROVE)
        assert "1 of 2 approvals: <@UBOB>" in bot.slack.message(CHANNEL, card.ts).visible_text()
        assert len(changes(tickets)) == 1
        await click(bot, "UCAROL", card, APPROVE)
        await bot.wait_for(lambda: len(changes(tickets)) == 2)
        await asyncio.sleep(0.2)
        await bot.idle()
        assert len(changes(tickets)) == 2  # the refund ran once
        assert bot.slack.message(CHANNEL, card.ts).buttons() == []
        assert "refund" in bot.texts(CHANNEL, refund)[-1].lower()
