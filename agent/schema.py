"""The agent's tables, as numbered migrations (see `agent.migrations`)."""

from __future__ import annotations

from agent.approval_votes import APPROVAL_VOTES_TABLE
from agent.builtin_tools import NOTES_CALL_INDEX, NOTES_TABLE
from agent.ledger import TOOL_RUNS_TABLE
from agent.migrations import Migration, add_columns
from agent.pauses import OLD_CLAIMS, PAUSES_INDEX, PAUSES_TABLE

MIGRATIONS = (
    Migration(
        1,
        "baseline: notes, tool runs, pauses (and what files older than numbered migrations lack)",
        (
            NOTES_TABLE,
            add_columns("notes", {"call_id": "TEXT"}),
            NOTES_CALL_INDEX,
            TOOL_RUNS_TABLE,
            PAUSES_TABLE,
            add_columns(
                "pauses",
                {"decision": "TEXT", "decided_by": "TEXT", "decided_at": "DOUBLE PRECISION"},
            ),
            PAUSES_INDEX,
            OLD_CLAIMS,
        ),
    ),
    Migration(2, "approval votes: two-person approval", (APPROVAL_VOTES_TABLE,)),
)
