"""Run `python -m bot` as its own process (as in production), to kill it and start it again."""

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


@dataclass
class BotProcess:
    """A bot process and what it logged."""

    process: asyncio.subprocess.Process
    url: str = ""
    log: list[str] = field(default_factory=list)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        self.process.send_signal(signal.SIGKILL)


def bot_environment(slack: SlackEmulator, database: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "LLM_", "APPROV", "DATABASE_"))
    }
    env.update(
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        HOST="127.0.0.1",
        PORT="0",
        DATABASE_URL=f"sqlite:///{database}",
        DEMO_TOKENS_PER_SECOND="0",
        LOG_LEVEL="INFO",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def bot_process(
    slack: SlackEmulator, workdir: Path, **extra: str
) -> AsyncIterator[BotProcess]:
    """Start `python -m bot` in `workdir`; events go to it once it says it is ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=workdir,
        env=bot_environment(slack, workdir / "countersign.db", **extra),
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    running = BotProcess(process)
    ready = asyncio.Event()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            running.log.append(line)
            if match := READY.search(line):
                running.url = match.group(1)
                ready.set()

    reader = asyncio.create_task(read_log())
    try:
        await asyncio.wait_for(ready.wait(), timeout=60)
    except TimeoutError:
        process.kill()
        raise AssertionError("the bot did not start:\n" + "\n".join(running.log)) from None
    if "SLACK_APP_TOKEN" in extra:
        await slack.wait_for_socket(timeout=20)
    else:
        slack.deliver_to(running.url + "/slack/events")
    try:
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
        await process.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
