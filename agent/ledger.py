"""Every tool call the agent ran, keyed by (thread, tool_call_id), so none runs twice.

A row is written before the tool runs and completed after it. If the process dies in between,
the ledger cannot know whether the tool's effect happened (pitfall 36). For most tools the call
is then not repeated and the model is told it did not run: for a write, at most once is the safe
side. A tool declared idempotent (same call id, no further effect) is run again instead, so the
result recorded and shown is what really happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agent.database import Database

TOOL_RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS tool_runs (
    thread_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    ok INTEGER,
    result TEXT,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    PRIMARY KEY (thread_id, call_id)
)"""


@dataclass(frozen=True)
class PreviousRun:
    """What an earlier attempt at the same call left behind."""

    finished: bool
    ok: bool
    result: str


class ToolLedger:
    """Claims a call before it runs and keeps its result."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def begin(
        self, thread_id: str, call_id: str, tool: str, arguments_json: str
    ) -> PreviousRun | None:
        """Claim the call; returns None when this caller should run it, else the earlier outcome."""
        claimed = await self._database.execute(
            "INSERT INTO tool_runs(thread_id, call_id, tool, arguments, started_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (thread_id, call_id, tool, arguments_json, time.time()),
        )
        if claimed:
            return None
        row = await self._database.fetch_one(
            "SELECT ok, result, finished_at FROM tool_runs WHERE thread_id = ? AND call_id = ?",
            (thread_id, call_id),
        )
        assert row is not None  # the insert was ignored because this row exists
        finished = row["finished_at"] is not None
        return PreviousRun(finished, bool(row["ok"]), row["result"] or "")

    async def finish(self, thread_id: str, call_id: str, *, ok: bool, result: str) -> None:
        """Record the outcome of a call this caller ran."""
        await self._database.execute(
            "UPDATE tool_runs SET ok = ?, result = ?, finished_at = ?"
            " WHERE thread_id = ? AND call_id = ?",
            (int(ok), result, time.time(), thread_id, call_id),
        )
