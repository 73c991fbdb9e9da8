"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, a cluster made
with initdb in a temporary directory, on a free port, stopped at the end.

Each test gets a database of its own (`new_database`). initdb refuses to run as root, so as
root the cluster belongs to the `postgres` system user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

USER = "countersign"


def binaries() -> Path | None:
    """Where initdb and pg_ctl are, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster that trusts local connections."""

    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a cluster for the duration of the block."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (Debian: apt install postgresql)")
    with tempfile.TemporaryDirectory(prefix="countersign-pg-") as scratch:
        data = Path(scratch) / "data"
        as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(scratch, owner.pw_uid, owner.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        port = free_port()
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
             "--no-sync", "-E", "UTF8", "--locale=C"],
            check=True, capture_output=True,
        )  # fmt: skip
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {scratch} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
             "-l", str(Path(scratch) / "log"), "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run(
                [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                check=False, capture_output=True,
            )  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
