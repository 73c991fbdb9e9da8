"""One SQLite file per process, shared by LangGraph's checkpointer and the app's own tables.

The checkpointer serialises its work behind its own lock on the one connection; the app's
statements take the same lock, so the two never interleave inside one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.database import Database, Dialect, Params, Row, Transaction
from agent.storage import Storage

_INCREMENTAL = 2
"""`PRAGMA auto_vacuum` reads 0 for NONE, 1 for FULL and 2 for INCREMENTAL."""

_PRUNE_WRITES = """
DELETE FROM writes
WHERE thread_id = :thread AND checkpoint_id != (
    SELECT max(c.checkpoint_id) FROM checkpoints c
    WHERE c.thread_id = writes.thread_id AND c.checkpoint_ns = writes.checkpoint_ns
)"""

_PRUNE_CHECKPOINTS = """
DELETE FROM checkpoints
WHERE thread_id = :thread AND checkpoint_id != (
    SELECT max(c.checkpoint_id) FROM checkpoints c
    WHERE c.thread_id = checkpoints.thread_id AND c.checkpoint_ns = checkpoints.checkpoint_ns
)"""


class _SqliteTransaction(Transaction):
    dialect: Dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._connection.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._connection.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return [dict(row) for row in rows]

    async def serialize(self, key: str) -> None:
        """Take the file's write lock now rather than at the first write: this process's
        statements are serial already, and this keeps another process (`python -m bot audit`
        starting beside the bot) from reading what this transaction is about to change."""
        if not self._connection.in_transaction:
            await self._connection.execute("BEGIN IMMEDIATE")

    async def columns(self, table: str) -> set[str]:
        return {str(row["name"]) for row in await self.fetch_all(f"PRAGMA table_info({table})")}


class SqliteDatabase(Database):
    """The app's access to the shared connection."""

    dialect: Dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection, lock: asyncio.Lock) -> None:
        self._connection = connection
        self._lock = lock

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            try:
                yield _SqliteTransaction(self._connection)
            except BaseException:
                await self._connection.rollback()
                raise
            await self._connection.commit()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            return await _SqliteTransaction(self._connection).fetch_all(sql, params)

    async def reclaim_free_pages(self) -> None:
        """SQLite keeps freed pages inside the file for reuse, so without this a file only
        ever grows to its high-water mark: pruning a long thread's old checkpoints (each a copy
        of the whole conversation) would leave several copies' worth of empty pages behind."""
        async with self._lock:
            # Each step of the pragma frees one page, and the sqlite3 module's execute() steps
            # it only once; executescript() runs it to the end.
            await self._connection.executescript("PRAGMA incremental_vacuum;")


class SqliteStorage(Storage):
    """AsyncSqliteSaver and the app's tables on one connection, in WAL mode."""

    database: SqliteDatabase

    def __init__(self, database: SqliteDatabase, saver: AsyncSqliteSaver) -> None:
        self.database = database
        self.saver = saver

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[SqliteStorage]:
        """Open (or create) the file and the checkpointer's tables."""
        connection = await _connect(path)
        try:
            saver = AsyncSqliteSaver(connection)
            await saver.setup()
            yield cls(SqliteDatabase(connection, saver.lock), saver)
        finally:
            await connection.close()

    async def keep_latest(self, thread_id: str) -> None:
        # AsyncSqliteSaver has no prune of its own, hence these statements.
        removed = await self.database.execute(_PRUNE_WRITES, {"thread": thread_id})
        removed += await self.database.execute(_PRUNE_CHECKPOINTS, {"thread": thread_id})
        if removed:
            await self.database.reclaim_free_pages()

    async def interrupted_threads(self) -> list[str]:
        rows = await self.database.fetch_all(
            "SELECT DISTINCT thread_id FROM writes WHERE channel = '__interrupt__'"
        )
        return [str(row["thread_id"]) for row in rows]


async def _connect(path: Path) -> aiosqlite.Connection:
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
