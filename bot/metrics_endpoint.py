"""`GET /metrics`: the bot's registry in Prometheus' text format (or OpenMetrics, if asked).

What lives in the database is read here, at scrape time: pending pauses and the inbox are
shared by every replica, and a gauge kept up to date in memory would only know this one's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from bot.inbox import Inbox
from bot.runtime import BotRuntime

METRICS_PATH = "/metrics"


def metrics_endpoint(runtime: BotRuntime) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of METRICS_PATH for one bot."""

    async def metrics(request: web.Request) -> web.Response:
        runtime.metrics.set_state(
            pending_pauses=await runtime.agent.pending_pause_counts(),
            inbox=await Inbox.depth(runtime.agent.database),
        )
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(
            body=encode(runtime.metrics.registry), headers={"Content-Type": content_type}
        )

    return metrics
