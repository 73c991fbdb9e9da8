"""Versioned schema changes, applied at start-up, for SQLite and PostgreSQL alike.

Each component (the agent, the bot) keeps a numbered list of migrations; the table
`schema_migrations` records which ones a database has, so a column added in a later version
reaches an existing database once. Replicas starting together take turns (one transaction,
serialised on a key), so each migration runs once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from agent.database import Database, Transaction

Step = str | Callable[[Transaction], Awaitable[None]]
"""A statement (`?` placeholders, SQL both databases speak), or code for what SQL can't say."""

_VERSIONS = """CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (component, version)
)"""


@dataclass(frozen=True)
class Migration:
    """One schema change: its number in its component's list, a name, and its steps."""

    version: int
    name: str
    steps: Sequence[Step]


async def migrate(database: Database, component: str, migrations: Sequence[Migration]) -> int:
    """Apply the migrations the database lacks, in order; returns how many ran."""
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise ValueError(f"{component} migrations must be numbered 1, 2, 3…: {versions}")
    async with database.transaction() as transaction:
        await transaction.serialize("schema_migrations")
        await transaction.execute(_VERSIONS)
        rows = await transaction.fetch_all(
            "SELECT version FROM schema_migrations WHERE component = ?", (component,)
        )
        applied = {int(row["version"]) for row in rows}
        ran = 0
        for migration in migrations:
            if migration.version in applied:
                continue
            for step in migration.steps:
                if isinstance(step, str):
                    await transaction.execute(step)
                else:
                    await step(transaction)
            await transaction.execute(
                "INSERT INTO schema_migrations(component, version, name, applied_at)"
                " VALUES (?, ?, ?, ?)",
                (component, migration.version, migration.name, time.time()),
            )
            ran += 1
    return ran


def add_columns(table: str, columns: dict[str, str]) -> Step:
    """A step giving `table` the columns it lacks (`name` → SQL type and default): for tables
    an older version made before migrations were numbered."""

    async def add(transaction: Transaction) -> None:
        present = await transaction.columns(table)
        for name, definition in columns.items():
            if name not in present:
                await transaction.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")

    return add
