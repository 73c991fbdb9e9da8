"""What a request to the bot must pass before anything reads it, and typed reads of its fields.

Pitfall 35: a body parsed before its signature is checked turns unsigned junk into tracebacks
and 400s. So over HTTP the signature is checked on the raw bytes first (401), and only a
signed body is parsed, then checked for the shape Bolt reads (400), before Bolt sees it: Bolt
reads nested fields without checking their types, and a `view` that is a string or an empty
`actions` list would end in a 500 with a traceback. Listeners read the fields they need through
`text`, `obj`, `get` and friends, which raise `PayloadError` on a field of the wrong type; the
listener wrapper (bot.listeners) turns that into one log line and an ack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

Body = dict[str, Any]

MAX_AGE_SECONDS = 60 * 5
"""Slack's replay window: an older (or later) timestamp is refused however well signed."""
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
"""Seconds since 1970 in ASCII digits: `int()` alone would take " 12", "1_2" or "١٢"."""

HANDLED_TYPES = frozenset(
    {
        "event_callback",
        "url_verification",
        "app_rate_limited",
        "block_actions",
        "view_submission",
        "view_closed",
    }
)
"""The top-level request types this app's manifest makes Slack send to the request URL."""


class Rejected(Exception):
    """A request answered before Bolt sees it: 401 unsigned, 400 signed but unreadable."""

    def __init__(self, status: Literal[400, 401], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PayloadError(ValueError):
    """A signed payload without a field a listener needs, or with it of the wrong type."""


# --- signature ----------------------------------------------------------------------------


class _BytesVerifier(SignatureVerifier):
    """slack_sdk's verifier (window, constant-time compare), hashing the body's bytes as sent.

    Its own `generate_signature` decodes the body as UTF-8 first, which raises on a body that
    is not (Slack's never are, junk can be): that would be a traceback instead of a 401.
    """

    def generate_signature(self, *, timestamp: str, body: str | bytes) -> str | None:
        data = body.encode() if isinstance(body, str) else body
        base = b"v0:" + timestamp.encode() + b":" + data
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return f"v0={digest}"


class RequestVerifier:
    """Checks Slack's v0 signature on the raw body, before anything parses it."""

    def __init__(self, signing_secret: str) -> None:
        self._verifier = _BytesVerifier(signing_secret)

    def check(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raises Rejected(401) naming why, for anything but a fresh request signed by Slack."""
        timestamp = headers.get("X-Slack-Request-Timestamp")
        signature = headers.get("X-Slack-Signature")
        if timestamp is None or signature is None:
            raise Rejected(401, "unsigned request")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Rejected(401, "X-Slack-Request-Timestamp is not a number")
        if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
            raise Rejected(401, "stale X-Slack-Request-Timestamp (replayed or clock skew)")
        # compare_digest refuses non-ASCII str (TypeError): such a signature is forged anyway.
        if not signature.isascii() or not self._verifier.is_valid(body, timestamp, signature):
            raise Rejected(401, "bad signature")


# --- parsing and shape --------------------------------------------------------------------


def read(body: bytes, content_type: str | None) -> Body:
    """Parse a signed body as Bolt will, and check the shape Bolt reads; Rejected(400) if not."""
    try:
        text = body.decode("utf-8")
        parsed = _parse(text, (content_type or "").split(";")[0])
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8 and int-size errors alike
        raise Rejected(400, f"unreadable body ({type(exc).__name__})") from None
    if not isinstance(parsed, dict):
        raise Rejected(400, f"the payload has type {type(parsed).__name__}, not an object")
    problem = _kind_problem(parsed) or _shape_problem(parsed)
    if problem is not None:
        raise Rejected(400, problem)
    return parsed


def _parse(text: str, content_type: str) -> object:
    """Bolt's parse_body, step for step, without its assumption that a payload is an object."""
    if not text:
        return {}
    if content_type == "application/json" or text.startswith("{"):
        return json.loads(text)
    if "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        return {} if payload is None else json.loads(payload)
    return dict(parse_qsl(text, keep_blank_values=True))


def _kind_problem(body: Body) -> str | None:
    """What the request is not, if it is not one Slack sends this app, with what Bolt needs."""
    kind = body.get("type")
    if kind is None and body.get("ssl_check") == "1":
        return None  # Slack checking the certificate; Bolt answers it
    if not isinstance(kind, str) or kind not in HANDLED_TYPES:
        return f"not a request this app handles (type {_shown(kind)})"
    for path in _REQUIRED.get(kind, ()):
        if not isinstance(_lenient_get(body, path), str):
            return f"{kind} without a {_dotted(path)} string"
    return None


_REQUIRED: dict[str, tuple[tuple[str | int, ...], ...]] = {
    "url_verification": (("challenge",),),
    "event_callback": (("event", "type"),),
    "block_actions": (("actions", 0, "action_id"),),
    "view_submission": (("view", "callback_id"), ("view", "type")),
    "view_closed": (("view", "callback_id"), ("view", "type")),
}
"""The strings each type of request must have where Bolt reads them without looking first."""

_Kind = Literal["text", "entity", "object", "objects"]
_FIELDS: dict[str, _Kind] = {
    # compared, matched with patterns or used as ids by Bolt
    **dict.fromkeys(
        (
            "type",
            "subtype",
            "id",
            "team_id",
            "user_id",
            "channel_id",
            "enterprise_id",
            "app_installed_team_id",
            "bot_id",
            "ts",
            "thread_ts",
            "callback_id",
            "action_id",
            "block_id",
            "response_url",
            "trigger_id",
            "function_execution_id",
            "execution_id",
            "bot_access_token",
        ),
        "text",
    ),
    # an id, or an object with an `id`
    **dict.fromkeys(("user", "channel", "team", "enterprise"), "entity"),
    # objects Bolt reads into, checked with this same table
    **dict.fromkeys(
        ("event", "message", "previous_message", "item", "assistant_thread", "view"), "object"
    ),
    "function_data": "object",
    # lists of such objects
    **dict.fromkeys(("authorizations", "actions", "response_urls"), "objects"),
}
"""Every key Bolt reads while it builds a request's context and matches listeners, with the
type it assumes. Other keys (message blocks, a view's state) are the listeners' to check."""


def _shape_problem(body: Body) -> str | None:
    """The first field of `_FIELDS` that has the wrong type, anywhere Bolt looks; else None.

    Iterative, so a deep chain of `event`s cannot exhaust the stack.
    """
    pending: list[tuple[str, Body]] = [("", body)]
    while pending:
        where, current = pending.pop()
        for key, value in current.items():
            kind = _FIELDS.get(key)
            if kind is None or (value is None and kind in ("text", "entity")):
                continue
            path = f"{where}{key}"
            if kind == "text" and not isinstance(value, str):
                return f"{path} has type {type(value).__name__}, not a string"
            if kind == "entity" and not isinstance(value, str | dict):
                return f"{path} has type {type(value).__name__}, not an id or an object"
            if kind == "object" and not isinstance(value, dict):
                return f"{path} has type {type(value).__name__}, not an object"
            if kind == "objects" and not (
                isinstance(value, list) and all(isinstance(item, dict) for item in value)
            ):
                return f"{path} is not a list of objects"
            if isinstance(value, dict):
                pending.append((f"{path}.", value))
            elif isinstance(value, list):
                pending.extend((f"{path}[{i}].", item) for i, item in enumerate(value))
    return None


def unsubscribed_event(body: Body, subscribed: Iterable[str]) -> str | None:
    """The type of an event this app does not subscribe to (acked, never handed to Bolt).

    Bolt handles some event types itself (assistant threads, workflow functions) and reads
    their fields unchecked; the manifest subscribes to none of them.
    """
    if body.get("type") != "event_callback":
        return None
    kind = str(body["event"]["type"])
    return None if kind in subscribed else kind


# --- typed reads for listeners --------------------------------------------------------------


def get(body: object, *path: str | int) -> object:
    """The value at `path`, or None where a step is missing; PayloadError where a step is not
    an object (for a key) or a list (for an index)."""
    current = body
    for step in path:
        if current is None:
            return None
        if isinstance(step, str) and isinstance(current, dict):
            current = current.get(step)
        elif isinstance(step, int) and isinstance(current, list):
            current = current[step] if -len(current) <= step < len(current) else None
        else:
            raise PayloadError(f"{_dotted(path)}: {type(current).__name__} on the way")
    return current


def text(body: object, *path: str | int) -> str | None:
    """The string at `path`, None if missing (or null); PayloadError if it is not a string."""
    value = get(body, *path)
    if value is None or isinstance(value, str):
        return value
    raise PayloadError(f"{_dotted(path)} has type {type(value).__name__}, not a string")


def need_text(body: object, *path: str | int) -> str:
    """The non-empty string at `path`; PayloadError if missing, empty or not a string."""
    value = text(body, *path)
    if not value:
        raise PayloadError(f"no {_dotted(path)}")
    return value


def obj(body: object, *path: str | int) -> Body:
    """The object at `path`, {} if missing; PayloadError if it is not an object."""
    value = get(body, *path)
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise PayloadError(f"{_dotted(path)} has type {type(value).__name__}, not an object")


def objects(body: object, *path: str | int) -> list[Body]:
    """The list of objects at `path`, [] if missing; PayloadError if it is anything else."""
    value = get(body, *path)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise PayloadError(f"{_dotted(path)} is not a list of objects")


def describe(body: object) -> str:
    """A short name for a payload in a log line: its type, and its action or callback id."""
    if not isinstance(body, dict):
        return "a payload"
    kind = body.get("type")
    detail = _lenient_get(body, ("actions", 0, "action_id")) or _lenient_get(
        body, ("view", "callback_id")
    )
    if kind == "event_callback":
        detail = _lenient_get(body, ("event", "type"))
    shown = f"{_shown(kind)} {_shown(detail)}" if detail is not None else _shown(kind)
    return f"a {shown} payload"


def _lenient_get(body: object, path: tuple[str | int, ...]) -> object:
    try:
        return get(body, *path)
    except PayloadError:
        return None


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(step) for step in path)


def _shown(value: object) -> str:
    """A value as it may appear in a log line: short, quoted, whatever its type."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "…"
