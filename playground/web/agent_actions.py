"""What people do on Slack's agent surface from the page: open the App Home tab, click in it,
vote on an answer with 👍 / 👎, press Slack's own Stop. Each goes through the emulator's helper,
so the bot receives exactly what Slack would send it."""

from __future__ import annotations

import contextlib

from aiohttp import web

from playground.slack import SlackEmulator
from playground.web.actions import (
    Refused,
    answer,
    emulator_refusals,
    json_body,
    person,
    text_field,
)
from playground.web.agent_snapshot import home

HOME_PUBLISH_WAIT = 3.0
"""Seconds to wait for the bot to publish Home after `app_home_opened` (it does so after the
ack, as Bolt runs listeners after acking events)."""
HOME_TABS = ("home", "messages")


class AgentActions:
    """The page's POST endpoints for the agent surface; each names the person acting."""

    def __init__(self, slack: SlackEmulator) -> None:
        self._slack = slack

    async def open_home(self, request: web.Request) -> web.Response:
        """Open the app's Home tab (`app_home_opened`); answers with the view the bot published
        (or its last one, or null, if it publishes nothing in time)."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        tab = body.get("tab", "home")
        if tab not in HOME_TABS:
            raise Refused(f"tab must be one of {', '.join(HOME_TABS)}")
        before = self._slack.home_publishes(user)
        with emulator_refusals():
            delivery = await self._slack.open_home(user, str(tab))
        if tab == "home" and delivery.ok:
            with contextlib.suppress(AssertionError):  # the bot publishes nothing: show the last
                await self._slack.wait_until(
                    lambda: self._slack.home_publishes(user) > before, HOME_PUBLISH_WAIT
                )
        return web.json_response({**answer(delivery), "view": home(self._slack, user)})

    async def click_home(self, request: web.Request) -> web.Response:
        """Click a button in the person's Home tab (block_actions with the view, no message)."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        value = body.get("value")
        with emulator_refusals():
            delivery = await self._slack.click_home(
                user,
                text_field(body, "action_id"),
                value=value if isinstance(value, str) else None,
            )
        return web.json_response(answer(delivery))

    async def feedback(self, request: web.Request) -> web.Response:
        """Press 👍 (`positive`) or 👎 on a message's feedback buttons."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        positive = body.get("positive")
        if not isinstance(positive, bool):
            raise Refused("positive is required (true for 👍, false for 👎)")
        with emulator_refusals():
            delivery = await self._slack.click_feedback(
                user, text_field(body, "channel"), text_field(body, "ts"), positive=positive
            )
        return web.json_response(answer(delivery))

    async def stop(self, request: web.Request) -> web.Response:
        """Slack's own Stop on a thread's agent session: its streams stop, the bot is told."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        with emulator_refusals():
            delivery = await self._slack.stop_session(
                user, text_field(body, "channel"), text_field(body, "thread_ts")
            )
        return web.json_response(answer(delivery))
