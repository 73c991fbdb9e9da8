"""`python -m agent`: chat with the agent in the terminal, offline by default."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
import uuid

from pydantic import ValidationError

from agent.agent import Agent
from agent.errors import ConfigurationError
from agent.settings import AgentSettings
from agent.terminal import TerminalChat


def main() -> None:
    """Parse arguments, read settings once, run the chat."""
    parser = argparse.ArgumentParser(prog="python -m agent", description=__doc__)
    parser.add_argument("--thread", help="continue this conversation (its id is printed at start)")
    parser.add_argument("--user", default=getpass.getuser(), help="who you are (default: $USER)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = AgentSettings()
        asyncio.run(_chat(settings, arguments.thread or uuid.uuid4().hex[:12], arguments.user))
    except (ConfigurationError, ValidationError) as exc:
        sys.exit(f"countersign: {exc}")
    except KeyboardInterrupt:
        pass


async def _chat(settings: AgentSettings, thread_id: str, user: str) -> None:
    async with Agent.open(settings) as agent:
        await TerminalChat(agent, thread_id, user).run()


if __name__ == "__main__":
    main()
