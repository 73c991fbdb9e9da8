"""The shipped example (examples/tickets): its MCP server, its mcp.json and its policy.yaml.

The server is started the way mcp.json says, as a real subprocess spoken to with the `mcp` SDK's
own client over stdio (and once over streamable HTTP), so what a newcomer runs is what is tested.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult, TextContent

from agent.mcp_config import StdioServer, load_mcp_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tickets"


def stdio_config(tickets_file: Path) -> StdioServer:
    """The tickets server as examples/tickets/mcp.json names it, with TICKETS_FILE set."""
    servers = load_mcp_config(EXAMPLE / "mcp.json", {"TICKETS_FILE": str(tickets_file)})
    assert [server.name for server in servers] == ["tickets"]
    server = servers[0]
    assert isinstance(server, StdioServer)
    return server


@asynccontextmanager
async def tickets_server(tickets_file: Path) -> AsyncIterator[Client]:
    """A client of the example server, started from the repository root as mcp.json says.

    `python` there is the project's interpreter (`uv run` puts it first on PATH); the test uses
    this very interpreter, whatever PATH holds.
    """
    config = stdio_config(tickets_file)
    assert config.command == "python"
    parameters = StdioServerParameters(
        command=sys.executable, args=list(config.args), env=dict(config.env), cwd=ROOT
    )
    async with Client(parameters) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(part.text for part in result.content if isinstance(part, TextContent))


def saved(tickets_file: Path) -> dict[str, Any]:
    return json.loads(tickets_file.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def ticket(tickets_file: Path, number: int) -> dict[str, Any]:
    return next(item for item in saved(tickets_file)["tickets"] if item["id"] == number)


# ── the server ──────────────────────────────────────────────────────────────────────────────


async def test_tools_are_listed_with_annotations_and_readable_schemas(tmp_path: Path) -> None:
    async with tickets_server(tmp_path / "tickets.json") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert sorted(tools) == [
        "close_ticket",
        "create_ticket",
        "delete_ticket",
        "get_ticket",
        "list_tickets",
        "refund_customer",
    ]
    hints = {
        name: (
            tool.annotations.read_only_hint if tool.annotations else None,
            tool.annotations.destructive_hint if tool.annotations else None,
        )
        for name, tool in tools.items()
    }
    assert hints == {
        "list_tickets": (True, None),
        "get_ticket": (True, None),
        "create_ticket": (False, False),
        "close_ticket": (False, False),
        "refund_customer": (False, False),
        "delete_ticket": (False, True),
    }
    close = tools["close_ticket"]
    assert close.title == "Close a ticket"
    assert close.description == "Close a ticket, with an optional closing comment."
    schema = close.input_schema
    assert schema["required"] == ["id", "priority"]
    fields = schema["properties"]
    assert {name: field["title"] for name, field in fields.items()} == {
        "id": "Ticket",
        "priority": "Priority",
        "comment": "Comment",
    }
    assert fields["priority"]["enum"] == ["low", "normal", "high"]
    assert all(field["description"] for field in fields.values())
    refund = tools["refund_customer"].input_schema["properties"]
    assert refund["amount"]["type"] == "number"
    assert refund["currency"]["enum"] == ["EUR", "USD", "GBP"]


async def test_reads_write_nothing_and_a_close_writes_the_file_once(tmp_path: Path) -> None:
    tickets_file = tmp_path / "tickets.json"
    async with tickets_server(tickets_file) as client:
        listed = await client.call_tool("list_tickets", {})
        assert not listed.is_error
        assert text_of(listed).splitlines() == [
            "4 open ticket(s):",
            "- #1 [open, high] VPN drops every hour",
            "- #2 [open, normal] Add a dark mode to the dashboard",
            "- #3 [open, low] Printer on floor 2 is out of paper",
            "- #4 [open, normal] Customer charged twice for order 1042",
        ]
        assert not tickets_file.exists()  # reads never write

        closed = await client.call_tool(
            "close_ticket", {"id": 3, "priority": "low", "comment": "Paper restocked."}
        )
        assert not closed.is_error
        assert text_of(closed) == "Closed ticket #3 “Printer on floor 2 is out of paper”."
        assert saved(tickets_file)["log"] == ["closed #3"]
        assert ticket(tickets_file, 3)["status"] == "closed"
        assert ticket(tickets_file, 3)["comments"] == ["Paper restocked."]

        again = await client.call_tool("close_ticket", {"id": 3, "priority": "low"})
        assert (
            text_of(again) == "Ticket #3 “Printer on floor 2 is out of paper” was already closed."
        )
        assert saved(tickets_file)["log"] == ["closed #3"]  # still written once


async def test_a_priority_that_is_not_the_tickets_own_is_refused(tmp_path: Path) -> None:
    """The policy allows low-priority closes; the server makes sure "low" is the truth."""
    tickets_file = tmp_path / "tickets.json"
    async with tickets_server(tickets_file) as client:
        refused = await client.call_tool("close_ticket", {"id": 1, "priority": "low"})
        missing = await client.call_tool("get_ticket", {"id": 99})
        invalid = await client.call_tool("refund_customer", {"ticket_id": 4, "amount": -5})

    assert refused.is_error
    assert "Ticket #1 is high priority, not low; nothing was changed." in text_of(refused)
    assert missing.is_error
    assert "There is no ticket #99." in text_of(missing)
    assert invalid.is_error
    assert "amount" in text_of(invalid)
    assert not tickets_file.exists()


async def test_writes_are_kept_for_the_next_start(tmp_path: Path) -> None:
    tickets_file = tmp_path / "tickets.json"
    async with tickets_server(tickets_file) as client:
        created = await client.call_tool(
            "create_ticket", {"title": "Badge reader at the door", "priority": "high"}
        )
        refunded = await client.call_tool(
            "refund_customer", {"ticket_id": 4, "amount": 900, "currency": "EUR"}
        )
        deleted = await client.call_tool("delete_ticket", {"id": 2})
    assert text_of(created) == "Created ticket #6 “Badge reader at the door” (high priority)."
    assert text_of(refunded) == (
        "Refunded 900.00 EUR to the customer of ticket #4 “Customer charged twice for order 1042”."
    )
    assert text_of(deleted) == "Deleted ticket #2 “Add a dark mode to the dashboard”."

    async with tickets_server(tickets_file) as client:
        everything = text_of(await client.call_tool("list_tickets", {"status": "all"}))
        four = text_of(await client.call_tool("get_ticket", {"id": 4}))
    assert "#6 [open, high] Badge reader at the door" in everything
    assert "#2 " not in everything
    assert four.endswith("Refunded: 900.00 EUR")
    assert saved(tickets_file)["log"] == ["created #6", "refunded 900.00 EUR on #4", "deleted #2"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(port: int, process: asyncio.subprocess.Process, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        assert process.returncode is None, "the server exited before it listened"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert loop.time() < deadline, f"nothing listened on port {port} in {timeout}s"
            await asyncio.sleep(0.1)
        else:
            writer.close()
            await writer.wait_closed()
            return


async def test_the_server_also_speaks_streamable_http(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE / "server.py"),
        "--http",
        str(port),
        env={"TICKETS_FILE": str(tmp_path / "tickets.json"), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for_port(port, process, timeout=30)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            closed = await client.call_tool("close_ticket", {"id": 3, "priority": "low"})
    finally:
        process.terminate()
        await process.wait()
    assert "close_ticket" in names
    assert text_of(closed) == "Closed ticket #3 “Printer on floor 2 is out of paper”."
    assert saved(tmp_path / "tickets.json")["log"] == ["closed #3"]


# ── mcp.json and policy.yaml ────────────────────────────────────────────────────────────────


def test_mcp_json_is_the_common_mcp_servers_shape() -> None:
    document = json.loads((EXAMPLE / "mcp.json").read_text(encoding="utf-8"))
    assert document == {
        "mcpServers": {
            "tickets": {
                "command": "python",
                "args": ["examples/tickets/server.py"],
                "env": {"TICKETS_FILE": "${TICKETS_FILE:-}"},
            }
        }
    }
    assert (ROOT / document["mcpServers"]["tickets"]["args"][0]).is_file()
    # Without TICKETS_FILE the variable is empty and the server picks its own file.
    assert stdio_config(Path("ignored")).env == {"TICKETS_FILE": "ignored"}
    assert load_mcp_config(EXAMPLE / "mcp.json", {})[0] == StdioServer(
        "tickets", "python", ("examples/tickets/server.py",), {"TICKETS_FILE": ""}
    )


def test_policy_yaml_decides_the_documented_cases() -> None:
    policy_module = pytest.importorskip("agent.policy")
    policy = policy_module.Policy.load(EXAMPLE / "policy.yaml")

    def decide(tool: str, arguments: dict[str, Any], read_only: bool = False) -> Any:
        return policy.decide(tool, read_only=read_only, arguments=arguments, user="UALICE")

    low = decide("tickets__close_ticket", {"id": 3, "priority": "low"})
    assert (low.outcome, low.rule) == (
        "allow",
        "rule 1 (tickets__close_ticket, when args.priority == 'low')",
    )
    assert decide("tickets__close_ticket", {"id": 1, "priority": "high"}).outcome == "approve"

    big = decide("tickets__refund_customer", {"ticket_id": 4, "amount": 900, "currency": "EUR"})
    assert big.outcome == "approve"
    assert big.approval.approvals == 2
    assert big.approval.approvers == ("S0APPROVERS", "UCAROL")
    assert (big.approval.remind_after, big.approval.expires_after) == (15 * 60, 60 * 60)
    assert big.approval.escalate_to == ("UALICE",)
    small = decide("tickets__refund_customer", {"ticket_id": 4, "amount": 20.5})
    assert (small.outcome, small.approval.approvals) == ("approve", 1)

    delete = decide("tickets__delete_ticket", {"id": 1})
    assert delete.outcome == "deny"
    assert delete.reason == (
        "Deleting is not allowed from Slack; ask an admin to do it in the tracker."
    )
    assert decide("tickets__list_tickets", {}, read_only=True).outcome == "allow"
    assert decide("tickets__create_ticket", {"title": "New"}).outcome == "approve"
