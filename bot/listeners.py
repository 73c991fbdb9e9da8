"""Which Bolt listener handles what: one line each, every one behind `guarded` (house style).

Listeners run before Slack is acked (`process_before_response`, bot/app.py). A listener that
raises before `ack()` answers 500 over HTTP and nothing at all over Socket Mode, where Slack
waits 3 s, retries, and shows the clicker an error. A payload we cannot read would fail the
same way on every retry, so `guarded` acks it and logs one line instead; any other error is
ours, and is left to Bolt (500 and a traceback: Slack retries an event we failed to store).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot import cards, feedback, log_context
from bot.agent_view import AgentView
from bot.clicks import ClickHandler
from bot.home_refresh import AppHome, home_tab
from bot.messages import MessageHandler
from bot.request_checks import PayloadError, describe

logger = logging.getLogger(__name__)

Body = dict[str, Any]
Listener = Callable[[AsyncAck, Body], Awaitable[None]]

MESSAGE_EVENTS = ("app_mention", "message")
EVENT_TYPES = (*MESSAGE_EVENTS, "app_home_opened", "agent_session_stopped")
"""The event types the manifest subscribes to (message.* arrive as `message`)."""
ANYTHING = re.compile(".*")


@dataclass(frozen=True)
class Handlers:
    """Everything that answers Slack's requests, built once by bot.app."""

    messages: MessageHandler
    clicks: ClickHandler
    home: AppHome
    agent_view: AgentView
    feedback: feedback.FeedbackClicks


def register(app: AsyncApp, handlers: Handlers) -> None:
    """Subscribe every event and action the manifest enables; unhandled ones would be retried."""
    clicks, agent_view = handlers.clicks, handlers.agent_view
    for event_type in MESSAGE_EVENTS:  # every message subtype, so edits/deletions are acked too
        app.event(event_type)(guarded(handlers.messages.on_event))
    app.event("app_home_opened", matchers=[home_tab])(guarded(handlers.home.on_opened))
    app.event("app_home_opened")(guarded(agent_view.on_messages_opened))  # the Messages tab
    app.event("agent_session_stopped")(guarded(agent_view.on_session_stopped))
    app.action(cards.APPROVE)(guarded(clicks.on_approve))
    app.action(cards.DENY)(guarded(clicks.on_deny))
    app.action(cards.EDIT)(guarded(clicks.on_edit))
    app.action(cards.VIEW_ARGUMENTS)(guarded(clicks.on_view_arguments))
    app.action(cards.STOP)(guarded(clicks.on_stop))
    app.action(cards.RETRY)(guarded(clicks.on_retry))
    app.action(feedback.FEEDBACK)(guarded(handlers.feedback.on_click))
    app.view(cards.DENY_MODAL)(guarded(clicks.on_deny_submitted))
    app.view(cards.EDIT_MODAL)(guarded(clicks.on_edit_submitted))
    register_fallbacks(app)
    app.error(_failed)


def register_fallbacks(app: AsyncApp) -> None:
    """Registered last, so they see only what nothing above matched, and ack it.

    Bolt answers 404 to a request no listener takes: over HTTP Slack counts that as a failed
    delivery (an event is retried, a click shows an error), over Socket Mode nothing is sent
    at all. A button of an older version, an unknown action or modal, or an event type we did
    not subscribe to changes nothing here, so it is acked with one line in the log.
    """
    app.event(ANYTHING)(guarded(_ignore))
    app.action(ANYTHING)(guarded(_ignore))
    app.view(ANYTHING)(guarded(_ignore))
    app.view_closed(ANYTHING)(guarded(_ignore))


def guarded(listener: Listener) -> Listener:
    """`listener`, acking if it did not, with a payload it cannot read as one warning line.
    Whatever it logs, and the tasks it starts, carry the request's id (bot.log_context)."""

    async def run(ack: AsyncAck, body: Body) -> None:
        with log_context.working_on(event=request_id(body)):
            try:
                await listener(ack, body)
            except PayloadError as unreadable:
                logger.warning("ignored %s: %s", describe(body), unreadable)
            if ack.response is None:
                await ack()

    # Named after the listener for Bolt's logs; not functools.wraps: Bolt reads the arguments
    # to inject from the unwrapped function, and a bound method's would include `self`.
    run.__name__ = run.__qualname__ = getattr(listener, "__name__", "listener")
    return run


def request_id(body: Body) -> str | None:
    """Slack's id for the request: an event's `event_id`, a click's or a modal's `trigger_id`."""
    value = body.get("event_id") or body.get("trigger_id")
    return value if isinstance(value, str) else None


async def _failed(error: Exception, body: Body) -> None:
    """A listener raised something other than PayloadError (ours to fix): one line with the
    traceback and the request's id, where Bolt's own line would have neither id. Bolt still
    answers 500, so Slack retries the event."""
    with log_context.working_on(event=request_id(body)):
        logger.error("failed to handle %s", describe(body), exc_info=error)


async def _ignore(ack: AsyncAck, body: Body) -> None:
    """Nothing to do: `guarded` acks."""
    logger.info("acked %s that nothing here handles", describe(body))
