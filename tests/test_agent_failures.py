"""Stops, model failures, timeouts and tool errors: each reported, and the thread still works."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent import (
    Agent,
    AgentSettings,
    Approve,
    Failed,
    Finished,
    TextDelta,
    ToolFinished,
    ToolStarted,
)
from tests import tools_for_tests
from tests.agent_helpers import approval, collect, finished, notes
from tests.mock_llm_server import MockLLMServer, Reply


@pytest.fixture
async def llm_server() -> AsyncIterator[MockLLMServer]:
    async with MockLLMServer() as server:
        yield server


@pytest.fixture
def mock_settings(tmp_path: Path, llm_server: MockLLMServer) -> AgentSettings:
    """The real litellm client against the OpenAI-compatible mock server."""
    return AgentSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'countersign.db'}",
        llm_model="openai/mock",
        llm_api_base=llm_server.base_url,
        llm_api_key="sk-test",  # type: ignore[arg-type]
        llm_max_retries=0,
        llm_idle_timeout_seconds=1.0,
        agent_tools=["tests.tools_for_tests"],
    )


async def test_stop_keeps_the_partial_answer_and_the_thread_works(
    agent_settings: AgentSettings,
) -> None:
    slow = agent_settings.model_copy(update={"demo_tokens_per_second": 40})
    async with Agent.open(slow) as agent:
        events = []
        stopped = False
        async for event in agent.start("t-stop", "hello", "UALICE"):
            events.append(event)
            if not stopped and sum(isinstance(e, TextDelta) for e in events) == 3:
                stopped = agent.stop("t-stop")
                assert stopped
        done = finished(events)
        assert done.stopped
        assert done.text and len(done.text) < 60  # three-ish tokens, not the whole answer
        assert (await agent.history("t-stop"))[-1] == {"role": "assistant", "content": done.text}
        assert not agent.stop("t-stop")  # nothing running now
        after = finished(await collect(agent.start("t-stop", "hello again", "UALICE")))
        assert not after.stopped


async def test_model_error_is_one_failed_event_and_the_thread_recovers(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    llm_server.enqueue(Reply(status=500, error_body={"error": {"message": "upstream exploded"}}))
    async with Agent.open(mock_settings) as agent:
        await agent.warm_up()  # as the bot does at start-up: litellm's first call is slow
        events = await collect(agent.start("t-fail", "hello", "UALICE"))
        failures = [event for event in events if isinstance(event, Failed)]
        assert len(failures) == 1 and events[-1] is failures[0]
        assert failures[0].kind == "model"
        assert failures[0].reference
        assert "Traceback" not in failures[0].message
        done = finished(await collect(agent.start("t-fail", "are you back?", "UALICE")))
        assert done.text == "You said: are you back?"


async def test_auth_error_names_the_setting(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    llm_server.enqueue(Reply(status=401, error_body={"error": {"message": "bad key"}}))
    async with Agent.open(mock_settings) as agent:
        failure = (await collect(agent.start("t-auth", "hello", "UALICE")))[-1]
        assert isinstance(failure, Failed)
        assert "LLM_API_KEY" in failure.message


async def test_stalled_stream_times_out_and_the_thread_recovers(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    llm_server.enqueue(Reply(text="This answer will stall halfway", stall_after_chunks=2))
    async with Agent.open(mock_settings) as agent:
        await agent.warm_up()
        events = await collect(agent.start("t-stall", "hello", "UALICE"))
        failure = events[-1]
        assert isinstance(failure, Failed)
        assert failure.kind == "timeout"
        assert finished(await collect(agent.start("t-stall", "again", "UALICE"))).text
        # The stalled half-answer was not kept as if the model had finished it.
        contents = [m.get("content") for m in await agent.history("t-stall")]
        assert "This answer will stall halfway" not in contents


async def test_a_tool_that_raises_gives_the_model_an_error_and_the_run_continues(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    llm_server.enqueue(
        Reply(tool_calls=[("explode", {"reason": "testing"})]),
        Reply(text="The tool failed, sorry."),
    )
    async with Agent.open(mock_settings) as agent:
        events = await collect(agent.start("t-tool-error", "blow up", "UALICE"))
        outcome = next(event for event in events if isinstance(event, ToolFinished))
        assert not outcome.ok
        assert "boom: testing" in outcome.result
        assert finished(events).text == "The tool failed, sorry."
        tool_message = llm_server.requests[-1]["messages"][-1]
        assert tool_message["role"] == "tool"
        assert tool_message["content"].startswith("ERROR: RuntimeError: boom: testing")


async def test_parallel_tool_calls_through_real_litellm_are_each_approved(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    llm_server.enqueue(
        Reply(
            text="I'll save both.",
            tool_calls=[
                ("save_note", {"title": "Tea", "body": "Green tea on Mondays."}),
                ("save_note", {"title": "Coffee", "body": "Espresso on Fridays."}),
            ],
            chunk_chars=3,
            interleave_tool_calls=True,
        ),
        Reply(text="Both saved."),
    )
    async with Agent.open(mock_settings) as agent:
        first = approval(await collect(agent.start("t-parallel", "save tea and coffee", "UALICE")))
        assert first.arguments == {"title": "Tea", "body": "Green tea on Mondays."}
        assert first.reason == "I'll save both."
        second = approval(await collect(agent.resume("t-parallel", first.interrupt_id, Approve())))
        assert second.arguments == {"title": "Coffee", "body": "Espresso on Fridays."}
        events = await collect(agent.resume("t-parallel", second.interrupt_id, Approve()))
        assert finished(events).text == "Both saved."
        assert await notes(agent) == [
            ("Tea", "Green tea on Mondays."),
            ("Coffee", "Espresso on Fridays."),
        ]
        sent = llm_server.requests[-1]["messages"]
        assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "tool"]
        assert sent[-3]["tool_calls"][1]["function"]["arguments"] == json.dumps(
            {"title": "Coffee", "body": "Espresso on Fridays."}
        )


async def test_user_tools_from_agent_tools_get_approval_and_context(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    tools_for_tests.CALLS.clear()
    llm_server.enqueue(
        Reply(tool_calls=[("open_ticket", {"title": "Printer", "priority": "high"})]),
        Reply(text="Ticket opened."),
    )
    async with Agent.open(mock_settings) as agent:
        for name in ("save_note", "search_notes", "ask_human", "explode", "open_ticket"):
            assert agent.tool_schema(name) is not None, name
        paused = approval(await collect(agent.start("t-user-tool", "printer is broken", "UBOB")))
        assert tools_for_tests.CALLS == []
        events = await collect(agent.resume("t-user-tool", paused.interrupt_id, Approve()))
        assert [e.tool for e in events if isinstance(e, ToolStarted)] == ["open_ticket"]
        assert tools_for_tests.CALLS == [("Printer", "high", "UBOB")]
        schema = next(
            t for t in llm_server.requests[0]["tools"] if t["function"]["name"] == "open_ticket"
        )
        assert schema["function"]["description"] == "Open a ticket in the team's tracker."
        assert schema["function"]["parameters"]["properties"]["priority"]["enum"] == ["low", "high"]
        assert "context" not in schema["function"]["parameters"]["properties"]


async def test_concurrent_threads_run_side_by_side(agent_settings: AgentSettings) -> None:
    paced = agent_settings.model_copy(update={"demo_tokens_per_second": 200})
    async with Agent.open(paced) as agent:
        results = await asyncio.gather(
            *(collect(agent.start(f"t-many-{i}", "hello", "UALICE")) for i in range(5))
        )
        assert all(isinstance(result[-1], Finished) for result in results)


async def test_a_stop_while_the_model_is_silent_ends_the_turn_at_once(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    """Through the graph, the real litellm client and the mock provider."""
    llm_server.enqueue(Reply(text="far too late", delay_first_chunk=5.0))
    patient = mock_settings.model_copy(update={"llm_idle_timeout_seconds": 10.0})
    async with Agent.open(patient) as agent:
        turn = asyncio.create_task(collect(agent.start("t-silent", "hello", "UALICE")))
        while len(llm_server.requests) < 1:  # noqa: ASYNC110 (the mock has no event for it)
            await asyncio.sleep(0.01)
        assert agent.stop("t-silent")
        stopped_at = time.monotonic()
        done = finished(await turn)
        assert time.monotonic() - stopped_at < 1.0  # not the 5 s the first chunk takes
        assert done.stopped
        assert done.text == ""
        after = finished(await collect(agent.start("t-silent", "hello again", "UALICE")))
        assert after.text == "You said: hello again"
