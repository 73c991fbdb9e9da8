"""👍 / 👎 under finished answers: shown only when an answer ended on its own, one vote per
person per answer (the latest counts), each change in `python -m bot audit`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import (
    Block,
    ContextActionsBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
)

from bot import feedback
from bot.audit import print_audit
from bot.request_checks import PayloadError
from playground.slack import Message
from tests.bot_harness import SlackBot, mock_model, slack_bot
from tests.mock_llm_server import MockLLMServer, Reply

CHANNEL = "C0GENERAL"


def feedback_values(message: Message) -> list[str]:
    """The values of the 👍 / 👎 buttons a message shows (none: no buttons)."""
    return [
        element[button]["value"]
        for block in message.blocks
        if block.get("type") == "context_actions"
        for element in block.get("elements", [])
        if element.get("type") == "feedback_buttons"
        for button in ("positive_button", "negative_button")
    ]


async def answer_ids(bot: SlackBot, thread_ts: str) -> list[str]:
    """The answer ids of the thread's inbox items, oldest first."""
    rows = await bot.runtime.agent.database.fetch_all(
        "SELECT answer_id FROM inbox WHERE conversation = ? ORDER BY id",
        (f"T0001:{CHANNEL}:{thread_ts}",),
    )
    return [row["answer_id"] for row in rows]


async def vote(bot: SlackBot, user: str, answer: Message, *, positive: bool) -> None:
    delivery = await bot.slack.click_feedback(user, CHANNEL, answer.ts, positive=positive)
    assert delivery.status == 200
    await asyncio.sleep(0.05)
    await bot.idle()


async def feedback_rows(bot: SlackBot) -> list[tuple[str, str, str | None]]:
    rows = await bot.runtime.store.audit_rows()
    return [(r["actor"], r["thread_id"], r["detail"]) for r in rows if r["action"] == "feedback"]


def test_the_buttons_are_slacks_feedback_ui() -> None:
    [block] = feedback.feedback_actions("0123abcd4567")
    parsed = Block.parse(block)
    assert isinstance(parsed, ContextActionsBlock)
    parsed.validate_json()
    [element] = parsed.elements
    assert isinstance(element, FeedbackButtonsElement)
    assert element.action_id == feedback.FEEDBACK
    assert isinstance(element.positive_button, FeedbackButtonObject)
    assert parsed.to_dict() == block  # every field is one Slack knows
    up, down = block["elements"][0]["positive_button"], block["elements"][0]["negative_button"]
    assert up["text"]["text"] == "Good answer" and down["text"]["text"] == "Bad answer"
    assert up["accessibility_label"] and down["accessibility_label"]
    assert feedback.vote_of(up["value"]) == ("up", "0123abcd4567")
    assert feedback.vote_of(down["value"]) == ("down", "0123abcd4567")
    [again] = feedback.feedback_actions("0123abcd4567")
    assert again["block_id"] != block["block_id"]  # a new message version, a new block_id


@pytest.mark.parametrize("value", [None, "", "up", "sideways:0123", "up:", "up:a b", "down:x:y"])
def test_a_value_we_did_not_write_is_a_payload_error(value: str | None) -> None:
    with pytest.raises(PayloadError):
        feedback.vote_of(value)


async def test_a_finished_answer_takes_one_vote_per_person_and_the_latest_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], llm: MockLLMServer, database_url: str
) -> None:
    llm.enqueue(Reply(text="Water boils at 100 °C at sea level."))
    async with slack_bot(tmp_path, database_url=database_url, **mock_model(llm)) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> when does water boil?")
        [answer] = bot.replies(CHANNEL, asked.ts)
        [answer_id] = await answer_ids(bot, asked.ts)
        assert "100 °C" in answer.visible_text()
        assert feedback_values(answer) == [f"up:{answer_id}", f"down:{answer_id}"]
        block_ids = [block["block_id"] for block in answer.blocks]
        assert len(set(block_ids)) == len(block_ids)

        await asyncio.gather(  # a double click, even one that races itself
            vote(bot, "UBOB", answer, positive=True), vote(bot, "UBOB", answer, positive=True)
        )
        await vote(bot, "UBOB", answer, positive=True)
        thread_id = f"T0001:{CHANNEL}:{asked.ts}"
        assert await feedback_rows(bot) == [("UBOB", thread_id, f"👍 answer {answer_id}")]
        told = [e["text"] for e in bot.slack.ephemerals(CHANNEL, "UBOB")]
        assert told and all(text == "Thanks — noted 👍" for text in told)

        await vote(bot, "UBOB", answer, positive=False)
        await vote(bot, "UCAROL", answer, positive=True)
        assert await feedback_rows(bot) == [
            ("UBOB", thread_id, f"👍 answer {answer_id}"),
            ("UBOB", thread_id, f"👎 answer {answer_id} (was 👍)"),
            ("UCAROL", thread_id, f"👍 answer {answer_id}"),
        ]
        current = await bot.runtime.agent.database.fetch_all(
            "SELECT voter, vote FROM slack_feedback WHERE answer_id = ? ORDER BY voter",
            (answer_id,),
        )
        assert [(row["voter"], row["vote"]) for row in current] == [
            ("UBOB", "down"),
            ("UCAROL", "up"),
        ]
        assert "Thanks — noted 👎" in [e["text"] for e in bot.slack.ephemerals(CHANNEL, "UBOB")]
        assert feedback_values(bot.slack.message(CHANNEL, answer.ts))  # still there to change
        settings = bot.runtime.settings

    await print_audit(settings, limit=10)
    lines = capsys.readouterr().out.splitlines()
    assert "action" in lines[0]
    up, down, carol = lines[1:]
    assert "feedback" in up and "UBOB" in up and thread_id in up
    assert up.endswith(f"(👍 answer {answer_id})")
    assert down.endswith(f"(👎 answer {answer_id} (was 👍))")
    assert "UCAROL" in carol and carol.endswith(f"(👍 answer {answer_id})")


