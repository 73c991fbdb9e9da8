"""Answers streamed into Slack through the whole bot, with the real litellm client against the
OpenAI-compatible mock model: 429s, long answers, hostile Markdown, failures, Socket Mode."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.rate_limits import Budget, SlackRateLimiter
from bot.slack_calls import SlackCalls
from bot.streaming import StreamerSettings
from playground.slack import Call, SlackEmulator
from playground.slack.payloads import block_actions
from tests.bot_harness import SlackBot, mock_model, slack_bot
from tests.mock_llm_server import MockLLMServer, Reply

CHANNEL = "C0GENERAL"


def fast(bot: SlackBot, budgets: dict[str, Budget] | None = None) -> None:
    """Edit often, so a test sees many frames in little time (the emulator allows it unless it
    enforces Slack's tiers; then pass budgets scaled to the emulator's limits)."""
    limiter = SlackRateLimiter(budgets or {"chat.update": Budget(20.0, burst=10)})
    bot.runtime.limiter = limiter
    bot.runtime.slack = SlackCalls(bot.runtime.client, limiter)
    bot.runtime.streamer_settings = StreamerSettings(min_interval=0.05, retry_backoff=0.05)


def answer_text(bot: SlackBot, thread_ts: str) -> str:
    """What the answer says, all messages together (each piece once, in order)."""
    return "".join(m.text for m in bot.replies(CHANNEL, thread_ts))


async def test_three_429s_mid_answer_lose_and_repeat_nothing(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    words = " ".join(f"word{i}" for i in range(120))
    llm.enqueue(Reply(text=words, chunk_chars=6, delay_per_chunk=0.03))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        fast(bot)
        said, _ = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> talk to me")
        await bot.wait_for(lambda: len(bot.slack.calls_to("chat.update")) >= 2)
        bot.slack.fail_next("chat.update", status=429, retry_after=1, times=3)
        await bot.idle(timeout=20)
        assert answer_text(bot, said.ts) == words
        rejected = [c for c in bot.slack.calls_to("chat.update") if c.status == 429]
        assert len(rejected) == 3
        assert bot.slack.calls_inside_retry_after == 0


async def test_a_15000_character_answer_continues_in_new_messages(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 10 for i in range(55)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 15_000
    llm.enqueue(Reply(text=text, chunk_chars=200))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        fast(bot)
        said = await bot.say("UALICE", CHANNEL, "<@UBOT> write a lot")
        replies = bot.replies(CHANNEL, said.ts)
        assert len(replies) >= 5
        assert all(len(m.text) <= 4000 for m in replies)
        assert "".join(m.text for m in replies).replace("\n", "") == text.replace("\n", "")
        assert all(c.status == 200 for c in bot.slack.calls)


async def test_markdown_is_formatted_and_hostile_mentions_cannot_ping(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    llm.enqueue(
        Reply(
            text=(
                "**Heads up** <!channel> and @here: ask <@U999> or <!subteam^S1>.\n"
                "- see [the docs](https://example.com/docs)\n"
                "- click <https://evil.example|https://bank.example>\n"
                "```\ncode <@U1>\n```"
            )
        )
    )
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        said = await bot.say("UALICE", CHANNEL, "<@UBOT> format something")
        [answer] = bot.replies(CHANNEL, said.ts)
        shown = answer.visible_text()
        assert "*Heads up*" in shown
        assert "• see <https://example.com/docs|the docs>" in shown
        for hostile in ("<!channel>", "<@U999>", "<!subteam^S1>", "<https://evil", "<@U1>"):
            assert hostile not in shown and hostile not in answer.text
        assert "@here" not in shown  # neutralised with a zero-width space
        assert "&lt;!channel&gt;" in shown
        updates = bot.slack.calls_to("chat.update")
        assert updates and all(c.params.get("parse") == "none" for c in updates)
        assert not any(c.params.get("link_names") for c in bot.slack.calls)


async def test_a_model_failure_is_one_short_line_and_the_thread_still_works(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    llm.enqueue(Reply(status=500, error_body={"error": {"message": "kaboom"}}))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        await bot.runtime.agent.warm_up()
        said = await bot.say("UALICE", CHANNEL, "<@UBOT> hello")
        [failed] = bot.replies(CHANNEL, said.ts)
        line = failed.visible_text()
        assert line.startswith("⚠️") and "ref " in line and "Traceback" not in line
        assert len(line) < 200
        await bot.say("UALICE", CHANNEL, "still there?", thread_ts=said.ts)
        assert bot.replies(CHANNEL, said.ts)[-1].visible_text() == "You said: still there?"


async def test_tool_progress_shows_while_it_runs_and_is_gone_after(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    llm.enqueue(
        Reply(text="Let me look.", tool_calls=[("slow_lookup", {"topic": "water"})]),
        Reply(text="Nothing saved about water yet.", delay_per_chunk=0.05),
    )
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        fast(bot)
        said = await bot.say("UALICE", CHANNEL, "<@UBOT> what about water?")
        [answer] = bot.replies(CHANNEL, said.ts)
        shown = [v for v in answer.versions if "Running Slow lookup" in str(v["blocks"])]
        assert shown, "the progress line never appeared"
        assert "Running" not in answer.visible_text()
        assert answer.visible_text().endswith("Nothing saved about water yet.")


async def test_thirty_concurrent_answers_draw_no_429(tmp_path: Path) -> None:
    async with SlackEmulator(enforce_rate_limits=True) as slack:
        # Slack's tiers scaled 20× so the test takes seconds; the bot's budget is scaled alike,
        # with the same headroom it keeps against real Slack plus some for a busy test machine.
        slack.limiter.set_limit("chat.update", per_minute=1000, burst=8)
        slack.limiter.set_limit("chat.postMessage", per_minute=1200, burst=3)
        channels = [f"C0LOAD{i:02d}" for i in range(10)]
        for channel in channels:
            slack.add_channel(channel, channel.lower(), members=["UALICE", "UBOT"])
        async with slack_bot(tmp_path, slack=slack, demo_tokens_per_second=60) as bot:
            fast(
                bot,
                {
                    "chat.update": Budget(700 / 60, burst=4),
                    "chat.postMessage": Budget(12.0, burst=2, per_key=True),
                },
            )
            sent = [
                (await slack.user_says("UALICE", channels[i % 10], f"<@UBOT> hello {i}"))[0]
                for i in range(30)
            ]
            await asyncio.sleep(0.2)
            await bot.idle(timeout=60)
            for question in sent:  # under load an answer may go on in new messages
                replies = bot.replies(question.channel, question.ts)
                assert replies and all(reply.buttons() == [] for reply in replies)
            assert [c for c in slack.calls if c.status == 429] == []


async def test_socket_mode_chat_and_approval(tmp_path: Path) -> None:
    async with (
        SlackEmulator() as slack,
        slack_bot(tmp_path, slack=slack, slack_app_token="xapp-test-token") as bot,
    ):
        assert bot.running.bot.mode == "socket"
        said = await bot.say("UALICE", CHANNEL, "<@UBOT> save a note about sockets")
        card = bot.replies(CHANNEL, said.ts)[-1]
        delivery = await slack.click("UBOB", CHANNEL, card.ts, "countersign_approve")
        assert delivery.status == 200  # acked over the websocket
        await asyncio.sleep(0.05)
        await bot.idle()
        assert "Approved by <@UBOB>" in slack.message(CHANNEL, card.ts).visible_text()
        assert "saved the note" in bot.replies(CHANNEL, said.ts)[-1].visible_text()


async def test_the_first_text_is_shown_as_soon_as_it_arrives(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    llm.enqueue(Reply(text="Hello there, friend. " * 4, chunk_chars=8, delay_per_chunk=0.3))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        await bot.runtime.agent.warm_up()
        # A long cadence: only the first text may skip it (the Stop button wakes the flusher first).
        bot.runtime.streamer_settings = StreamerSettings(min_interval=5.0)
        said, _ = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> hi")
        await bot.wait_for(lambda: any("Hello" in c.params.get("text", "") for c in shown(bot)))
        first_chunk = next(c for c in llm.sent_chunks if c.text)
        first_shown = next(c for c in shown(bot) if "Hello" in c.params.get("text", ""))
        assert first_shown.at - first_chunk.at < 2.0  # not held back for the 5 s cadence
        await bot.idle(timeout=20)
        assert answer_text(bot, said.ts) == "Hello there, friend. " * 4


def shown(bot: SlackBot) -> list[Call]:
    return [c for c in bot.slack.calls if c.method in ("chat.update", "chat.postMessage")]


async def test_a_stale_stop_button_stops_nothing_else(tmp_path: Path) -> None:
    """A Stop button names its own answer: clicked after that answer ended, it stops no other."""
    async with slack_bot(tmp_path, demo_tokens_per_second=40) as bot:
        slack = bot.slack
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
        await bot.wait_for(lambda: bot.replies(CHANNEL, asked.ts)[0].buttons(), timeout=10)
        old_stop = bot.replies(CHANNEL, asked.ts)[0].buttons()[0]
        await bot.idle(timeout=30)
        await slack.user_says("UALICE", CHANNEL, "hello again", thread_ts=asked.ts)
        await bot.wait_for(
            lambda: (
                len(bot.replies(CHANNEL, asked.ts)) == 2
                and bot.replies(CHANNEL, asked.ts)[1].buttons()
            ),
            timeout=10,
        )
        second = bot.replies(CHANNEL, asked.ts)[1]
        payload = block_actions(
            slack.workspace,
            user="UALICE",
            channel=slack.workspace.channels[CHANNEL],
            message=second,
            button=old_stop,
            block_id="stale",
            trigger_id=slack.workspace.issue_trigger("UALICE", slack.clock()),
            response_url=f"{slack.url}/actions/none",
        )
        assert (await slack.deliver_interactive(payload)).status == 200
        await bot.idle(timeout=30)
        answer = bot.replies(CHANNEL, asked.ts)[1].visible_text()
        assert "Stopped" not in answer and "demo model" in answer  # it ran to its end
        assert any("already finished" in e["text"] for e in slack.ephemerals(CHANNEL, "UALICE"))
