"""Where conversations live: LangGraph's checkpoints and the app's tables, in one database.

`DATABASE_URL` picks the backend: one SQLite file (the zero-configuration default, one
process) or PostgreSQL (any number of replicas). Each backend owns its checkpointer, how it
prunes old checkpoints, and how it finds threads that wait on a pause.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from psycopg.conninfo import conninfo_to_dict

from agent.database import Database
from agent.errors import ConfigurationError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Storage(ABC):
    """A database with the checkpointer that writes into it."""

    database: Database
    saver: BaseCheckpointSaver[Any]

    @abstractmethod
    async def keep_latest(self, thread_id: str) -> None:
        """Drop every checkpoint of the thread but the newest (which holds the whole state,
        pending writes included, so a paused thread still resumes).
        Checkpoints re-store the whole message list, so keeping them all grows quadratically
        (pitfall 23)."""

    @abstractmethod
    async def interrupted_threads(self) -> list[str]:
        """Threads whose newest checkpoint may hold a pending interrupt (read from the
        checkpointer's own write table: a crash can come between a pause and its record)."""


def sqlite_path(url: str) -> Path | None:
    """The file a `sqlite:///relative` or `sqlite:////absolute` URL names; None otherwise."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def describe(url: str) -> str:
    """Where a DATABASE_URL points, for the log, without its password."""
    path = sqlite_path(url)
    if path is not None:
        return f"SQLite file {path}"
    if url.startswith(POSTGRES_SCHEMES):
        info = conninfo_to_dict(url)
        host, port = info.get("host", "localhost"), info.get("port", 5432)
        return f"PostgreSQL at {host}:{port}/{info.get('dbname', '')}"
    return "an unknown database"


@contextlib.asynccontextmanager
async def open_storage(url: str) -> AsyncIterator[Storage]:
    """Connect to the database `url` names and set up its checkpointer; close on exit."""
    path = sqlite_path(url)
    if path is not None:
        from agent.sqlite_storage import SqliteStorage

        async with SqliteStorage.open(path) as storage:
            yield storage
    elif url.startswith(POSTGRES_SCHEMES):
        from agent.postgres_storage import PostgresStorage

        async with PostgresStorage.open(url) as storage:
            yield storage
    else:
        raise ConfigurationError(
            f"DATABASE_URL={url!r} is not a database I know: use sqlite:///path/to/file.db "
            "or postgresql://user:password@host:5432/database"
        )
