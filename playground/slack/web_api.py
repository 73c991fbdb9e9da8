"""The HTTP side of the Web API: parsing, auth, faults, rate limits, recording, response_url.

Every request to `/api/<method>` is answered in Slack's wire format and recorded as a Call,
including the ones that fail (a connection an injected fault drops is recorded with status 0 and
the error `connection_dropped`). Parameters may arrive as a JSON body, a form body or a query
string (slack_sdk uses all three); JSON-valued parameters Slack receives as strings (`blocks`,
`view`...) are decoded before handlers and tests see them.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import blocks as kit
from .errors import SlackError
from .limits import Drop, Faults, RateLimiter, RetryWindows
from .methods import Methods
from .records import Call, JSONObject
from .workspace import ResponseUrl

JSON_STRING_PARAMS = frozenset(
    {"attachments", "blocks", "chunks", "metadata", "view", "loading_messages", "prompts"}
)
BOT_SCOPES = (
    "app_mentions:read,channels:history,channels:read,chat:write,groups:history,groups:read,"
    "im:history,im:read,im:write,reactions:write,users:read,usergroups:read,assistant:write"
)
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
DROPPED = "connection_dropped"
"""The error recorded for a call whose connection was closed without an answer."""


@dataclass
class Credentials:
    bot_token: str
    app_token: str


@dataclass
class _Request:
    params: JSONObject
    encoding: str
    token: str | None
    broken: bool


class WebApi:
    """aiohttp handlers for `/api/{method}` and for the response_urls given with clicks."""

    def __init__(
        self,
        methods: Methods,
        *,
        credentials: Credentials,
        clock: Callable[[], float],
        limiter: RateLimiter,
        faults: Faults,
        windows: RetryWindows,
        enforce_rate_limits: bool,
        record: Callable[[Call], None],
    ) -> None:
        self.methods = methods
        self.ws = methods.ws
        self.credentials = credentials
        self.clock = clock
        self.limiter = limiter
        self.faults = faults
        self.windows = windows
        self.enforce_rate_limits = enforce_rate_limits
        self.record = record

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        at = self.clock()
        parsed = await _read(request)
        inside = False
        drop: Drop | None = None
        body: JSONObject
        status, body = 0, {}  # what a dropped-before call would have answered: nothing
        headers = {"X-OAuth-Scopes": BOT_SCOPES}
        try:
            if method not in self.methods.handlers:
                raise SlackError("unknown_method", status=404)
            if parsed.broken:
                raise SlackError("invalid_json")
            self._authorize(method, parsed.token)
            key = RetryWindows.key(method, self._channel_id(parsed.params))
            inside = self.windows.observe(key, at)
            drop = self._limit(method, key, parsed.params, at)
            if drop != "before":
                status, body = 200, {"ok": True, **self.methods.handlers[method](parsed.params, at)}
        except SlackError as exc:
            status, body = exc.status, exc.body()
            headers.update(exc.headers)
        self.record(
            Call(
                method=method,
                params=copy.deepcopy(parsed.params),
                status=0 if drop else status,
                error=DROPPED if drop else None if body.get("ok") else str(body.get("error")),
                at=at,
                http_method=request.method,
                encoding=parsed.encoding,
                response=copy.deepcopy(body),
                inside_retry_after=inside,
            )
        )
        if drop is not None:
            return _hang_up(request)
        return web.json_response(body, status=status, headers=headers)

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        wanted = self.credentials.app_token if method == "apps.connections.open" else None
        if wanted is not None:
            if token == self.credentials.bot_token:
                raise SlackError("not_allowed_token_type")
            if token != wanted:
                raise SlackError("invalid_auth")
        elif token == self.credentials.app_token:
            raise SlackError("not_allowed_token_type")
        elif token != self.credentials.bot_token:
            raise SlackError("invalid_auth")

    def _limit(self, method: str, key: str, params: JSONObject, at: float) -> Drop | None:
        """Injected faults first (always), then the tier buckets (when enforced).

        Returns when to drop the connection, for a fault that drops it instead of answering.
        """
        fault = self.faults.pop(method)
        if fault is not None and fault.drop is not None:
            return fault.drop
        if fault is not None:
            headers = {}
            if fault.status == 429:
                headers["Retry-After"] = str(fault.retry_after)
                self.windows.open(key, at, fault.retry_after)
            raise SlackError(fault.error, status=fault.status, headers=headers)
        if not self.enforce_rate_limits or method == "apps.connections.open":
            return None
        retry_after = self.limiter.take(method, self._channel_id(params), at)
        if retry_after is not None:
            self.windows.open(key, at, retry_after)
            raise SlackError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
        return None

    def _channel_id(self, params: JSONObject) -> str | None:
        ref = params.get("channel", params.get("channel_id"))
        if not isinstance(ref, str):
            return None
        channel = self.ws.resolve_channel(ref)
        return channel.id if channel is not None else ref

    # ---- response_url ----------------------------------------------------------------------

    async def handle_response_url(self, request: web.Request) -> web.Response:
        """Apply a `respond()`: replace/delete the original, or answer ephemeral/in_channel."""
        at = self.clock()
        body: JSONObject = {}
        try:
            try:
                loaded = await request.json()
            except ValueError:
                raise SlackError("invalid_payload", status=400) from None
            body = loaded if isinstance(loaded, dict) else {}
            target = self.ws.response_urls.get(request.match_info["token"])
            if target is None or at - target.issued_at > RESPONSE_URL_TTL:
                raise SlackError("expired_url", status=404)
            if target.uses >= RESPONSE_URL_USES:
                raise SlackError("used_url", status=404)
            target.uses += 1
            self._respond(target, body, at)
            status, answer = 200, {"ok": True}
        except SlackError as exc:
            status, answer = exc.status, exc.body()
        self.record(
            Call(
                method="response_url",
                params=copy.deepcopy(body),
                status=status,
                error=None if answer.get("ok") else str(answer.get("error")),
                at=at,
                response=answer,
            )
        )
        return web.json_response(answer, status=status)

    def _respond(self, target: ResponseUrl, body: JSONObject, at: float) -> None:
        try:
            kit.check_message(body.get("text"), body.get("blocks"))
        except SlackError as exc:
            exc.status = 400
            raise
        text, blocks = str(body.get("text") or ""), list(body.get("blocks") or [])
        if _flag(body.get("delete_original")):
            self._original(target, deleting=True)
            return
        if not text and not blocks:
            raise SlackError("no_text", status=400)
        if _flag(body.get("replace_original")):
            original = self._original(target, deleting=False)
            if isinstance(original, dict):
                original.update(text=text, blocks=blocks)
            else:
                self.ws.edit(original, text=text, blocks=blocks, at=at)
                self.methods.hooks.on_bot_message("changed", original)
        elif body.get("response_type") == "in_channel":
            message = self.ws.post(
                target.channel,
                user=self.ws.bot_user_id,
                bot_id=self.ws.bot_id,
                text=text,
                blocks=blocks,
                thread_ts=body.get("thread_ts") or target.thread_ts,
                at=at,
            )
            self.methods.hooks.on_bot_message("posted", message)
        else:
            self.ws.ephemerals.append(
                {
                    "channel": target.channel,
                    "user": target.user,
                    "ts": self.ws.next_ts(),
                    "text": text,
                    "blocks": blocks,
                    "thread_ts": body.get("thread_ts") or target.thread_ts,
                    "at": at,
                    "via": "response_url",
                    "deleted": False,
                }
            )

    def _original(self, target: ResponseUrl, *, deleting: bool) -> Any:
        """The clicked message (a Message, or an ephemeral's dict), marked deleted if asked."""
        if target.is_ephemeral:
            for ephemeral in self.ws.ephemerals:
                if ephemeral["ts"] == target.message_ts and not ephemeral["deleted"]:
                    ephemeral["deleted"] = deleting
                    return ephemeral
            raise SlackError("message_not_found", status=404)
        message = self.ws.find(target.channel, target.message_ts)
        if message is None:
            raise SlackError("message_not_found", status=404)
        if message.bot_id != self.ws.bot_id:
            raise SlackError("cant_update_message", status=400)
        if deleting:
            message.deleted = True
            self.methods.hooks.on_bot_message("deleted", message)
        return message


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection with no HTTP answer: the client sees it as ServerDisconnectedError.

    aiohttp then fails to write the returned response to the closed transport and drops it
    quietly, so nothing at all reaches the client.
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response()


async def _read(request: web.Request) -> _Request:
    """Merge query string and body (JSON or form); take the token from header or params."""
    params: JSONObject = dict(request.query)
    encoding = "query" if params else "none"
    broken = False
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body, broken = {}, True
            params.update(body if isinstance(body, dict) else {})
            broken = broken or not isinstance(body, dict)
            encoding = "json"
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
            encoding = "form"
    token = params.pop("token", None)
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        token = auth.removeprefix("Bearer ").strip()
    for key in JSON_STRING_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # Undecodable values stay as sent; handlers report them as Slack would.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return _Request(params, encoding, token if isinstance(token, str) else None, broken)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")
