"""A small tickets tracker served over MCP, to try Countersign's tools and policies offline.

    python examples/tickets/server.py              # stdio, as examples/tickets/mcp.json starts it
    python examples/tickets/server.py --http 8765  # streamable HTTP at http://127.0.0.1:8765/mcp

It has read-only tools (list, get), writes (create, close, refund) and a destructive one (delete),
each with MCP annotations saying which, so a policy or the defaults can tell them apart. The
tickets live in the JSON file named by `TICKETS_FILE` (default: countersign-tickets.json in the
temporary folder); reads never write it, and each write rewrites it once, atomically, and adds one
line to its `log`, so what a tool call changed can be checked afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

_Tool = TypeVar("_Tool", bound=Callable[..., Any])

Priority = Literal["low", "normal", "high"]
Status = Literal["open", "closed"]
Currency = Literal["EUR", "USD", "GBP"]

TicketId = Annotated[
    int, Field(title="Ticket", description="The ticket's number, as list_tickets shows it.", ge=1)
]


@dataclass
class Ticket:
    id: int
    title: str
    priority: Priority
    status: Status = "open"
    description: str = ""
    comments: list[str] = field(default_factory=list)
    refunds: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"#{self.id} [{self.status}, {self.priority}] {self.title}"


def seed_tickets() -> list[Ticket]:
    """What a new tracker holds, so there is something to list, close and refund at once."""
    return [
        Ticket(1, "VPN drops every hour", "high", description="Since Monday, in Berlin."),
        Ticket(2, "Add a dark mode to the dashboard", "normal"),
        Ticket(3, "Printer on floor 2 is out of paper", "low"),
        Ticket(4, "Customer charged twice for order 1042", "normal", description="€900 twice."),
        Ticket(5, "Typo on the pricing page", "low", status="closed"),
    ]


class Tracker:
    """The tickets, kept in memory and written to one JSON file after each change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tickets: dict[int, Ticket] = {}
        self.log: list[str] = []
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            self.tickets = {item["id"]: Ticket(**item) for item in saved["tickets"]}
            self.log = list(saved.get("log", []))
        else:
            self.tickets = {ticket.id: ticket for ticket in seed_tickets()}

    def get(self, ticket_id: int) -> Ticket:
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise ToolError(f"There is no ticket #{ticket_id}.") from None

    def changed(self, what: str) -> None:
        """Record one change and write the file once (a whole new file, then a rename)."""
        self.log.append(what)
        state = {"tickets": [asdict(t) for t in self.tickets.values()], "log": self.log}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(state, indent=2, ensure_ascii=False), encoding="utf-8")
        temporary.replace(self.path)


