"""The tools node never runs a write twice, even when it runs again for the same call."""

from __future__ import annotations

import json
from typing import Any

from agent import Agent, ToolContext, tool
from agent.graph import AgentGraph
from agent.ledger import ToolLedger
from agent.toolkit import Toolbox, tool_from_function

RUNS: list[str] = []


@tool(write=True)
async def send_invoice(customer: str) -> str:
    """Send an invoice (a write that must never happen twice)."""
    RUNS.append(customer)
    return f"Invoice sent to {customer}."


def call(call_id: str, customer: str) -> dict[str, Any]:
    arguments = json.dumps({"customer": customer})
    return {"id": call_id, "function": {"name": "send_invoice", "arguments": arguments}}


async def test_a_rerun_of_the_tools_node_does_not_repeat_a_write(agent: Agent) -> None:
    RUNS.clear()
    toolbox = Toolbox([tool_from_function(send_invoice, write=True)])
    graph = AgentGraph(model=None, toolbox=toolbox, ledger=ToolLedger(agent.database))  # type: ignore[arg-type]
    context = ToolContext("t-ledger", "UALICE", "call-1")
    events: list[dict[str, Any]] = []
    approved = {"kind": "approve"}
    first = await graph._run_call(call("call-1", "ACME"), approved, context, events.append)
    # The process died after the write, before the checkpoint: the node runs again.
    second = await graph._run_call(call("call-1", "ACME"), approved, context, events.append)
    assert RUNS == ["ACME"]
    assert first == second == "Invoice sent to ACME."
    assert [e["type"] for e in events] == ["tool_started", "tool_finished"]


async def test_a_call_cut_off_mid_run_is_reported_not_repeated(agent: Agent) -> None:
    RUNS.clear()
    ledger = ToolLedger(agent.database)
    await ledger.begin("t-cut", "call-9", "send_invoice", '{"customer": "ACME"}')  # then: crash
    toolbox = Toolbox([tool_from_function(send_invoice, write=True)])
    graph = AgentGraph(model=None, toolbox=toolbox, ledger=ledger)  # type: ignore[arg-type]
    context = ToolContext("t-cut", "UALICE", "call-9")
    result = await graph._run_call(call("call-9", "ACME"), {"kind": "approve"}, context, print)
    assert RUNS == []
    assert result.startswith("NOT RUN")
