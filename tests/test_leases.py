"""Jobs one replica runs at a time: a lease is held until it runs out, or its holder dies."""

from __future__ import annotations

import asyncio
import socket
import sys
import time

from agent.migrations import migrate
from agent.storage import open_storage
from bot import leases, schema
from bot.inbox import Inbox


async def test_a_lease_is_held_by_one_owner_until_it_runs_out(database_url: str) -> None:
    async with open_storage(database_url) as storage:
        database = storage.database
        await migrate(database, "bot", schema.MIGRATIONS)
        assert await leases.hold(database, "reconciler", "replica-a", 0.3)
        assert not await leases.hold(database, "reconciler", "replica-b", 0.3)
        assert await leases.hold(database, "reconciler", "replica-a", 0.3)  # renewed
        await asyncio.sleep(0.4)
        assert await leases.hold(database, "reconciler", "replica-b", 60)
        assert not await leases.hold(database, "reconciler", "replica-a", 60)
        await leases.release(database, "reconciler", "replica-b")
        assert await leases.hold(database, "reconciler", "replica-a", 60)


async def test_two_replicas_racing_for_a_free_lease_get_it_once(database_url: str) -> None:
    async with open_storage(database_url) as first, open_storage(database_url) as second:
        await migrate(first.database, "bot", schema.MIGRATIONS)
        won = await asyncio.gather(
            *(
                leases.hold(storage.database, "reconciler", f"replica-{n}", 60)
                for n, storage in enumerate((first, second, first, second))
            )
        )
    assert sorted(won) == [False, False, False, True]


async def test_a_dead_workers_lease_is_freed_at_once(database_url: str) -> None:
    """A process killed while holding the lease would otherwise keep the next process (same
    machine, new life) from posting missing cards until the lease ran out."""
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    async with open_storage(database_url) as storage:
        database = storage.database
        await migrate(database, "bot", schema.MIGRATIONS)
        await database.execute(
            "INSERT INTO workers(id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
            ("dead-one", socket.gethostname(), gone.pid, time.time(), time.time()),
        )
        assert await leases.hold(database, "reconciler", "dead-one", 120)
        inbox = Inbox(database)
        await inbox.register()
        assert not await leases.hold(database, "reconciler", inbox.owner, 120)
        await inbox.take_over()
        assert await leases.hold(database, "reconciler", inbox.owner, 120)