def build_server(tracker: Tracker) -> MCPServer:
    """The MCP server with one tool per thing a support person does with tickets."""
    server = MCPServer(
        "tickets",
        title="Tickets",
        instructions="A support team's tickets: list and read them, create, close and refund.",
        log_level="WARNING",
    )

    def tool(
        title: str, *, read_only: bool = False, destructive: bool = False, idempotent: bool = False
    ) -> Callable[[_Tool], _Tool]:
        """Register a tool with MCP's hints, which a policy's defaults go by; its result is a
        sentence for people to read, so there is no structured output to parse."""
        hints = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=None if read_only else destructive,  # MCP: only for writes
            idempotent_hint=None if read_only else idempotent,
            open_world_hint=False,
        )
        return server.tool(title=title, annotations=hints, structured_output=False)

    @tool("List tickets", read_only=True)
    def list_tickets(
        status: Annotated[
            Literal["open", "closed", "all"],
            Field(title="Status", description="Which tickets to list: open, closed or all."),
        ] = "open",
    ) -> str:
        """List the tickets with their number, status, priority and title."""
        shown = [t for t in tracker.tickets.values() if status in ("all", t.status)]
        if not shown:
            return f"No {status} tickets." if status != "all" else "No tickets."
        heading = f"{len(shown)} {'' if status == 'all' else status + ' '}ticket(s):"
        return "\n".join([heading, *(f"- {ticket.line()}" for ticket in shown)])

    @tool("Read a ticket", read_only=True)
    def get_ticket(id: TicketId) -> str:
        """Read one ticket: its title, status, priority, description, comments and refunds."""
        ticket = tracker.get(id)
        lines = [ticket.line()]
        if ticket.description:
            lines.append(ticket.description)
        lines += [f"Comment: {comment}" for comment in ticket.comments]
        lines += [f"Refunded: {refund}" for refund in ticket.refunds]
        return "\n".join(lines)

    @tool("Create a ticket")
    def create_ticket(
        title: Annotated[
            str, Field(title="Title", description="One line saying what is wrong.", min_length=3)
        ],
        priority: Annotated[
            Priority, Field(title="Priority", description="How urgent it is: low, normal or high.")
        ] = "normal",
        description: Annotated[
            str, Field(title="Description", description="More detail, if there is any.")
        ] = "",
    ) -> str:
        """Open a new ticket."""
        number = max(tracker.tickets, default=0) + 1
        ticket = Ticket(number, title, priority, description=description)
        tracker.tickets[ticket.id] = ticket
        tracker.changed(f"created #{ticket.id}")
        return f"Created ticket #{ticket.id} “{title}” ({priority} priority)."

    @tool("Close a ticket", idempotent=True)
    def close_ticket(
        id: TicketId,
        priority: Annotated[
            Priority,
            Field(
                title="Priority",
                description="The ticket's priority (low, normal or high); it must match the "
                "ticket's, so a policy may trust it.",
            ),
        ],
        comment: Annotated[
            str, Field(title="Comment", description="Why it is closed, for whoever reads it next.")
        ] = "",
    ) -> str:
        """Close a ticket, with an optional closing comment."""
        ticket = tracker.get(id)
        if ticket.priority != priority:
            raise ToolError(
                f"Ticket #{id} is {ticket.priority} priority, not {priority}; nothing was changed."
            )
        if ticket.status == "closed":
            return f"Ticket #{id} “{ticket.title}” was already closed."
        ticket.status = "closed"
        if comment:
            ticket.comments.append(comment)
        tracker.changed(f"closed #{id}")
        return f"Closed ticket #{id} “{ticket.title}”."

    @tool("Delete a ticket", destructive=True, idempotent=True)
    def delete_ticket(id: TicketId) -> str:
        """Delete a ticket and its history for good."""
        ticket = tracker.get(id)
        del tracker.tickets[id]
        tracker.changed(f"deleted #{id}")
        return f"Deleted ticket #{id} “{ticket.title}”."

    @tool("Refund a customer")
    def refund_customer(
        ticket_id: Annotated[
            int, Field(title="Ticket", description="The ticket the refund is for.", ge=1)
        ],
        amount: Annotated[
            float, Field(title="Amount", description="How much to pay back.", gt=0, le=10_000)
        ],
        currency: Annotated[
            Currency, Field(title="Currency", description="EUR, USD or GBP.")
        ] = "EUR",
    ) -> str:
        """Pay money back to the customer of a ticket; it is recorded on the ticket."""
        ticket = tracker.get(ticket_id)
        paid = f"{amount:,.2f} {currency}"
        ticket.refunds.append(paid)
        tracker.changed(f"refunded {paid} on #{ticket_id}")
        return f"Refunded {paid} to the customer of ticket #{ticket_id} “{ticket.title}”."

    return server


def tickets_file() -> Path:
    """TICKETS_FILE, or a file in the temporary folder (an empty value counts as unset)."""
    named = os.environ.get("TICKETS_FILE", "").strip()
    return Path(named) if named else Path(tempfile.gettempdir()) / "countersign-tickets.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT/mcp"
    )
    options = parser.parse_args()
    server = build_server(Tracker(tickets_file()))
    if options.http is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=options.http)


if __name__ == "__main__":
    main()
