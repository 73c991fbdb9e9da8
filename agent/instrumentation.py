"""What the agent reports about its own work, without knowing who listens.

Operators watch the bot through Prometheus metrics and OpenTelemetry traces, but the agent must
stay free of any metrics library and of Slack (DESIGN §2). So it reports through two seams that
whoever opens it passes in: an `AgentObserver` for the few numbers only the agent can see (the
model's first token, its tokens, how each turn ended, when a decision was stored) and an
OpenTelemetry `Tracer` for
the spans of model and tool calls. Both default to doing nothing, at the cost of a method call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from opentelemetry.trace import NoOpTracer, Tracer

from agent.events import (
    AgentEvent,
    ApprovalRequested,
    Failed,
    Finished,
    PauseKind,
    QuestionAsked,
)

TokenKind = Literal["prompt", "completion"]
TokenSource = Literal["usage", "chunks"]
"""`usage`: the provider's own count; `chunks`: one per streamed delta, when it gave none."""
TurnOutcome = Literal["finished", "stopped", "failed", "paused", "interrupted"]
"""`interrupted`: the front end closed the run before its end (a shutdown, a lost lease)."""
TURN_OUTCOMES: tuple[TurnOutcome, ...] = ("finished", "stopped", "failed", "paused", "interrupted")


class AgentObserver(Protocol):
    """Receives the agent's numbers; the bot's metrics implement it."""

    def turn_started(self) -> None:
        """A run of the graph began (a new turn, a decision's continuation, a crash's)."""

    def turn_finished(self, outcome: TurnOutcome) -> None:
        """That run ended this way."""

    def model_first_token(self, seconds: float) -> None:
        """A model call's first text or tool-call delta arrived `seconds` after the call began."""

    def model_tokens(self, kind: TokenKind, source: TokenSource, count: int) -> None:
        """A model call ended having used `count` tokens of `kind`."""

    def decision_stored(self, pause_kind: PauseKind, seconds: float) -> None:
        """A decision on a pause became durable `seconds` after the pause was created."""


class Unobserved:
    """The observer of an agent nobody watches (tests, the terminal chat, Studio)."""

    def turn_started(self) -> None:
        """Nothing to do."""

    def turn_finished(self, outcome: TurnOutcome) -> None:
        """Nothing to do."""

    def model_first_token(self, seconds: float) -> None:
        """Nothing to do."""

    def model_tokens(self, kind: TokenKind, source: TokenSource, count: int) -> None:
        """Nothing to do."""

    def decision_stored(self, pause_kind: PauseKind, seconds: float) -> None:
        """Nothing to do."""


@dataclass(frozen=True)
class Instrumentation:
    """The agent's two seams, passed to `Agent.open` once and down to the gateway and graph."""

    observer: AgentObserver = field(default_factory=Unobserved)
    tracer: Tracer = field(default_factory=NoOpTracer)


def turn_outcome(event: AgentEvent) -> TurnOutcome | None:
    """How a run ended, if this event ends it."""
    if isinstance(event, Finished):
        return "stopped" if event.stopped else "finished"
    if isinstance(event, Failed):
        return "failed"
    if isinstance(event, ApprovalRequested | QuestionAsked):
        return "paused"
    return None
