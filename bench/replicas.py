"""The bot as people meet it: one process, or several replicas on one database behind a
round-robin balancer. Everything the report shows of "the bot" is summed over its processes
(CPU seconds, peak resident memory, running jobs, log problems): two replicas that each use
half a core cost a core, like one process that uses a whole one.

Replicas start one after the other, so each start-up is timed on its own, as in a rolling
deploy; the first one also creates the schema.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.launch import BotProcess, launch_bot

EVENTS_PATH = "/slack/events"


@dataclass
class Replicas:
    """Bot processes sharing one database; the figures read from them are their sums."""

    processes: list[BotProcess]

    def __len__(self) -> int:
        return len(self.processes)

    @property
    def event_urls(self) -> list[str]:
        """Where Slack's requests go, one per replica (the emulator takes them in turn)."""
        return [process.url + EVENTS_PATH for process in self.processes]

    @property
    def startup_seconds(self) -> float:
        """The first replica's start-up (it also meets an empty database)."""
        return self.processes[0].startup_seconds

    @property
    def startup_each(self) -> list[float]:
        return [process.startup_seconds for process in self.processes]

    @property
    def bytecode_cached(self) -> bool:
        return self.processes[0].bytecode_cached

    def cpu_each(self) -> list[float]:
        return [process.cpu_seconds() for process in self.processes]

    def cpu_seconds(self) -> float:
        return sum(self.cpu_each())

    def peak_rss_each(self) -> list[int]:
        return [process.peak_rss_bytes() for process in self.processes]

    def peak_rss_bytes(self) -> int:
        return sum(self.peak_rss_each())

    async def jobs_each(self) -> list[int]:
        """Running jobs per replica (-1 where /healthz did not say)."""
        found = []
        for process in self.processes:
            try:
                found.append(int((await process.health())["running_jobs"]))
            except Exception:
                found.append(-1)
        return found

    async def health(self) -> dict[str, Any]:
        """Like one bot's /healthz: `running_jobs` is the sum; it raises if any cannot say."""
        bodies = [await process.health() for process in self.processes]
        return {
            "ok": all(body.get("ok") for body in bodies),
            "running_jobs": sum(int(body["running_jobs"]) for body in bodies),
        }

    @property
    def log_warnings(self) -> int:
        return sum(process.log.warnings for process in self.processes)

    @property
    def log_errors(self) -> int:
        return sum(process.log.errors for process in self.processes)

    @property
    def log_problems(self) -> list[str]:
        if len(self.processes) == 1:
            return list(self.processes[0].log.problems)
        return [
            f"replica {number}: {line}"
            for number, process in enumerate(self.processes, 1)
            for line in process.log.problems
        ]


@contextlib.asynccontextmanager
async def launch_replicas(
    count: int,
    *,
    slack_api_url: str,
    model_base_url: str,
    workdir: Path,
    database_url: str,
    signing_secret: str,
    startup_limit: float,
) -> AsyncIterator[Replicas]:
    """Start `count` bot processes on `database_url`, one after the other; stop them all
    together on exit."""
    if count < 1:
        raise ValueError("at least one replica")
    async with contextlib.AsyncExitStack() as stack:
        processes = []
        for number in range(count):
            home = workdir / f"replica-{number + 1}" if count > 1 else workdir
            home.mkdir(exist_ok=True)
            processes.append(
                await stack.enter_async_context(
                    launch_bot(
                        slack_api_url=slack_api_url,
                        model_base_url=model_base_url,
                        workdir=home,
                        database_url=database_url,
                        signing_secret=signing_secret,
                        startup_limit=startup_limit,
                    )
                )
            )
        try:
            yield Replicas(processes)
        finally:
            # All at once: each drains its answers for up to SHUTDOWN_GRACE_SECONDS, and one
            # after the other that would add up.
            for process in processes:
                if process.process.returncode is None:
                    process.process.send_signal(signal.SIGTERM)
