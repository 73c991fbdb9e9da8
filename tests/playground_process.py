"""Run `python -m bot` with no Slack settings, as a newcomer does, and find the page it prints."""

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

PAGE = re.compile(r"open (http://\S+/) ")


@dataclass
class PlaygroundProcess:
    process: asyncio.subprocess.Process
    url: str = ""
    log: list[str] = field(default_factory=list)


def clean_environment(**extra: str) -> dict[str, str]:
    """This machine's environment without any Countersign setting, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "LLM_", "APPROV", "DATABASE_", "DEMO_", "HOST", "PORT"))
    }
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", PORT="0", **extra)
    return env


@contextlib.asynccontextmanager
async def playground_process(workdir: Path, **extra: str) -> AsyncIterator[PlaygroundProcess]:
    """Start it in `workdir`; stop it with SIGTERM (as Ctrl-C would) at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=workdir,
        env=clean_environment(**extra),
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    running = PlaygroundProcess(process)
    ready = asyncio.Event()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            running.log.append(line)
            if match := PAGE.search(line):
                running.url = match.group(1)
                ready.set()

    reader = asyncio.create_task(read_log())
    try:
        await asyncio.wait_for(ready.wait(), timeout=60)
    except TimeoutError:
        process.kill()
        raise AssertionError("the playground did not start:\n" + "\n".join(running.log)) from None
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
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(reader, timeout=5)
