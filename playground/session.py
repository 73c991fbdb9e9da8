"""Start the playground: a local Slack, the real bot pointed at it, and the page in front.

Settings are the user's (model, approvers, TTLs…), with the Slack ones replaced by the local
workspace's. The workspace lives in memory, so the bot gets a fresh database in a temporary
folder: conversations and notes last as long as the process, like the workspace they belong to.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.server import EVENTS_PATH, RunningBot, serve
from bot.settings import BotSettings
from playground.slack import SlackEmulator
from playground.web import serve_page

LOOPBACK = "127.0.0.1"
ANY_ADDRESS = "0.0.0.0"


@dataclass
class Playground:
    """A running playground: the page's address, and the workspace and bot behind it."""

    url: str
    slack: SlackEmulator
    bot: RunningBot


def local_slack() -> SlackEmulator:
    """The workspace people see: rate limits on and the bot's own messages echoed, as in Slack."""
    slack = SlackEmulator(
        bot_token=f"xoxb-playground-{secrets.token_hex(8)}",
        signing_secret=secrets.token_hex(32),
        app_token=f"xapp-playground-{secrets.token_hex(8)}",
        enforce_rate_limits=True,
        echo_bot_messages=True,
        clock=time.time,  # wall-clock times, which the page shows
    )
    slack.add_channel("D0CAROL", "carol", kind="im", members=["UCAROL", slack.bot_user_id])
    return slack


def bot_settings(settings: BotSettings, slack: SlackEmulator, database: Path) -> BotSettings:
    """The user's settings, with Slack replaced by the local workspace (HTTP mode, any port)."""
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(slack.bot_token),
            "slack_signing_secret": SecretStr(slack.signing_secret),
            "slack_app_token": None,
            "slack_api_url": slack.api_url,
            "host": LOOPBACK,
            "port": 0,
            "database_url": f"sqlite:///{database}",
        }
    )


def page_host(settings: BotSettings) -> str:
    """Where the page listens: HOST, but loopback instead of every address, because anyone
    who can open the page can act as anyone in the workspace."""
    return LOOPBACK if settings.host == ANY_ADDRESS else settings.host


@contextlib.asynccontextmanager
async def open_playground(settings: BotSettings) -> AsyncIterator[Playground]:
    """Run everything until exit; then the page stops first and the workspace last."""
    with tempfile.TemporaryDirectory(prefix="countersign-playground-") as folder:
        async with contextlib.AsyncExitStack() as stack:
            slack = await stack.enter_async_context(local_slack())
            running = await stack.enter_async_context(
                serve(bot_settings(settings, slack, Path(folder) / "countersign.db"), open_api=True)
            )
            slack.deliver_to(running.url + EVENTS_PATH)
            url = await stack.enter_async_context(
                serve_page(slack, settings, page_host(settings), settings.port)
            )
            yield Playground(url, slack, running)
