"""A Stop pressed while the model has not answered yet ends the turn at once (through the graph,
the real litellm client and the mock provider), and the thread still works afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent import Agent, AgentSettings
from tests.agent_helpers import collect, finished
from tests.mock_llm_server import MockLLMServer, Reply


@pytest.fixture
async def llm_server() -> AsyncIterator[MockLLMServer]:
    async with MockLLMServer() as server:
        yield server


@pytest.fixture
def mock_settings(tmp_path: Path, llm_server: MockLLMServer) -> AgentSettings:
    return AgentSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'countersign.db'}",
        llm_model="openai/mock",
        llm_api_base=llm_server.base_url,
        llm_api_key="sk-test",  # type: ignore[arg-type]
        llm_max_retries=0,
        llm_idle_timeout_seconds=10.0,
    )


async def test_a_stop_while_the_model_is_silent_ends_the_turn_at_once(
    mock_settings: AgentSettings, llm_server: MockLLMServer
) -> None:
    llm_server.enqueue(Reply(text="far too late", delay_first_chunk=5.0))
    async with Agent.open(mock_settings) as agent:
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
