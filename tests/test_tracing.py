"""OpenTelemetry traces from the running bot: on only with OTEL_EXPORTER_OTLP_ENDPOINT, and then
one trace per turn whose model, tool and Slack calls are its children."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot.server import EVENTS_PATH, serve
from bot.tracing import SpanExporterFactory
from playground.slack import SlackEmulator
from tests.bot_harness import SlackBot, bot_settings

CHANNEL = "C0GENERAL"
COLLECTOR = "http://collector.invalid:4318"


@contextlib.asynccontextmanager
async def traced_bot(
    tmp_path: Path, exporter: SpanExporterFactory | None, **overrides: Any
) -> AsyncIterator[SlackBot]:
    """The real bot against the emulator, its spans going to `exporter` (None: OTLP/HTTP)."""
    async with SlackEmulator() as slack:
        settings = bot_settings(slack, tmp_path / "countersign.db", **overrides)
        async with serve(settings, span_exporter=exporter) as running:
            slack.deliver_to(running.url + EVENTS_PATH)
            yield SlackBot(slack, running)


async def save_and_approve(bot: SlackBot) -> None:
    """A turn that pauses for approval, then the continuation that runs the tool."""
    asked = await bot.say("UALICE", CHANNEL, "<@UBOT> save a note about water")
    card = next(m for m in bot.replies(CHANNEL, asked.ts) if "Approval needed" in m.visible_text())
    delivery = await bot.slack.click("UBOB", CHANNEL, card.ts, "countersign_approve")
    assert delivery.status == 200
    await asyncio.sleep(0.05)
    await bot.idle()
    assert "saved the note" in bot.texts(CHANNEL, asked.ts)[-1]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """Spans whose parent is `parent`, in the same trace."""
    assert parent.context is not None
    return [
        span
        for span in spans
        if span.parent is not None
        and span.parent.span_id == parent.context.span_id
        and span.parent.trace_id == parent.context.trace_id
    ]


async def test_each_turn_is_a_trace_with_its_model_tool_and_slack_calls(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    asked_for: list[str] = []

    def exporter(url: str) -> SpanExporter:
        asked_for.append(url)
        return memory

    async with traced_bot(tmp_path, exporter, otel_exporter_otlp_endpoint=COLLECTOR) as bot:
        await save_and_approve(bot)
    assert asked_for == [f"{COLLECTOR}/v1/traces"]  # the base URL's traces path, once per bot
    spans = list(memory.get_finished_spans())  # all of them: the bot flushed on its way out
    turns = [span for span in spans if span.name.startswith("turn ")]
    assert [turn.name for turn in turns] == ["turn message", "turn decision"]
    message, decision = turns
    assert message.parent is None and decision.parent is None  # each turn is its own trace
    assert message.context is not None and decision.context is not None
    assert message.context.trace_id != decision.context.trace_id
    assert message.attributes is not None
    assert message.attributes["countersign.item.outcome"] == "done"

    asked = {span.name for span in children(spans, message)}
    assert "chat demo" in asked  # the model proposed the call…
    assert "slack chat.postMessage" in asked  # …and the answer and the card were posted
    assert not any(name.startswith("execute_tool") for name in asked)  # nothing ran unapproved

    continued = children(spans, decision)
    names = {span.name for span in continued}
    assert {"execute_tool save_note", "chat demo", "slack chat.update"} <= names
    tool = next(span for span in continued if span.name == "execute_tool save_note")
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.name"] == "save_note"
    model = next(span for span in continued if span.name == "chat demo")
    assert model.attributes is not None
    assert model.attributes["gen_ai.request.model"] == "demo"
    assert model.start_time is not None and tool.end_time is not None
    assert model.start_time >= tool.end_time  # the model read the tool's result
    slack = [span for span in continued if span.name.startswith("slack ")]
    assert all(span.attributes and span.attributes["rpc.system"] == "slack" for span in slack)


async def test_without_the_endpoint_nothing_is_traced(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    asked_for: list[str] = []

    def exporter(url: str) -> SpanExporter:
        asked_for.append(url)
        return memory

    async with traced_bot(tmp_path, exporter, otel_exporter_otlp_endpoint="") as bot:
        await save_and_approve(bot)
        assert not bot.runtime.tracer.start_span("probe").is_recording()
    assert asked_for == []  # no exporter, no provider, no thread
    assert memory.get_finished_spans() == ()


async def test_spans_reach_an_otlp_collector_over_http(tmp_path: Path) -> None:
    """The production exporter, against an in-process collector speaking OTLP/HTTP."""
    received: list[ExportTraceServiceRequest] = []
    headers: list[str | None] = []

    async def collect(request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        received.append(export)
        headers.append(request.headers.get("x-team-key"))
        return web.Response(content_type="application/x-protobuf")

    collector = web.Application()
    collector.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(collector, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with traced_bot(
            tmp_path,
            None,
            otel_exporter_otlp_endpoint=f"http://{host}:{port}/",
            otel_exporter_otlp_headers="x-team-key=s3cret",
            otel_service_name="countersign-test",
        ) as bot:
            await save_and_approve(bot)
    finally:
        await runner.cleanup()
    assert received and set(headers) == {"s3cret"}
    resources = [spans.resource for export in received for spans in export.resource_spans]
    services = {
        attribute.value.string_value
        for resource in resources
        for attribute in resource.attributes
        if attribute.key == "service.name"
    }
    assert services == {"countersign-test"}
    names = {
        span.name
        for export in received
        for resource_spans in export.resource_spans
        for scope in resource_spans.scope_spans
        for span in scope.spans
    }
    assert {"turn message", "turn decision", "execute_tool save_note", "chat demo"} <= names
