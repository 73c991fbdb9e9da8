"""The graph end to end with the demo model: chat, approve, deny, edit, ask, several writes."""

from __future__ import annotations

import gc

import pytest

from agent import (
    Agent,
    Answer,
    Approve,
    Deny,
    Edit,
    Expire,
    InvalidArguments,
    Resumed,
    ThreadPaused,
    ToolFinished,
    ToolStarted,
)
from agent.settings import AgentSettings
from tests.agent_helpers import approval, collect, finished, notes, question, text_of


async def test_plain_chat_streams_and_finishes(agent_settings: AgentSettings) -> None:
    # Paced like a real model: text arriving within 0.1 s is handed on as one piece, so an
    # instant model would rightly show its whole answer at once.
    paced = agent_settings.model_copy(update={"demo_tokens_per_second": 100})
    async with Agent.open(paced) as agent:
        events = await collect(agent.start("t-chat", "hello there", "UALICE"))
    done = finished(events)
    assert done.text == text_of(events)
    assert "note" in done.text.lower()  # explains what it can do
    assert sum(1 for _ in events) > 3  # streamed in pieces, not one blob


async def test_approve_runs_the_write_once(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-approve", "save a note about water", "UALICE")))
    assert paused.tool == "save_note"
    assert paused.arguments["title"].lower() == "water"
    assert paused.requested_by == "UALICE"
    assert paused.reason  # the model said why
    assert await notes(agent) == []  # nothing runs before approval
    assert (await agent.pending("t-approve")).interrupt_id == paused.interrupt_id  # type: ignore[union-attr]

    events = await collect(agent.resume("t-approve", paused.interrupt_id, Approve()))
    assert isinstance(events[0], Resumed)
    started = [event for event in events if isinstance(event, ToolStarted)]
    assert [event.arguments for event in started] == [paused.arguments]
    assert any(isinstance(event, ToolFinished) and event.ok for event in events)
    assert "saved" in finished(events).text.lower()
    assert await notes(agent) == [(paused.arguments["title"], paused.arguments["body"])]
    assert await agent.pending("t-approve") is None


@pytest.mark.parametrize("reason", [None, "we keep water notes in the wiki"])
async def test_deny_stores_nothing_and_tells_the_model(agent: Agent, reason: str | None) -> None:
    paused = approval(await collect(agent.start("t-deny", "save a note about water", "UALICE")))
    events = await collect(agent.resume("t-deny", paused.interrupt_id, Deny(reason)))
    text = finished(events).text
    assert not any(isinstance(event, ToolStarted) for event in events)
    assert await notes(agent) == []
    assert "did not save" in text.lower()
    if reason:
        assert reason in text  # the reason reached the model, which repeats it
    tool_result = [m for m in await agent.history("t-deny") if m["role"] == "tool"][-1]
    assert tool_result["content"].startswith("DENIED")


async def test_edit_runs_exactly_the_edited_arguments(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-edit", "save a note about water", "UALICE")))
    edited = {"title": "Sparkling water", "body": "Order two crates on Friday."}
    events = await collect(agent.resume("t-edit", paused.interrupt_id, Edit(edited)))
    assert [e.arguments for e in events if isinstance(e, ToolStarted)] == [edited]
    finished(events)
    assert await notes(agent) == [("Sparkling water", "Order two crates on Friday.")]


async def test_invalid_edit_is_refused_and_the_pause_stays(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-bad-edit", "save a note about water", "UALICE")))
    with pytest.raises(InvalidArguments) as refused:
        await collect(agent.resume("t-bad-edit", paused.interrupt_id, Edit({"title": "Only"})))
    assert "body" in refused.value.errors
    assert (await agent.pending("t-bad-edit")).interrupt_id == paused.interrupt_id  # type: ignore[union-attr]
    finished(await collect(agent.resume("t-bad-edit", paused.interrupt_id, Approve())))
    assert len(await notes(agent)) == 1


async def test_question_answer_reaches_the_model(agent: Agent) -> None:
    asked = question(await collect(agent.start("t-ask", "remind me about the meeting", "UALICE")))
    assert asked.asked_of == "UALICE"
    assert "meeting" in asked.question.lower()
    events = await collect(
        agent.resume("t-ask", asked.interrupt_id, Answer("Tuesday 3pm, remind me at 2"))
    )
    follow_up = approval(events)  # the demo proposes saving a reminder built from the answer
    assert follow_up.arguments["body"] == "Tuesday 3pm, remind me at 2"


async def test_unanswered_question_expires_and_the_model_is_told(agent: Agent) -> None:
    asked = question(
        await collect(agent.start("t-ask-exp", "remind me about the meeting", "UALICE"))
    )
    events = await collect(agent.resume("t-ask-exp", asked.interrupt_id, Expire()))
    assert isinstance(events[0], Resumed)
    tool_result = [m for m in await agent.history("t-ask-exp") if m["role"] == "tool"][-1]
    assert tool_result["content"].startswith("NO ANSWER")


async def test_expired_approval_runs_nothing(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-exp", "save a note about water", "UALICE")))
    text = finished(await collect(agent.resume("t-exp", paused.interrupt_id, Expire()))).text
    assert await notes(agent) == []
    assert "in time" in text.lower()


async def test_two_writes_in_one_step_are_approved_one_by_one(agent: Agent) -> None:
    first = approval(
        await collect(agent.start("t-two", "save notes about tea and coffee", "UALICE"))
    )
    second = approval(await collect(agent.resume("t-two", first.interrupt_id, Approve())))
    assert second.interrupt_id != first.interrupt_id
    assert second.call_id != first.call_id
    assert await notes(agent) == []  # nothing runs until every call of the step is decided
    events = await collect(agent.resume("t-two", second.interrupt_id, Deny("one is enough")))
    finished(events)
    assert [title for title, _ in await notes(agent)] == [first.arguments["title"]]


async def test_search_is_a_read_and_runs_without_approval(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-search", "save a note about water", "UALICE")))
    await collect(agent.resume("t-search", paused.interrupt_id, Approve()))
    events = await collect(agent.start("t-search", "what did I save about water?", "UALICE"))
    assert [e.tool for e in events if isinstance(e, ToolStarted)] == ["search_notes"]
    assert "water" in finished(events).text.lower()


async def test_new_input_while_paused_is_refused_with_the_pause(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-busy", "save a note about water", "UALICE")))
    before = await agent.history("t-busy")
    with pytest.raises(ThreadPaused) as refused:
        await collect(agent.start("t-busy", "hello?", "UBOB"))
    assert refused.value.pause.interrupt_id == paused.interrupt_id
    assert await agent.history("t-busy") == before  # the pause was not dropped


async def test_thread_locks_do_not_pile_up(agent: Agent) -> None:
    """One lock per thread while it is used, not one per thread ever seen (a long-lived bot)."""
    for index in range(30):
        await collect(agent.start(f"t-lock-{index}", "hello", "UALICE"))
    gc.collect()
    assert len(agent._locks) == 0
