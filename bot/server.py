"""Serve the bot: `POST /slack/events` (HTTP mode) or a Socket Mode connection, plus `/healthz`
and `/metrics`.

`serve()` is what `python -m bot` runs and what the tests start on a random port: the same
code path either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.request.async_request import AsyncBoltRequest

from bot import listeners, request_checks
from bot.app import Bot, open_bot
from bot.expiry import ExpirySweeper
from bot.metrics_endpoint import METRICS_PATH, metrics_endpoint
from bot.request_checks import RequestVerifier
from bot.settings import BotSettings
from bot.tracing import SpanExporterFactory
from http_api.routes import ApiRoutes

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


@dataclass
class RunningBot:
    """A bot that is serving; `url` is where its HTTP endpoints are."""

    bot: Bot
    url: str


def web_app(
    bot: Bot, ready: asyncio.Event, draining: asyncio.Event, *, open_api: bool = False
) -> web.Application:
    """The HTTP endpoints; events only in HTTP mode (Socket Mode needs no public endpoint),
    the HTTP API when API_TOKENS is set (or `open_api`, the playground's, without tokens)."""

    verifier = RequestVerifier(_signing_secret(bot)) if bot.mode == "http" else None

    async def events(request: web.Request) -> web.StreamResponse:
        """Verify the raw bytes, then parse and check them, and only then hand them to Bolt.

        Bolt checks the signature again (bot/app.py leaves its request verification on in HTTP
        mode): one more HMAC per request, kept so the Bolt app stays safe wherever it is
        mounted. This check is the one that runs before any parsing (pitfall 35).
        """
        assert verifier is not None  # the route exists only in HTTP mode
        raw = await request.read()
        try:
            verifier.check(request.headers, raw)
            body = request_checks.read(raw, request.headers.get("Content-Type"))
        except request_checks.Rejected as rejected:
            logger.warning("answered %s to a request: %s", rejected.status, rejected.reason)
            error = "invalid request" if rejected.status == 401 else "malformed request"
            return web.json_response({"error": error}, status=rejected.status)
        if body.get("type") == "app_rate_limited":
            logger.warning("Slack is dropping events: over 30,000 in an hour (app_rate_limited)")
            return web.Response(status=200)
        if (kind := request_checks.unsubscribed_event(body, listeners.EVENT_TYPES)) is not None:
            logger.info("acked an event this app does not subscribe to: %.60r", kind)
            return web.Response(status=200)
        bolt_request = AsyncBoltRequest(
            body=raw.decode(),
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )
        response = await bot.app.async_dispatch(bolt_request)
        if response.status >= 400:
            logger.warning("answered %s to a request: %.200s", response.status, response.body)
        return await to_aiohttp_response(response)

    async def healthz(_: web.Request) -> web.Response:
        """200 once ready; 503 while starting and while draining, so a balancer moves on."""
        healthy = ready.is_set()
        body = {
            "ok": healthy,
            "state": "ready" if healthy else ("draining" if draining.is_set() else "starting"),
            "mode": bot.mode,
            "running_jobs": bot.conversations.running + bot.runtime.tasks.running,
        }
        return web.json_response(body, status=200 if healthy else 503, dumps=json.dumps)

    app = web.Application()
    if bot.mode == "http":
        app.router.add_post(EVENTS_PATH, events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get(METRICS_PATH, metrics_endpoint(bot.runtime))
    ApiRoutes(bot, draining, open_access=open_api).add_to(app)
    return app


def _signing_secret(bot: Bot) -> str:
    secret = bot.runtime.settings.slack_signing_secret
    assert secret is not None  # mode() requires it in HTTP mode
    return secret.get_secret_value()


@contextlib.asynccontextmanager
async def serve(
    settings: BotSettings,
    *,
    open_api: bool = False,
    span_exporter: SpanExporterFactory | None = None,
) -> AsyncIterator[RunningBot]:
    """Start everything; on exit drain (DESIGN §4 rule 10) and close the database.

    Start-up reconciles before the first request is taken: what the last process left is
    queued and every pause has its card. A shutdown stops taking work at once (`/healthz`
    503, Socket Mode disconnected) but keeps accepting what still arrives over HTTP into the
    inbox, for the next process; running answers get SHUTDOWN_GRACE_SECONDS to finish.
    """
    ready, draining = asyncio.Event(), asyncio.Event()
    async with open_bot(settings, span_exporter=span_exporter) as bot:
        await bot.conversations.prepare()
        runner = web.AppRunner(
            web_app(bot, ready, draining, open_api=open_api), access_log=None, shutdown_timeout=2
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        socket_handler = None
        if bot.mode == "socket":
            assert settings.slack_app_token is not None  # mode() checked it
            socket_handler = AsyncSocketModeHandler(
                bot.app, settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
        bot.conversations.start()
        sweeper = ExpirySweeper(bot.runtime, bot.conversations)
        sweeping = asyncio.create_task(sweeper.run_forever(), name="expiry")
        # Start-up leaves a large heap that lives as long as the process (litellm, pydantic,
        # the graph). Freezing it keeps full collections from rescanning it while answers
        # stream: they had grown to pauses of 0.7 s that delayed acks (bench, 30 answers).
        # `python -m bot` imports with the collector off (bot/__main__.py): it goes back on here.
        gc.collect()
        gc.freeze()
        gc.enable()
        ready.set()
        try:
            yield RunningBot(bot, f"http://{host}:{port}")
        finally:
            ready.clear()
            draining.set()
            sweeping.cancel()
            if socket_handler is not None:
                await socket_handler.close_async()  # type: ignore[no-untyped-call]
            await bot.conversations.drain(settings.shutdown_grace_seconds)
            await bot.runtime.tasks.drain(grace_seconds=2)
            await site.stop()
            await runner.cleanup()
