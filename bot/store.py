"""The bot's own tables, in the agent's database: which Slack threads are conversations, where
each pause's card or question was posted, which answers were streaming, and the decision audit.

Everything a click or a restart needs lives here, not in memory.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from agent.database import Database

TABLES = (
    """CREATE TABLE IF NOT EXISTS slack_conversations (
        thread_id TEXT PRIMARY KEY,
        team_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS slack_pauses (
        thread_id TEXT NOT NULL,
        interrupt_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        message_ts TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (thread_id, interrupt_id)
    )""",
    """CREATE TABLE IF NOT EXISTS slack_turns (
        turn_id TEXT PRIMARY KEY,
        thread_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        thread_ts TEXT NOT NULL,
        message_ts TEXT NOT NULL,
        started_by TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
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


@dataclass(frozen=True)
class StreamingTurn:
    """An answer that was streaming when the process stopped."""

    turn_id: str
    thread_id: str
    place: SlackPlace
    started_by: str


def arguments_hash(arguments: dict[str, Any]) -> str:
    """A stable fingerprint of the exact arguments that ran (canonical JSON, SHA-256)."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class BotStore:
    """Reads and writes the bot's tables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create_tables(self) -> None:
        """Idempotent: run at every start."""
        await self.database.create_tables(TABLES)

    async def claim(self, kind: str, key: str) -> bool:
        """First-wins, durable: used to process each event and each message once."""
        return await self.database.claim(kind, key, time.time())

    async def remember_conversation(self, ref: ThreadRef) -> None:
        """The bot answers in this Slack thread: later replies there continue it."""
        await self.database.execute(
            "INSERT OR IGNORE INTO slack_conversations VALUES (?, ?, ?, ?, ?)",
            (ref.thread_id, ref.team_id, ref.channel, ref.thread_ts, time.time()),
        )

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
            "INSERT OR REPLACE INTO slack_pauses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

    async def turn_started(
        self, turn_id: str, thread_id: str, place: SlackPlace, started_by: str
    ) -> None:
        """An answer began streaming into `place`."""
        await self.database.execute(
            "INSERT INTO slack_turns VALUES (?, ?, ?, ?, ?, ?, 'streaming', ?)",
            (
                turn_id,
                thread_id,
                place.channel,
                place.thread_ts,
                place.message_ts,
                started_by,
                time.time(),
            ),
        )

    async def turn_ended(self, turn_id: str) -> None:
        """The answer's final text landed."""
        await self.database.execute(
            "UPDATE slack_turns SET status = 'done' WHERE turn_id = ?", (turn_id,)
        )

    async def interrupted_turns(self) -> list[StreamingTurn]:
        """Answers left streaming by a process that stopped without finishing them."""
        rows = await self.database.fetch_all(
            "SELECT * FROM slack_turns WHERE status = 'streaming' ORDER BY started_at"
        )
        return [
            StreamingTurn(
                row["turn_id"],
                row["thread_id"],
                SlackPlace(row["channel"], row["thread_ts"], row["message_ts"]),
                row["started_by"],
            )
            for row in rows
        ]

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
            "SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,)
        )
        return [dict(row) for row in rows]

    async def decision_for(self, thread_id: str, interrupt_id: str) -> tuple[str, str] | None:
        """(action, actor) of the decision recorded for a pause, if any."""
        row = await self.database.fetch_one(
            "SELECT action, actor FROM audit WHERE thread_id = ? AND interrupt_id = ?"
            " AND action != 'refused' ORDER BY id LIMIT 1",
            (thread_id, interrupt_id),
        )
        return (row["action"], row["actor"]) if row else None
