"""Start `python -m bot` in its own process, as in production (HTTP mode), and time it.

Start-up is measured from spawn to the first `GET /healthz` that answers 200: the bench picks a
free loopback port so it can poll from the first moment. The bot's log is drained all the time
(a full pipe would block it); the last lines and the count of warnings and errors are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import procstats
from tests.bot_process import stop_gracefully

REPO = Path(__file__).resolve().parent.parent
BYTECODE_CACHE = REPO / "bench" / "results" / "pycache"
"""Where the bot's compiled bytecode goes (gitignored). A deployed bot has .pyc files; without
them every start compiles thousands of modules (litellm alone is seconds), and some
environments set PYTHONDONTWRITEBYTECODE, so the bench keeps its own cache."""
HEALTH_POLL_SECONDS = 0.02
_KEPT_LINES = 200
_KEPT_PROBLEMS = 20


@dataclass
class BotLog:
    """The tail of the bot's log, and its warnings and errors."""

    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_KEPT_LINES))
    warnings: int = 0
    errors: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.tail.append(line)
        level = " ERROR " if " ERROR " in line else " WARNING " if " WARNING " in line else ""
        if level == " ERROR ":
            self.errors += 1
        elif level == " WARNING ":
            self.warnings += 1
        if level and len(self.problems) < _KEPT_PROBLEMS:
            self.problems.append(line[:300])


@dataclass
class BotProcess:
    """A running bot: where it listens, how long it took to be healthy, what it uses."""

    process: asyncio.subprocess.Process
    url: str
    startup_seconds: float
    bytecode_cached: bool
    """Whether compiled bytecode from an earlier run was there to load (a warm start)."""
    log: BotLog
    session: aiohttp.ClientSession

    @property
    def pid(self) -> int:
        return self.process.pid

    def require_alive(self) -> None:
        """Raise with the log's tail if the bot has exited (a crash is a finding, say so)."""
        if self.process.returncode is not None:
            tail = "\n".join(self.log.tail)
            raise RuntimeError(f"the bot exited with code {self.process.returncode}:\n{tail}")

    def cpu_seconds(self) -> float:
        self.require_alive()
        return procstats.cpu_seconds(self.pid)

    def peak_rss_bytes(self) -> int:
        self.require_alive()
        return procstats.memory_bytes(self.pid, "VmHWM")

    async def health(self) -> dict[str, Any]:
        """The /healthz body (`ok`, `mode`, `running_jobs`)."""
        async with self.session.get(self.url + "/healthz") as response:
            body: dict[str, Any] = await response.json()
            return body


def bot_environment(
    *, slack_api_url: str, model_base_url: str, database_url: str, port: int, signing_secret: str
) -> dict[str, str]:
    """The production settings, aimed at the emulator and the mock model on loopback."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "LLM_", "APPROV", "DATABASE_", "OPENAI_"))
        and key != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=signing_secret,
        SLACK_API_URL=slack_api_url,
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=database_url,
        LLM_MODEL="openai/mock",
        LLM_API_BASE=model_base_url,
        LLM_API_KEY="sk-bench",
        LOG_LEVEL="INFO",
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # never fetch litellm's price list
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPYCACHEPREFIX=str(BYTECODE_CACHE),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    return env


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def launch_bot(
    *,
    slack_api_url: str,
    model_base_url: str,
    workdir: Path,
    database_url: str,
    signing_secret: str,
    startup_limit: float,
) -> AsyncIterator[BotProcess]:
    """Spawn the bot, wait for /healthz 200 (at most `startup_limit` s), stop it on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = bot_environment(
        slack_api_url=slack_api_url,
        model_base_url=model_base_url,
        database_url=database_url,
        port=port,
        signing_secret=signing_secret,
    )
    log = BotLog()
    cached = BYTECODE_CACHE.is_dir() and any(BYTECODE_CACHE.iterdir())
    spawned = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=workdir,  # no stray .env from the checkout (it could switch on Socket Mode)
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    reader = asyncio.create_task(_drain(process, log))
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    try:
        startup = await _wait_healthy(session, url, process, spawned, startup_limit)
        if startup is None:
            tail = "\n".join(log.tail)
            raise RuntimeError(f"the bot was not healthy within {startup_limit:.0f} s:\n{tail}")
        yield BotProcess(process, url, startup, cached, log, session)
    finally:
        await stop_gracefully(process)
        await session.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _wait_healthy(
    session: aiohttp.ClientSession,
    url: str,
    process: asyncio.subprocess.Process,
    spawned: float,
    limit: float,
) -> float | None:
    """Seconds from spawn to the first 200 from /healthz; None if it never came."""
    for _ in range(int(limit / HEALTH_POLL_SECONDS) + 1):
        if process.returncode is not None or time.monotonic() - spawned > limit:
            return None
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(url + "/healthz") as response:
                if response.status == 200:
                    return time.monotonic() - spawned
        await asyncio.sleep(HEALTH_POLL_SECONDS)
    return None


async def _drain(process: asyncio.subprocess.Process, log: BotLog) -> None:
    assert process.stderr is not None
    async for raw in process.stderr:
        log.add(raw.decode(errors="replace").rstrip())
