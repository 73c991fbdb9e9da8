"""Kill the bot process at any moment and start it again: nothing is lost or repeated."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playground.slack import SlackEmulator
from tests.bot_process import bot_process

CHANNEL = "C0GENERAL"


def bot_replies(slack: SlackEmulator, thread_ts: str) -> list[str]:
    return [m.visible_text() for m in slack.thread(CHANNEL, thread_ts) if m.user == "UBOT"]


async def test_a_card_still_works_after_kill_9_and_restart(tmp_path: Path) -> None:
    async with SlackEmulator() as slack:
        async with bot_process(slack, tmp_path) as first:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> save a note about water")
            await slack.wait_until(
                lambda: any("Approval needed" in t for t in bot_replies(slack, asked.ts)),
                timeout=20,
            )
            first.kill()
        card = next(
            m for m in slack.thread(CHANNEL, asked.ts) if "Approval needed" in m.visible_text()
        )
        async with bot_process(slack, tmp_path) as second:
            delivery = await slack.click("UBOB", CHANNEL, card.ts, "countersign_approve")
            assert delivery.status == 200
            await slack.wait_until(
                lambda: "saved the note" in bot_replies(slack, asked.ts)[-1], timeout=20
            )
            assert "Approved by <@UBOB>" in slack.message(CHANNEL, card.ts).visible_text()
            assert second.process.returncode is None
        posts = [c for c in slack.calls_to("chat.postMessage") if "Approval" in str(c.params)]
        assert len(posts) == 1  # the card was not posted again


async def test_an_answer_cut_off_by_kill_9_is_marked_and_can_be_retried(tmp_path: Path) -> None:
    async with SlackEmulator() as slack:
        async with bot_process(slack, tmp_path, DEMO_TOKENS_PER_SECOND="4") as first:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
            await slack.wait_until(
                lambda: (
                    "Thinking" not in "".join(bot_replies(slack, asked.ts))
                    and bool(bot_replies(slack, asked.ts))
                ),
                timeout=20,
            )
            first.kill()
        async with bot_process(slack, tmp_path) as second:
            await slack.wait_until(
                lambda: "Interrupted" in bot_replies(slack, asked.ts)[0], timeout=20
            )
            answer = slack.thread(CHANNEL, asked.ts)[1]
            assert [b["action_id"] for b in answer.buttons()] == ["countersign_retry"]
            await slack.click("UALICE", CHANNEL, answer.ts, "countersign_retry")
            await slack.wait_until(lambda: len(bot_replies(slack, asked.ts)) == 2, timeout=20)
            await asyncio.sleep(0.5)
            retried = bot_replies(slack, asked.ts)[-1]
            assert "note" in retried.lower() and "Thinking" not in retried
            assert slack.message(CHANNEL, answer.ts).buttons() == []
            assert second.process.returncode is None


async def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    async with SlackEmulator() as slack:
        async with bot_process(slack, tmp_path) as running:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
            await slack.wait_until(lambda: bool(bot_replies(slack, asked.ts)), timeout=20)
        assert running.process.returncode == 0
        assert not any("Traceback" in line for line in running.log), "\n".join(running.log)
