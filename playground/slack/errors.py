"""The one exception Web API handlers raise to answer `{"ok": false, "error": ...}`."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """A Slack error code plus anything Slack sends beside it (`errors`, `response_metadata`)."""

    def __init__(
        self,
        code: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body Slack answers with."""
        return {"ok": False, "error": self.code, **self.extra}


def invalid(code: str, problems: list[str]) -> SlackError:
    """An error carrying validation problems the way chat.postMessage reports them."""
    return SlackError(
        code,
        errors=problems,
        response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
    )
