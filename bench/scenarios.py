"""One concurrency level: a fresh workspace, mock model and bot process; a chat phase (N long
answers at once, with chatter) and an approval phase (N cards, each clicked); then the figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from bench import conversations, metrics, model, procstats
from bench.chatter import chatter
from bench.config import BenchConfig
from bench.conversations import ConversationKind, ConversationRun
from bench.database import BenchDatabase
from bench.lag import LoopLag
from bench.replicas import Replicas
from bench.workspace import APPROVER, add_channels
from bench.world import running_world
from playground.slack import SlackEmulator
from tests.mock_llm_server import MockLLMServer

IDLE_POLL_SECONDS = 0.2
IDLE_POLLS_NEEDED = 2


@dataclass
class Harness:
    """The parts one level runs against."""

    config: BenchConfig
    slack: SlackEmulator
    mock: MockLLMServer
    bot: Replicas
    database: BenchDatabase
    channels: list[str]


async def run_level(config: BenchConfig, level: int, database: BenchDatabase) -> dict[str, Any]:
    """Run both phases at `level` concurrent conversations; the level's figures, JSON-ready."""
    script = model.ScriptedModel(config.answer_words, config.continuation_words, config.chunk_chars)
    async with running_world(
        script,
        tokens_per_second=config.tokens_per_second,
        startup_timeout=config.startup_timeout,
        name="bench",
        database=database,
        replicas=config.replicas,
        balancer=config.balancer,
    ) as world:
        bot = world.bot
        channels = add_channels(world.slack, level)
        harness = Harness(config, world.slack, world.mock, bot, database, channels)
        first_acks = await _warm_up(harness) if config.warm_up else []
        phases = {"chat": await run_phase(harness, "chat")}
        if config.approvals:
            phases["approval"] = await run_phase(harness, "approval")
        figures = {
            "conversations": level,
            "replicas": len(bot),
            "database": database.kind,
            "startup_s": bot.startup_seconds,
            "startup_s_each": bot.startup_each,
            "bytecode_cached": bot.bytecode_cached,
            "first_event_ack_ms": max(first_acks, default=None),
            "first_event_ack_ms_each": first_acks,
            "peak_rss_mb": bot.peak_rss_bytes() / 2**20,
            "peak_rss_mb_each": [rss / 2**20 for rss in bot.peak_rss_each()],
            "bot_cpu_seconds_total": bot.cpu_seconds(),
            "bot_cpu_seconds_each": bot.cpu_each(),
            "database_bytes": database.size_bytes(world.database_url),
            "turns": sum(p["conversations"] for p in phases.values()),
            "phases": phases,
        }
    figures["log_warnings"] = bot.log_warnings
    figures["log_errors"] = bot.log_errors
    figures["log_problems"] = bot.log_problems
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
    database_cpu0 = harness.database.cpu_seconds()
    bench_cpu0, machine0 = procstats.cpu_seconds(os.getpid()), procstats.machine_busy_seconds()
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
    bot_cpu = bot.cpu_seconds() - cpu0
    database_cpu = harness.database.cpu_seconds() - database_cpu0
    ours = bot_cpu + database_cpu + procstats.cpu_seconds(os.getpid()) - bench_cpu0
    others = max(0.0, procstats.machine_busy_seconds() - machine0 - ours)
    record = metrics.PhaseRecord(
        kind=kind,
        runs=runs,
        chatter=acks,
        started_at=started,
        ended_at=ended,
        calls=slack.calls[calls0:],
        requests=list(enumerate(mock.requests))[requests0:],
        chunks=mock.sent_chunks[chunks0:],
        cpu_seconds=bot_cpu,
        timed_out=not idle,
        extra={
            "bench_loop_lag_ms": metrics.Stats.of(lag.samples, 1000),
            "database_cpu_seconds": database_cpu,
            "others_cpu_share": others / (ended - started),
        },
    )
    return metrics.phase_figures(record, slack)


async def _drive(harness: Harness, run: ConversationRun, deadline: float) -> None:
    if run.kind == "chat":
        await conversations.chat(harness.slack, run)
        return
    await asyncio.sleep(run.index * harness.config.approval_stagger_seconds)
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


async def _warm_up(harness: Harness) -> list[float]:
    """One unrelated message per replica (acked and ignored; each goes to the next replica in
    turn); their ack times in ms."""
    acks = await warm_up(harness.slack, harness.channels[0], len(harness.bot))
    return [ack.seconds * 1000 for ack in acks]


async def warm_up(slack: SlackEmulator, channel: str, replicas: int) -> list[conversations.Ack]:
    """Each replica's first event, so Bolt's first-request auth.test is paid before the run."""
    acks = []
    for _ in range(replicas):
        _, sent = await conversations.post_as(
            slack, APPROVER, channel, "good morning", kind="warm-up"
        )
        acks.extend(sent)
    await asyncio.sleep(0.2)  # let the bot's background claim of it finish
    return acks


async def _nothing() -> list[conversations.Ack]:
    return []
