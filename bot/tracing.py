"""OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Each bot makes its own TracerProvider here (never the global one, never at import) with a
BatchSpanProcessor and an OTLP/HTTP exporter, and passes the tracer down: a span per turn (one
inbox item, bot.conversations), per model call (agent.llm), per tool call (agent.graph) and per
Slack call (bot.observed_slack). They link as parent and child through OpenTelemetry's context,
which lives in contextvars: the turn's task, the agent's graph and the answer's flusher task
all inherit the turn's span. Unset, the tracer is OpenTelemetry's no-op one: no provider, no
thread, nothing sent, and each span costs a few hundred nanoseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracer, Span, Tracer
from opentelemetry.util.re import parse_env_headers

from bot.inbox import Item
from bot.settings import BotSettings

TRACES_PATH = "/v1/traces"
"""OTLP/HTTP's path for traces, appended to OTEL_EXPORTER_OTLP_ENDPOINT as the spec says."""

SpanExporterFactory = Callable[[str], SpanExporter]
"""Makes the exporter for a traces URL; tests pass one that keeps spans in memory."""


def traces_url(endpoint: str) -> str:
    """`http://collector:4318` → `http://collector:4318/v1/traces` (the base URL's signal path)."""
    return endpoint.rstrip("/") + TRACES_PATH


def otlp_exporter(settings: BotSettings) -> SpanExporterFactory:
    """The production exporter: OTLP over HTTP (protobuf), with OTEL_EXPORTER_OTLP_HEADERS."""
    secret = settings.otel_exporter_otlp_headers
    headers = parse_env_headers(secret.get_secret_value(), liberal=True) if secret else None

    def make(url: str) -> SpanExporter:
        return OTLPSpanExporter(endpoint=url, headers=headers)

    return make


@contextlib.asynccontextmanager
async def open_tracer(
    settings: BotSettings, exporter: SpanExporterFactory | None = None
) -> AsyncIterator[Tracer]:
    """The bot's tracer: exporting when the endpoint is set, a no-op one otherwise.

    On exit the provider sends what it still holds (in a thread: the exporter's HTTP client
    blocks, and a collector that is down would hold the event loop for its timeout).
    """
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        yield NoOpTracer()
        return
    make = exporter or otlp_exporter(settings)
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.otel_service_name}),
        shutdown_on_exit=False,  # shut down below, not by an atexit hook
    )
    provider.add_span_processor(BatchSpanProcessor(make(traces_url(endpoint))))
    try:
        yield provider.get_tracer("countersign")
    finally:
        await asyncio.to_thread(provider.shutdown)


@contextlib.contextmanager
def turn_span(tracer: Tracer, item: Item) -> Iterator[Span]:
    """The span of one inbox item's turn, current while it runs: the parent of the rest."""
    attributes: dict[str, Any] = {
        "countersign.thread_id": item.conversation,
        "countersign.item.id": item.id,
        "countersign.item.kind": item.kind,
        "countersign.item.attempt": item.attempts,
    }
    with tracer.start_as_current_span(f"turn {item.kind}", attributes=attributes) as span:
        yield span
