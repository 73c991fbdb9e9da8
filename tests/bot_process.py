"""Run `python -m bot` as its own process, as people do: against the emulator (to kill it and
start it again) or with no Slack settings at all (the playground a newcomer sees)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from playground.slack import SlackEmulator
from tests.bot_harness import SIGNING_SECRET

READY = re.compile(r"health at (http://\S+)/healthz")
PAGE = re.compile(r"open (http://\S+/) ")
OUR_SETTINGS = ("SLACK_", "LLM_", "APPROV", "DATABASE_", "DEMO_", "HOST", "PORT")


@dataclass
class BotProcess:
    """A bot process, the URL its ready line named, and everything it logged."""

    process: asyncio.subprocess.Process
    url: str = ""
    log: list[str] = field(default_factory=list)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        self.process.send_signal(signal.SIGKILL)


def clean_environment(**extra: str) -> dict[str, str]:
    """This machine's environment without any Countersign setting, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(OUR_SETTINGS)}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", PORT="0", **extra)
    return env


async def stop_gracefully(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, as Ctrl-C would (the bot finishes its turns); SIGKILL if that takes over 20 s."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=20)
        except TimeoutError:
            process.kill()
    await process.wait()


@contextlib.asynccontextmanager
async def spawn_bot(
    workdir: Path, env: dict[str, str], ready: re.Pattern[str]
) -> AsyncIterator[BotProcess]:
    """Start `python -m bot` in `workdir`, wait for the log line `ready` matches (its group 1
    is the URL); at the end stop it with SIGTERM, as Ctrl-C would, and keep its whole log."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=workdir,
        env=env,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    running = BotProcess(process)
    started = asyncio.Event()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            running.log.append(line)
            if not started.is_set() and (match := ready.search(line)):
                running.url = match.group(1)
                started.set()

    reader = asyncio.create_task(read_log())
    try:
        await asyncio.wait_for(started.wait(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        reader.cancel()
        raise AssertionError("the bot did not start:\n" + "\n".join(running.log)) from None
    try:
        yield running
    finally:
        await stop_gracefully(process)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(reader, timeout=5)


def bot_environment(
    slack: SlackEmulator, workdir: Path, database_url: str | None = None, **extra: str
) -> dict[str, str]:
    """Settings for a bot against the emulator: HTTP mode (Socket Mode with SLACK_APP_TOKEN),
    the demo model at full speed, a SQLite file in `workdir` unless `database_url` is given."""
    env = clean_environment(
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        HOST="127.0.0.1",
        DATABASE_URL=database_url or f"sqlite:///{workdir / 'countersign.db'}",
        DEMO_TOKENS_PER_SECOND="0",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def bot_process(
    slack: SlackEmulator, workdir: Path, *, database_url: str | None = None, **extra: str
) -> AsyncIterator[BotProcess]:
    """The bot against the emulator; events reach it (HTTP or Socket Mode) once it is ready."""
    env = bot_environment(slack, workdir, database_url, **extra)
    async with spawn_bot(workdir, env, READY) as running:
        if "SLACK_APP_TOKEN" in extra:
            await slack.wait_for_socket(timeout=20)
        else:
            slack.deliver_to(running.url + "/slack/events")
        yield running


def playground_process(
    workdir: Path, **extra: str
) -> contextlib.AbstractAsyncContextManager[BotProcess]:
    """The bot with no Slack settings, as a newcomer runs it; `url` is the page it prints."""
    return spawn_bot(workdir, clean_environment(**extra), PAGE)
