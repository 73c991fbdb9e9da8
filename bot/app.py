"""Assemble the bot from settings: the Slack client, the agent, the Bolt app and its listeners."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agent import Agent, ConfigurationError, Instrumentation
from bot import listeners, schema
from bot.agent_view import AgentView
from bot.approvers import ApproverPolicy
from bot.clicks import ClickHandler
from bot.conversations import Conversations
from bot.feedback import FeedbackClicks
from bot.home_refresh import AppHome
from bot.messages import MessageHandler
from bot.metrics import BotMetrics
from bot.observed_slack import ObservedWebClient
from bot.rate_limits import SlackRateLimiter
from bot.runtime import BotIdentity, BotRuntime
from bot.settings import BotSettings, ConnectionMode
from bot.shared_budget import budget_store
from bot.slack_calls import SlackCalls
from bot.store import BotStore
from bot.tracing import SpanExporterFactory, open_tracer

logger = logging.getLogger(__name__)


@dataclass
class Bot:
    """A ready bot: the Bolt app to feed requests to, the conversations behind it."""

    app: AsyncApp
    runtime: BotRuntime
    conversations: Conversations
    mode: ConnectionMode


async def identify(client: AsyncWebClient) -> BotIdentity:
    """Ask Slack who we are; a rejected token stops start-up with a clear line."""
    try:
        auth = await client.auth_test()
    except SlackApiError as exc:
        raise ConfigurationError(
            f"Slack rejected SLACK_BOT_TOKEN ({exc.response.get('error')}): copy the Bot User "
            "OAuth Token again from OAuth & Permissions, and reinstall the app if it changed"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(
            f"Could not reach Slack at SLACK_API_URL={client.base_url!r}: {exc}"
        ) from exc
    return BotIdentity(str(auth["user_id"]), str(auth.get("bot_id") or ""), str(auth["team_id"]))


@contextlib.asynccontextmanager
async def open_bot(
    settings: BotSettings, *, span_exporter: SpanExporterFactory | None = None
) -> AsyncIterator[Bot]:
    """Check settings, connect to Slack and the database; close them on exit.

    Listeners run before Slack is acked (`process_before_response`): what they accept is in
    the inbox by the time Slack hears "received" (DESIGN §4 rule 7). The bot's metrics and
    tracer are made here, once, and reach everything through BotRuntime; `span_exporter`
    replaces the OTLP exporter (tests keep spans in memory).
    """
    async with (
        open_tracer(settings, span_exporter) as tracer,
        _open_bot(settings, BotMetrics(), tracer) as bot,
    ):
        yield bot


@contextlib.asynccontextmanager
async def _open_bot(
    settings: BotSettings, metrics: BotMetrics, tracer: Tracer
) -> AsyncIterator[Bot]:
    mode = settings.mode()
    assert settings.slack_bot_token is not None  # mode() checked it
    client: AsyncWebClient = ObservedWebClient(
        metrics=metrics,
        tracer=tracer,
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        # slack_sdk would re-send a call after a dropped connection whether or not Slack got
        # it, and a card could appear twice: the bot owns its retries (bot.slack_calls).
        retry_handlers=[],
    )
    identity = await identify(client)
    async with Agent.open(
        settings, instrumentation=Instrumentation(observer=metrics, tracer=tracer)
    ) as agent:
        await agent.warm_up()
        store = BotStore(agent.database)
        await schema.upgrade(agent.database)
        limiter = SlackRateLimiter(store=budget_store(agent.database, identity.team_id))
        runtime = BotRuntime(
            settings=settings,
            agent=agent,
            client=client,
            identity=identity,
            store=store,
            limiter=limiter,
            slack=SlackCalls(client, limiter),
            approvers=ApproverPolicy(
                client, settings.approvers, allow_self_approval=settings.allow_self_approval
            ),
            metrics=metrics,
            tracer=tracer,
        )
        signing_secret = settings.slack_signing_secret
        bolt_logger = logging.getLogger("bot.bolt")
        bolt_logger.addFilter(_BoltTokenNotice())
        app = AsyncApp(
            client=client,
            authorize=_known_identity(identity, settings.slack_bot_token.get_secret_value()),
            signing_secret=signing_secret.get_secret_value() if signing_secret else None,
            request_verification_enabled=mode == "http",
            logger=bolt_logger,
            process_before_response=True,
        )
        conversations = Conversations(runtime)
        home = AppHome(runtime, conversations.pauses)
        conversations.pauses.on_change(home.changed)
        handlers = listeners.Handlers(
            messages=MessageHandler(runtime, conversations),
            clicks=ClickHandler(runtime, conversations, home),
            home=home,
            agent_view=AgentView(runtime, conversations),
            feedback=FeedbackClicks(runtime),
        )
        listeners.register(app, handlers)
        try:
            yield Bot(app, runtime, conversations, mode)
        finally:
            await limiter.aclose()  # withdraw this replica's count of streaming answers


def _known_identity(identity: BotIdentity, token: str) -> Callable[..., Awaitable[AuthorizeResult]]:
    """Bolt's default authorization calls auth.test per early request, uncached while they
    overlap: a burst right after start-up drew 429s and lost events. We already know who we are.
    """
    result = AuthorizeResult(
        enterprise_id=None,
        team_id=identity.team_id,
        bot_user_id=identity.user_id,
        bot_id=identity.bot_id,
        bot_token=token,
    )

    async def authorize(**_: Any) -> AuthorizeResult:
        return result

    return authorize


class _BoltTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client and `authorize` win over
    it; they do, by design, so the notice would only alarm whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("`token`" in message and ("unused" in message or "ignored" in message))
