"""`python -m bench.tools [--runs 3] [--calls 5000]`: what tools and policies cost.

- How long the example MCP server (examples/tickets) takes to start and list its tools, over
  stdio (a new Python process) and over streamable HTTP (a server already listening).
- What one policy check adds to a tool call: `Policy.decide` on the example policy, for a call
  an early rule allows, one a condition sends to two-person approval, one a glob denies after
  the conditions before it ran, and one no rule matches.

Figures are printed as a table; the closing notes quote them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agent.mcp_config import load_mcp_config
from agent.mcp_connection import McpConnection
from agent.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tickets"

CALLS: list[tuple[str, str, bool, dict[str, Any]]] = [
    ("allowed by rule 1", "tickets__close_ticket", False, {"id": 3, "priority": "low"}),
    (
        "two people (rule 2)",
        "tickets__refund_customer",
        False,
        {"ticket_id": 4, "amount": 900, "currency": "EUR"},
    ),
    ("denied by rule 4", "tickets__delete_ticket", False, {"id": 2}),
    ("default (read-only)", "tickets__list_tickets", True, {}),
]


def main() -> None:
    """Measure, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.tools", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="server starts per transport")
    parser.add_argument("--calls", type=int, default=5000, help="policy checks per call kind")
    arguments = parser.parse_args()
    print(policy_table(arguments.calls))
    print()
    print(asyncio.run(listing_table(arguments.runs)))


def policy_table(calls: int) -> str:
    """Median and p99 of one `Policy.decide`, per kind of call."""
    policy = Policy.load(EXAMPLE / "policy.yaml")
    lines = ["policy check (examples/tickets/policy.yaml) | outcome | median µs | p99 µs"]
    for label, tool, read_only, arguments in CALLS:
        samples = []
        verdict = policy.decide(tool, read_only=read_only, arguments=arguments, user="UALICE")
        for _ in range(calls):
            started = time.perf_counter()
            policy.decide(tool, read_only=read_only, arguments=arguments, user="UALICE")
            samples.append(time.perf_counter() - started)
        samples.sort()
        p99 = samples[int(len(samples) * 0.99)]
        lines.append(
            f"{label} | {verdict.outcome} | {statistics.median(samples) * 1e6:.1f} | "
            f"{p99 * 1e6:.1f}"
        )
    return "\n".join(lines)


async def listing_table(runs: int) -> str:
    """Connect-and-list time of the example server, per transport."""
    with tempfile.TemporaryDirectory() as scratch:
        environment = {**os.environ, "TICKETS_FILE": str(Path(scratch) / "tickets.json")}
        stdio = load_mcp_config(EXAMPLE / "mcp.json", environment)[0]
        lines = ["MCP start-up: connect and list tools | runs | median ms | each (ms)"]
        stdio_times = [await _list_once(stdio) for _ in range(runs)]
        lines.append(_listing_line("stdio (starts the server)", stdio_times))
        async with _http_server(environment) as url:
            config = Path(scratch) / "mcp.json"
            config.write_text(f'{{"mcpServers": {{"tickets": {{"url": "{url}"}}}}}}')
            http = load_mcp_config(config, environment)[0]
            http_times = [await _list_once(http) for _ in range(runs)]
    lines.append(_listing_line("streamable HTTP (already listening)", http_times))
    return "\n".join(lines)


async def _list_once(server: Any) -> float:
    connection = McpConnection(server, 30.0)
    try:
        listed = await connection.start()
        if isinstance(listed, str):
            raise SystemExit(f"the example server did not start: {listed}")
        return listed.seconds
    finally:
        await connection.close()


def _listing_line(label: str, seconds: list[float]) -> str:
    each = ", ".join(f"{value * 1000:.0f}" for value in seconds)
    return f"{label} | {len(seconds)} | {statistics.median(seconds) * 1000:.0f} | {each}"


@contextlib.asynccontextmanager
async def _http_server(environment: dict[str, str]) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE / "server.py"),
        "--http",
        str(port),
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        await process.wait()


if __name__ == "__main__":
    main()
