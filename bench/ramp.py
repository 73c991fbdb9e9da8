"""The ramp: how many answers can stream at once before the bot answers Slack late.

One bot process, or several replicas on one PostgreSQL database with Slack's requests taken
in turn. Conversations are added in steps (each a long answer that keeps streaming for the
whole ramp); after each step settles, people chat in the channels for a window and every
event's ack is timed. The ramp stops at the first step whose ack p99 passes the limit, at the
cap, or when its time budget is spent. Each step says how many answers really were streaming
in its window (counted from the chunks the mock model sent), and how late the bench's own loop
ran: a bench that cannot keep up shows here rather than being blamed on the bot.

Every step also says where the machine's CPU went (the bot's processes, the bench's own process
with the emulator, the mock model and the people, PostgreSQL, and everything else on the
machine) and how fast Slack was called, all replicas together: with the cores full, a second
replica only shares them, and that is the honest reading of a ramp that does not scale.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench import conversations, metrics, model, procstats
from bench.chatter import chatter
from bench.conversations import ConversationRun
from bench.database import BenchDatabase
from bench.lag import LoopLag
from bench.replicas import Replicas
from bench.scenarios import warm_up
from bench.slack_rates import method_rates
from bench.workspace import add_channels
from bench.world import Balancer, World, running_world
from playground.slack import SlackEmulator
from tests.mock_llm_server import MockLLMServer

SCALING_TARGET = 1.5
"""Two replicas should hold at least this many times what one holds (the issue's target)."""
FULL_MACHINE = 0.85
"""A step where every process together used this share of the cores had none to spare."""
SHARED = 0.25
"""Cores other processes used in a step beyond which its figures are the machine's, not ours."""
ONE_LOOP = 0.8
"""A bot process using this much of a core is near what its one event loop can do."""


@dataclass(frozen=True, slots=True)
class RampConfig:
    """Steps, limits and pace of a ramp."""

    steps: tuple[int, ...] = (
        *(5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100),
        *(125, 150, 200, 300, 400, 500, 600),
    )
    """Fine steps up to 100, so that "1.5× what one replica holds" can be read at all."""
    ack_p99_limit_ms: float = 100.0
    settle_seconds: float = 3.0
    """After a step's conversations start, before its window opens."""
    window_seconds: float = 6.0
    chatter_per_second: float = 10.0
    budget_seconds: float = 240.0
    """The steps stop after this long (start-up not counted), wherever they got to."""
    tokens_per_second: float = 40.0
    chunk_chars: int = 4
    startup_timeout: float = 60.0

    def answer_words(self) -> int:
        """Long enough to stream for the whole budget (about 6.5 characters a word)."""
        return int(self.budget_seconds * self.tokens_per_second * self.chunk_chars / 6.5) + 200


class CpuMeter:
    """CPU seconds of each part of the machine, read at the start and end of a stretch."""

    def __init__(self, bot: Replicas, database: BenchDatabase) -> None:
        self._bot = bot
        self._database = database

    def read(self) -> dict[str, Any]:
        return {
            "bot_each": self._bot.cpu_each(),
            "database": self._database.cpu_seconds(),
            "bench": procstats.cpu_seconds(os.getpid()),
            "machine": procstats.machine_busy_seconds(),
        }

    @contextmanager
    def measuring(self) -> Iterator[dict[str, Any]]:
        """Fills the yielded dict, on exit, with each part's share of a core over the block."""
        shares: dict[str, Any] = {}
        before, started = self.read(), time.monotonic()
        yield shares
        after, seconds = self.read(), time.monotonic() - started
        pairs = zip(before["bot_each"], after["bot_each"], strict=True)
        each = [(b - a) / seconds for a, b in pairs]
        shares["bot_cpu_share"] = sum(each)
        shares["bot_cpu_share_each"] = each
        for part in ("database", "bench", "machine"):
            shares[f"{part}_cpu_share"] = (after[part] - before[part]) / seconds
        ours = shares["bot_cpu_share"] + shares["database_cpu_share"] + shares["bench_cpu_share"]
        shares["others_cpu_share"] = max(0.0, shares["machine_cpu_share"] - ours)


async def run_ramp(
    config: RampConfig,
    database: BenchDatabase,
    replicas: int = 1,
    balancer: Balancer = "round-robin",
) -> dict[str, Any]:
    """Step up until the ack p99 passes the limit; the steps' figures, JSON-ready."""
    # The ramp ends by stopping the bot mid-answer: the mock's "closing transport" is expected.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    script = model.ScriptedModel(config.answer_words(), 20, config.chunk_chars)
    started = time.monotonic()
    async with running_world(
        script,
        tokens_per_second=config.tokens_per_second,
        startup_timeout=config.startup_timeout,
        name="ramp",
        database=database,
        replicas=replicas,
        balancer=balancer,
    ) as world:
        # The budget is for the steps: replicas start one after the other, slowly on a busy
        # machine, and that must not eat into it.
        held, stopped_by, steps = await _steps(config, world, time.monotonic())
    ramp = {
        "replicas": replicas,
        "balancer": balancer,
        "database": database.kind,
        "held": held,
        "stopped_by": stopped_by,
        "limit_ms": config.ack_p99_limit_ms,
        "budget_s": config.budget_seconds,
        "seconds": time.monotonic() - started,
        "steps": steps,
    }
    ramp["held_back_by"] = held_back_by(ramp)
    return ramp


async def _steps(
    config: RampConfig, world: World, started: float
) -> tuple[int | None, str, list[dict[str, Any]]]:
    slack, bot = world.slack, world.bot
    channels = add_channels(slack, max(config.steps))
    await warm_up(slack, channels[0], len(bot))
    meter = CpuMeter(bot, world.database)
    runs: list[ConversationRun] = []
    steps: list[dict[str, Any]] = []
    held: int | None = None
    for target in config.steps:
        if time.monotonic() - started > config.budget_seconds:
            return held, "time budget", steps
        new = [ConversationRun(i, channels[i], "chat") for i in range(len(runs), target)]
        runs.extend(new)
        with meter.measuring() as shares:
            await asyncio.gather(*(conversations.chat(slack, run) for run in new))
            await asyncio.sleep(config.settle_seconds)
            step = await _window(config, slack, world.mock, channels[:target])
        step.update(shares)
        step["conversations"] = target
        step["start_ack_ms"] = metrics.Stats.of(
            (a.seconds for run in new for a in run.acks), 1000
        ).as_json()
        step["peak_rss_mb"] = bot.peak_rss_bytes() / 2**20
        step["jobs_each"] = await bot.jobs_each()
        steps.append(step)
        print(_progress(step), flush=True)
        p99 = step["ack_ms"]["p99"]
        if p99 is None or p99 > config.ack_p99_limit_ms:
            return held, f"ack p99 > {config.ack_p99_limit_ms:g} ms", steps
        held = target
    return held, "cap", steps


def _progress(step: dict[str, Any]) -> str:
    each = "+".join(f"{share:.2f}" for share in step["bot_cpu_share_each"])
    return (
        f"  ramp {step['conversations']:>4}: ack p99 {step['ack_ms']['p99']:.1f} ms, "
        f"{step['streaming']} streaming, bot CPU {each} cores, machine "
        f"{step['machine_cpu_share']:.2f} of {os.cpu_count()}"
    )


async def _window(
    config: RampConfig, slack: SlackEmulator, mock: MockLLMServer, channels: list[str]
) -> dict[str, Any]:
    """Chatter for one window; its acks, how many answers streamed, how Slack was called."""
    stop = asyncio.Event()
    first_chunk, first_call = len(mock.sent_chunks), len(slack.calls)
    opened = time.monotonic()
    with LoopLag().running() as lag:
        talk = asyncio.create_task(
            chatter(
                slack,
                channels,
                per_second=config.chatter_per_second,
                stop=stop,
                max_events=int(config.chatter_per_second * config.window_seconds),
            )
        )
        await asyncio.sleep(config.window_seconds)
        stop.set()
        acks = await talk
    window = time.monotonic() - opened
    chunks = mock.sent_chunks[first_chunk:]
    return {
        "window_s": window,
        "ack_ms": metrics.Stats.of((a.seconds for a in acks), 1000).as_json(),
        "ack_failures": sum(1 for a in acks if a.status != 200),
        "streaming": len({c.request for c in chunks if c.text}),
        "tokens_per_second": sum(1 for c in chunks if c.text) / window,
        "bench_loop_lag_ms": metrics.Stats.of(lag.samples, 1000).as_json(),
        "slack_rates": method_rates(slack.calls[first_call:], window),
    }


def held_back_by(ramp: dict[str, Any]) -> str:
    """What the step where the ramp stopped says held it back, in a sentence."""
    if not ramp["steps"]:
        return "no step ran"
    if not ramp["stopped_by"].startswith("ack"):
        return f"not held back: it stopped at the {ramp['stopped_by']}"
    step = ramp["steps"][-1]
    cores = os.cpu_count() or 1
    parts = [
        f"the bot {step['bot_cpu_share']:.2f}"
        + (
            " (" + " + ".join(f"{s:.2f}" for s in step["bot_cpu_share_each"]) + ")"
            if len(step["bot_cpu_share_each"]) > 1
            else ""
        ),
        f"the bench's process (emulator, mock model, people) {step['bench_cpu_share']:.2f}",
    ]
    if ramp["database"] == "postgres":
        parts.append(f"PostgreSQL {step['database_cpu_share']:.2f}")
    parts.append(f"other processes on the machine {step['others_cpu_share']:.2f}")
    busy = step["machine_cpu_share"]
    busiest = max(step["bot_cpu_share_each"])
    verdicts = []
    if busy >= FULL_MACHINE * cores:
        verdicts.append("the machine's cores were full")
    if busiest >= ONE_LOOP:
        verdicts.append(
            f"the busiest bot process used {busiest:.2f} of a core (its one event loop "
            "cannot use more than one)"
        )
    if step["others_cpu_share"] >= SHARED:
        verdicts.append(
            f"other processes took {step['others_cpu_share']:.2f} of a core: a shared machine, "
            "measure again when it is quiet"
        )
    if not verdicts:
        verdicts.append("neither the cores nor one bot's loop were full")
    verdict = " and ".join(verdicts)
    lag = step["bench_loop_lag_ms"]["p99"]
    bench_note = (
        f"; the bench's own loop ran {lag:.0f} ms late (p99), part of every ack it timed"
        if lag is not None and lag > ramp["limit_ms"] / 4
        else ""
    )
    return (
        f"at {step['conversations']} answers: {busy:.2f} of {cores} cores busy ("
        f"{', '.join(parts)}): {verdict}{bench_note}"
    )


def scaling(ramps: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers held with each replica count, and the most replicas' over one replica's."""
    held = {str(ramp["replicas"]): ramp["held"] for ramp in ramps}
    one, most = held.get("1"), held[str(max(ramp["replicas"] for ramp in ramps))]
    ratio = most / one if one and most is not None and len(held) > 1 else None
    return {
        "held": held,
        "ratio": ratio,
        "target": SCALING_TARGET,
        "met": None if ratio is None else ratio >= SCALING_TARGET,
    }


def ramp_table(ramp: dict[str, Any]) -> str:
    """The ramp's steps as lines: conversations, ack p50 / p99 / max, streaming, CPU, Slack."""
    replicas = ramp.get("replicas", 1)
    who = "1 bot process" if replicas == 1 else f"{replicas} replicas, {ramp['balancer']}"
    lines = [
        "",
        f"Ramp, {who}: ack while N answers stream (limit p99 {ramp['limit_ms']:g} ms); "
        f"held {ramp['held']} (stopped: {ramp['stopped_by']})",
        "   N  ack p50 / p99 / max (ms)  streaming  tokens/s  bot CPU (cores)  db  bench  "
        "others  chat.update/min (429s)  bench lag p99 (ms)",
    ]
    for step in ramp["steps"]:
        ack = step["ack_ms"]
        cells = " / ".join(
            "–" if ack[k] is None else f"{ack[k]:.1f}" for k in ("p50", "p99", "max")
        )
        lag = step["bench_loop_lag_ms"]["p99"]
        bot = "+".join(f"{share:.2f}" for share in step["bot_cpu_share_each"])
        update = step["slack_rates"].get("chat.update", {})
        rate = f"{update.get('per_minute') or 0:.0f} ({update.get('responses_429', 0)})"
        lines.append(
            f"{step['conversations']:>4}  {cells:>24}  {step['streaming']:>9}  "
            f"{step['tokens_per_second']:>8.0f}  {bot:>15}  {step['database_cpu_share']:>3.2f}  "
            f"{step['bench_cpu_share']:>5.2f}  {step['others_cpu_share']:>6.2f}  {rate:>22}  "
            f"{'–' if lag is None else f'{lag:.1f}':>18}"
        )
    lines.append(f"  held back by: {ramp['held_back_by']}")
    return "\n".join(lines)


def scaling_line(summary: dict[str, Any]) -> str:
    """One line: what each replica count held, and whether the target was met."""
    held = ", ".join(
        f"{n} replica{'s' if n != '1' else ''}: {h}" for n, h in summary["held"].items()
    )
    if summary["ratio"] is None:
        return f"\nRamp held {held}"
    verdict = "met" if summary["met"] else "NOT met"
    return (
        f"\nRamp held {held}: {summary['ratio']:.2f}× (target ≥ {summary['target']:g}×, "
        f"{verdict}; see 'held back by' above)"
    )
