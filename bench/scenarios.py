"""One concurrency level: a fresh workspace, mock model and bot process; a chat phase (N long
answers at once, with chatter) and an approval phase (N cards, each clicked); then the figures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import conversations, metrics, model
from bench.chatter import chatter
from bench.config import BenchConfig
from bench.conversations import ConversationKind, ConversationRun
from bench.lag import LoopLag
from bench.launch import BotProcess
from bench.workspace import APPROVER, add_channels
from bench.world import running_world
from playground.slack import SlackEmulator
from tests.mock_llm_server import MockLLMServer

IDLE_POLL_SECONDS = 0.2
IDLE_POLLS_NEEDED = 2


@dataclass
class Harness:
    """The three processes' worth of parts one level runs against."""

    config: BenchConfig
    slack: SlackEmulator
    mock: MockLLMServer
    bot: BotProcess
    channels: list[str]


async def run_level(config: BenchConfig, level: int) -> dict[str, Any]:
    """Run both phases at `level` concurrent conversations; the level's figures, JSON-ready."""
    script = model.ScriptedModel(config.answer_words, config.continuation_words, config.chunk_chars)
    async with running_world(
        script,
        tokens_per_second=config.tokens_per_second,
        startup_timeout=config.startup_timeout,
        name="bench",
    ) as world:
        bot = world.bot
        harness = Harness(config, world.slack, world.mock, bot, add_channels(world.slack, level))
        first_ack = await _warm_up(harness) if config.warm_up else None
        phases = {"chat": await run_phase(harness, "chat")}
        if config.approvals:
            phases["approval"] = await run_phase(harness, "approval")
        figures = {
            "conversations": level,
            "startup_s": bot.startup_seconds,
            "bytecode_cached": bot.bytecode_cached,
            "first_event_ack_ms": first_ack,
            "peak_rss_mb": bot.peak_rss_bytes() / 2**20,
            "bot_cpu_seconds_total": bot.cpu_seconds(),
            "database_bytes": _database_bytes(world.workdir),
            "turns": sum(p["conversations"] for p in phases.values()),
            "phases": phases,
        }
    figures["log_warnings"] = bot.log.warnings
    figures["log_errors"] = bot.log.errors
    figures["log_problems"] = bot.log.problems
    return figures


async def run_phase(harness: Harness, kind: ConversationKind) -> dict[str, Any]:
    """Start one conversation per channel at once, wait until the bot is idle, measure."""
    config, slack, mock, bot = harness.config, harness.slack, harness.mock, harness.bot
    calls0, chunks0, requests0 = len(slack.calls), len(mock.sent_chunks), len(mock.requests)
    channels = harness.channels
    if kind == "approval" and config.approval_cap is not None:
        channels = channels[: config.approval_cap]
    runs = [ConversationRun(i, channel, kind) for i, channel in enumerate(channels)]
    stop = asyncio.Event()
    rate = max(config.min_chatter_per_second, config.chatter_per_conversation * len(runs))
    background = asyncio.create_task(
        chatter(
            slack,
            harness.channels,
            per_second=rate,
            stop=stop,
            max_events=int(rate * config.phase_timeout),
        )
        if kind == "chat"
        else _nothing()
    )
    cpu0, started = bot.cpu_seconds(), time.monotonic()
    deadline = started + config.phase_timeout
    with LoopLag().running() as lag:
        try:
            await asyncio.gather(*(_drive(harness, run, deadline) for run in runs))
            expected = len(runs) + (sum(1 for r in runs if r.click) if kind == "approval" else 0)
            idle = await _wait_idle(harness, requests0, expected, deadline)
        finally:
            stop.set()
            acks = await background
    ended = time.monotonic()
    record = metrics.PhaseRecord(
        kind=kind,
        runs=runs,
        chatter=acks,
        started_at=started,
        ended_at=ended,
        calls=slack.calls[calls0:],
        requests=list(enumerate(mock.requests))[requests0:],
        chunks=mock.sent_chunks[chunks0:],
        cpu_seconds=bot.cpu_seconds() - cpu0,
        timed_out=not idle,
        extra={"bench_loop_lag_ms": metrics.Stats.of(lag.samples, 1000)},
    )
    return metrics.phase_figures(record, slack)


async def _drive(harness: Harness, run: ConversationRun, deadline: float) -> None:
    if run.kind == "chat":
        await conversations.chat(harness.slack, run)
        return
    await conversations.approval(
        harness.slack,
        run,
        think_seconds=harness.config.think_seconds,
        wait_seconds=max(1.0, min(harness.config.card_timeout, deadline - time.monotonic())),
    )


async def _wait_idle(harness: Harness, first_request: int, expected: int, deadline: float) -> bool:
    """Until the bot reports no running job and either the model got `expected` scripted
    requests or nothing moved for `stall_seconds` (a lost turn must not hang the bench).
    False if the deadline came first."""
    slack, mock = harness.slack, harness.mock
    quiet, moved_at, progress = 0, time.monotonic(), (-1, -1)
    polls = int(max(0.0, deadline - time.monotonic()) / IDLE_POLL_SECONDS) + 1
    for _ in range(polls):
        if (len(slack.calls), len(mock.sent_chunks)) != progress:
            progress, moved_at = (len(slack.calls), len(mock.sent_chunks)), time.monotonic()
        served = sum(1 for body in mock.requests[first_request:] if model.classify(body)[0])
        stalled = time.monotonic() - moved_at >= harness.config.stall_seconds
        jobs = -1
        with contextlib.suppress(Exception):
            jobs = int((await harness.bot.health())["running_jobs"])
        quiet = quiet + 1 if jobs == 0 and (served >= expected or stalled) else 0
        if quiet >= IDLE_POLLS_NEEDED:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(IDLE_POLL_SECONDS)
    return False


async def _warm_up(harness: Harness) -> float:
    """One unrelated message (acked and ignored); returns its ack time in ms."""
    _, acks = await conversations.post_as(
        harness.slack, APPROVER, harness.channels[0], "good morning", kind="warm-up"
    )
    await asyncio.sleep(0.2)  # let the bot's background claim of it finish
    return acks[0].seconds * 1000


async def _nothing() -> list[conversations.Ack]:
    return []


def _database_bytes(workdir: Path) -> int:
    """The SQLite file with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in workdir.glob("countersign.db*") if p.is_file())
