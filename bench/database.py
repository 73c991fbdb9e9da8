"""Where the bot under test keeps its data: a SQLite file in the run's directory (the default,
one process), or PostgreSQL, which the bench starts for itself as the tests do
(tests/postgres_server.py), so any number of replicas can share one database.

Each world gets a fresh database. PostgreSQL runs in processes of its own on the same two
cores, so its CPU time is read too: with SQLite that work is inside the bot's own process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from bench import procstats
from tests.postgres_server import PostgresServer, running_server

DatabaseKind = Literal["sqlite", "postgres"]
DATABASE_KINDS: tuple[DatabaseKind, ...] = ("sqlite", "postgres")
SQLITE_FILE = "countersign.db"


@dataclass
class BenchDatabase:
    """Hands out databases of one kind; for PostgreSQL, the server they live on."""

    kind: DatabaseKind
    server: PostgresServer | None = None
    _postmaster: int | None = None

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.kind == "postgres" else "SQLite"

    def new_url(self, workdir: Path) -> str:
        """A fresh, empty database for one world (its SQLite file lives in `workdir`)."""
        if self.server is None:
            return f"sqlite:///{workdir / SQLITE_FILE}"
        return self.server.new_database()

    def size_bytes(self, url: str) -> int:
        """What the database takes: the SQLite file with its WAL and shared-memory files, or
        PostgreSQL's own count for the database (dead rows included until autovacuum)."""
        if self.server is None:
            path = Path(url.removeprefix("sqlite:///"))
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
        with psycopg.connect(url, autocommit=True) as connection:
            row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0

    def cpu_seconds(self) -> float:
        """CPU seconds the PostgreSQL server has used so far (0 for SQLite, which runs inside
        the bot and is counted there)."""
        if self.server is None:
            return 0.0
        if self._postmaster is None:
            self._postmaster = procstats.find_process("postgres", f"-p {self.server.port}")
            if self._postmaster is None:
                return 0.0
        return procstats.tree_cpu_seconds(self._postmaster)


@contextlib.contextmanager
def bench_database(kind: DatabaseKind) -> Iterator[BenchDatabase]:
    """For PostgreSQL, a throwaway server for the whole bench run; stopped at the end."""
    if kind == "sqlite":
        yield BenchDatabase("sqlite")
        return
    with running_server() as server:
        yield BenchDatabase("postgres", server)
