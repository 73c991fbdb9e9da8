"""The page's HTTP server: the static page, its JSON endpoints and its live event stream."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from agent import ConfigurationError
from bot.settings import BotSettings
from playground.slack import SlackEmulator
from playground.web.actions import PageActions, Refused, person
from playground.web.agent_actions import AgentActions
from playground.web.live import ChangeFeed, stream
from playground.web.snapshot import JSONObject, about, call_detail, state

STATIC = Path(__file__).resolve().parent.parent / "static"
# Everything comes from this server: no CDN, no inline script, nothing a message could inject.
CONTENT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def page_app(slack: SlackEmulator, settings: JSONObject, feed: ChangeFeed) -> web.Application:
    """Routes, one line each; the handlers live in actions.py, agent_actions.py, live.py and
    snapshot.py."""
    actions = PageActions(slack)
    agent = AgentActions(slack)

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def current_state(request: web.Request) -> web.Response:
        return web.json_response(state(slack, settings, person(slack, request.query.get("user"))))

    async def events(request: web.Request) -> web.StreamResponse:
        user = person(slack, request.query.get("user"))
        return await stream(request, slack, feed, settings, user)

    async def call(request: web.Request) -> web.Response:
        index = int(request.match_info["index"])
        if index >= len(slack.calls):
            raise Refused("no such call", status=404)
        return web.json_response(call_detail(index, slack.calls[index]))

    app = web.Application(middlewares=[_refusals_as_json])
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/state", current_state)
    app.router.add_get("/api/events", events)
    app.router.add_get(r"/api/calls/{index:\d+}", call)
    app.router.add_post("/api/messages", actions.say)
    app.router.add_post("/api/actions", actions.click)
    app.router.add_post("/api/views/{view_id}/submit", actions.submit)
    app.router.add_post("/api/views/{view_id}/close", actions.close)
    app.router.add_post("/api/home", agent.open_home)
    app.router.add_post("/api/home/actions", agent.click_home)
    app.router.add_post("/api/feedback", agent.feedback)
    app.router.add_post("/api/sessions/stop", agent.stop)
    app.on_response_prepare.append(_headers)
    return app


@contextlib.asynccontextmanager
async def serve_page(
    slack: SlackEmulator, settings: BotSettings, host: str, port: int
) -> AsyncIterator[str]:
    """Serve the page on host:port; yields its URL. Open streams end when this exits."""
    feed = ChangeFeed()
    # A new id per run: a page still open from the last run starts over instead of mixing both.
    shown = {**about(settings), "instance": secrets.token_hex(6)}
    runner = web.AppRunner(page_app(slack, shown, feed), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigurationError(
            f"the playground could not listen on {host}:{port} ({exc.strerror or exc}): "
            "set PORT to a free port (PORT=0 picks one)"
        ) from exc
    unsubscribe = slack.on_change(feed.notify)
    try:
        yield page_url(*runner.addresses[0][:2])
    finally:
        unsubscribe()
        feed.close()
        await runner.cleanup()


def page_url(host: str, port: int) -> str:
    """An address a browser on this machine can open."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@web.middleware
async def _refusals_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """No caching (the page changes with the code) and a strict content policy."""
    response.headers.setdefault("Cache-Control", "no-cache")
    response.headers["Content-Security-Policy"] = CONTENT_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
