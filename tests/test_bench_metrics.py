"""The bench's figures for first words and completion, from hand-built emulator records: an
answer edited in place, one split into several messages, one shown by a native stream, one
that never becomes whole; and the table's PASS / MISS against the issue's targets."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from bench import model, targets
from bench.__main__ import configure, levels
from bench.answer_timeline import (
    answer_changes,
    first_exactly,
    first_newly_containing,
    shown_at_end,
)
from bench.conversations import ConversationRun
from bench.metrics import PhaseRecord, phase_figures
from bench.report import table
from bench.workspace import add_channels
from playground.slack import Call, Message, SlackEmulator
from tests.mock_llm_server import SentChunk

ROOT = "1700000000.000100"
CHANNEL = "C0BENCH001"
ANSWER = "Plan the launch. Budget is fine."


def bot_message(ts: str, versions: list[tuple[float, str]], *, deleted: bool = False) -> Message:
    """A bot reply in the thread of ROOT that went through `versions` (time, text)."""
    text = versions[-1][1]
    return Message(
        channel=CHANNEL,
        ts=ts,
        user="UBOT",
        bot_id="BBOT",
        text=text,
        blocks=[],
        thread_ts=ROOT,
        versions=[{"text": t, "blocks": [], "at": at} for at, t in versions],
        deleted=deleted,
    )


def call(
    method: str,
    at: float,
    *,
    status: int = 200,
    response: dict[str, Any] | None = None,
    **params: Any,
) -> Call:
    return Call(
        method=method,
        params={"channel": CHANNEL, **params},
        status=status,
        error=None if status == 200 else "ratelimited",
        at=at,
        response={"ok": status == 200, **(response or {})},
    )


def test_one_message_edited_in_place() -> None:
    """First words when an edit first shows them; whole when the text is exactly the model's."""
    message = bot_message(
        "1700000000.000200",
        [(10.0, "…"), (10.4, "Plan the"), (11.0, "Plan the launch."), (12.5, ANSWER)],
    )
    changes = answer_changes([], {message.ts: message}, root_ts=ROOT)

    assert first_newly_containing(changes, "Plan", after=10.1) == 10.4
    assert first_exactly(changes, ANSWER) == 12.5
    assert first_exactly(changes, ANSWER + " More.") is None
    assert shown_at_end(changes) == ANSWER


def test_answer_split_into_several_messages() -> None:
    """The thread's messages are read together, in thread order; a deleted leftover counts
    only while it was there."""
    first = bot_message("1700000000.000200", [(10.0, "Plan the"), (11.0, "Plan the launch. ")])
    leftover = bot_message("1700000000.000300", [(11.2, "Budget")], deleted=True)
    second = bot_message("1700000000.000400", [(12.0, "Budget is"), (13.0, "Budget is fine.")])
    person = Message(CHANNEL, "1700000000.000250", "UALICE", None, "thanks", [], ROOT, [])
    thread = {m.ts: m for m in (first, leftover, second, person)}
    calls = [call("chat.delete", 11.5, ts=leftover.ts)]

    changes = answer_changes(calls, thread, root_ts=ROOT)

    assert first_newly_containing(changes, "Plan", after=9.0) == 10.0
    assert first_newly_containing(changes, "fine", after=9.0) == 13.0
    assert first_exactly(changes, ANSWER) == 13.0
    assert first_exactly(changes, "Plan the launch. Budget") == 11.2
    assert shown_at_end(changes) == ANSWER


def test_an_answer_that_never_becomes_whole() -> None:
    message = bot_message("1700000000.000200", [(10.0, "Plan the"), (11.0, "Plan the launch.")])
    changes = answer_changes([], {message.ts: message}, root_ts=ROOT)

    assert first_exactly(changes, ANSWER) is None
    assert first_exactly(changes, "") is None


def test_the_card_is_not_part_of_the_answer() -> None:
    answer = bot_message("1700000000.000200", [(10.0, ANSWER)])
    card = bot_message("1700000000.000300", [(10.5, "Approve?")])
    changes = answer_changes([], {m.ts: m for m in (answer, card)}, root_ts=ROOT, exclude=[card.ts])

    assert first_exactly(changes, ANSWER) == 10.0


def test_words_shown_before_do_not_count_as_new() -> None:
    """A chunk's text already on screen (earlier words) is not that chunk arriving."""
    message = bot_message(
        "1700000000.000200", [(10.0, "Plan"), (10.5, "Plan"), (11.0, "Plan Plan")]
    )
    changes = answer_changes([], {message.ts: message}, root_ts=ROOT)

    assert first_newly_containing(changes, "Plan", after=10.2) == 11.0


