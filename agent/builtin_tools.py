"""The built-in tools of DESIGN §7: notes kept in the app's database, and `ask_human`."""

from __future__ import annotations

import time

from agent.database import Database
from agent.toolkit import Tool, ToolContext, tool_from_function

ASK_HUMAN = "ask_human"
SEARCH_LIMIT = 5

NOTES_TABLE = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    call_id TEXT
)"""
"""`call_id` is the tool call that saved the note (NULL for notes older than the column)."""

NOTES_CALL_INDEX = """
CREATE UNIQUE INDEX IF NOT EXISTS notes_by_call ON notes(thread_id, call_id)"""
"""One note per tool call: what makes save_note idempotent by call id (pitfall 36)."""


def builtin_tools(database: Database) -> list[Tool]:
    """save_note (write), search_notes (read) and ask_human (pause), bound to one database."""

    async def save_note(title: str, body: str, context: ToolContext) -> str:
        """Save a note for the team. Needs a person's approval before it runs."""
        # Run again for the same call (after a crash before the ledger heard back), the insert
        # is ignored and the answer is the same: the note is saved, once.
        await database.execute(
            "INSERT INTO notes(title, body, thread_id, created_by, created_at, call_id)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (title, body, context.thread_id, context.requested_by, time.time(), context.call_id),
        )
        return f"Saved the note “{title}”."

    async def search_notes(query: str) -> str:
        """Find saved notes whose title or body mentions the query."""
        words = [word for word in query.lower().split() if word] or [""]
        condition = " AND ".join(["lower(title || ' ' || body) LIKE ? ESCAPE '\\'"] * len(words))
        patterns = [f"%{_escape_like(word)}%" for word in words]
        matches = await database.fetch_all(
            f"SELECT title, body FROM notes WHERE {condition} ORDER BY id DESC LIMIT ?",
            (*patterns, SEARCH_LIMIT),
        )
        if not matches:
            return f"No saved notes match “{query}”."
        lines = [f"- {row['title']}: {row['body']}" for row in matches]
        return f"{len(matches)} note(s) match “{query}”:\n" + "\n".join(lines)

    async def ask_human(question: str) -> str:
        """Ask the person you are talking with for missing information; wait for their reply."""
        raise RuntimeError("ask_human is answered by a person, never run")  # pragma: no cover

    return [
        tool_from_function(save_note, write=True, idempotent=True),
        tool_from_function(search_notes, write=False),
        tool_from_function(ask_human, write=False),
    ]


def _escape_like(text: str) -> str:
    """Make `%` and `_` in a search word match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
