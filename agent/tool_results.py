"""The words the model reads when a call did not run as proposed.

Shared by the graph (which writes them) and the demo model (which reads them), so the demo's
replies follow what really happened.
"""

from __future__ import annotations

DENIED = "DENIED: the team did not approve this action, so it did not run."
EXPIRED = "NOT APPROVED (expired): nobody approved this action in time, so it did not run."
REFUSED = "REFUSED by policy: this action is not allowed, so it did not run."
ERROR = "ERROR:"
EDITED_NOTE = "(The approver edited the arguments before approving; they ran as edited.)"
INTERRUPTED = "NOT RUN: the run was interrupted before this call could run."


def denied(reason: str | None) -> str:
    """The result of a denied call, with the approver's reason when they gave one."""
    return f"{DENIED} Reason: {reason}" if reason else DENIED


def refused(reason: str) -> str:
    """The result of a call the approval policy refuses."""
    return f"{REFUSED} Reason: {reason}"


def error(exc: BaseException) -> str:
    """The result of a call that raised."""
    return f"{ERROR} {type(exc).__name__}: {exc}"


NO_ANSWER = "NO ANSWER: nobody answered the question in time."
