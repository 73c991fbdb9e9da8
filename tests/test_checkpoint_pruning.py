"""Long threads keep one checkpoint, lose no history, and still resume after pruning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent import Agent, AgentSettings, Approve
from agent.storage import sqlite_path
from tests.agent_helpers import approval, collect, finished, notes


async def checkpoint_rows(agent: Agent, thread_id: str) -> int:
    row = await agent.database.fetch_one(
        "SELECT count(*) AS n FROM checkpoints WHERE thread_id = ?", (thread_id,)
    )
    assert row is not None
    return int(row["n"])


async def test_a_long_thread_keeps_one_checkpoint_and_all_its_messages(agent: Agent) -> None:
    for turn in range(30):
        finished(await collect(agent.start("t-long", f"hello number {turn}", "UALICE")))
    assert await checkpoint_rows(agent, "t-long") == 1
    history = await agent.history("t-long")
    assert [m["content"] for m in history if m["role"] == "user"] == [
        f"hello number {turn}" for turn in range(30)
    ]


async def test_a_pruned_paused_thread_resumes_after_a_restart(
    agent_settings: AgentSettings,
) -> None:
    async with Agent.open(agent_settings) as first:
        for turn in range(5):
            finished(await collect(first.start("t-prune", f"hi {turn}", "UALICE")))
        paused = approval(await collect(first.start("t-prune", "save a note about tea", "UALICE")))
        assert await checkpoint_rows(first, "t-prune") == 1
    async with Agent.open(agent_settings) as second:
        events = await collect(second.resume("t-prune", paused.interrupt_id, Approve()))
        assert "saved" in finished(events).text.lower()
        assert len(await notes(second)) == 1
        assert len([m for m in await second.history("t-prune") if m["role"] == "user"]) == 6


async def test_postgres_keeps_only_what_the_newest_checkpoint_needs(agent: Agent) -> None:
    """AsyncPostgresSaver keeps channel values in a blob table and pending writes in another:
    pruning leaves one checkpoint, only the blobs it references, and only its writes."""
    if agent.database.dialect != "postgres":
        pytest.skip("PostgreSQL's checkpoint tables")
    for turn in range(10):
        finished(await collect(agent.start("t-space", f"hello number {turn} " * 50, "UALICE")))
    counts = {}
    for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        row = await agent.database.fetch_one(
            f"SELECT count(*) AS n FROM {table} WHERE thread_id = 't-space'"
        )
        assert row is not None
        counts[table] = int(row["n"])
    blobs = await agent.database.fetch_all(
        "SELECT channel, count(*) AS n FROM checkpoint_blobs WHERE thread_id = 't-space'"
        " GROUP BY channel"
    )
    assert counts["checkpoints"] == 1
    assert all(row["n"] == 1 for row in blobs), blobs  # one version of each channel, not ten
    stale = await agent.database.fetch_one(
        "SELECT count(*) AS n FROM checkpoint_writes w WHERE thread_id = 't-space'"
        " AND checkpoint_id NOT IN (SELECT checkpoint_id FROM checkpoints c"
        " WHERE c.thread_id = 't-space')"
    )
    assert stale is not None and stale["n"] == 0


def sqlite_file(agent_settings: AgentSettings) -> Path:
    path = sqlite_path(agent_settings.database_url)
    if path is None:
        pytest.skip("SQLite's file")
    return path


async def pragma(agent: Agent, name: str) -> int:
    row = await agent.database.fetch_one(f"PRAGMA {name}")
    assert row is not None
    return int(next(iter(row.values())))


async def test_pruned_checkpoints_give_their_space_back_to_the_file(
    agent_settings: AgentSettings, agent: Agent
) -> None:
    sqlite_file(agent_settings)
    for turn in range(10):
        finished(await collect(agent.start("t-space", f"hello number {turn} " * 50, "UALICE")))
    assert await pragma(agent, "freelist_count") == 0
    assert await pragma(agent, "page_count") < 40  # one copy of the thread, not ten


async def test_a_database_made_before_auto_vacuum_is_converted_and_keeps_its_threads(
    agent_settings: AgentSettings,
) -> None:
    path = sqlite_file(agent_settings)
    async with Agent.open(agent_settings) as first:
        finished(await collect(first.start("t-old", "hello old friend", "UALICE")))
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA auto_vacuum=NONE")
        connection.execute("VACUUM")
        assert connection.execute("PRAGMA auto_vacuum").fetchone() == (0,)
    async with Agent.open(agent_settings) as second:
        assert await pragma(second, "auto_vacuum") == 2  # incremental
        history = await second.history("t-old")
        assert [m["content"] for m in history if m["role"] == "user"] == ["hello old friend"]
