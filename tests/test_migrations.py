"""Numbered migrations bring SQLite files and PostgreSQL databases up to date, once each."""

from __future__ import annotations

import asyncio

import pytest

from agent import ConfigurationError, postgres_storage
from agent.migrations import Migration, add_columns, migrate
from agent.storage import open_storage
from tests.postgres_server import free_port

FIRST = Migration(
    1,
    "tickets",
    (
        "CREATE TABLE IF NOT EXISTS tickets ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL)",
        "INSERT INTO tickets(title) VALUES ('seeded once')",
    ),
)
SECOND = Migration(2, "ticket owners", (add_columns("tickets", {"owner": "TEXT"}),))


async def test_a_column_added_later_reaches_an_existing_database(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        assert await migrate(storage.database, "test", [FIRST]) == 1
        await storage.database.execute("INSERT INTO tickets(title) VALUES (?)", ("old row",))
    async with open_storage(database_url) as storage:  # the next version starts
        assert await migrate(storage.database, "test", [FIRST, SECOND]) == 1
        assert await migrate(storage.database, "test", [FIRST, SECOND]) == 0
        await storage.database.execute(
            "INSERT INTO tickets(title, owner) VALUES (?, ?)", ("new row", "UALICE")
        )
        rows = await storage.database.fetch_all("SELECT title, owner FROM tickets ORDER BY id")
    assert rows == [
        {"title": "seeded once", "owner": None},
        {"title": "old row", "owner": None},
        {"title": "new row", "owner": "UALICE"},
    ]


async def test_replicas_starting_together_apply_each_migration_once(database_url: str) -> None:
    async with open_storage(database_url) as first, open_storage(database_url) as second:
        ran = await asyncio.gather(
            *(migrate(s.database, "test", [FIRST, SECOND]) for s in (first, second, first))
        )
        rows = await first.database.fetch_all("SELECT title FROM tickets")
    assert sorted(ran) == [0, 0, 2]
    assert rows == [{"title": "seeded once"}]


async def test_migrations_must_be_numbered_in_order(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        with pytest.raises(ValueError, match="numbered"):
            await migrate(storage.database, "test", [SECOND])


async def test_an_unknown_database_url_is_named_in_the_error() -> None:
    with pytest.raises(ConfigurationError, match="mysql://x"):
        async with open_storage("mysql://x"):
            pass


async def test_an_unreachable_postgres_says_where_and_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unused_port = free_port()
    url = f"postgresql://nobody:secret@127.0.0.1:{unused_port}/countersign"
    monkeypatch.setattr(postgres_storage, "CONNECT_TIMEOUT_SECONDS", 1.0)
    with pytest.raises(ConfigurationError) as refused:
        async with open_storage(url):
            pass
    message = str(refused.value)
    assert f"127.0.0.1:{unused_port}/countersign" in message and "secret" not in message
    assert "refused" in message.lower() or "connect" in message.lower()
