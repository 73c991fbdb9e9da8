"""Slack failing one call at a bad moment: every must-land post and edit still lands, once.

Faults on the real bot's calls, through the emulator: a 5xx, a connection reset before Slack
applied the call, one reset after it did (the ambiguous case where a blind retry posts twice),
and a 429. What a person sees must be the same as without the fault.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import SlackBot, slack_bot

CHANNEL = "C0GENERAL"
FAULTS: dict[str, dict[str, Any]] = {
    "5xx": {"status": 500, "error": "internal_error"},
    "reset before": {"drop": "before"},
    "reset after": {"drop": "after"},
    "429": {"status": 429, "error": "ratelimited", "retry_after": 1},
}


async def note_count(bot: SlackBot) -> int:
    rows = await bot.runtime.agent.database.fetch_all("SELECT count(*) AS n FROM notes")
    return int(rows[0]["n"])


@pytest.mark.parametrize("fault", FAULTS)
async def test_the_answer_the_card_and_its_decision_land_once_through_a_fault(
    tmp_path: Path, fault: str
) -> None:
    async with slack_bot(tmp_path) as bot:
        # The next two posts are the answer's first message and the approval card.
        bot.slack.fail_next("chat.postMessage", times=2, **FAULTS[fault])
        asked, _ = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> save a note about water")
        await bot.wait_for(
            lambda: any("Approval needed" in t for t in bot.texts(CHANNEL, asked.ts)), timeout=20
        )
        await bot.idle(timeout=20)
        texts = bot.texts(CHANNEL, asked.ts)
        assert len(texts) == 2, texts  # the answer and the card, once each
        card = next(m for m in bot.replies(CHANNEL, asked.ts) if "Approval needed" in m.text)
        assert "countersign_approve" in [b["action_id"] for b in card.buttons()]

        bot.slack.fail_next("chat.update", times=1, **FAULTS[fault])  # the card's edit
        delivery = await bot.slack.click("UBOB", CHANNEL, card.ts, "countersign_approve")
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle(timeout=20)
        shown = bot.slack.message(CHANNEL, card.ts)
        assert "Approved by <@UBOB>" in shown.visible_text() and not shown.buttons()
        assert await note_count(bot) == 1
        texts = bot.texts(CHANNEL, asked.ts)
        assert len(texts) == 3 and "saved the note" in texts[-1], texts
