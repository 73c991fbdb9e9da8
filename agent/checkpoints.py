"""Keep each thread's checkpoint history short: only the newest checkpoint is needed.

Every checkpoint re-stores the whole message list, so a long thread grows quadratically
(pitfall 23). The state lives in plain `operator.add` channels, so the newest checkpoint alone
holds all of it; its pending writes are kept too, since they carry a pause's resume data.
AsyncSqliteSaver has no prune of its own, hence these statements, run under its lock.
"""

from __future__ import annotations

from agent.database import Database

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


async def keep_latest(database: Database, thread_id: str) -> int:
    """Drop all but the newest checkpoint of a thread and shrink the file; returns rows gone."""
    removed = await database.execute(_PRUNE_WRITES, {"thread": thread_id})
    removed += await database.execute(_PRUNE_CHECKPOINTS, {"thread": thread_id})
    if removed:
        await database.reclaim_free_pages()
    return removed
