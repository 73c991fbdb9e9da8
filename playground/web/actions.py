"""What people do on the page (post, click, submit or cancel a modal), done through the Slack
emulator's own helpers, so the bot receives exactly what Slack would send it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from playground.slack import Delivery, SlackEmulator
from playground.web.composer import mentions_to_markup
from playground.web.snapshot import JSONObject

MAX_MESSAGE_CHARS = 40_000  # what Slack's composer accepts


class Refused(Exception):
    """A request the page should not have made (unknown person, empty message…): a 4xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class PageActions:
    """The page's POST endpoints; each names the person acting, as any tab may be anyone."""

    def __init__(self, slack: SlackEmulator) -> None:
        self._slack = slack

    async def say(self, request: web.Request) -> web.Response:
        """Post a message (a thread reply with `thread_ts`) and deliver its events to the bot."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        channel = text_field(body, "channel")
        text = text_field(body, "text").strip()
        if not text or len(text) > MAX_MESSAGE_CHARS:
            raise Refused(f"a message has 1 to {MAX_MESSAGE_CHARS:,} characters")
        thread_ts = body.get("thread_ts")
        if thread_ts is not None and not isinstance(thread_ts, str):
            raise Refused("thread_ts must be a string")
        with emulator_refusals():
            message, deliveries = await self._slack.user_says(
                user,
                channel,
                mentions_to_markup(text, self._slack.workspace),
                thread_ts=thread_ts,
            )
        return web.json_response({"ts": message.ts, "deliveries": [answer(d) for d in deliveries]})

    async def click(self, request: web.Request) -> web.Response:
        """Click a button on a message (or on an ephemeral message) the person can see."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        value = body.get("value")
        with emulator_refusals():
            delivery = await self._slack.click(
                user,
                text_field(body, "channel"),
                text_field(body, "ts"),
                text_field(body, "action_id"),
                value=value if isinstance(value, str) else None,
            )
        return web.json_response(answer(delivery))

    async def submit(self, request: web.Request) -> web.Response:
        """Press a modal's Submit; answers whether it closed and the bot's per-field errors."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        view_id = request.match_info["view_id"]
        values = _view_values(body.get("values"))
        with emulator_refusals():
            delivery = await self._slack.submit_view(user, view_id, values)
        entry = self._slack.view(view_id)
        return web.json_response(
            {**answer(delivery), "open": entry["open"], "errors": entry["errors"] or {}}
        )

    async def close(self, request: web.Request) -> web.Response:
        """Press a modal's Cancel."""
        body = await json_body(request)
        user = person(self._slack, body.get("user"))
        with emulator_refusals():
            delivery = await self._slack.close_view(user, request.match_info["view_id"])
        return web.json_response(answer(delivery) if delivery else {"ok": True})


async def json_body(request: web.Request) -> JSONObject:
    """The request's JSON object. Only `application/json` is accepted, which a page on another
    site cannot send here without the browser asking first (and it is not allowed)."""
    if request.content_type != "application/json":
        raise Refused("send JSON (Content-Type: application/json)", status=415)
    try:
        body = await request.json()
    except ValueError:
        raise Refused("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object")
    return body


def person(slack: SlackEmulator, user: object) -> str:
    """A person of the workspace (not the bot), by id."""
    users = slack.workspace.users
    if not isinstance(user, str) or user not in users or users[user].is_bot:
        people = sorted(u.id for u in users.values() if not u.is_bot)
        raise Refused(f"user must be one of {', '.join(people)}")
    return user


@contextlib.contextmanager
def emulator_refusals() -> Iterator[None]:
    """The emulator says "a person can't do that" (not a member, no such button) with
    AssertionError; here that is the page's mistake, not a crash."""
    try:
        yield
    except AssertionError as exc:
        raise Refused(str(exc)) from None


def text_field(body: JSONObject, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise Refused(f"{key} is required (a string)")
    return value


def _view_values(values: Any) -> dict[str, dict[str, Any]]:
    """`view.state.values`: block_id → action_id → the element's state."""
    if not isinstance(values, dict) or not all(
        isinstance(actions, dict) and all(isinstance(v, dict) for v in actions.values())
        for actions in values.values()
    ):
        raise Refused("values must look like view.state.values")
    return values


def answer(delivery: Delivery) -> JSONObject:
    """How the bot answered the delivery (Slack would show an error if it did not ack)."""
    return {"ok": delivery.ok, "status": delivery.status}
