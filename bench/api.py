"""`python -m bench.api [--runs 30] [--clients 1,10]`: how fast the HTTP API shows the model.

The bot runs in this process against the Slack emulator and the mock model (4-character tokens
at 40 a second); a client posts runs over HTTP and reads their Server-Sent Events. Measured per
run: the mock model's first chunk leaving its server → the first `token` event read by the
client (both on this process's monotonic clock), p50 and p99, with 1 client and with several at
once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.metrics import Stats
from bot.server import EVENTS_PATH, RunningBot, serve
from playground.slack import SlackEmulator
from tests.bot_harness import bot_settings
from tests.mock_llm_server import MockLLMServer, Reply

TOKEN = "bench-api-token"
ANSWER = " ".join(["The quick brown fox jumps over the lazy dog."] * 8)


def main() -> None:
    """Measure, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="runs per client")
    parser.add_argument("--clients", default="1,10", help="concurrent clients, e.g. 1,10")
    parser.add_argument("--held", type=int, default=50, help="SSE streams held for the ack test")
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.clients.split(",")]
    print(asyncio.run(measure(levels, arguments.runs)))
    print()
    print(asyncio.run(acks_with_streams_held(arguments.held)))


async def acks_with_streams_held(held: int, events: int = 20) -> str:
    """Slack events' ack time (signed HTTP delivery → the bot's 200), with no SSE client and
    with `held` clients each holding a stream open on a paused thread (`/events`)."""
    lines = ["SSE streams held | Slack events | ack p50 ms | ack p99 ms"]
    async with _bot_on_api(Reply(text="Hi there.")) as (slack, llm, running, http):
        slack.deliver_to(running.url + EVENTS_PATH)
        for count in (0, held):
            readers = [
                await _hold(http, llm, running.url, f"held-{count}-{index}")
                for index in range(count)
            ]
            acks = []
            for _ in range(events):
                started = time.monotonic()
                _, deliveries = await slack.user_says("UALICE", "C0GENERAL", "hello")
                acks.append(time.monotonic() - started)
                assert all(delivery.ok for delivery in deliveries)
                await asyncio.sleep(0.2)
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            lines.append(_row(count, acks))
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def _bot_on_api(
    reply: Reply,
) -> AsyncIterator[tuple[SlackEmulator, MockLLMServer, RunningBot, aiohttp.ClientSession]]:
    """The bot in this process, with the API on, against the emulator and the mock model."""
    with tempfile.TemporaryDirectory() as folder:
        async with SlackEmulator() as slack, MockLLMServer(reply) as llm:
            settings = bot_settings(
                slack,
                Path(folder) / "bench.db",
                llm_model="openai/mock",
                llm_api_base=llm.base_url,
                llm_api_key="sk-bench",
                api_tokens=f"{TOKEN}:UBENCH01",
            )
            async with serve(settings) as running, aiohttp.ClientSession() as http:
                yield slack, llm, running, http


def _row(label: int, seconds: list[float]) -> str:
    """One table row: the label, the sample's size, its p50 and p99 in ms."""
    stats = Stats.of(seconds, 1000)
    return f"{label} | {stats.n} | {stats.p50 or 0:.1f} | {stats.p99 or 0:.1f}"


async def _hold(
    http: aiohttp.ClientSession, llm: MockLLMServer, url: str, thread: str
) -> asyncio.Task[None]:
    """Pause a thread at an approval, then hold its `/events` stream open (a reader task)."""
    llm.enqueue(Reply(tool_calls=[("save_note", {"title": thread, "body": "held"})]))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with http.post(
        f"{url}/api/threads/{thread}/runs", json={"input": "save it"}, headers=auth
    ) as response:
        await response.read()
    opened = asyncio.Event()

    async def read() -> None:
        async with http.get(f"{url}/api/threads/{thread}/events", headers=auth) as events:
            async for line in events.content:
                if line.startswith(b"event: approval_requested"):
                    opened.set()

    reader = asyncio.create_task(read())
    await opened.wait()
    return reader


async def measure(levels: list[int], runs: int) -> str:
    lines = ["clients | runs | model's first token → first SSE token: p50 ms | p99 ms"]
    async with _bot_on_api(Reply(text=ANSWER, tokens_per_second=40)) as (_, llm, running, http):
        for clients in levels:
            lines.append(_row(clients, await _level(http, running.url, llm, clients, runs)))
    return "\n".join(lines)


async def _level(
    http: aiohttp.ClientSession, url: str, llm: MockLLMServer, clients: int, runs: int
) -> list[float]:
    async def client(index: int) -> list[float]:
        gaps = []
        for run in range(runs):
            thread = f"bench-{clients}-{index}-{run}"
            before = len(llm.requests)
            async with http.post(
                f"{url}/api/threads/{thread}/runs",
                json={"input": f"tell me a story {thread}"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as response:
                async for line in response.content:
                    if line.startswith(b"event: token"):
                        seen = time.monotonic()
                        gaps.append(seen - _first_chunk(llm, thread, before))
                        break
                async for _ in response.content:
                    pass
        return gaps

    results = await asyncio.gather(*(client(index) for index in range(clients)))
    return [gap for gaps in results for gap in gaps]


def _first_chunk(llm: MockLLMServer, thread: str, since: int) -> float:
    """When the mock sent the first text of the request that carried `thread`."""
    for number, body in enumerate(llm.requests[since:], start=since):
        if thread in str(body.get("messages")):
            return min(c.at for c in llm.sent_chunks if c.request == number and c.text)
    raise LookupError(thread)


if __name__ == "__main__":
    main()
