"""The Slack client the bot makes its calls with: each one counted and traced where it happens.

Every Web API method of slack_sdk's client goes through `api_call`, so one override sees every
call the bot makes (answers, cards, look-ups, auth.test), each retry as its own call, without
a hook in each caller. Bolt makes its own client per request for the listeners' `say`; the bot
does not use it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.budgeted_calls import error_code, is_rate_limited
from bot.metrics import BotMetrics, SlackOutcome


class ObservedWebClient(AsyncWebClient):
    """An `AsyncWebClient` that reports each call to the bot's metrics and tracer."""

    def __init__(self, *, metrics: BotMetrics, tracer: Tracer, **client: Any) -> None:
        super().__init__(**client)
        self._metrics = metrics
        self._tracer = tracer

    async def api_call(self, api_method: str, **arguments: Any) -> AsyncSlackResponse:
        """Call Slack as slack_sdk does, in a span of its own; count it by method and outcome."""
        attributes = {"rpc.system": "slack", "rpc.method": api_method}
        with self._tracer.start_as_current_span(
            f"slack {api_method}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            started = time.perf_counter()
            outcome: SlackOutcome = "error"
            status: int | None = None
            try:
                response = await super().api_call(api_method, **arguments)
                outcome, status = "ok", response.status_code
                return response
            except SlackApiError as error:
                status = int(error.response.status_code)
                outcome = "rate_limited" if is_rate_limited(error) else "error"
                span.set_status(Status(StatusCode.ERROR, error_code(error)))
                raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except Exception as error:  # a connection error: Slack never answered
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise
            finally:
                self._metrics.slack_call(api_method, outcome, time.perf_counter() - started, status)
                if status is not None and span.is_recording():
                    span.set_attribute("http.response.status_code", status)
