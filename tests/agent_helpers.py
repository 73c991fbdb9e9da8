"""Small helpers for driving the agent in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent import Agent, AgentEvent, ApprovalRequested, Finished, QuestionAsked, TextDelta


async def collect(events: AsyncIterator[AgentEvent]) -> list[AgentEvent]:
    """Read a run to its end."""
    return [event async for event in events]


def text_of(events: list[AgentEvent]) -> str:
    """The streamed text, joined."""
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def last(events: list[AgentEvent]) -> AgentEvent:
    assert events, "the run produced no events"
    return events[-1]


def approval(events: list[AgentEvent]) -> ApprovalRequested:
    end = last(events)
    assert isinstance(end, ApprovalRequested), f"expected an approval request, got {end!r}"
    return end


def question(events: list[AgentEvent]) -> QuestionAsked:
    end = last(events)
    assert isinstance(end, QuestionAsked), f"expected a question, got {end!r}"
    return end


def finished(events: list[AgentEvent]) -> Finished:
    end = last(events)
    assert isinstance(end, Finished), f"expected the turn to finish, got {end!r}"
    return end


async def notes(agent: Agent) -> list[tuple[str, str]]:
    """(title, body) of every stored note, oldest first."""
    rows = await agent.database.fetch_all("SELECT title, body FROM notes ORDER BY id")
    return [(row["title"], row["body"]) for row in rows]
