"""The bot as in production (its aiohttp server on a random port, real Bolt, real slack_sdk)
against the Slack emulator, with helpers that read what people in the thread would see."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.runtime import BotRuntime
from bot.server import EVENTS_PATH, RunningBot, serve
from bot.settings import BotSettings
from playground.slack import Message, SlackEmulator
from tests.mock_llm_server import MockLLMServer

SIGNING_SECRET = "test-signing-secret"


def bot_settings(slack: SlackEmulator, database: Path, **overrides: Any) -> BotSettings:
    """HTTP-mode settings pointing at the emulator, demo model at full speed."""
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "host": "127.0.0.1",
        "port": 0,
        "database_url": f"sqlite:///{database}",
        "demo_tokens_per_second": 0,
    }
    values.update(overrides)
    return BotSettings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class SlackBot:
    """A running bot and the workspace around it."""

    slack: SlackEmulator
    running: RunningBot

    @property
    def runtime(self) -> BotRuntime:
        return self.running.bot.runtime

    async def idle(self, timeout: float = 10) -> None:
        """Wait until the bot has no work left: its inbox is idle, nothing in the background."""
        conversations = self.running.bot.conversations
        await self.slack.wait_until(
            lambda: conversations.idle and self.runtime.tasks.running == 0, timeout=timeout
        )

    async def say(
        self, user: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> Message:
        """A person posts; returns their message once the bot has replied and gone idle."""
        before = len(self.replies(channel, thread_ts)) if thread_ts else 0
        message, deliveries = await self.slack.user_says(user, channel, text, thread_ts=thread_ts)
        assert all(d.status == 200 for d in deliveries), deliveries
        root = thread_ts or message.ts
        await self.wait_for(lambda: len(self.replies(channel, root)) > before)
        await self.idle()
        return message

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        await self.slack.wait_until(predicate, timeout=timeout)

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        """The bot's messages in a thread, in order (the thread as people see it)."""
        return [m for m in self.slack.thread(channel, thread_ts) if m.user == "UBOT"]

    def texts(self, channel: str, thread_ts: str) -> list[str]:
        """What each of the bot's messages in the thread says."""
        return [m.visible_text() for m in self.replies(channel, thread_ts)]


@contextlib.asynccontextmanager
async def slack_bot(
    tmp_path: Path, slack: SlackEmulator | None = None, **overrides: Any
) -> AsyncIterator[SlackBot]:
    """Start the emulator (unless given) and the bot; deliver events to the bot's endpoint."""
    async with contextlib.AsyncExitStack() as stack:
        if slack is None:
            slack = await stack.enter_async_context(SlackEmulator())
        settings = bot_settings(slack, tmp_path / "countersign.db", **overrides)
        running = await stack.enter_async_context(serve(settings))
        if running.bot.mode == "http":
            slack.deliver_to(running.url + EVENTS_PATH)
        else:
            await slack.wait_for_socket()
        yield SlackBot(slack, running)


def mock_model(llm: MockLLMServer) -> dict[str, Any]:
    """Settings that point the bot's real litellm client at the mock model, with the test
    tools of tests.tools_for_tests."""
    return {
        "llm_model": "openai/mock",
        "llm_api_base": llm.base_url,
        "llm_api_key": "sk-test",
        "llm_max_retries": 0,
        "agent_tools": ["tests.tools_for_tests"],
    }
