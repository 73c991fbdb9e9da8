"""The ramp: how many answers can stream at once before the bot answers Slack late.

One bot process. Conversations are added in steps (each a long answer that keeps streaming for
the whole ramp); after each step settles, people chat in the channels for a window and every
event's ack is timed. The ramp stops at the first step whose ack p99 passes the limit, at the
cap, or when its time budget is spent. Each step says how many answers really were streaming
in its window (counted from the chunks the mock model sent), and how late the bench's own loop
ran: a bench that cannot keep up shows here rather than being blamed on the bot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from bench import conversations, metrics, model
from bench.chatter import chatter
from bench.conversations import ConversationRun
from bench.lag import LoopLag
from bench.workspace import add_channels
from bench.world import running_world
from playground.slack import SlackEmulator
from tests.mock_llm_server import MockLLMServer


@dataclass(frozen=True, slots=True)
class RampConfig:
    """Steps, limits and pace of a ramp."""

    steps: tuple[int, ...] = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 600)
    ack_p99_limit_ms: float = 100.0
    settle_seconds: float = 3.0
    """After a step's conversations start, before its window opens."""
    window_seconds: float = 6.0
    chatter_per_second: float = 10.0
    budget_seconds: float = 240.0
    """The whole ramp stops after this long, wherever it got to."""
    tokens_per_second: float = 40.0
    chunk_chars: int = 4
    startup_timeout: float = 60.0

    def answer_words(self) -> int:
        """Long enough to stream for the whole budget (about 6.5 characters a word)."""
        return int(self.budget_seconds * self.tokens_per_second * self.chunk_chars / 6.5) + 200


async def run_ramp(config: RampConfig) -> dict[str, Any]:
    """Step up until the ack p99 passes the limit; the steps' figures, JSON-ready."""
    cap = max(config.steps)
    # The ramp ends by stopping the bot mid-answer: the mock's "closing transport" is expected.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    script = model.ScriptedModel(config.answer_words(), 20, config.chunk_chars)
    steps: list[dict[str, Any]] = []
    started = time.monotonic()
    async with running_world(
        script,
        tokens_per_second=config.tokens_per_second,
        startup_timeout=config.startup_timeout,
        name="ramp",
    ) as world:
        slack, mock, bot = world.slack, world.mock, world.bot
        channels = add_channels(slack, cap)
        await conversations.post_as(slack, "UBOB", channels[0], "good morning", kind="warm-up")
        runs: list[ConversationRun] = []
        held: int | None = None
        stopped_by = "cap"
        for target in config.steps:
            if time.monotonic() - started > config.budget_seconds:
                stopped_by = "time budget"
                break
            new = [ConversationRun(i, channels[i], "chat") for i in range(len(runs), target)]
            runs.extend(new)
            cpu0 = bot.cpu_seconds()
            await asyncio.gather(*(conversations.chat(slack, run) for run in new))
            await asyncio.sleep(config.settle_seconds)
            step = await _window(config, slack, mock, channels[:target])
            step["conversations"] = target
            step["start_ack_ms"] = metrics.Stats.of(
                (a.seconds for run in new for a in run.acks), 1000
            ).as_json()
            step["bot_cpu_share"] = (bot.cpu_seconds() - cpu0) / (
                config.settle_seconds + step["window_s"]
            )
            step["peak_rss_mb"] = bot.peak_rss_bytes() / 2**20
            steps.append(step)
            p99 = step["ack_ms"]["p99"]
            print(
                f"  ramp {target:>4}: ack p99 {p99:.1f} ms, "
                f"{step['streaming']} streaming, bot CPU {step['bot_cpu_share']:.2f} cores",
                flush=True,
            )
            if p99 is None or p99 > config.ack_p99_limit_ms:
                stopped_by = f"ack p99 > {config.ack_p99_limit_ms:g} ms"
                break
            held = target
    return {
        "held": held,
        "stopped_by": stopped_by,
        "limit_ms": config.ack_p99_limit_ms,
        "seconds": time.monotonic() - started,
        "steps": steps,
    }


async def _window(
    config: RampConfig, slack: SlackEmulator, mock: MockLLMServer, channels: list[str]
) -> dict[str, Any]:
    """Chatter for one window; its acks, and how many answers streamed meanwhile."""
    stop = asyncio.Event()
    first_chunk = len(mock.sent_chunks)
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
    }


def ramp_table(ramp: dict[str, Any]) -> str:
    """The ramp's steps as lines: conversations, ack p50 / p99 / max, streaming, CPU."""
    lines = [
        "",
        f"Ramp: ack while N answers stream (limit p99 {ramp['limit_ms']:g} ms); "
        f"held {ramp['held']} (stopped: {ramp['stopped_by']})",
        "   N  ack p50 / p99 / max (ms)  streaming  tokens/s  bot CPU (cores)  bench lag p99 (ms)",
    ]
    for step in ramp["steps"]:
        ack = step["ack_ms"]
        cells = " / ".join(
            "–" if ack[k] is None else f"{ack[k]:.1f}" for k in ("p50", "p99", "max")
        )
        lag = step["bench_loop_lag_ms"]["p99"]
        lines.append(
            f"{step['conversations']:>4}  {cells:>24}  {step['streaming']:>9}  "
            f"{step['tokens_per_second']:>8.0f}  {step['bot_cpu_share']:>15.2f}  "
            f"{'–' if lag is None else f'{lag:.1f}':>18}"
        )
    return "\n".join(lines)
