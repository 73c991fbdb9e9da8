"""The `/api` endpoints: runs and resumes that stream SSE, stop, a thread's state, pauses.

Every handler turns bad input into a 4xx with a JSON error; nothing here answers 500 for
something a client sent. Who the caller is comes from their bearer token (API_TOKENS), or, in
the playground (no tokens), from the `user` they name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from agent import (
    AgentEvent,
    Answer,
    Approve,
    Decision,
    Deny,
    Edit,
    InvalidArguments,
    Pause,
    ResumeRefused,
)
from bot.app import Bot
from bot.approvers import Action
from bot.clicks import REFUSALS
from http_api import sse, wire
from http_api.openapi import openapi_document

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")
PREFIX = "/api"
FOLLOW_POLL_SECONDS = 1.0
"""How often a stream whose run is not in this process checks whether it ended elsewhere."""
DECISIONS = ("approve", "deny", "edit", "answer")
REFUSED = {**REFUSALS, "unknown_thread": "There is no conversation with that id."}
"""The same words as a refused click, except where a button is not what the caller has."""


class ApiRoutes:
    """The handlers, bound to one running bot."""

    def __init__(self, bot: Bot, draining: asyncio.Event, *, open_access: bool) -> None:
        self._bot = bot
        self._draining = draining
        self._runtime = bot.runtime
        self._conversations = bot.conversations
        self._users = bot.runtime.settings.api_users()
        self._open = open_access and not self._users

    @property
    def enabled(self) -> bool:
        """Tokens are configured, or this is the playground."""
        return self._open or bool(self._users)

    def add_to(self, app: web.Application) -> None:
        """Register the routes (none when the API is off: every /api path is then a 404)."""
        if not self.enabled:
            return
        app.router.add_get(f"{PREFIX}/openapi.json", self.openapi)
        guarded = self._guarded
        app.router.add_post(f"{PREFIX}/threads/{{thread_id}}/runs", guarded(self.run))
        app.router.add_post(f"{PREFIX}/threads/{{thread_id}}/resume", guarded(self.resume))
        app.router.add_post(f"{PREFIX}/threads/{{thread_id}}/stop", guarded(self.stop))
        app.router.add_get(f"{PREFIX}/threads/{{thread_id}}/events", guarded(self.events))
        app.router.add_get(f"{PREFIX}/threads/{{thread_id}}", guarded(self.thread))
        app.router.add_get(f"{PREFIX}/pauses", guarded(self.pauses))

    # --- endpoints ---------------------------------------------------------------------------

    async def openapi(self, _: web.Request) -> web.Response:
        """The OpenAPI document of these endpoints."""
        return web.json_response(openapi_document())

    async def run(
        self, request: web.Request, user: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        """Start a turn and stream it; ends at `done`, `error` or a pause."""
        thread_id = request.match_info["thread_id"]
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            return wire.error(422, "invalid_input", "`input` must be a non-empty string.")
        if await self._runtime.store.conversation(thread_id) is not None:
            return wire.error(
                409, "slack_thread", "This conversation lives in a Slack thread; write there."
            )
        pause = await self._runtime.agent.pending(thread_id)
        if pause is not None:
            return wire.error(
                409,
                "paused",
                "The conversation waits on a decision; resume it first.",
                pause=await self._pause_json(pause),
            )
        item_id = await self._conversations.accept_api_message(thread_id, user, text.strip())
        return await self._stream(request, thread_id, item_id)

    async def resume(
        self, request: web.Request, user: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        """Decide a pause as a click would, then stream the continuation."""
        thread_id = request.match_info["thread_id"]
        interrupt_id, kind = body.get("interrupt_id"), body.get("decision")
        if not isinstance(interrupt_id, str) or not interrupt_id:
            return wire.error(422, "invalid_input", "`interrupt_id` must be a string.")
        if kind not in DECISIONS:
            return wire.error(422, "invalid_input", f"`decision` must be one of {DECISIONS}.")
        decision = _decision(kind, body)
        if isinstance(decision, web.Response):
            return decision
        pause = await self._runtime.agent.pending(thread_id)
        if pause is None or pause.interrupt_id != interrupt_id:
            return await self._not_pending(thread_id, interrupt_id)
        refusal = await self._may_decide(user, pause, decision)
        if refusal is not None:
            return wire.error(403, "not_allowed", refusal)
        if isinstance(decision, Edit):
            try:
                self._runtime.agent.validate_arguments(pause.tool or "", decision.arguments)
            except InvalidArguments as invalid:
                return wire.error(422, "invalid_arguments", str(invalid), fields=invalid.errors)
        taken = await self._conversations.accept_decision(thread_id, interrupt_id, decision, user)
        if isinstance(taken, ResumeRefused):
            return wire.error(409, taken.reason, REFUSED.get(taken.reason, str(taken)))
        stream = sse.EventStream(request, sse.KEEPALIVE_SECONDS)
        await stream.open()
        if taken.item_id is None:  # counted toward a quorum: nothing runs yet
            await stream.send(
                "approval_counted",
                {
                    "approved_by": list(taken.tally.approved_by),
                    "needed": taken.tally.needed,
                },
            )
            return await stream.close()
        return await self._follow(stream, thread_id, taken.item_id)

    async def stop(self, request: web.Request, user: str, _: dict[str, Any]) -> web.Response:
        """Stop the answer running in the conversation (its starter or an approver may)."""
        refusal = await self._conversations.stop_thread(request.match_info["thread_id"], user)
        if refusal is None:
            return web.json_response({"stopping": True}, status=202)
        status = 409 if refusal.startswith("Nothing") or "finished" in refusal else 403
        return wire.error(status, "not_running" if status == 409 else "not_allowed", refusal)

    async def events(self, request: web.Request, _: str, __: dict[str, Any]) -> web.StreamResponse:
        """Re-attach: the running turn from its first event, or what the thread waits on."""
        thread_id = request.match_info["thread_id"]
        running = self._conversations.feed.current(thread_id)
        if running is not None:
            return await self._stream(request, thread_id, running)
        if not await self._exists(thread_id):
            return wire.error(404, "unknown_thread", REFUSED["unknown_thread"])
        stream = sse.EventStream(request, sse.KEEPALIVE_SECONDS)
        await stream.open()
        pause = await self._send_state(stream, thread_id)
        if pause is not None:
            await self._after(stream, thread_id, pause)
        return await stream.close()

    async def _after(self, stream: sse.EventStream, thread_id: str, pause: Pause) -> None:
        """Stay with a paused thread until it moves on (a decision here, in Slack or on
        another replica), then stream what follows: the continuation, or the new state."""
        feed = self._conversations.feed
        while not stream.gone:
            try:
                item_id = await self._unless_draining(feed.next_start(thread_id))
            except TimeoutError:
                if self._draining.is_set():
                    return  # a deploy: the client re-attaches to the next process
                running = feed.current(thread_id)
                if running is not None:  # the continuation began between two looks
                    await self._follow(stream, thread_id, running, close=False)
                    return
                now = await self._runtime.agent.pending(thread_id)
                if now is not None and now.interrupt_id == pause.interrupt_id:
                    continue
                await self._send_state(stream, thread_id)  # it moved on elsewhere
                return
            await self._follow(stream, thread_id, item_id, close=False)
            return

    async def thread(self, request: web.Request, _: str, __: dict[str, Any]) -> web.Response:
        """The conversation's messages and the pause it waits on, if any."""
        thread_id = request.match_info["thread_id"]
        if not await self._exists(thread_id):
            return wire.error(404, "unknown_thread", REFUSED["unknown_thread"])
        agent = self._runtime.agent
        pause = await agent.pending(thread_id)
        return web.json_response(
            {
                "thread_id": thread_id,
                "messages": await agent.history(thread_id),
                "pending": await self._pause_json(pause) if pause else None,
                "running": self._conversations.feed.current(thread_id) is not None,
            },
            dumps=_dumps,
        )

    async def pauses(self, _: web.Request, user: str, __: dict[str, Any]) -> web.Response:
        """Pending pauses the caller may decide, newest first."""
        mine = []
        for pause in reversed(await self._runtime.agent.waiting_pauses()):
            if await self._may_decide(user, pause, Approve() if pause.kind == "approval" else None):
                continue
            mine.append(await self._pause_json(pause))
        return web.json_response({"pauses": mine}, dumps=_dumps)

    # --- streaming ---------------------------------------------------------------------------

    async def _stream(
        self, request: web.Request, thread_id: str, item_id: int
    ) -> web.StreamResponse:
        stream = sse.EventStream(request, sse.KEEPALIVE_SECONDS)
        await stream.open()
        return await self._follow(stream, thread_id, item_id)

    async def _follow(
        self, stream: sse.EventStream, thread_id: str, item_id: int, *, close: bool = True
    ) -> web.StreamResponse:
        """The item's run, event by event, to its end. If it runs on another replica (or ran
        before this stream began), the thread's state says how it ended."""
        seen = False
        async for event in self._events_of(thread_id, item_id):
            if stream.gone:
                break  # the run goes on; the client can re-attach
            seen = True
            if wire.announces_pause(event):
                await self._send_state(stream, thread_id)
                break
            shown = wire.sse_event(event)
            if shown is not None:
                await stream.send(*shown)
                if shown[0] in wire.ENDS_A_STREAM:
                    break
        if not seen and not stream.gone and not self._draining.is_set():
            await self._send_state(stream, thread_id)
        return await stream.close() if close else stream.response

    async def _events_of(self, thread_id: str, item_id: int) -> AsyncIterator[AgentEvent]:
        """The feed's events of the item's run; ends when the item is finished elsewhere."""
        queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in self._conversations.feed.watch(thread_id, item_id):
                    await queue.put(event)
            finally:
                await queue.put(None)

        pumping = asyncio.create_task(pump(), name=f"follow item {item_id}")
        started = False
        try:
            while True:
                try:
                    event = await self._unless_draining(queue.get())
                except TimeoutError:
                    if self._draining.is_set() and not started:
                        return  # a deploy: it will run in the next process
                    if started:
                        continue
                    status = await self._conversations.item_status(item_id)
                    if status in ("done", "held", None) and (
                        self._conversations.feed.current(thread_id) != item_id
                    ):
                        return  # it ran elsewhere, or before we looked
                    continue
                if event is None:
                    return
                started = True
                yield event
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping

    async def _unless_draining(self, waited: Awaitable[T]) -> T:
        """`waited`'s result; TimeoutError after FOLLOW_POLL_SECONDS, or at once when the
        bot starts draining (a stream must not outlive the database it reads)."""
        task = asyncio.ensure_future(waited)
        draining = asyncio.ensure_future(self._draining.wait())
        try:
            await asyncio.wait(
                {task, draining}, timeout=FOLLOW_POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            draining.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise TimeoutError
        return task.result()

    async def _send_state(self, stream: sse.EventStream, thread_id: str) -> Pause | None:
        """What the thread waits on now (returned), or how its last turn ended."""
        agent = self._runtime.agent
        pause = await agent.pending(thread_id)
        if pause is not None:
            name = "approval_requested" if pause.kind == "approval" else "question"
            await stream.send(name, await self._pause_json(pause))
            return pause
        history = await agent.history(thread_id)
        last = next((m for m in reversed(history) if m.get("role") == "assistant"), None)
        text = str(last.get("content") or "") if last else ""
        await stream.send("done", {"text": text, "stopped": False, "replayed": True})
        return None

    # --- checks ------------------------------------------------------------------------------

    async def _may_decide(self, user: str, pause: Pause, decision: Decision | None) -> str | None:
        """Why `user` may not take `decision` on the pause (None: they may), as in Slack."""
        if pause.kind == "question":
            if not isinstance(decision, Answer | None):
                return "This pause is a question: answer it."
            anyone = self._runtime.settings.ask_human_responders == "anyone"
            if anyone or user == pause.requested_by:
                return None
            return f"Only <@{pause.requested_by}> may answer this question."
        if isinstance(decision, Answer):
            return "This pause waits for an approval, not an answer."
        action: Action = "deny" if isinstance(decision, Deny) else "approve"
        escalated = await self._conversations.pauses.escalated(pause)
        verdict = await self._runtime.approvers.check(
            user, pause.requested_by, action, pause.rule, escalated=escalated
        )
        return None if verdict.allowed else verdict.explanation

    async def _not_pending(self, thread_id: str, interrupt_id: str) -> web.Response:
        if not await self._exists(thread_id):
            return wire.error(404, "unknown_thread", REFUSED["unknown_thread"])
        decided = await self._runtime.store.decision_for(thread_id, interrupt_id)
        if decided is not None:
            action, actor = decided
            return wire.error(409, "already_handled", f"Already {action} by {actor}.")
        return wire.error(409, "stale", REFUSED["stale"])

    async def _exists(self, thread_id: str) -> bool:
        return bool(await self._runtime.agent.history(thread_id))

    async def _pause_json(self, pause: Pause) -> dict[str, Any]:
        runtime = self._runtime
        escalated = await self._conversations.pauses.escalated(pause)
        ttl = pause.rule.expires_after or runtime.settings.approval_ttl_seconds
        tally = await runtime.agent.tally(pause) if pause.kind == "approval" else None
        who = runtime.approvers.who(pause.rule, escalated=escalated)
        if pause.kind == "question":
            anyone = runtime.settings.ask_human_responders == "anyone"
            who = () if anyone else (pause.requested_by,)
        return wire.pause_json(pause, who, pause.created_at + ttl, tally)

    # --- who is asking -----------------------------------------------------------------------

    def _guarded(
        self, handler: Callable[[web.Request, str, dict[str, Any]], Awaitable[web.StreamResponse]]
    ) -> Handler:
        """Authenticate, read the JSON body, answer 4xx for what cannot be read."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            body: dict[str, Any] = {}
            if request.method == "POST" and request.can_read_body:
                try:
                    parsed = json.loads(await request.read() or b"{}")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return wire.error(400, "invalid_json", "The body is not JSON.")
                if not isinstance(parsed, dict):
                    return wire.error(400, "invalid_json", "The body must be a JSON object.")
                body = parsed
            user = self._caller(request, body)
            if user is None:
                response = wire.error(401, "unauthorized", "Send `Authorization: Bearer <token>`.")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            if isinstance(user, web.Response):
                return user
            return await handler(request, user, body)

        return guarded

    def _caller(self, request: web.Request, body: dict[str, Any]) -> str | web.Response | None:
        if self._open:
            named = body.get("user") or request.query.get("user")
            if not isinstance(named, str) or not named:
                return wire.error(
                    422, "invalid_input", "Name who you are: `user` (the API has no tokens here)."
                )
            return named
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        found = None
        for known, user in self._users.items():  # every comparison, in constant time
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                found = user
        return found


def _decision(kind: str, body: dict[str, Any]) -> Decision | web.Response:
    if kind == "approve":
        return Approve()
    if kind == "deny":
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            return wire.error(422, "invalid_input", "`reason` must be a string.")
        return Deny(reason.strip() or None if reason else None)
    if kind == "edit":
        arguments = body.get("arguments")
        if not isinstance(arguments, dict):
            return wire.error(422, "invalid_input", "`arguments` must be a JSON object.")
        return Edit(arguments)
    answer = body.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        return wire.error(422, "invalid_input", "`answer` must be a non-empty string.")
    return Answer(answer.strip())


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
