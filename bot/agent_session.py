"""The agent view of one DM thread: the status line under it and the session's lifecycle.

Slack's agent experience shows "Countersign is thinking…" under the thread instead of a
placeholder message (`assistant.threads.setStatus`), and an agent session per thread
(`agents.sessions.setStatus`): processing while the agent works (Slack shows its own Stop),
suspended while it waits for a person's decision or answer, closed when the answer is done.
Slack clears the status line itself when the app replies, and after two minutes.

All of it is decoration: a call Slack refuses is one warning line, and the answer goes on.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.budgeted_calls import BudgetedCalls

THINKING = "is thinking…"
WAITING_FOR_APPROVAL = "is waiting for approval"
WAITING_FOR_ANSWER = "is waiting for your answer"
TITLE_LIMIT = 60


def working_on(tool_in_words: str) -> str:
    """The status line while a tool runs."""
    return f"is running {tool_in_words}…"


def title_of(question: str) -> str:
    """A session title from the question that started it: its first line, shortened."""
    first = " ".join(question.strip().splitlines()[0].split()) if question.strip() else ""
    if len(first) > TITLE_LIMIT:
        first = first[: TITLE_LIMIT - 1].rstrip() + "…"
    return first or "Conversation"


class AgentSession:
    """Status line and session state of one thread in a DM."""

    def __init__(
        self,
        client: AsyncWebClient,
        calls: BudgetedCalls,
        *,
        channel: str,
        thread_ts: str,
    ) -> None:
        self._client = client
        self._calls = calls
        self._channel = channel
        self._thread_ts = thread_ts
        self._place = f"{channel}/{thread_ts}"
        self._status = ""

    async def working(self, line: str = THINKING, title: str | None = None) -> None:
        """The agent is at work: session processing (titled when it starts), status `line`."""
        await self._session("processing", title)
        await self.status(line)

    async def waiting(self, line: str) -> None:
        """A person has to decide or answer: the session is suspended, the line says why."""
        await self._session("suspended")
        await self.status(line)

    async def done(self) -> None:
        """The answer is complete: session closed, status line gone."""
        await self._session("closed")
        await self.status("")

    def replied(self) -> None:
        """The app posted in the thread: Slack cleared the status line itself."""
        self._status = ""

    async def status(self, line: str) -> None:
        """Show `line` under the thread ("" clears it); unchanged lines cost nothing."""
        if line == self._status:
            return

        async def send() -> Any:
            return await self._client.assistant_threads_setStatus(
                channel_id=self._channel, thread_ts=self._thread_ts, status=line
            )

        if await self._calls.best_effort(
            "assistant.threads.setStatus", send, key=self._channel, about=self._place
        ):
            self._status = line

    async def _session(self, status: str, title: str | None = None) -> None:
        async def send() -> Any:
            return await self._client.agents_sessions_setStatus(
                channel_id=self._channel, thread_ts=self._thread_ts, status=status, title=title
            )

        await self._calls.best_effort("agents.sessions.setStatus", send, about=self._place)
