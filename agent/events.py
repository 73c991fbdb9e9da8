"""What a run tells its front end, and what a person can answer to a pause.

Everything here is a frozen dataclass of plain values, so a front end (Slack, the terminal, a test)
can render it without knowing anything about LangGraph or litellm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the model's answer, in the order it was written."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    """A tool began to run (reads at once, writes only after approval)."""

    call_id: str
    tool: str
    arguments: JSONObject


@dataclass(frozen=True)
class ToolFinished:
    """A tool ended; `ok` is false when it raised and the model got an error result."""

    call_id: str
    tool: str
    ok: bool
    result: str


@dataclass(frozen=True)
class ToolDenied:
    """The approval policy refused a call: it did not run, and the model read `reason`."""

    call_id: str
    tool: str
    rule: str
    reason: str


@dataclass(frozen=True)
class ApprovalRequested:
    """The run paused before a write tool; answer with `Approve`, `Deny`, `Edit` or `Expire`."""

    interrupt_id: str
    call_id: str
    tool: str
    arguments: JSONObject
    reason: str | None
    requested_by: str


@dataclass(frozen=True)
class QuestionAsked:
    """The model asked a person something; answer with `Answer`."""

    interrupt_id: str
    call_id: str
    question: str
    asked_of: str


@dataclass(frozen=True)
class Finished:
    """The turn ended; `text` is everything the model wrote since the turn (or resume) began."""

    text: str
    stopped: bool = False


FailureKind = Literal["model", "timeout", "internal"]


@dataclass(frozen=True)
class Failed:
    """The turn could not finish; `message` is short and fit to show a person."""

    message: str
    kind: FailureKind
    reference: str = ""


@dataclass(frozen=True)
class Approve:
    """Run the tool call with the arguments it was proposed with."""


@dataclass(frozen=True)
class Deny:
    """Do not run the call; the model is told, with the reason if one was given."""

    reason: str | None = None


@dataclass(frozen=True)
class Edit:
    """Run the call with these arguments instead (validated against the tool's schema)."""

    arguments: JSONObject = field(default_factory=dict)


@dataclass(frozen=True)
class Expire:
    """Nobody decided in time; the call does not run and the model is told it expired."""


@dataclass(frozen=True)
class Answer:
    """A person's reply to a question the model asked."""

    text: str


Decision = Approve | Deny | Edit | Expire | Answer

PauseKind = Literal["approval", "question"]


@dataclass(frozen=True)
class ApprovalRule:
    """What an approval needs, as the policy rule that asked for it says.

    Empty or None fields mean "the deployment's default" (APPROVERS, ALLOW_SELF_APPROVAL,
    APPROVAL_TTL_SECONDS); durations are seconds. It is copied into the pause when the run
    stops, so a policy edited later never changes who may decide a pause already waiting.
    """

    rule: str = "default"
    reason: str | None = None
    approvers: tuple[str, ...] = ()
    approvals: int = 1
    allow_self: bool | None = None
    expires_after: float | None = None
    remind_after: float | None = None
    escalate_to: tuple[str, ...] = ()

    def to_json(self) -> JSONObject:
        """The rule as JSON, for the interrupt (and so the checkpoint) and the pause record."""
        return {
            **asdict(self),
            "approvers": list(self.approvers),
            "escalate_to": list(self.escalate_to),
        }

    @classmethod
    def from_json(cls, value: JSONObject | None) -> ApprovalRule:
        """The rule a pause carries; pauses from before policies carry none: the default."""
        if not value:
            return cls()
        return cls(
            **{
                **value,
                "approvers": tuple(value.get("approvers") or ()),
                "escalate_to": tuple(value.get("escalate_to") or ()),
            }
        )


@dataclass(frozen=True)
class Pause:
    """The pause a thread is waiting on: what it asks and who started the turn."""

    thread_id: str
    interrupt_id: str
    kind: PauseKind
    call_id: str
    requested_by: str
    created_at: float
    tool: str | None = None
    arguments: JSONObject = field(default_factory=dict)
    reason: str | None = None
    question: str | None = None
    rule: ApprovalRule = field(default_factory=ApprovalRule)


@dataclass(frozen=True)
class Resumed:
    """The first event of a resume: the decision was accepted and is reaching the run."""

    pause: Pause
    decision: Decision


AgentEvent = (
    Resumed
    | TextDelta
    | ToolStarted
    | ToolFinished
    | ToolDenied
    | ApprovalRequested
    | QuestionAsked
    | Finished
    | Failed
)
