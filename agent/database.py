"""One SQLite connection per process, shared by LangGraph's checkpointer and the app's own tables.

The checkpointer serialises its work behind its own lock; the app's statements take the same
lock, so the two never interleave inside one transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

Params = Sequence[Any] | dict[str, Any]


class Database:
    """The app's access to the shared connection: short statements, each committed at once."""

    def __init__(self, connection: aiosqlite.Connection, lock: asyncio.Lock) -> None:
        self.connection = connection
        self.lock = lock

    @staticmethod
    async def connect(path: Path) -> aiosqlite.Connection:
        """Open the file in WAL mode; NORMAL sync is durable across process crashes in WAL."""
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
        connection.row_factory = sqlite3.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA busy_timeout=5000")
        return connection

    async def create_tables(self, statements: Iterable[str]) -> None:
        """Run idempotent DDL (`CREATE TABLE IF NOT EXISTS …`)."""
        async with self.lock:
            for statement in statements:
                await self.connection.execute(statement)
            await self.connection.commit()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write and return how many rows it changed (1 means "this caller won")."""
        async with self.lock:
            cursor = await self.connection.execute(sql, params)
            count = cursor.rowcount
            await cursor.close()
            await self.connection.commit()
            return count

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one query and return its rows."""
        async with self.lock:
            cursor = await self.connection.execute(sql, params)
            rows = await cursor.fetchall()
            await cursor.close()
            return list(rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Run one query and return its first row, if any."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def claim(self, kind: str, key: str, at: float) -> bool:
        """Durable first-wins claim: true for the first caller of (kind, key), ever."""
        return (
            await self.execute(
                "INSERT OR IGNORE INTO claims(kind, key, at) VALUES (?, ?, ?)", (kind, key, at)
            )
            == 1
        )


CLAIMS_TABLE = """
CREATE TABLE IF NOT EXISTS claims (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (kind, key)
)"""