def _phase(answers: dict[int, list[tuple[float, str]]]) -> tuple[PhaseRecord, SlackEmulator]:
    """A chat phase of len(answers) conversations; each answer posted as new messages, one
    per (time, text), and the model's answer ANSWER sent as chunks from t=9.0 to t=10.0."""
    slack = SlackEmulator()
    channels = add_channels(slack, len(answers))
    runs, calls, chunks, requests = [], [], [], []
    for index, parts in answers.items():
        channel = channels[index]
        root = slack.workspace.post(
            channel, user="UALICE", bot_id=None, text="ask", blocks=[], thread_ts=None, at=8.0
        )
        runs.append(ConversationRun(index, channel, "chat", root_ts=root.ts, started_at=8.0))
        question = model.chat_question(model.tag(index))
        requests.append((index, {"messages": [{"role": "user", "content": question}]}))
        words = ["Plan the", " launch.", " Budget is fine."]
        chunks += [SentChunk(9.0 + 0.5 * n, index, w, "") for n, w in enumerate(words)]
        chunks.append(SentChunk(10.05, index, "", ""))
        calls.append(Call("assistant.threads.setStatus", {"channel_id": channel}, 200, None, 8.5))
        for at, text in parts:
            message = slack.workspace.post(
                channel, user="UBOT", bot_id="BBOT", text=text, blocks=[], thread_ts=root.ts, at=at
            )
            params = {"channel": channel, "thread_ts": root.ts, "text": text}
            calls.append(
                Call("chat.postMessage", params, 200, None, at, response={"ts": message.ts})
            )
    record = PhaseRecord(
        kind="chat",
        runs=runs,
        chatter=[],
        started_at=8.0,
        ended_at=20.0,
        calls=calls,
        requests=requests,
        chunks=chunks,
        cpu_seconds=1.0,
        timed_out=False,
    )
    return record, slack


def test_phase_figures_for_split_and_unfinished_answers() -> None:
    """c001 is split in two posts and whole at 11.5 (1.45 s after its model's last chunk at
    10.05); c002 never shows its last words."""
    record, slack = _phase(
        {
            0: [(9.2, "Plan the launch. "), (11.5, "Budget is fine.")],
            1: [(9.3, "Plan the launch.")],
        }
    )

    figures = phase_figures(record, slack)

    assert figures["first_token_visible_ms"].p50 == pytest.approx(250.0)
    assert figures["complete_after_model_s"].n == 1
    assert figures["complete_after_model_s"].max == pytest.approx(1.45)
    assert figures["never_complete"] == 1
    assert figures["complete"] == 1
    assert figures["slack_calls_per_answer"].max == 3  # setStatus + two posts
    assert figures["slack_calls_per_conversation_by_method"] == {
        "assistant.threads.setStatus": 1.0,
        "chat.postMessage": 1.5,
    }


def _level(conversations: int, **chat: Any) -> dict[str, Any]:
    stats = {"n": conversations, "p50": 400.0, "p99": 900.0, "max": 950.0, "mean": 450.0}
    phase = {
        "conversations": conversations,
        "timed_out": False,
        "complete": conversations,
        "never_complete": 0,
        "mismatches": [],
        "responses_429": 0,
        "calls_inside_retry_after": 0,
        "first_token_visible_ms": stats,
        "complete_after_model_s": {**stats, "p50": 5.0, "p99": 18.0, "max": 19.0},
        **chat,
    }
    return {"conversations": conversations, "phases": {"chat": phase}}


def test_targets_mark_each_level_that_has_one() -> None:
    assert targets.first_token_mark(_level(30)) == "PASS"
    assert targets.first_token_mark(_level(1)) == "MISS"  # 400 ms > 50 ms at 1
    assert targets.first_token_mark(_level(10)) is None
    slow = {"n": 30, "p50": 900.0, "p99": 3100.0, "max": 4000.0, "mean": 1000.0}
    assert targets.first_token_mark(_level(30, first_token_visible_ms=slow)) == "MISS"
    assert targets.completion_mark(_level(30)) == "PASS"
    assert targets.completion_mark(_level(30, never_complete=1)) == "MISS"
    assert targets.completion_mark(_level(100, complete=99)) == "MISS"
    assert targets.completion_mark(_level(1)) is None
    assert targets.rate_limit_mark(_level(1)) == "PASS"
    assert targets.rate_limit_mark(_level(1, calls_inside_retry_after=1)) == "MISS"


def test_the_table_shows_targets_and_marks() -> None:
    late = {"n": 30, "p50": 5.0, "p99": 24.0, "max": 25.0, "mean": 6.0}
    level = _level(30, complete_after_model_s=late)
    level.update(peak_rss_mb=90.0, startup_s=2.0, log_warnings=0, log_errors=0)
    results = {
        "config": {"name": "issue", "answer_words": 400, "tokens_per_second": 40.0},
        "levels": {"30": level},
    }
    lines = table(results).splitlines()

    first = next(line for line in lines if "first token → visible" in line)
    complete = next(line for line in lines if "complete after its model finished" in line)
    assert "p99 ≤ 3 s" in first and first.endswith("400 / 900 / 950 PASS")
    assert complete.endswith("5.0 / 24.0 / 25.0 MISS")


def test_levels_as_the_issue_writes_them() -> None:
    assert levels(["1", "30", "100"]) == (1, 30, 100)
    assert levels(["1,30"]) == (1, 30)
    with pytest.raises(ValueError, match="positive"):
        levels(["0"])


def test_chat_only_runs_just_the_levels_chat_phase() -> None:
    arguments = argparse.Namespace(
        quick=False,
        levels=["1", "30", "100"],
        words=400,
        no_approvals=False,
        chat_only=True,
        cold=False,
        levels_off=False,
        ramp=None,
        history_turns=None,
        approval_cap=None,
        approval_stagger=None,
        database=None,
        replicas=None,
        balancer=None,
        ramp_replicas=None,
        ramp_budget=None,
    )
    config = configure(arguments)

    assert config.levels == (1, 30, 100)
    assert config.answer_words == 400
    assert (config.approvals, config.ramp, config.history_turns) == (False, False, 0)
