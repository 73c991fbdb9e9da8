"""Durable records of pauses: the decision stored for each one, and which have waited too long.

The checkpoint says *whether* a thread is paused; this table adds what front ends need across
restarts. A decision is stored here with its first-wins claim, before anyone is told it was
taken (DESIGN §4 rule 8), and it is never given back: if the process dies before the graph
applied it, whoever runs the thread next applies the stored decision.

    pending ──decide (first wins)──▶ decided ──applied by the run──▶ resolved
       └──────────the run moved on without it──────────────────────▶ superseded
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from agent.database import Database, Row, Transaction
from agent.events import ApprovalRule, Pause, PauseKind

PauseStatus = Literal["pending", "decided", "resolved", "superseded"]

PAUSES_TABLE = """
CREATE TABLE IF NOT EXISTS pauses (
    thread_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (thread_id, interrupt_id)
)"""
PAUSES_INDEX = "CREATE INDEX IF NOT EXISTS pauses_by_status ON pauses(status, created_at)"
OLD_CLAIMS = "UPDATE pauses SET status = 'pending' WHERE status = 'claimed' AND decision IS NULL"
"""A claim an older version left behind held no decision: the pause is still open."""


@dataclass(frozen=True)
class StoredDecision:
    """A decision taken on a pause: the value the graph receives, and who took it."""

    value: dict[str, Any]
    decided_by: str | None
    decided_at: float
    status: PauseStatus


class PauseBook:
    """Reads and writes pause records."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def record(self, pause: Pause, transaction: Transaction | None = None) -> None:
        """Remember a pause the run reached (idempotent)."""
        sql = (
            "INSERT INTO pauses(thread_id, interrupt_id, kind, payload, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        params = (
            pause.thread_id,
            pause.interrupt_id,
            pause.kind,
            json.dumps(_payload(pause)),
            pause.created_at,
            time.time(),
        )
        if transaction is not None:
            await transaction.execute(sql, params)
        else:
            await self._database.execute(sql, params)

    async def status(
        self, thread_id: str, interrupt_id: str, transaction: Transaction | None = None
    ) -> PauseStatus | None:
        """The record's status, or None when no such pause was ever recorded."""
        row = await (transaction or self._database).fetch_one(
            "SELECT status FROM pauses WHERE thread_id = ? AND interrupt_id = ?",
            (thread_id, interrupt_id),
        )
        return row["status"] if row else None

    async def recorded(self, thread_id: str, interrupt_id: str) -> Pause | None:
        """The pause as it was recorded, whatever its status now."""
        row = await self._database.fetch_one(
            "SELECT * FROM pauses WHERE thread_id = ? AND interrupt_id = ?",
            (thread_id, interrupt_id),
        )
        return _pause(row) if row else None

    async def decide(
        self,
        transaction: Transaction,
        pause: Pause,
        value: dict[str, Any],
        decided_by: str | None,
    ) -> bool:
        """First wins: store `value` as the pause's decision; false if it was decided before."""
        await self.record(pause, transaction)
        changed = await transaction.execute(
            "UPDATE pauses SET status = 'decided', decision = ?, decided_by = ?, decided_at = ?,"
            " updated_at = ? WHERE thread_id = ? AND interrupt_id = ? AND status = 'pending'",
            (
                json.dumps(value),
                decided_by,
                time.time(),
                time.time(),
                pause.thread_id,
                pause.interrupt_id,
            ),
        )
        return changed == 1

    async def decision(self, thread_id: str, interrupt_id: str) -> StoredDecision | None:
        """The decision stored for a pause, if one was taken."""
        row = await self._database.fetch_one(
            "SELECT decision, decided_by, decided_at, status FROM pauses"
            " WHERE thread_id = ? AND interrupt_id = ? AND decision IS NOT NULL",
            (thread_id, interrupt_id),
        )
        if row is None:
            return None
        return StoredDecision(
            json.loads(row["decision"]), row["decided_by"], row["decided_at"], row["status"]
        )

    async def close(self, thread_id: str, interrupt_id: str, status: PauseStatus) -> None:
        """Mark the pause resolved (its answer reached the run) or superseded (the run moved on)."""
        await self._database.execute(
            "UPDATE pauses SET status = ?, updated_at = ? WHERE thread_id = ? AND interrupt_id = ?",
            (status, time.time(), thread_id, interrupt_id),
        )

    async def pending_counts(self) -> dict[PauseKind, int]:
        """How many pauses wait on a person, by kind (for the bot's metrics)."""
        rows = await self._database.fetch_all(
            "SELECT kind, COUNT(*) AS waiting FROM pauses WHERE status = 'pending' GROUP BY kind"
        )
        return {row["kind"]: int(row["waiting"]) for row in rows}

    async def waiting_since_before(self, cutoff: float) -> list[Pause]:
        """Pending pauses created before `cutoff` (epoch seconds): candidates for expiry."""
        rows = await self._database.fetch_all(
            "SELECT * FROM pauses WHERE status = 'pending' AND created_at < ? ORDER BY created_at",
            (cutoff,),
        )
        return [_pause(row) for row in rows]


def _pause(row: Row) -> Pause:
    payload = json.loads(row["payload"])
    return Pause(
        thread_id=row["thread_id"],
        interrupt_id=row["interrupt_id"],
        kind=row["kind"],
        call_id=payload["call_id"],
        requested_by=payload["requested_by"],
        created_at=row["created_at"],
        tool=payload["tool"],
        arguments=payload["arguments"],
        reason=payload["reason"],
        question=payload["question"],
        rule=ApprovalRule.from_json(payload.get("rule")),
    )


def _payload(pause: Pause) -> dict[str, Any]:
    return {
        "call_id": pause.call_id,
        "requested_by": pause.requested_by,
        "tool": pause.tool,
        "arguments": pause.arguments,
        "reason": pause.reason,
        "question": pause.question,
        "rule": pause.rule.to_json(),
    }
