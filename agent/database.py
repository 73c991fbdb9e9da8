"""The app's own tables, in SQLite or PostgreSQL, behind one small interface.

Statements are written once, with `?` (or `:name`) placeholders and SQL both databases speak
(`INSERT … ON CONFLICT`, `RETURNING`, `DOUBLE PRECISION`); the PostgreSQL side rewrites the
placeholders and the one DDL phrase that differs (an auto-numbered id). Rows come back as
dicts on both.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Row = dict[str, Any]
Params = Sequence[Any] | Mapping[str, Any]
Dialect = Literal["sqlite", "postgres"]


class Transaction(ABC):
    """Statements that commit together or not at all.

    Used where two facts must never be apart after a crash: an event's dedupe claim and its
    inbox item, a decision's claim and the work that applies it.
    """

    dialect: Dialect

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write; returns how many rows it changed (1 means "this caller won")."""

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one query (or a write with RETURNING) and return its rows."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """Run one query and return its first row, if any."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one `INSERT … RETURNING id` and return the new row's id."""
        row = await self.fetch_one(sql, params)
        assert row is not None, "insert() needs a statement ending in RETURNING id"
        return int(row["id"])

    @abstractmethod
    async def serialize(self, key: str) -> None:
        """Hold `key` until this transaction ends; another transaction serialising the same key
        waits. On SQLite every write transaction is serial already; on PostgreSQL this is
        what keeps two replicas from interleaving work on one conversation."""

    @abstractmethod
    async def columns(self, table: str) -> set[str]:
        """The names of `table`'s columns (empty when it does not exist)."""


class Database(ABC):
    """Short statements, each committed at once, and transactions for the rest."""

    dialect: Dialect

    @abstractmethod
    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]:
        """Everything inside commits at the end, or is rolled back if it raises."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write and return how many rows it changed (1 means "this caller won")."""
        async with self.transaction() as transaction:
            return await transaction.execute(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one query and return its rows."""
        async with self.transaction() as transaction:
            return await transaction.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """Run one query and return its first row, if any."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None
