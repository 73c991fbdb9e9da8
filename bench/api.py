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
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bot.server import serve
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
    arguments = parser.parse_args()
    levels = [int(level) for level in arguments.clients.split(",")]
    print(asyncio.run(measure(levels, arguments.runs)))


async def measure(levels: list[int], runs: int) -> str:
    lines = ["clients | runs | model's first token → first SSE token: p50 ms | p99 ms"]
    with tempfile.TemporaryDirectory() as folder:
        async with (
            SlackEmulator() as slack,
            MockLLMServer(Reply(text=ANSWER, tokens_per_second=40)) as llm,
        ):
            settings = bot_settings(
                slack,
                Path(folder) / "bench.db",
                llm_model="openai/mock",
                llm_api_base=llm.base_url,
                llm_api_key="sk-bench",
                api_tokens=f"{TOKEN}:UBENCH01",
            )
            async with serve(settings) as running, aiohttp.ClientSession() as http:
                for clients in levels:
                    gaps = await _level(http, running.url, llm, clients, runs)
                    gaps.sort()
                    p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
                    lines.append(
                        f"{clients} | {len(gaps)} | {statistics.median(gaps) * 1000:.1f} | "
                        f"{p99 * 1000:.1f}"
                    )
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
