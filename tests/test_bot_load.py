"""Many answers at once in one workspace, with Slack's tiers enforced by the emulator.

Every answer must land whole and exact (each piece of text once, in order), the first message
of each must already carry the model's words, no Stop button may be left behind, and the bot
must never meet a 429 or call inside a Retry-After window. Slack's chat.update tier is scaled
20x so the test takes seconds; chat.postMessage keeps Slack's own numbers (one a second per
channel, and the workspace-wide cap), which is what the answers lean on when edits run out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.rate_limits import Budget, SlackRateLimiter, default_budgets
from bot.slack_calls import SlackCalls
from playground.slack import SlackEmulator
from tests.bot_harness import SlackBot, mock_model, slack_bot
from tests.mock_llm_server import MockLLMServer, Reply


def scaled_budgets(bot: SlackBot) -> None:
    """The bot's chat.update budget scaled like the emulator's, with its usual headroom."""
    budgets = default_budgets()
    budgets["chat.update"] = Budget(700 / 60, burst=4)
    limiter = SlackRateLimiter(budgets)
    bot.runtime.limiter = limiter
    bot.runtime.slack = SlackCalls(bot.runtime.client, limiter)


def answer_text(n: int) -> str:
    words = " ".join(f"w{n}x{i}" for i in range(60))
    return f"Answer {n}: {words}."


@pytest.mark.parametrize("conversations", [30, 100])
async def test_concurrent_answers_all_land_whole_with_no_429(
    tmp_path: Path, llm: MockLLMServer, conversations: int
) -> None:
    for n in range(conversations):
        llm.enqueue(Reply(text=answer_text(n), chunk_chars=8, tokens_per_second=40))
    async with SlackEmulator(enforce_rate_limits=True) as slack:
        slack.limiter.set_limit("chat.update", per_minute=1000, burst=8)
        channels = [f"C0LOAD{i:03d}" for i in range(conversations)]
        for channel in channels:
            slack.add_channel(channel, channel.lower(), members=["UALICE", "UBOT"])
        async with slack_bot(tmp_path, slack=slack, **mock_model(llm)) as bot:
            scaled_budgets(bot)
            asked = [
                (await slack.user_says("UALICE", channel, "<@UBOT> tell me"))[0]
                for channel in channels
            ]
            await bot.idle(timeout=120)

            shown = []
            for question in asked:
                replies = bot.replies(question.channel, question.ts)
                assert replies, f"no answer in {question.channel}"
                assert all(message.buttons() == [] for message in replies)
                shown.append("".join(message.text for message in replies))
            assert sorted(shown) == sorted(answer_text(n) for n in range(conversations))
            assert [c.method for c in slack.calls if c.status == 429] == []
            assert slack.calls_inside_retry_after == 0
