"""Kill the bot process at any moment, or deploy over it, and start it again: nothing is lost
or repeated, and nothing is left looking in progress."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from playground.slack import SlackEmulator
from tests.bot_harness import SIGNING_SECRET
from tests.bot_process import bot_process, clean_environment

CHANNEL = "C0GENERAL"
HELLO = "I'm the Countersign demo model"


def bot_replies(slack: SlackEmulator, thread_ts: str) -> list[str]:
    return [m.visible_text() for m in slack.thread(CHANNEL, thread_ts) if m.user == "UBOT"]


def in_progress(text: str) -> bool:
    return any(mark in text for mark in ("Thinking", "Continuing", "Paused for a restart"))


def streaming(slack: SlackEmulator, thread_ts: str) -> bool:
    """The first reply shows the answer's text, not a status line: the answer is streaming."""
    replies = bot_replies(slack, thread_ts)
    return bool(replies) and "Thinking" not in replies[0] and "Continuing" not in replies[0]


def hello_answered(slack: SlackEmulator, thread_ts: str) -> bool:
    """The answer to "hello" is whole in the thread's first reply, and nothing is in progress."""
    first = bot_replies(slack, thread_ts)[0]
    return HELLO in first and not in_progress(first)


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


async def test_an_answer_cut_off_by_kill_9_continues_in_the_same_message(tmp_path: Path) -> None:
    async with SlackEmulator() as slack:
        async with bot_process(slack, tmp_path, DEMO_TOKENS_PER_SECOND="4") as first:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
            await slack.wait_until(lambda: streaming(slack, asked.ts), timeout=20)
            first.kill()
        [partial] = slack.bot_messages(CHANNEL, asked.ts)
        async with bot_process(slack, tmp_path):
            await slack.wait_until(
                lambda: hello_answered(slack, asked.ts),
                timeout=20,
            )
        [answer] = slack.bot_messages(CHANNEL, asked.ts)  # one answer, not a second one
        assert answer.ts == partial.ts
        assert answer.buttons() == []  # no Stop left behind, no Retry needed


async def test_a_message_queued_behind_a_turn_survives_kill_9(tmp_path: Path) -> None:
    async with SlackEmulator() as slack:
        async with bot_process(slack, tmp_path, DEMO_TOKENS_PER_SECOND="8") as first:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
            await slack.wait_until(lambda: bool(bot_replies(slack, asked.ts)), timeout=20)
            _, deliveries = await slack.user_says(
                "UALICE", CHANNEL, "what did I save about tea?", thread_ts=asked.ts
            )
            assert [d.status for d in deliveries] == [200]  # acked: Slack will not send it again
            first.kill()
        async with bot_process(slack, tmp_path):
            await slack.wait_until(
                lambda: (
                    len(bot_replies(slack, asked.ts)) == 2
                    and not any(in_progress(t) for t in bot_replies(slack, asked.ts))
                ),
                timeout=30,
            )
        first_answer, second_answer = bot_replies(slack, asked.ts)
        assert HELLO in first_answer
        assert "tea" in second_answer.lower()


async def test_sigterm_pauses_an_answer_for_the_restart_and_the_next_process_finishes_it(
    tmp_path: Path,
) -> None:
    async with SlackEmulator() as slack:
        slow = {"DEMO_TOKENS_PER_SECOND": "4", "SHUTDOWN_GRACE_SECONDS": "0.5"}
        async with bot_process(slack, tmp_path, **slow) as first:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
            await slack.wait_until(lambda: streaming(slack, asked.ts), timeout=20)
        assert first.process.returncode == 0
        assert not any("Traceback" in line for line in first.log), "\n".join(first.log)
        [paused] = slack.bot_messages(CHANNEL, asked.ts)
        assert "Paused for a restart" in paused.visible_text()
        assert paused.buttons() == []  # a deploy is not a Stop: no Stop, no Retry
        async with bot_process(slack, tmp_path):
            await slack.wait_until(
                lambda: hello_answered(slack, asked.ts),
                timeout=20,
            )
        [answer] = slack.bot_messages(CHANNEL, asked.ts)
        assert answer.ts == paused.ts and "Stopped" not in answer.visible_text()


async def test_an_answer_interrupted_twice_waits_for_retry(tmp_path: Path) -> None:
    async with SlackEmulator() as slack:
        slow = {"DEMO_TOKENS_PER_SECOND": "3"}

        async with bot_process(slack, tmp_path, **slow) as first:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
            await slack.wait_until(lambda: streaming(slack, asked.ts), timeout=20)
            first.kill()
        seen = len(slack.bot_messages(CHANNEL, asked.ts)[0].versions)
        async with bot_process(slack, tmp_path, **slow) as second:
            # The second attempt takes the answer over (its status line), then streams again.
            await slack.wait_until(
                lambda: (
                    len(slack.bot_messages(CHANNEL, asked.ts)[0].versions) > seen + 1
                    and streaming(slack, asked.ts)
                ),
                timeout=20,
            )
            second.kill()
        async with bot_process(slack, tmp_path, APPROVERS="UBOB"):
            await slack.wait_until(
                lambda: (
                    "countersign_retry"
                    in [b["action_id"] for b in slack.bot_messages(CHANNEL, asked.ts)[0].buttons()]
                ),
                timeout=20,
            )
            [held] = slack.bot_messages(CHANNEL, asked.ts)
            assert "Interrupted twice" in held.visible_text()
            assert [b["action_id"] for b in held.buttons()] == ["countersign_retry"]
            await slack.click("UCAROL", CHANNEL, held.ts, "countersign_retry")  # not theirs
            await slack.wait_until(lambda: bool(slack.ephemerals(CHANNEL, "UCAROL")))
            assert "countersign_retry" in str(slack.message(CHANNEL, held.ts).buttons())
            await slack.click("UALICE", CHANNEL, held.ts, "countersign_retry")
            await slack.wait_until(
                lambda: hello_answered(slack, asked.ts),
                timeout=20,
            )
            assert slack.message(CHANNEL, held.ts).buttons() == []


async def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    async with SlackEmulator() as slack:
        async with bot_process(slack, tmp_path) as running:
            asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
            await slack.wait_until(lambda: bool(bot_replies(slack, asked.ts)), timeout=20)
        assert running.process.returncode == 0
        assert not any("Traceback" in line for line in running.log), "\n".join(running.log)


async def test_a_second_process_on_one_sqlite_file_is_refused_with_what_to_do(
    tmp_path: Path,
) -> None:
    async with SlackEmulator() as slack, bot_process(slack, tmp_path) as first:
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=clean_environment(
                SLACK_BOT_TOKEN="xoxb-test-token",
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=slack.api_url,
                HOST="127.0.0.1",
                DATABASE_URL=f"sqlite:///{tmp_path / 'countersign.db'}",
            ),
            stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )
        _, stderr = await asyncio.wait_for(second.communicate(), timeout=60)
        assert second.returncode != 0
        message = stderr.decode().strip().splitlines()[-1]
        assert f"another bot process (pid {first.process.pid})" in message
        assert "PostgreSQL" in message
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")  # the first serves
        await slack.wait_until(lambda: hello_answered(slack, asked.ts), timeout=20)