async def test_a_failed_answer_has_no_feedback_buttons(tmp_path: Path, llm: MockLLMServer) -> None:
    llm.enqueue(Reply(status=500, error_body={"error": {"message": "kaboom"}}))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> hello")
        [failed] = bot.replies(CHANNEL, asked.ts)
        assert failed.visible_text().startswith("⚠️")
        assert feedback_values(failed) == []
        await bot.say("UALICE", CHANNEL, "still there?", thread_ts=asked.ts)
        assert feedback_values(bot.replies(CHANNEL, asked.ts)[-1])  # the next one that finished


async def test_a_stopped_answer_has_no_feedback_buttons(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, demo_tokens_per_second=15) as bot:
        bot.runtime.streamer_settings = type(bot.runtime.streamer_settings)(min_interval=0.05)
        asked, _ = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")

        def stoppable() -> bool:
            replies = bot.replies(CHANNEL, asked.ts)
            return bool(replies) and any(
                b["action_id"] == "countersign_stop" for b in replies[0].buttons()
            )

        await bot.wait_for(stoppable)
        answer = bot.replies(CHANNEL, asked.ts)[0]
        delivery = await bot.slack.click("UALICE", CHANNEL, answer.ts, "countersign_stop")
        assert delivery.status == 200
        await bot.idle()
        stopped = bot.slack.message(CHANNEL, answer.ts)
        assert "Stopped" in stopped.visible_text()
        assert feedback_values(stopped) == []


async def test_an_answer_paused_for_approval_is_rated_once_its_continuation_finishes(
    tmp_path: Path,
) -> None:
    async with slack_bot(tmp_path) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> save a note about water")
        card = next(m for m in bot.replies(CHANNEL, asked.ts) if "Approval needed" in m.text)
        assert not any(feedback_values(m) for m in bot.replies(CHANNEL, asked.ts))
        delivery = await bot.slack.click("UBOB", CHANNEL, card.ts, "countersign_approve")
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle()
        rated = [m for m in bot.replies(CHANNEL, asked.ts) if feedback_values(m)]
        [continuation] = rated
        assert continuation.ts > card.ts and "saved the note" in continuation.visible_text()
        _, decision = await answer_ids(bot, asked.ts)
        assert feedback_values(continuation) == [f"up:{decision}", f"down:{decision}"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"value": "sideways:0123"}, "a feedback value we did not write"),
        ({"value": 7}, "actions.0.value has type int"),
        ({"channel": None}, "no channel.id"),
        ({"user": None}, "no user.id"),
        ({"message": {"ts": "9.000001", "thread_ts": "9.000001"}}, "outside the bot's"),
    ],
)
async def test_a_broken_feedback_click_is_acked_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: dict[str, Any], problem: str
) -> None:
    async with slack_bot(tmp_path) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> hello")
        [answer] = bot.replies(CHANNEL, asked.ts)
        [answer_id] = await answer_ids(bot, asked.ts)
        action: dict[str, Any] = {
            "type": "feedback_buttons",
            "action_id": feedback.FEEDBACK,
            "block_id": "feedback-1",
            "value": f"up:{answer_id}",
        }
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": "UBOB", "team_id": "T0001"},
            "team": {"id": "T0001"},
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "message_ts": answer.ts, "channel_id": CHANNEL},
            "message": {"ts": answer.ts, "thread_ts": asked.ts, "blocks": answer.blocks},
            "trigger_id": "1.2.3",
            "actions": [action],
        }
        if "value" in change:
            action["value"] = change["value"]
        else:
            payload.update(change)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bot"):
            delivery = await bot.slack.deliver_interactive(payload)
            await bot.idle()
        assert delivery.status == 200
        [line] = [r for r in caplog.records if r.name.startswith("bot.") and r.levelno >= 30]
        assert line.getMessage().startswith("ignored a 'block_actions' 'answer_feedback' payload")
        assert problem in line.getMessage() and not line.exc_info
        assert await feedback_rows(bot) == []
        assert bot.slack.ephemerals(CHANNEL, "UBOB") == []
