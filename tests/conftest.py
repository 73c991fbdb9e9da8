"""Fixtures shared by the tests: settings on a temporary database, an open agent, a Slack."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# litellm fetches a cost map from the network at import unless told not to (pitfall 25).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agent import Agent, AgentSettings
from playground.slack import SlackEmulator


@pytest.fixture
def agent_settings(tmp_path: Path) -> AgentSettings:
    """The demo model at full speed on a fresh SQLite file; no .env is read."""
    return AgentSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'countersign.db'}",
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
