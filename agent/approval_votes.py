"""Approvals counted toward a quorum: a pause whose rule asks for two or more people.

Each approval is a vote in this table, written under the pause's serialisation key, so two
approvers clicking at once on two replicas count once each, and exactly one of them completes
the quorum (and stores the decision, agent.pauses). An Edit & approve starts a new round: the
edited arguments need the full count again, with the editor's vote as the first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from agent.database import Database, Transaction
from agent.events import JSONObject

APPROVAL_VOTES_TABLE = """
CREATE TABLE IF NOT EXISTS approval_votes (
    thread_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    voter TEXT NOT NULL,
    arguments TEXT,
    voted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (thread_id, interrupt_id, round, voter)
)"""
"""`arguments` is set on the first vote of a round an Edit started: what the round approves."""


@dataclass(frozen=True)
class ApprovalTally:
    """Where an approval stands: who approved the arguments of the current round, of how many.

    `arguments` and `edited_by` are set when an approver edited the call (the round's
    arguments replace the proposed ones).
    """

    needed: int
    approved_by: tuple[str, ...] = ()
    arguments: JSONObject | None = None
    edited_by: str | None = None

    @property
    def complete(self) -> bool:
        """Whether enough different people approved for the call to run."""
        return len(self.approved_by) >= self.needed


def serialization_key(thread_id: str, interrupt_id: str) -> str:
    """Votes on one pause take turns under this key (first-wins claims happen inside)."""
    return f"pause:{thread_id}:{interrupt_id}"


async def tally(
    transaction: Database | Transaction, thread_id: str, interrupt_id: str, needed: int
) -> ApprovalTally:
    """The votes of the newest round (none yet: an empty tally)."""
    rows = await transaction.fetch_all(
        "SELECT round, voter, arguments FROM approval_votes"
        " WHERE thread_id = ? AND interrupt_id = ? ORDER BY round DESC, voted_at, voter",
        (thread_id, interrupt_id),
    )
    if not rows:
        return ApprovalTally(needed)
    newest = rows[0]["round"]
    voters = [row for row in rows if row["round"] == newest]
    edit = next((row for row in voters if row["arguments"] is not None), None)
    return ApprovalTally(
        needed,
        tuple(row["voter"] for row in voters),
        json.loads(edit["arguments"]) if edit else None,
        edit["voter"] if edit else None,
    )


async def vote(
    transaction: Transaction,
    thread_id: str,
    interrupt_id: str,
    voter: str,
    needed: int,
    edited: dict[str, Any] | None,
) -> ApprovalTally | None:
    """Count `voter`'s approval (an edit opens a new round); None if they already counted."""
    current = await tally(transaction, thread_id, interrupt_id, needed)
    if edited is None and voter in current.approved_by:
        return None
    row = await transaction.fetch_one(
        "SELECT MAX(round) AS newest FROM approval_votes WHERE thread_id = ? AND interrupt_id = ?",
        (thread_id, interrupt_id),
    )
    newest = row["newest"] if row and row["newest"] is not None else 0
    await transaction.execute(
        "INSERT INTO approval_votes(thread_id, interrupt_id, round, voter, arguments, voted_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            thread_id,
            interrupt_id,
            newest + 1 if edited is not None else max(newest, 1),
            voter,
            json.dumps(edited) if edited is not None else None,
            time.time(),
        ),
    )
    return await tally(transaction, thread_id, interrupt_id, needed)
