"""A small ticket tracker as an MCP server, written with the `mcp` SDK.

    python tests/mcp_servers/tickets.py               # stdio
    python tests/mcp_servers/tickets.py --http 8123   # streamable HTTP on 127.0.0.1:8123/mcp

Every call that changes something is appended to the file named by TICKETS_CALLS (one JSON line
per call, with the server's monotonic clock when it answered), so a test sees what the server saw.
TICKETS_PID_FILE, when set, gets the process id at start (to see restarts and leftovers).
Over HTTP, TICKETS_TOKEN, when set, is the bearer token every request must carry.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any, Literal, TypedDict

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

TICKETS = {
    7: "Printer on floor 2 is out of toner",
    8: "VPN drops every hour",
    9: "New laptop for Dana",
}

server = MCPServer("tickets", log_level="WARNING")


class Stats(TypedDict):
    open: int
    oldest: int


def record(tool: str, **arguments: object) -> None:
    """Note a call the server handled, in the file the test reads."""
    path = os.environ.get("TICKETS_CALLS")
    if path:
        line = {"tool": tool, "arguments": arguments, "at": time.monotonic(), "pid": os.getpid()}
        with open(path, "a", encoding="utf-8") as calls:
            calls.write(json.dumps(line) + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def list_tickets(status: Literal["open", "closed"] = "open") -> str:
    """List the team's tickets with the given status."""
    record("list_tickets", status=status)
    if status == "closed":
        return "No closed tickets."
    return "\n".join(f"#{number} {title}" for number, title in TICKETS.items())


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def close_ticket(id: int, priority: str) -> str:
    """Close a ticket for good; `priority` is the ticket's priority (low, normal, high)."""
    record("close_ticket", id=id, priority=priority)
    return f"Closed ticket #{id} ({priority})."


@server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
def ticket_stats() -> Stats:
    """How many tickets are open, and the oldest one's number."""
    return {"open": len(TICKETS), "oldest": min(TICKETS)}


@server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=True))
def reopen_ticket(id: int) -> str:
    """Reopen a closed ticket."""
    raise ToolError(f"ticket #{id} is archived and cannot be reopened")


@server.tool()
def crash_server() -> str:
    """Stop the server in the middle of the call (what a crashing server does)."""
    record("crash_server")
    os._exit(3)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def wait(seconds: float) -> str:
    """Take this long to answer."""
    await asyncio.sleep(seconds)
    return f"Waited {seconds} s."


def with_token(app: Any, token: str) -> Any:
    """The HTTP app, answering 401 to any request without `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    async def checked(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"wrong or missing token"})
            return
        await app(scope, receive, send)

    return checked


def main() -> None:
    pid_file = os.environ.get("TICKETS_PID_FILE")
    if pid_file:
        with open(pid_file, "w", encoding="utf-8") as out:
            out.write(str(os.getpid()))
    if sys.argv[1:2] != ["--http"]:
        server.run()
        return
    app = server.streamable_http_app()
    token = os.environ.get("TICKETS_TOKEN")
    if token:
        app = with_token(app, token)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")


if __name__ == "__main__":
    main()
