"""LOG_FORMAT=json: every line the bot writes is one JSON object, and the lines written for a
turn, a click or an event carry the thread, turn and Slack ids an operator searches by."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import log_context
from bot.log_format import JsonLines
from playground.slack import SlackEmulator
from playground.slack.payloads import app_mention_event
from tests.bot_harness import SIGNING_SECRET
from tests.bot_process import bot_process

CHANNEL = "C0GENERAL"
BOT_TOKEN = "xoxb-test-token"  # what tests.bot_process gives the bot
REPEATED_EVENT = "Ev0LOGSREPEAT"


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    """Each line as the JSON object it must be (a line that is not fails here, shown whole)."""
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
        assert isinstance(record, dict), line
        records.append(record)
    return records


def inbox_items(database: Path) -> list[tuple[str, str, str]]:
    """(kind, conversation, answer id) of each inbox item, in order: what an operator looks up
    a `turn` in."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT kind, conversation, answer_id FROM inbox ORDER BY id"
        ).fetchall()
    return [(str(kind), str(conversation), str(answer)) for kind, conversation, answer in rows]


async def test_a_turn_a_card_and_clicks_log_json_lines_with_their_ids(tmp_path: Path) -> None:
    async with (
        SlackEmulator() as slack,
        bot_process(slack, tmp_path, LOG_FORMAT="json", LOG_LEVEL="DEBUG") as bot,
    ):
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> save a note about water")

        def card_shown() -> bool:
            return any(
                "Approval needed" in m.visible_text() for m in slack.thread(CHANNEL, asked.ts)
            )

        await slack.wait_until(card_shown, timeout=30)
        card = next(m for m in slack.thread(CHANNEL, asked.ts) if "Approval needed" in m.text)
        # Slack delivers an event again (same event_id): the bot ignores it, and says so.
        for _ in range(2):
            repeat = app_mention_event(slack.workspace, asked)
            await slack.deliver_event(repeat, event_id=REPEATED_EVENT, retry_num=1)
        # Deny opens a form; Slack refuses it (an expired trigger): a warning, for the click.
        slack.fail_next("views.open", error="expired_trigger_id", status=200)
        assert (await slack.click("UBOB", CHANNEL, card.ts, "countersign_deny")).status == 200
        # Approve runs the decision; editing the card fails: a warning with its traceback.
        slack.fail_next("chat.update", error="message_not_found", status=200)
        assert (await slack.click("UBOB", CHANNEL, card.ts, "countersign_approve")).status == 200

        def saved() -> bool:
            return any(
                "saved the note" in m.visible_text() for m in slack.thread(CHANNEL, asked.ts)
            )

        await slack.wait_until(saved, timeout=30)
        [refused_form] = slack.calls_to("views.open")
    lines = parsed(bot.log)  # all of them: start-up, Bolt, slack_sdk, aiosqlite, shutdown

    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        moment = datetime.datetime.fromisoformat(line["time"])
        assert line["time"].endswith("Z") and moment.utcoffset() == datetime.timedelta(0)
    text = "\n".join(bot.log)
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text

    [message, decision] = inbox_items(tmp_path / "countersign.db")
    assert message[0] == "message" and decision[0] == "decision"
    conversation = message[1]
    for kind, _, turn in (message, decision):
        written = [line for line in lines if line.get("turn") == turn]
        assert written, f"no line carries the {kind} item's turn id {turn}"
        assert {line.get("thread") for line in written} == {conversation}

    [form] = [line for line in lines if "could not open a form" in line["message"]]
    assert form["level"] == "WARNING" and form["logger"] == "bot.clicks"
    assert form["event"] == refused_form.params["trigger_id"]  # the click's trigger
    assert form["thread"] == conversation and "turn" not in form  # a click is not a turn

    [repeated] = [line for line in lines if "duplicate delivery" in line["message"]]
    assert repeated["event"] == REPEATED_EVENT and repeated["thread"] == conversation

    [edit] = [line for line in lines if "could not edit the card" in line["message"]]
    assert edit["turn"] == decision[2] and edit["thread"] == conversation
    assert "Traceback" in edit["exception"] and "message_not_found" in edit["exception"]

    [*_, shutting_down] = [line for line in lines if line["logger"] == "bot"]
    assert "shutting down" in shutting_down["message"]
    assert not {"thread", "turn", "event"} & shutting_down.keys()  # nothing leaks past the work


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """A logger of this test's own, writing JSON lines into a buffer (the root logger of the
    test run is pytest's, and stays so)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


async def test_ids_reach_tasks_started_inside_and_end_with_the_work(
    json_log: io.StringIO,
) -> None:
    logger = logging.getLogger("tests.logs")

    async def background() -> None:
        await asyncio.sleep(0)
        logger.info("from a task started inside")

    with log_context.working_on(event="Ev1"):
        log_context.learned(thread="T1:C1:1.0")
        task = asyncio.create_task(background())
        with log_context.working_on(turn="answer1"):
            logger.info("inside a turn")
        logger.info("after the turn")
    logger.info("after the work")
    await task
    inner_task = asyncio.create_task(
        background(), context=log_context.task_context(thread="T2:C2:2.0", turn="answer2")
    )
    await inner_task
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logger.exception("failed")

    lines = parsed(json_log.getvalue().splitlines())
    ids = [{key: line.get(key) for key in ("thread", "turn", "event")} for line in lines]
    assert [line["message"] for line in lines] == [
        "inside a turn",
        "after the turn",
        "after the work",
        "from a task started inside",
        "from a task started inside",
        "failed",
    ]
    assert ids == [
        {"thread": "T1:C1:1.0", "turn": "answer1", "event": "Ev1"},
        {"thread": "T1:C1:1.0", "turn": None, "event": "Ev1"},
        {"thread": None, "turn": None, "event": None},
        {"thread": "T1:C1:1.0", "turn": None, "event": "Ev1"},
        {"thread": "T2:C2:2.0", "turn": "answer2", "event": None},
        {"thread": None, "turn": None, "event": None},
    ]
    assert lines[-1]["level"] == "ERROR"
    assert lines[-1]["exception"].endswith("RuntimeError: boom\nsecond line")
    assert "exception" not in lines[0]
