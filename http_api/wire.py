"""What the API says: agent events as SSE events, and pauses and errors as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from agent import (
    AgentEvent,
    ApprovalRequested,
    ApprovalTally,
    Failed,
    Finished,
    Pause,
    QuestionAsked,
    TextDelta,
    ToolDenied,
    ToolFinished,
    ToolStarted,
)

JSONObject = dict[str, Any]

ENDS_A_STREAM = ("approval_requested", "question", "done", "error")
"""After these a stream closes: the run finished, failed, or waits on a person."""


def sse_event(event: AgentEvent) -> tuple[str, JSONObject] | None:
    """The SSE event for an agent event (None for what a client need not see). Pauses are
    announced with `pause_json` instead, which knows who may decide."""
    if isinstance(event, TextDelta):
        return "token", {"text": event.text}
    if isinstance(event, ToolStarted | ToolFinished | ToolDenied):
        name = {ToolStarted: "tool_started", ToolFinished: "tool_finished"}.get(
            type(event), "tool_denied"
        )
        return name, asdict(event)
    if isinstance(event, Finished):
        return "done", {"text": event.text, "stopped": event.stopped}
    if isinstance(event, Failed):
        return "error", {"message": event.message, "kind": event.kind, "reference": event.reference}
    return None


def announces_pause(event: AgentEvent) -> bool:
    """The run stopped to wait on a person."""
    return isinstance(event, ApprovalRequested | QuestionAsked)


def pause_json(
    pause: Pause, who_may_decide: tuple[str, ...], expires_at: float, tally: ApprovalTally | None
) -> JSONObject:
    """Everything a client needs to show a pause and answer it with /resume."""
    body: JSONObject = {
        "thread_id": pause.thread_id,
        "interrupt_id": pause.interrupt_id,
        "kind": pause.kind,
        "requested_by": pause.requested_by,
        "created_at": pause.created_at,
        "expires_at": expires_at,
        "who_may_decide": list(who_may_decide) or "anyone",
    }
    if pause.kind == "question":
        body["question"] = pause.question
        return body
    body.update(
        tool=pause.tool,
        arguments=tally.arguments if tally and tally.arguments is not None else pause.arguments,
        reason=pause.reason,
        rule=pause.rule.rule,
        rule_reason=pause.rule.reason,
        approvals_needed=pause.rule.approvals,
        approved_by=list(tally.approved_by) if tally else [],
    )
    return body


def error(status: int, code: str, message: str, **more: Any) -> web.Response:
    """A JSON error: `{"error": code, "message": …}` with the status."""
    return web.json_response({"error": code, "message": message, **more}, status=status)
