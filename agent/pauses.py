"""Durable records of pauses: who claimed each one, and which have waited too long.

The checkpoint says *whether* a thread is paused; this table adds what the front ends need
across restarts: a first-wins claim per (thread, interrupt) and an index for expiry.
"""

from __future__ import annotations

import json
import time
from typing import Literal

from agent.database import Database
from agent.events import Pause

PauseStatus = Literal["pending", "claimed", "resolved", "superseded"]

PAUSES_TABLE = """
CREATE TABLE IF NOT EXISTS pauses (
    thread_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    updated_at REAL NOT NULL,
    PRIMARY KEY (thread_id, interrupt_id)
)"""
PAUSES_INDEX = "CREATE INDEX IF NOT EXISTS pauses_by_status ON pauses(status, created_at)"


class PauseBook:
    """Reads and claims pause records."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def record(self, pause: Pause) -> None:
        """Remember a pause the run just reached (idempotent)."""
        payload = {
            "call_id": pause.call_id,
            "requested_by": pause.requested_by,
            "tool": pause.tool,
            "arguments": pause.arguments,
            "reason": pause.reason,
            "question": pause.question,
        }
        await self._database.execute(
            "INSERT OR IGNORE INTO pauses(thread_id, interrupt_id, kind, payload, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                pause.thread_id,
                pause.interrupt_id,
                pause.kind,
                json.dumps(payload),
                pause.created_at,
                time.time(),
            ),
        )

    async def status(self, thread_id: str, interrupt_id: str) -> PauseStatus | None:
        """The record's status, or None when no such pause was ever reached."""
        row = await self._database.fetch_one(
            "SELECT status FROM pauses WHERE thread_id = ? AND interrupt_id = ?",
            (thread_id, interrupt_id),
        )
        return row["status"] if row else None

    async def claim(self, thread_id: str, interrupt_id: str) -> bool:
        """First-wins: true for exactly one caller while the pause is pending."""
        return await self._set_status(thread_id, interrupt_id, "claimed", only_if="pending")

    async def release(self, thread_id: str, interrupt_id: str) -> None:
        """Give a claim back (the resume never reached the run)."""
        await self._set_status(thread_id, interrupt_id, "pending", only_if="claimed")

    async def close(self, thread_id: str, interrupt_id: str, status: PauseStatus) -> None:
        """Mark the pause resolved (its answer reached the run) or superseded (the run moved on)."""
        await self._set_status(thread_id, interrupt_id, status)

    async def claimed(self) -> list[tuple[str, str]]:
        """Claims left by a process that stopped mid-resume: checked again at start-up."""
        rows = await self._database.fetch_all(
            "SELECT thread_id, interrupt_id FROM pauses WHERE status = 'claimed'"
        )
        return [(row["thread_id"], row["interrupt_id"]) for row in rows]

    async def waiting_since_before(self, cutoff: float) -> list[Pause]:
        """Pending pauses created before `cutoff` (epoch seconds): candidates for expiry."""
        rows = await self._database.fetch_all(
            "SELECT * FROM pauses WHERE status = 'pending' AND created_at < ? ORDER BY created_at",
            (cutoff,),
        )
        pauses = []
        for row in rows:
            payload = json.loads(row["payload"])
            pauses.append(
                Pause(
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
                )
            )
        return pauses

    async def _set_status(
        self,
        thread_id: str,
        interrupt_id: str,
        status: PauseStatus,
        only_if: PauseStatus | None = None,
    ) -> bool:
        sql = (
            "UPDATE pauses SET status = ?, updated_at = ? WHERE thread_id = ? AND interrupt_id = ?"
        )
        params: list[object] = [status, time.time(), thread_id, interrupt_id]
        if only_if is not None:
            sql += " AND status = ?"
            params.append(only_if)
        return await self._database.execute(sql, params) == 1
