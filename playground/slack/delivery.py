"""Slack -> bot transport: signed HTTP POSTs, or envelopes over a Socket Mode websocket.

HTTP mode signs exactly as Slack does (v0 HMAC-SHA256 over `v0:{timestamp}:{body}`), so the bot's
real request verification runs. Socket Mode serves the websocket that slack_sdk's aiohttp
SocketModeClient (what Bolt's AsyncSocketModeHandler uses) connects to after apps.connections.open:
a `hello` frame on connect, then `{envelope_id, type, payload, accepts_response_payload}`
envelopes, each answered by an ack frame `{envelope_id, payload?}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from .records import Delivery, JSONObject

log = logging.getLogger(__name__)

EnvelopeType = Literal["events_api", "interactive", "slash_commands"]
# Interactions whose ack may carry a payload Slack acts on (modal response_action, options).
ANSWERABLE = frozenset({"view_submission", "block_suggestion"})


def sign_request(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The X-Slack-Request-Timestamp / X-Slack-Signature headers Slack sends with `body`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


class HttpDelivery:
    """POSTs signed requests to the bot's request URL and reports its answer.

    Several URLs (replicas behind no load balancer) take requests in turn, as a round-robin
    load balancer would hand them out.
    """

    def __init__(self, signing_secret: str, timeout: float) -> None:
        self.signing_secret = signing_secret
        self.timeout = timeout
        self.request_urls: list[str] = []
        self._turn = 0
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # No cap on open connections: aiohttp's default (100) would queue the 101st delivery
        # in the client and count the wait as the bot's ack time (bench: 100+ conversations).
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def url_for(self, path: str | None) -> str:
        if not self.request_urls:
            raise RuntimeError("HTTP delivery needs deliver_to(request_url) first")
        request_url = self.request_urls[self._turn % len(self.request_urls)]
        self._turn += 1
        if path is None:
            return request_url
        origin = request_url.split("/", 3)[:3]
        return "/".join(origin) + "/" + path.lstrip("/")

    async def post(
        self,
        body: bytes,
        *,
        content_type: str,
        path: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Delivery:
        """POST `body`, signed unless a signature is forced; status 0 if no answer in time."""
        if self._session is None:
            raise RuntimeError("the emulator is not started")
        ts = int(time.time()) if timestamp is None else timestamp
        headers = sign_request(self.signing_secret if secret is None else secret, ts, body)
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        headers["Content-Type"] = content_type
        headers.update(extra_headers or {})
        try:
            async with self._session.post(
                self.url_for(path),
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                text = await resp.text()
                return Delivery(resp.status, text, dict(resp.headers))
        except TimeoutError:
            log.warning("bot did not answer within %.1f s", self.timeout)
            return Delivery(0, "", {})
        except aiohttp.ClientError as exc:  # Slack's retry reason would be connection_failed
            log.warning("could not reach the bot: %s", exc)
            return Delivery(0, f"connection_failed: {exc}", {})


class SocketHub:
    """The server side of Socket Mode: tickets, connections, envelopes and their acks."""

    def __init__(self, app_id: str, ack_timeout: float, on_change: Callable[[], None]) -> None:
        self.app_id = app_id
        self.ack_timeout = ack_timeout
        self._on_change = on_change
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[JSONObject]] = {}
        self._envelopes = 0
        self._turn = 0
        self.accepted = 0

    @property
    def connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    @property
    def open_connections(self) -> int:
        return sum(not ws.closed for ws in self._sockets)

    def issue_ticket(self) -> str:
        """A single-use ticket for the URL apps.connections.open returns."""
        ticket = secrets.token_hex(12)
        self._tickets.add(ticket)
        return ticket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Accept a websocket whose ticket came from apps.connections.open, then read acks."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or reused ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.accepted += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {
                    "host": "slack-emulator",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._on_change()
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    self._receive(frame.data)
        finally:
            self._sockets.remove(ws)
            self._on_change()
        return ws

    def _receive(self, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            log.warning("ignoring a non-JSON frame from the bot: %r", data[:200])
            return
        envelope_id = frame.get("envelope_id") if isinstance(frame, dict) else None
        future = self._acks.get(envelope_id) if isinstance(envelope_id, str) else None
        if future is None or future.done():
            log.warning("ack for an unknown or answered envelope: %r", data[:200])
            return
        future.set_result(frame)

    async def send(
        self,
        kind: EnvelopeType,
        payload: JSONObject,
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> Delivery:
        """Send one envelope and wait for its ack; status 0 when none comes in time."""
        ws = self._current()
        self._envelopes += 1
        envelope_id = f"{self._envelopes:08x}-{secrets.token_hex(4)}-emulated"
        envelope: JSONObject = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": payload.get("type") in ANSWERABLE,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        future: asyncio.Future[JSONObject] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        try:
            await ws.send_json(envelope)
            frame = await asyncio.wait_for(future, self.ack_timeout)
        except (TimeoutError, ConnectionError):
            log.warning("no ack for %s envelope %s", kind, envelope_id)
            return Delivery(0, "", {})
        finally:
            self._acks.pop(envelope_id, None)
        body = json.dumps(frame["payload"]) if frame.get("payload") is not None else ""
        return Delivery(200, body, {})

    async def disconnect(self, reason: str) -> None:
        """Ask connected clients to reconnect, as Slack does before moving a connection."""
        for ws in list(self._sockets):
            await ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "slack-emulator"}}
            )

    async def close(self) -> None:
        for future in self._acks.values():
            future.cancel()
        for ws in list(self._sockets):
            with contextlib.suppress(ConnectionError):
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"emulator closing")

    def _current(self) -> web.WebSocketResponse:
        """Envelopes are spread over the open connections in turn (several replicas, or one
        client's old and new connection while it refreshes), as Slack spreads them."""
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise RuntimeError("no Socket Mode client is connected (see wait_for_socket)")
        self._turn += 1
        return open_sockets[self._turn % len(open_sockets)]


def form_payload(payload: JSONObject) -> bytes:
    """Interactivity over HTTP: `payload=<json>`, form-encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def json_body(payload: Any) -> bytes:
    return json.dumps(payload).encode()
