"""Who has opened the bot's Home tab, and which list each of them was last shown.

Slack keeps a published Home view until the app publishes another, so a change to the pauses
must reach everyone who may be looking at an old list. Slack never tells an app who that is
beyond `app_home_opened`, so the bot keeps it here, in the database: every replica refreshes
the same people, and a restart forgets nobody. `shown` (a fingerprint of the list last
published) lets a replica skip a person whose list did not change, whichever replica
published it.
"""

from __future__ import annotations

import time

from agent import Database

TABLE = """CREATE TABLE IF NOT EXISTS slack_home_viewers (
    user_id TEXT PRIMARY KEY,
    opened_at DOUBLE PRECISION NOT NULL,
    shown TEXT NOT NULL DEFAULT '',
    published_at DOUBLE PRECISION
)"""

FORGET_AFTER_SECONDS = 30 * 86400.0
"""Someone who has not opened Home for this long is not refreshed on every change any more;
their Home is brought up to date the next time they open it."""


class HomeViewers:
    """Reads and writes the `slack_home_viewers` table."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def opened(self, user: str) -> None:
        """`user` opened their Home tab just now."""
        await self._database.execute(
            "INSERT INTO slack_home_viewers(user_id, opened_at) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at",
            (user, time.time()),
        )

    async def recent(self) -> list[str]:
        """Everyone who opened Home within FORGET_AFTER_SECONDS."""
        rows = await self._database.fetch_all(
            "SELECT user_id FROM slack_home_viewers WHERE opened_at > ? ORDER BY user_id",
            (time.time() - FORGET_AFTER_SECONDS,),
        )
        return [row["user_id"] for row in rows]

    async def shown(self, user: str) -> str | None:
        """The fingerprint of the list last published to `user` ('' before the first)."""
        row = await self._database.fetch_one(
            "SELECT shown FROM slack_home_viewers WHERE user_id = ?", (user,)
        )
        return str(row["shown"]) if row else None

    async def published(self, user: str, fingerprint: str) -> None:
        """`user`'s Home now shows the list with `fingerprint` (someone who clicked there
        before this table knew them is remembered from now on)."""
        now = time.time()
        await self._database.execute(
            "INSERT INTO slack_home_viewers(user_id, opened_at, shown, published_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET shown = excluded.shown,"
            " published_at = excluded.published_at",
            (user, now, fingerprint, now),
        )
