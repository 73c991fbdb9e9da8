"""LangGraph Studio's way in: `make_graph`, named in langgraph.json, for `langgraph dev`.

It is the agent's graph exactly as `Agent.open` assembles it (the toolbox with AGENT_TOOLS and
MCP_CONFIG, the approval policy, the LLM gateway), from the same settings (the environment and
`.env`; LLM_MODEL is `demo` unless set, so it runs offline), with no Slack anywhere. Its own
SQLite file (STUDIO_DATABASE_URL) holds the notes and the tool ledger, so trying things in
Studio never touches the bot's database, even one on PostgreSQL.

LangGraph's API server calls the factory whenever it needs the graph (a run, a state read, the
schemas), enters it as an async context manager for that long, and swaps in its own
checkpointer: Studio's threads live in the server, not in the SQLite file. The factory takes no
argument, the form every version of the server accepts.

Studio drives the graph directly, as the graph's own API: a run's input is
`{"messages": [{"role": "user", "content": "save a note about water"}], "requested_by":
"U0STUDIO", "decisions": {}}`, and a pause is resumed with the decision the graph reads,
`{"kind": "approve"}`, `{"kind": "deny", "reason": "…"}`, `{"kind": "edit", "arguments":
{…}}` or, for a question, `{"kind": "answer", "text": "…"}`. The claims, approver checks and
audit log of `Agent.resume` (and of Slack and the HTTP API) are not in that path.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from agent.agent import Agent
from agent.settings import AgentSettings

STUDIO_DATABASE_URL = "sqlite:///./countersign-studio.db"
"""Relative to where `langgraph dev` runs (the repository root, next to langgraph.json)."""


@contextlib.asynccontextmanager
async def make_graph() -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """The compiled graph, open for as long as the server uses it (MCP servers included)."""
    settings = AgentSettings(database_url=STUDIO_DATABASE_URL)
    async with Agent.open(settings) as agent:
        yield agent.graph
