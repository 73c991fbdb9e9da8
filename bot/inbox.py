"""The durable inbox: every event the bot accepted, kept until its effect is durable.

An item is written in the same transaction as the event's dedupe claim, before Slack is
acked (DESIGN §4 rule 7), so nothing Slack was told "received" lives only in memory. Items run
in order per conversation, one at a time; a running item carries its owner (one bot process)
and a lease the owner keeps renewing. When an owner dies, its items go back to the queue: at
once when it was a process on this machine that no longer exists, else when its lease runs out.

    early (a reply to a thread that may become a conversation) ──its mention arrives──┐
                                                                                     ▼
    queued ──take──▶ running ──finish──▶ done
       ▲                 ├──interrupted (shutdown, or owner gone)──▶ queued
       │                 └──interrupted too often──▶ held ──Retry──┘
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from agent import Database, Transaction

ItemKind = Literal["message", "decision"]

LEASE_SECONDS = 30.0
"""How long a running item stays its owner's without a heartbeat."""
FORGET_WORKERS_AFTER_SECONDS = 86_400.0
"""A worker silent this long (a replica on another machine that went away) is forgotten."""

TABLES = (
    """CREATE TABLE IF NOT EXISTS claims (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (kind, key)
    )""",
    """CREATE TABLE IF NOT EXISTS inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        answer_id TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'queued',
        attempts INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        outcome TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS inbox_open ON inbox(status, conversation, id)",
    """CREATE TABLE IF NOT EXISTS workers (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        heartbeat_at DOUBLE PRECISION NOT NULL
    )""",
)

_OPEN = "('queued', 'running')"


@dataclass(frozen=True)
class Item:
    """One accepted event and the work it asks for."""

    id: int
    conversation: str
    kind: ItemKind
    payload: dict[str, Any]
    answer_id: str
    """Tags the Slack messages this item writes, so a second attempt finds and replaces them."""
    attempts: int
    """Attempts since it was accepted, or since a person pressed Retry."""
    retries: int = 0

    @property
    def shown_before(self) -> bool:
        """Whether an earlier attempt may have posted messages of this item's answer."""
        return self.attempts > 1 or self.retries > 0


class Inbox:
    """Reads and writes inbox items for one worker (this process)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.owner = uuid.uuid4().hex
        self._host = socket.gethostname()

    # --- accepting (inside the caller's transaction) -------------------------------------

    @staticmethod
    async def claim(transaction: Transaction, kind: str, key: str) -> bool:
        """Durable first-wins claim: true for the first caller of (kind, key), ever."""
        changed = await transaction.execute(
            "INSERT INTO claims(kind, key, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (kind, key, time.time()),
        )
        return changed == 1

    @staticmethod
    async def add(
        transaction: Transaction, conversation: str, kind: ItemKind, payload: dict[str, Any]
    ) -> int:
        """Queue an item; it runs after every earlier item of its conversation.

        Serialised per conversation, so ids within one conversation are in commit order even
        when replicas accept its events at once (an id taken earlier but committed later
        would otherwise sort before an item that is already running).
        """
        await transaction.serialize(f"conversation:{conversation}")
        return await transaction.insert(
            "INSERT INTO inbox(conversation, kind, payload, answer_id, created_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (conversation, kind, json.dumps(payload), uuid.uuid4().hex[:12], time.time()),
        )

    @staticmethod
    async def keep_early(
        transaction: Transaction, conversation: str, payload: dict[str, Any]
    ) -> None:
        """Keep a reply to a thread that is not a conversation yet; it runs only if one starts."""
        await transaction.execute(
            "INSERT INTO inbox(conversation, kind, payload, answer_id, status, created_at)"
            " VALUES (?, 'message', ?, ?, 'early', ?)",
            (conversation, json.dumps(payload), uuid.uuid4().hex[:12], time.time()),
        )

    @staticmethod
    async def queue_early(transaction: Transaction, conversation: str, after_ts: str) -> int:
        """The conversation started: queue its early replies (newer than `after_ts`) after it."""
        rows = await transaction.fetch_all(
            "SELECT id, payload FROM inbox WHERE conversation = ? AND status = 'early'",
            (conversation,),
        )
        replies = [(json.loads(row["payload"]), row["id"]) for row in rows]
        replies = [(p, i) for p, i in replies if _ts_key(p["ts"]) > _ts_key(after_ts)]
        for payload, row_id in sorted(replies, key=lambda reply: _ts_key(reply[0]["ts"])):
            await transaction.execute("DELETE FROM inbox WHERE id = ?", (row_id,))
            await Inbox.add(transaction, conversation, "message", payload)
        return len(replies)

    async def forget_early(self, older_than_seconds: float) -> None:
        """Early replies whose thread never became a conversation are not for the bot."""
        await self._database.execute(
            "DELETE FROM inbox WHERE status = 'early' AND created_at < ?",
            (time.time() - older_than_seconds,),
        )

    @staticmethod
    async def become(
        transaction: Transaction, item_id: int, kind: ItemKind, payload: dict[str, Any]
    ) -> None:
        """Turn an item into another kind (a reply that turned out to answer a question)."""
        await transaction.execute(
            "UPDATE inbox SET kind = ?, payload = ? WHERE id = ?",
            (kind, json.dumps(payload), item_id),
        )

    # --- running --------------------------------------------------------------------------

    async def runnable(self, busy: set[str]) -> list[Item]:
        """The oldest queued item of each conversation that has nothing older still open."""
        rows = await self._database.fetch_all(
            f"SELECT * FROM inbox i WHERE status = 'queued' AND NOT EXISTS ("
            f" SELECT 1 FROM inbox o WHERE o.conversation = i.conversation AND o.id < i.id"
            f" AND o.status IN {_OPEN}) ORDER BY id"
        )
        return [_item(row) for row in rows if row["conversation"] not in busy]

    async def take(self, item: Item) -> Item | None:
        """Make the item this worker's; None if another worker took it first, or if its
        conversation has something else running or older waiting (any replica's)."""
        async with self._database.transaction() as transaction:
            await transaction.serialize(f"conversation:{item.conversation}")
            changed = await transaction.execute(
                "UPDATE inbox SET status = 'running', attempts = attempts + 1, owner = ?,"
                " lease_until = ?, stop_requested_by = NULL WHERE id = ? AND status = 'queued'"
                " AND NOT EXISTS (SELECT 1 FROM inbox o WHERE o.conversation = ? AND o.id != ?"
                f" AND (o.status = 'running' OR (o.id < ? AND o.status IN {_OPEN})))",
                (self.owner, time.time() + LEASE_SECONDS, item.id, item.conversation, item.id,
                 item.id),
            )  # fmt: skip
        if not changed:
            return None
        return dataclasses.replace(item, attempts=item.attempts + 1)

    async def finish(self, item_id: int, outcome: str = "done") -> None:
        """The item's effect is durable: it never runs again (unless it is no longer ours:
        then its new owner finishes it)."""
        await self._database.execute(
            "UPDATE inbox SET status = 'done', outcome = ?, finished_at = ?, owner = NULL"
            " WHERE id = ? AND owner = ?",
            (outcome, time.time(), item_id, self.owner),
        )

    async def hold(self, item_id: int) -> None:
        """Interrupted too often: wait for a person to press Retry."""
        await self._set(item_id, "held", "running")

    async def put_back(self, item_id: int) -> None:
        """Interrupted by a shutdown: the next process (or this one) runs it again."""
        await self._set(item_id, "queued", "running")

    async def retry(self, item_id: int) -> bool:
        """A held item goes back to the queue with a fresh count; false if it was not held."""
        changed = await self._database.execute(
            "UPDATE inbox SET status = 'queued', attempts = 0, retries = retries + 1,"
            " owner = NULL WHERE id = ? AND status = 'held'",
            (item_id,),
        )
        return changed == 1

    async def get(self, item_id: int) -> tuple[Item, str] | None:
        """An item and its status."""
        row = await self._database.fetch_one("SELECT * FROM inbox WHERE id = ?", (item_id,))
        return (_item(row), str(row["status"])) if row else None

    async def running_item(self, conversation: str) -> int | None:
        """The conversation's item running now (on any replica), if one is."""
        row = await self._database.fetch_one(
            "SELECT id FROM inbox WHERE conversation = ? AND status = 'running' LIMIT 1",
            (conversation,),
        )
        return int(row["id"]) if row else None

    @staticmethod
    async def depth(database: Database) -> dict[str, int]:
        """How many items are queued, running and held, on every replica (for metrics)."""
        rows = await database.fetch_all(
            "SELECT status, COUNT(*) AS items FROM inbox"
            " WHERE status IN ('queued', 'running', 'held') GROUP BY status"
        )
        return {str(row["status"]): int(row["items"]) for row in rows}

    async def has_open(self, conversation: str) -> bool:
        """Whether anything is queued or running in the conversation."""
        row = await self._database.fetch_one(
            f"SELECT 1 FROM inbox WHERE conversation = ? AND status IN {_OPEN} LIMIT 1",
            (conversation,),
        )
        return row is not None

    # --- owners and leases ----------------------------------------------------------------

    async def register(self) -> None:
        """Announce this worker, so others can tell whether its items are still looked after."""
        now = time.time()
        await self._database.execute(
            "INSERT INTO workers(id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            (self.owner, self._host, os.getpid(), now, now),
        )

    async def heartbeat(self) -> set[int]:
        """Renew the leases of this worker's running items; returns the ids still ours (one
        whose lease ran out while this process stalled may have gone to another replica)."""
        now = time.time()
        async with self._database.transaction() as transaction:
            await transaction.execute(
                "UPDATE workers SET heartbeat_at = ? WHERE id = ?", (now, self.owner)
            )
            rows = await transaction.fetch_all(
                "UPDATE inbox SET lease_until = ? WHERE owner = ? AND status = 'running'"
                " RETURNING id",
                (now + LEASE_SECONDS, self.owner),
            )
        return {int(row["id"]) for row in rows}

    # --- stopping an answer another replica runs ---------------------------------------------

    async def request_stop(self, item_id: int, clicker: str) -> bool:
        """Ask the owner of a running item to stop it; false when it is not running."""
        changed = await self._database.execute(
            "UPDATE inbox SET stop_requested_by = ? WHERE id = ? AND status = 'running'",
            (clicker, item_id),
        )
        return changed == 1

    async def stop_requests(self) -> list[tuple[int, str]]:
        """Stops asked of this worker's items (item id, who asked), each handed out once."""
        async with self._database.transaction() as transaction:
            rows = await transaction.fetch_all(
                "SELECT id, stop_requested_by FROM inbox WHERE owner = ? AND status = 'running'"
                " AND stop_requested_by IS NOT NULL",
                (self.owner,),
            )
            for row in rows:
                await transaction.execute(
                    "UPDATE inbox SET stop_requested_by = NULL WHERE id = ?", (row["id"],)
                )
        return [(int(row["id"]), str(row["stop_requested_by"])) for row in rows]

    async def take_over(self) -> int:
        """Queue again what dead workers were running, and free their leases; returns how
        many items."""
        dead = [worker[0] for worker in await self._other_workers() if not self._alive(worker)]
        now = time.time()
        async with self._database.transaction() as transaction:
            for worker in dead:
                await transaction.execute(
                    "UPDATE inbox SET lease_until = 0 WHERE owner = ? AND status = 'running'",
                    (worker,),
                )
                await transaction.execute("DELETE FROM workers WHERE id = ?", (worker,))
                await transaction.execute("DELETE FROM leases WHERE owner = ?", (worker,))
            # Replicas on other machines that stopped answering long ago, and own nothing.
            await transaction.execute(
                "DELETE FROM workers WHERE heartbeat_at < ? AND NOT EXISTS ("
                " SELECT 1 FROM inbox WHERE inbox.owner = workers.id AND status = 'running')",
                (now - FORGET_WORKERS_AFTER_SECONDS,),
            )
            return await transaction.execute(
                "UPDATE inbox SET status = 'queued', owner = NULL"
                " WHERE status = 'running' AND lease_until < ? AND owner != ?",
                (now, self.owner),  # this worker's own items are running here, whatever the lease
            )

    async def retire(self) -> None:
        """This worker stops: its leftovers are queued for the next one at once."""
        async with self._database.transaction() as transaction:
            await transaction.execute(
                "UPDATE inbox SET status = 'queued', owner = NULL"
                " WHERE owner = ? AND status = 'running'",
                (self.owner,),
            )
            await transaction.execute("DELETE FROM workers WHERE id = ?", (self.owner,))

    async def live_neighbour(self) -> int | None:
        """The pid of another live worker on this machine, if any."""
        for worker in await self._other_workers():
            if worker[1] == self._host and self._alive(worker):
                return worker[2]
        return None

    async def _other_workers(self) -> list[tuple[str, str, int]]:
        rows = await self._database.fetch_all(
            "SELECT id, host, pid FROM workers WHERE id != ?", (self.owner,)
        )
        return [(row["id"], row["host"], row["pid"]) for row in rows]

    def _alive(self, worker: tuple[str, str, int]) -> bool:
        """Only a process on this machine can be seen to be gone; others wait for their lease."""
        _, host, pid = worker
        if host != self._host:
            return True
        if pid == os.getpid():
            return False  # the pid is ours now: that worker is an earlier life of this machine
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    async def _set(self, item_id: int, status: str, only_if: str) -> None:
        await self._database.execute(
            "UPDATE inbox SET status = ?, owner = NULL WHERE id = ? AND status = ? AND owner = ?",
            (status, item_id, only_if, self.owner),
        )


def _ts_key(ts: str) -> tuple[int, int]:
    """Slack timestamps ("1700000000.000200") in the order Slack gave them."""
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0), int(micros or 0)


def _item(row: Any) -> Item:
    return Item(
        row["id"],
        row["conversation"],
        row["kind"],
        json.loads(row["payload"]),
        row["answer_id"],
        row["attempts"],
        row["retries"],
    )
