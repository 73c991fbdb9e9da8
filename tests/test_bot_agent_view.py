"""The agent view in a DM, through the real bot, the emulator and the mock model: a status line
instead of a placeholder, the answer streamed natively, the fallback to editing the same message
when a stream expires (mid-answer, or while a run waits for approval), Slack's own Stop, and the
session's lifecycle."""

from __future__ import annotations

from pathlib import Path

from bot.agent_view import SUGGESTED_PROMPTS
from playground.slack import Message, SlackEmulator
from tests.bot_harness import SlackBot, mock_model, slack_bot
from tests.mock_llm_server import MockLLMServer, Reply
from tests.tools_for_tests import CALLS

DM = "D0ALICE"


def answer_text(bot: SlackBot, thread_ts: str, card: Message | None = None) -> str:
    """Everything the bot's answer messages say, joined in thread order."""
    return "".join(m.text for m in bot.replies(DM, thread_ts) if card is None or m.ts != card.ts)


def methods_on(slack: SlackEmulator, ts: str) -> list[str]:
    return [c.method for c in slack.calls if c.params.get("ts") == ts and c.status == 200]


async def test_dm_answer_streams_natively_under_a_status_line(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    words = " ".join(f"word{i}" for i in range(60))
    llm.enqueue(Reply(text=words, chunk_chars=6, delay_first_chunk=0.5, tokens_per_second=40))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        slack = bot.slack
        asked = await bot.say("UALICE", DM, "Tell me about the deploy\nplease")
        await bot.idle(timeout=20)
        [answer] = bot.replies(DM, asked.ts)
        assert answer.text.startswith(words)  # the stream's markdown, all of it, once
        calls = methods_on(slack, answer.ts)
        assert "chat.startStream" in [c.method for c in slack.calls]
        assert "chat.update" not in calls  # no edits: the stream carried the text
        assert calls[-1] == "chat.stopStream"
        assert not slack.is_streaming(DM, answer.ts)
        # No placeholder message: the status line said what the agent was doing.
        assert "is thinking…" in slack.status_history(DM, asked.ts)
        assert slack.thread_status(DM, asked.ts) in (None, "")
        session = slack.session(DM, asked.ts)
        assert session is not None
        assert session["title"] == "Tell me about the deploy"
        assert session["history"][0] == "processing" and session["status"] == "closed"
        # Finished answers carry the feedback buttons under the streamed text.
        assert any(b["type"] == "context_actions" for b in answer.blocks)


async def test_a_stream_that_expires_mid_answer_ends_by_edit_with_the_whole_text(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    words = " ".join(f"w{i}" for i in range(80))
    llm.enqueue(Reply(text=words, chunk_chars=4, tokens_per_second=60))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        slack = bot.slack
        slack.stream_lifetime = 0.4  # Slack's ~5 minutes, shortened
        asked = await bot.say("UALICE", DM, "a long answer please")
        await bot.idle(timeout=20)
        answers = bot.replies(DM, asked.ts)
        assert answer_text(bot, asked.ts) == words  # every word once, in order
        first = answers[0]
        assert "chat.update" in methods_on(slack, first.ts)  # the same message, edited
        assert "message_not_in_streaming_state" in [c.error for c in slack.calls]
        assert slack.session(DM, asked.ts)["status"] == "closed"  # type: ignore[index]


async def test_a_stream_that_expired_during_an_approval_pause_lands_by_edit(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    CALLS.clear()
    llm.enqueue(
        Reply(
            text="I will open a ticket for that.",
            tool_calls=[("open_ticket", {"title": "Disk full", "priority": "high"})],
            delay_per_chunk=0.1,
        )
    )
    llm.enqueue(Reply(text="Opened it."))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        slack = bot.slack
        slack.stream_lifetime = 0.3  # the tool call's arguments take longer than the stream
        asked = await bot.say("UALICE", DM, "open a ticket: disk full")
        await bot.idle(timeout=20)
        first, card = bot.replies(DM, asked.ts)[:2]
        assert first.text.startswith("I will open a ticket for that.")
        assert "Waiting for approval" in first.visible_text()
        assert "chat.update" in methods_on(slack, first.ts)
        assert slack.session(DM, asked.ts)["status"] == "suspended"  # type: ignore[index]
        assert slack.thread_status(DM, asked.ts) == "is waiting for approval"
        await slack.click("UALICE", DM, card.ts, "countersign_approve")
        await bot.idle(timeout=20)
        texts = [m.text for m in bot.replies(DM, asked.ts)]
        assert sum(t.count("I will open a ticket for that.") for t in texts) == 1
        assert texts[-1].startswith("Opened it.")
        assert CALLS == [("Disk full", "high", "UALICE")]
        assert slack.session(DM, asked.ts)["status"] == "closed"  # type: ignore[index]


async def test_slacks_own_stop_ends_the_run_and_the_thread_goes_on(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    words = " ".join(f"w{i}" for i in range(400))
    llm.enqueue(Reply(text=words, chunk_chars=4, tokens_per_second=30))
    llm.enqueue(Reply(text="Still here."))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        slack = bot.slack
        asked, _ = await slack.user_says("UALICE", DM, "talk for a long time")
        await slack.wait_until(lambda: bool(bot.replies(DM, asked.ts)), timeout=10)
        stream_ts = bot.replies(DM, asked.ts)[0].ts
        await slack.wait_until(lambda: slack.is_streaming(DM, stream_ts), timeout=10)
        delivery = await slack.stop_session("UALICE", DM, asked.ts)
        assert delivery.status == 200
        await bot.idle(timeout=20)
        [answer] = bot.replies(DM, asked.ts)
        assert "Stopped" in answer.visible_text()
        assert len(answer.text) < len(words)  # it stopped before the end
        assert slack.session(DM, asked.ts)["status"] == "closed"  # type: ignore[index]
        await bot.say("UALICE", DM, "are you there?", thread_ts=asked.ts)
        await bot.idle(timeout=20)
        assert bot.replies(DM, asked.ts)[-1].text.startswith("Still here.")


async def test_opening_the_messages_tab_offers_the_suggested_prompts(tmp_path: Path) -> None:
    async with slack_bot(tmp_path) as bot:
        delivery = await bot.slack.open_home("UALICE", tab="messages")
        assert delivery.status == 200
        await bot.slack.wait_until(lambda: bool(bot.slack.suggested_prompts(DM)))
        prompts = bot.slack.suggested_prompts(DM)
        assert [(p["title"], p["message"]) for p in prompts] == list(SUGGESTED_PROMPTS)
        assert bot.slack.home_publishes("UALICE") == 0  # the Home tab was not opened
