"""A tool module loaded through AGENT_TOOLS in tests, the way users add their own tools."""

from __future__ import annotations

import asyncio
from typing import Literal

from agent import ToolContext, tool

CALLS: list[tuple[str, str, str]] = []


@tool()
async def explode(reason: str) -> str:
    """Always fails; shows how a tool error reaches the model."""
    raise RuntimeError(f"boom: {reason}")


@tool(write=True)
async def open_ticket(title: str, priority: Literal["low", "high"], context: ToolContext) -> str:
    """Open a ticket in the team's tracker."""
    CALLS.append((title, priority, context.requested_by))
    return f"Opened ticket “{title}” ({priority})."


@tool()
async def slow_lookup(topic: str) -> str:
    """Look something up slowly (long enough for progress to show in Slack)."""
    await asyncio.sleep(1.5)
    return f"Nothing known about {topic}."
