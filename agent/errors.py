"""Errors the agent raises to its front ends.

    AgentError
    ├── ResumeRefused        a decision that must change nothing (reason says why)
    ├── ThreadPaused         new input to a thread that waits on a pause
    ├── InvalidArguments     edited arguments that do not fit the tool's schema
    └── ConfigurationError   a setting that cannot work (names the setting)

Model and tool failures are not exceptions: they arrive as a `Failed` event or an error tool result.
"""

from __future__ import annotations

from typing import Literal

from agent.events import Pause

RefusalReason = Literal[
    "unknown_thread", "stale", "already_handled", "wrong_kind", "already_counted", "own_request"
]

_REFUSAL_TEXT: dict[RefusalReason, str] = {
    "unknown_thread": "there is no conversation with that id",
    "stale": "that request was already answered; the conversation has moved on",
    "already_handled": "someone already answered this request",
    "wrong_kind": "that answer does not fit what was asked",
    "already_counted": "your approval is already counted; it needs someone else's now",
    "own_request": "the person who asked cannot count toward an approval by several people",
}


class AgentError(Exception):
    """Base class for everything the agent refuses."""


class ResumeRefused(AgentError):
    """A resume that was refused without touching the run."""

    def __init__(self, reason: RefusalReason, detail: str = "") -> None:
        self.reason: RefusalReason = reason
        super().__init__(detail or _REFUSAL_TEXT[reason])


class ThreadPaused(AgentError):
    """New input arrived while the thread waits on `pause`; nothing was started."""

    def __init__(self, pause: Pause) -> None:
        self.pause = pause
        super().__init__(f"thread {pause.thread_id} is waiting on a {pause.kind}")


class InvalidArguments(AgentError):
    """Edited arguments failed the tool's schema; `errors` maps a field name to a message."""

    def __init__(self, tool: str, errors: dict[str, str]) -> None:
        self.tool = tool
        self.errors = errors
        listed = "; ".join(f"{name}: {message}" for name, message in errors.items())
        super().__init__(f"invalid arguments for {tool}: {listed}")


class ConfigurationError(AgentError):
    """A setting that cannot work; the message names it and says what to do."""
