"""The world a bench run talks to: the Slack emulator with Slack's limits, the mock model and
the bot in its own process, wired together in a throwaway directory."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.launch import BotProcess, launch_bot
from bench.model import ScriptedModel
from playground.slack import SlackEmulator
from tests.mock_llm_server import MockLLMServer


@dataclass(frozen=True, slots=True)
class World:
    """The three parts of one run, and the bot's working directory (its database lives here)."""

    slack: SlackEmulator
    mock: MockLLMServer
    bot: BotProcess
    workdir: Path


@asynccontextmanager
async def running_world(
    script: ScriptedModel, *, tokens_per_second: float, startup_timeout: float, name: str
) -> AsyncIterator[World]:
    """Start all three, point Slack's event delivery at the bot; stop them all on exit."""
    with tempfile.TemporaryDirectory(prefix=f"countersign-{name}-") as tmp:
        workdir = Path(tmp)
        async with (
            SlackEmulator(enforce_rate_limits=True) as slack,
            MockLLMServer(default=script, tokens_per_second=tokens_per_second) as mock,
            launch_bot(
                slack_api_url=slack.api_url,
                model_base_url=mock.base_url,
                workdir=workdir,
                signing_secret=slack.signing_secret,
                startup_limit=startup_timeout,
            ) as bot,
        ):
            slack.deliver_to(bot.url + "/slack/events")
            yield World(slack, mock, bot, workdir)
