"""The bot's own tables, in the agent's database: which Slack threads are conversations, where
each pause's card or question was posted, and the decision audit.

Everything a click or a restart needs lives here, not in memory.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from agent import Database, Transaction

TABLES = (
    """CREATE TABLE IF NOT EXISTS slack_conversations (
        thread_id TEXT PRIMARY KEY,
        team_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS slack_pauses (
        thread_id TEXT NOT NULL,
        interrupt_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        message_ts TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (thread_id, interrupt_id)
    )""",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at DOUBLE PRECISION NOT NULL,
        thread_id TEXT NOT NULL,
        interrupt_id TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        tool TEXT,
        arguments_sha256 TEXT,
        detail TEXT
    )""",
)


@dataclass(frozen=True)
class ThreadRef:
    """One Slack thread, which is one agent thread."""

    team_id: str
    channel: str
    thread_ts: str

    @property
    def thread_id(self) -> str:
        """Stable across restarts: the agent's checkpoint key."""
        return f"{self.team_id}:{self.channel}:{self.thread_ts}"


@dataclass(frozen=True)
class SlackPlace:
    """Where something lives in Slack: a message in a thread."""

    channel: str
    thread_ts: str
    message_ts: str


def arguments_hash(arguments: dict[str, Any]) -> str:
    """A stable fingerprint of the exact arguments that ran (canonical JSON, SHA-256)."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


PAUSE_COPIES_TABLE = """CREATE TABLE IF NOT EXISTS slack_pause_copies (
    thread_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    sent_to TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (thread_id, interrupt_id, channel)
)"""
"""Copies of an approval card sent by DM to deciders outside the conversation."""


class BotStore:
    """Reads and writes the bot's tables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @staticmethod
    async def remember_conversation(transaction: Transaction, ref: ThreadRef) -> bool:
        """The bot answers in this Slack thread: later replies there continue it.

        True when the thread just became a conversation.
        """
        changed = await transaction.execute(
            "INSERT INTO slack_conversations VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (ref.thread_id, ref.team_id, ref.channel, ref.thread_ts, time.time()),
        )
        return changed == 1

    @staticmethod
    async def has_conversation(transaction: Transaction, thread_id: str) -> bool:
        """`is_conversation`, read inside a transaction (no other writer in between)."""
        row = await transaction.fetch_one(
            "SELECT 1 FROM slack_conversations WHERE thread_id = ?", (thread_id,)
        )
        return row is not None

    async def is_conversation(self, thread_id: str) -> bool:
        """Whether the bot already answered in this Slack thread."""
        row = await self.database.fetch_one(
            "SELECT 1 FROM slack_conversations WHERE thread_id = ?", (thread_id,)
        )
        return row is not None

    async def conversation(self, thread_id: str) -> ThreadRef | None:
        """The Slack thread of a conversation the bot answers in."""
        row = await self.database.fetch_one(
            "SELECT team_id, channel, thread_ts FROM slack_conversations WHERE thread_id = ?",
            (thread_id,),
        )
        return ThreadRef(row["team_id"], row["channel"], row["thread_ts"]) if row else None

    async def remember_pause(
        self, thread_id: str, interrupt_id: str, kind: str, place: SlackPlace, requested_by: str
    ) -> None:
        """Where the card or question of a pause was posted."""
        await self.database.execute(
            "INSERT INTO slack_pauses VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (thread_id, interrupt_id) DO UPDATE SET kind = excluded.kind,"
            " channel = excluded.channel, thread_ts = excluded.thread_ts,"
            " message_ts = excluded.message_ts, requested_by = excluded.requested_by,"
            " created_at = excluded.created_at",
            (
                thread_id,
                interrupt_id,
                kind,
                place.channel,
                place.thread_ts,
                place.message_ts,
                requested_by,
                time.time(),
            ),
        )

    async def pause_place(self, thread_id: str, interrupt_id: str) -> SlackPlace | None:
        """Where the pause's card or question is, if it was posted."""
        row = await self.database.fetch_one(
            "SELECT channel, thread_ts, message_ts FROM slack_pauses"
            " WHERE thread_id = ? AND interrupt_id = ?",
            (thread_id, interrupt_id),
        )
        return SlackPlace(row["channel"], row["thread_ts"], row["message_ts"]) if row else None

    async def remember_copy(
        self, thread_id: str, interrupt_id: str, place: SlackPlace, sent_to: str
    ) -> None:
        """A copy of a pause's card, sent by DM to `sent_to`."""
        await self.database.execute(
            "INSERT INTO slack_pause_copies VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (thread_id, interrupt_id, place.channel, place.message_ts, sent_to, time.time()),
        )

    async def pause_copies(self, thread_id: str, interrupt_id: str) -> dict[str, SlackPlace]:
        """The DM copies of a pause's card, by the person each was sent to."""
        rows = await self.database.fetch_all(
            "SELECT channel, message_ts, sent_to FROM slack_pause_copies"
            " WHERE thread_id = ? AND interrupt_id = ? ORDER BY created_at",
            (thread_id, interrupt_id),
        )
        return {
            row["sent_to"]: SlackPlace(row["channel"], row["message_ts"], row["message_ts"])
            for row in rows
        }

    async def audit(
        self,
        *,
        thread_id: str,
        interrupt_id: str,
        action: str,
        actor: str,
        tool: str | None = None,
        arguments: dict[str, Any] | None = None,
        detail: str | None = None,
    ) -> None:
        """Record a decision or a refused click."""
        await self.database.execute(
            "INSERT INTO audit(at, thread_id, interrupt_id, action, actor, tool, arguments_sha256,"
            " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                thread_id,
                interrupt_id,
                action,
                actor,
                tool,
                arguments_hash(arguments) if arguments is not None else None,
                detail,
            ),
        )

    async def audit_rows(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit rows, newest last."""
        rows = await self.database.fetch_all(
            "SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) AS newest ORDER BY id",
            (limit,),
        )
        return [dict(row) for row in rows]

    async def decision_for(self, thread_id: str, interrupt_id: str) -> tuple[str, str] | None:
        """(action, actor) of the decision recorded for a pause, if any."""
        row = await self.database.fetch_one(
            "SELECT action, actor FROM audit WHERE thread_id = ? AND interrupt_id = ?"
            f" AND action NOT IN {_NOT_DECISIONS} ORDER BY id LIMIT 1",
            (thread_id, interrupt_id),
        )
        return (row["action"], row["actor"]) if row else None

    async def audited(self, thread_id: str, interrupt_id: str, action: str) -> bool:
        """Whether this action on this pause is in the audit already (a re-run writes it once)."""
        row = await self.database.fetch_one(
            "SELECT 1 FROM audit WHERE thread_id = ? AND interrupt_id = ? AND action = ?",
            (thread_id, interrupt_id, action),
        )
        return row is not None


_NOT_DECISIONS = "('refused', 'ran', 'approval counted', 'reminded', 'escalated')"
"""Audit actions that record something other than a decision."""
