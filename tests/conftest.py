"""Fixtures shared by the tests: settings on a temporary database, an open agent, a Slack."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

# litellm fetches a cost map from the network at import unless told not to (pitfall 25).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agent import Agent, AgentSettings
from playground.slack import SlackEmulator
from tests.mock_llm_server import MockLLMServer
from tests.postgres_server import PostgresServer, running_server
from tests.recording_endpoint import Recorder, serve


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the whole run (skipped where not installed)."""
    try:
        with running_server() as server:
            yield server
    except FileNotFoundError as missing:
        if os.environ.get("COUNTERSIGN_REQUIRE_POSTGRES"):  # set by .ci/run: never skip there
            pytest.fail(f"{missing}, and COUNTERSIGN_REQUIRE_POSTGRES is set")
        pytest.skip(f"{missing}; .ci/run installs it, so CI always runs these tests")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, and a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'countersign.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def agent_settings(database_url: str) -> AgentSettings:
    """The demo model at full speed on a fresh database of each kind; no .env is read."""
    return AgentSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        demo_tokens_per_second=0,
    )


@pytest.fixture
async def agent(agent_settings: AgentSettings) -> AsyncIterator[Agent]:
    async with Agent.open(agent_settings) as opened:
        yield opened


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    """A fresh emulated Slack workspace (its defaults: no rate limits enforced)."""
    async with SlackEmulator() as emulator:
        yield emulator


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--chaos-runs N`: seeds per mode for tests/test_chaos.py (a few by default, for CI)."""
    parser.addoption(
        "--chaos-runs", type=int, default=2, help="seeds per mode in tests/test_chaos.py"
    )


@pytest.fixture
async def llm() -> AsyncIterator[MockLLMServer]:
    """The OpenAI-compatible mock model (tests.mock_llm_server); see `mock_model`."""
    async with MockLLMServer() as server:
        yield server


@pytest.fixture
async def recorder(slack: SlackEmulator) -> AsyncIterator[Recorder]:
    """A recording bot endpoint that the emulator delivers to."""
    recording = Recorder()
    app = web.Application()
    app.router.add_post("/slack/events", recording.handle)
    runner, url = await serve(app)
    slack.deliver_to(f"{url}/slack/events")
    try:
        yield recording
    finally:
        await runner.cleanup()
