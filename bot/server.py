"""Serve the bot: `POST /slack/events` (HTTP mode) or a Socket Mode connection, plus `/healthz`.

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
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot.app import Bot, open_bot
from bot.expiry import ExpirySweeper
from bot.settings import BotSettings

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


@dataclass
class RunningBot:
    """A bot that is serving; `url` is where its HTTP endpoints are."""

    bot: Bot
    url: str


def web_app(bot: Bot, ready: asyncio.Event, draining: asyncio.Event) -> web.Application:
    """The HTTP endpoints; events only in HTTP mode (Socket Mode needs no public endpoint)."""

    async def events(request: web.Request) -> web.StreamResponse:
        try:
            bolt_request = await to_bolt_request(request)
            response = await bot.app.async_dispatch(bolt_request)
        except Exception:
            logger.warning("rejected a malformed request to %s", EVENTS_PATH, exc_info=True)
            return web.json_response({"error": "malformed request"}, status=400)
        if response.status >= 400:
            logger.warning("answered %s to a request: %s", response.status, response.body)
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
    return app


@contextlib.asynccontextmanager
async def serve(settings: BotSettings) -> AsyncIterator[RunningBot]:
    """Start everything; on exit drain (DESIGN §4 rule 10) and close the database.

    Start-up reconciles before the first request is taken: what the last process left is
    queued and every pause has its card. A shutdown stops taking work at once (`/healthz`
    503, Socket Mode disconnected) but keeps accepting what still arrives over HTTP into the
    inbox, for the next process; running answers get SHUTDOWN_GRACE_SECONDS to finish.
    """
    ready, draining = asyncio.Event(), asyncio.Event()
    async with open_bot(settings) as bot:
        await bot.conversations.prepare()
        runner = web.AppRunner(web_app(bot, ready, draining), access_log=None, shutdown_timeout=2)
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
