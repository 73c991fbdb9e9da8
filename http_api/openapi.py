"""The OpenAPI 3.1 document of `/api`, served at `/api/openapi.json`.

Written by hand next to the handlers (http_api.routes): the endpoints are few, and their
streams are Server-Sent Events, which generators describe poorly.
"""

from __future__ import annotations

from typing import Any

JSONObject = dict[str, Any]

_SSE = {
    "description": (
        "Server-Sent Events. `event:` is one of token, tool_started, tool_finished, "
        "tool_denied, approval_requested, question, approval_counted, done, error; `data:` is "
        "JSON. A comment line comes every 15 s. The stream ends after approval_requested, "
        "question, approval_counted, done or error."
    ),
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def _error(description: str) -> JSONObject:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_THREAD = {"name": "thread_id", "in": "path", "required": True, "schema": {"type": "string"}}
_COMMON_ERRORS = {
    "400": _error("The body is not a JSON object."),
    "401": _error("No bearer token, or one API_TOKENS does not list."),
    "422": _error("A field is missing or has the wrong type."),
}


def openapi_document() -> JSONObject:
    """The document (a new dict each call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Countersign HTTP API",
            "version": "1",
            "description": (
                "The agent behind the Slack bot, for programs: runs stream as Server-Sent "
                "Events; pauses are decided with the same checks, policy and audit as in Slack."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
                "RunRequest": {
                    "type": "object",
                    "required": ["input"],
                    "properties": {
                        "input": {"type": "string", "minLength": 1},
                        "user": {"type": "string", "description": "playground only (no tokens)"},
                    },
                },
                "ResumeRequest": {
                    "type": "object",
                    "required": ["interrupt_id", "decision"],
                    "properties": {
                        "interrupt_id": {"type": "string"},
                        "decision": {"enum": ["approve", "deny", "edit", "answer"]},
                        "reason": {"type": "string"},
                        "arguments": {"type": "object"},
                        "answer": {"type": "string"},
                    },
                },
                "Pause": {
                    "type": "object",
                    "properties": {
                        "thread_id": {"type": "string"},
                        "interrupt_id": {"type": "string"},
                        "kind": {"enum": ["approval", "question"]},
                        "tool": {"type": "string"},
                        "arguments": {"type": "object"},
                        "reason": {"type": ["string", "null"]},
                        "question": {"type": "string"},
                        "requested_by": {"type": "string"},
                        "who_may_decide": {
                            "oneOf": [
                                {"type": "array", "items": {"type": "string"}},
                                {"const": "anyone"},
                            ]
                        },
                        "approvals_needed": {"type": "integer"},
                        "approved_by": {"type": "array", "items": {"type": "string"}},
                        "expires_at": {"type": "number"},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/threads/{thread_id}/runs": {
                "post": {
                    "summary": "Start a turn and stream it",
                    "parameters": [_THREAD],
                    "requestBody": _json_body("RunRequest"),
                    "responses": {
                        "200": _SSE,
                        **_COMMON_ERRORS,
                        "409": _error("The thread waits on a pause, or lives in Slack."),
                    },
                }
            },
            "/api/threads/{thread_id}/resume": {
                "post": {
                    "summary": "Decide the pending pause and stream the continuation",
                    "parameters": [_THREAD],
                    "requestBody": _json_body("ResumeRequest"),
                    "responses": {
                        "200": _SSE,
                        **_COMMON_ERRORS,
                        "403": _error("The caller may not take this decision."),
                        "404": _error("No such thread."),
                        "409": _error("Already decided (in Slack or here), or no longer pending."),
                    },
                }
            },
            "/api/threads/{thread_id}/stop": {
                "post": {
                    "summary": "Stop the running answer",
                    "parameters": [_THREAD],
                    "responses": {
                        "202": {"description": "Stopping."},
                        **_COMMON_ERRORS,
                        "403": _error("The caller may not stop it."),
                        "409": _error("Nothing is running."),
                    },
                }
            },
            "/api/threads/{thread_id}/events": {
                "get": {
                    "summary": (
                        "Re-attach: the running turn from its first event; on a paused thread "
                        "the pause, then its continuation once someone decides"
                    ),
                    "parameters": [_THREAD],
                    "responses": {"200": _SSE, **_COMMON_ERRORS, "404": _error("No such thread.")},
                }
            },
            "/api/threads/{thread_id}": {
                "get": {
                    "summary": "The thread's messages and its pending pause",
                    "parameters": [_THREAD],
                    "responses": {
                        "200": {"description": "messages, pending (a Pause or null), running"},
                        **_COMMON_ERRORS,
                        "404": _error("No such thread."),
                    },
                }
            },
            "/api/pauses": {
                "get": {
                    "summary": "Pending pauses the caller may decide, newest first",
                    "responses": {"200": {"description": "{pauses: [Pause]}"}, **_COMMON_ERRORS},
                }
            },
        },
    }


def _json_body(schema: str) -> JSONObject:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
