"""Which Bolt listener handles what: one line each, no logic (house style)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot import cards
from bot.clicks import ClickHandler
from bot.messages import MessageHandler


def register(app: AsyncApp, messages: MessageHandler, clicks: ClickHandler) -> None:
    """Subscribe every event and action the manifest enables; unhandled ones would be retried."""
    app.event("app_mention")(messages.on_event)
    app.event("message")(messages.on_event)  # every subtype, so edits/deletions are acked too
    app.action(cards.APPROVE)(clicks.on_approve)
    app.action(cards.DENY)(clicks.on_deny)
    app.action(cards.EDIT)(clicks.on_edit)
    app.action(cards.VIEW_ARGUMENTS)(clicks.on_view_arguments)
    app.action(cards.STOP)(clicks.on_stop)
    app.action(cards.RETRY)(clicks.on_retry)
    app.view(cards.DENY_MODAL)(clicks.on_deny_submitted)
    app.view(cards.EDIT_MODAL)(clicks.on_edit_submitted)
