"""What every handler needs, built once at start-up and passed down (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.trace import NoOpTracer, Tracer
from slack_sdk.web.async_client import AsyncWebClient

from agent import Agent
from bot.approvers import ApproverPolicy
from bot.metrics import BotMetrics
from bot.rate_limits import SlackRateLimiter
from bot.settings import BotSettings
from bot.slack_calls import SlackCalls
from bot.store import BotStore
from bot.streaming import StreamerSettings
from bot.tasks import TaskSupervisor


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is in the workspace (from auth.test)."""

    user_id: str
    bot_id: str
    team_id: str


@dataclass
class BotRuntime:
    """The bot's parts; handlers receive this instead of reaching for globals."""

    settings: BotSettings
    agent: Agent
    client: AsyncWebClient
    identity: BotIdentity
    store: BotStore
    limiter: SlackRateLimiter
    slack: SlackCalls
    approvers: ApproverPolicy
    tasks: TaskSupervisor = field(default_factory=TaskSupervisor)
    """Work that need not survive a crash (telling someone a click was refused)."""
    streamer_settings: StreamerSettings = field(default_factory=StreamerSettings)
    metrics: BotMetrics = field(default_factory=BotMetrics)
    """This bot's Prometheus metrics (GET /metrics)."""
    tracer: Tracer = field(default_factory=NoOpTracer)
    """Spans for turns and Slack calls; a no-op one unless OTEL_EXPORTER_OTLP_ENDPOINT is set."""
