"""The world a bench run talks to: the Slack emulator with Slack's limits, the mock model and
the bot in its own process (or several replicas on one database), wired together in a
throwaway directory."""

from __future__ import annotations

import random
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.database import BenchDatabase
from bench.model import ScriptedModel
from bench.replicas import Replicas, launch_replicas
from playground.slack import SlackEmulator
from tests.mock_llm_server import MockLLMServer

Balancer = Literal["round-robin", "random"]
BALANCERS: tuple[Balancer, ...] = ("round-robin", "random")
RANDOM_TURNS = 4096
"""Length of the seeded sequence a random balancer goes round (each replica equally often)."""


def rotation(urls: list[str], balancer: Balancer, seed: int = 0) -> list[str]:
    """The order the emulator hands requests out in, round and round.

    Strictly in turn, Slack's two events for one mention (app_mention and message, sent
    together) always reach the same two replicas in the same order, and the one that gets
    app_mention always wins the claim: every conversation starts on one replica. `random`
    picks each request's replica at random (seeded), as a balancer with several workers, each
    going round on its own, does in effect.
    """
    if balancer == "round-robin" or len(urls) < 2:
        return urls
    turns = [urls[n % len(urls)] for n in range(RANDOM_TURNS)]
    random.Random(seed).shuffle(turns)
    return turns


@dataclass(frozen=True, slots=True)
class World:
    """The parts of one run: Slack, the model, the bot's processes, and where its data is."""

    slack: SlackEmulator
    mock: MockLLMServer
    bot: Replicas
    workdir: Path
    database: BenchDatabase
    database_url: str


@asynccontextmanager
async def running_world(
    script: ScriptedModel,
    *,
    tokens_per_second: float,
    startup_timeout: float,
    name: str,
    database: BenchDatabase,
    replicas: int = 1,
    balancer: Balancer = "round-robin",
) -> AsyncIterator[World]:
    """Start them all on a fresh database, point Slack's event delivery at the bot (at each
    replica in turn, see `rotation`); stop them all on exit."""
    with tempfile.TemporaryDirectory(prefix=f"countersign-{name}-") as tmp:
        workdir = Path(tmp)
        database_url = database.new_url(workdir)
        async with (
            SlackEmulator(enforce_rate_limits=True) as slack,
            MockLLMServer(default=script, tokens_per_second=tokens_per_second) as mock,
            launch_replicas(
                replicas,
                slack_api_url=slack.api_url,
                model_base_url=mock.base_url,
                workdir=workdir,
                database_url=database_url,
                signing_secret=slack.signing_secret,
                startup_limit=startup_timeout,
            ) as bot,
        ):
            slack.deliver_to(*rotation(bot.event_urls, balancer))
            yield World(slack, mock, bot, workdir, database, database_url)
