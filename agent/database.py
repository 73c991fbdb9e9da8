"""One SQLite connection per process, shared by LangGraph's checkpointer and the app's own tables.

The checkpointer serialises its work behind its own lock; the app's statements take the same
lock, so the two never interleave inside one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

Params = Sequence[Any] | dict[str, Any]


class Transaction:
    """Statements that commit together or not at all (the database's lock is held meanwhile).

    Used where two facts must never be apart after a crash: an event's dedupe claim and its
    inbox item, a decision's claim and the work that applies it.
    """

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write; returns how many rows it changed (1 means "this caller won")."""
        cursor = await self._connection.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT and return the new row's id."""
        cursor = await self._connection.execute(sql, params)
        row_id = cursor.lastrowid
        await cursor.close()
        assert row_id is not None  # an INSERT into a rowid table always has one
        return row_id

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one query and return its rows."""
        cursor = await self._connection.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Run one query and return its first row, if any."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None


class Database:
    """The app's access to the shared connection: short statements, each committed at once."""

    def __init__(self, connection: aiosqlite.Connection, lock: asyncio.Lock) -> None:
        self.connection = connection
        self.lock = lock

    @staticmethod
    async def connect(path: Path) -> aiosqlite.Connection:
        """Open the file in WAL mode; NORMAL sync is durable across process crashes in WAL.

        The file is switched to incremental auto-vacuum (see `reclaim_free_pages`); a database
        made before that is rewritten once by VACUUM, which is instant on a new file.
        """
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
        connection.row_factory = sqlite3.Row
        async with connection.execute("PRAGMA auto_vacuum") as cursor:
            row = await cursor.fetchone()
        if row is not None and row[0] != _INCREMENTAL:
            await connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            await connection.execute("VACUUM")
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

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Everything inside commits at the end, or is rolled back if it raises."""
        async with self.lock:
            try:
                yield Transaction(self.connection)
            except BaseException:
                await self.connection.rollback()
                raise
            await self.connection.commit()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write and return how many rows it changed (1 means "this caller won")."""
        async with self.transaction() as transaction:
            return await transaction.execute(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one query and return its rows."""
        async with self.lock:
            return await Transaction(self.connection).fetch_all(sql, params)

    async def add_columns(self, table: str, columns: dict[str, str]) -> None:
        """Add the columns an older file's `table` lacks (`name` → its SQL type and default)."""
        rows = await self.fetch_all(f"PRAGMA table_info({table})")
        present = {row["name"] for row in rows}
        async with self.transaction() as transaction:
            for name, definition in columns.items():
                if name not in present:
                    await transaction.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Run one query and return its first row, if any."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def reclaim_free_pages(self) -> None:
        """Give pages freed by deletes back to the file system.

        SQLite keeps freed pages inside the file for reuse, so without this a file only ever
        grows to its high-water mark: pruning a long thread's old checkpoints (each a copy of
        the whole conversation) would leave several copies' worth of empty pages behind.
        """
        async with self.lock:
            # Each step of the pragma frees one page, and the sqlite3 module's execute() steps
            # it only once; executescript() runs it to the end.
            await self.connection.executescript("PRAGMA incremental_vacuum;")


_INCREMENTAL = 2
"""`PRAGMA auto_vacuum` reads 0 for NONE, 1 for FULL and 2 for INCREMENTAL."""
