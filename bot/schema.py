"""The bot's tables, as numbered migrations (see `agent.migrations`); run at every start."""

from __future__ import annotations

from agent import Database, Migration, add_columns, migrate
from bot import feedback, home_viewers, inbox, leases, shared_budget, store

MIGRATIONS = (
    Migration(
        1,
        "baseline: conversations, pauses' messages, audit, claims, inbox, workers",
        (
            *store.TABLES,
            *inbox.TABLES,
        ),
    ),
    Migration(
        2,
        "a Stop clicked on one replica reaches the replica running the answer",
        (add_columns("inbox", {"stop_requested_by": "TEXT"}),),
    ),
    Migration(3, "leases: periodic jobs run on one replica at a time", (leases.TABLE,)),
    Migration(
        4,
        "the workspace's Slack budget, shared by replicas: buckets, 429 windows, streams",
        shared_budget.TABLES,
    ),
    Migration(
        5,
        "approval cards sent by DM to deciders outside the conversation",
        (store.PAUSE_COPIES_TABLE,),
    ),
    Migration(6, "👍 / 👎 on finished answers: one vote per person per answer", (feedback.TABLE,)),
    Migration(
        7,
        "who opened the App Home tab, and the list each was last shown",
        (home_viewers.TABLE,),
    ),
)


async def upgrade(database: Database) -> None:
    """Bring the bot's tables up to date."""
    await migrate(database, "bot", MIGRATIONS)
