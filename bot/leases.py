"""Leases: a job that must run on one replica at a time (posting missing cards) is run by
whoever holds its lease. The holder renews it by running the job again; when a holder dies
its lease runs out and another replica takes it."""

from __future__ import annotations

import time

from agent import Database

TABLE = """CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until DOUBLE PRECISION NOT NULL
)"""


async def hold(database: Database, name: str, owner: str, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`; false while another owner holds it."""
    now = time.time()
    changed = await database.execute(
        "INSERT INTO leases(name, owner, until) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
        " WHERE leases.owner = excluded.owner OR leases.until < ?",
        (name, owner, now + seconds, now),
    )
    return changed == 1


async def release(database: Database, name: str, owner: str) -> None:
    """Give the lease up (a replica shutting down), so the next one need not wait it out."""
    await database.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
