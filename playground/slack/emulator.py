"""SlackEmulator: the workspace, the Web API server and the Slack -> bot delivery in one object.

It runs as a real aiohttp server on 127.0.0.1 (random port) inside the test's event loop. The bot
talks to `api_url` with the real slack_sdk client; the test plays the people (`user_says`,
`click`, `submit_view`) and asserts on what they would see (`thread`, `bot_messages`, `ephemerals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from .delivery import EnvelopeType, HttpDelivery, SocketHub, form_payload, json_body
from .interactions import apply_view_ack, find_button, find_feedback
from .limits import Drop, Fault, Faults, RateLimiter, RetryWindows
from .methods import Hooks, Methods
from .payloads import (
    agent_session_stopped_event,
    app_home_opened_event,
    app_mention_event,
    block_actions,
    button_action,
    echo_event,
    escape_text,
    event_callback,
    feedback_action,
    home_block_actions,
    mentions,
    message_event,
    rich_text_blocks,
    view_closed,
    view_submission,
)
from .records import BotChange, Call, Delivery, JSONObject, Message
from .web_api import Credentials, WebApi
from .workspace import Channel, ResponseUrl, Workspace, default_workspace

log = logging.getLogger(__name__)


class SlackEmulator:
    """A Slack workspace with one bot, reachable over the Web API (see the package docstring)."""

    def __init__(
        self,
        *,
        team_id: str = "T0001",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_token: str = "xoxb-test-token",
        signing_secret: str = "test-signing-secret",
        app_token: str = "xapp-test-token",
        enforce_rate_limits: bool = False,
        echo_bot_messages: bool = False,
        app_id: str = "A0001",
        ack_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.echo_bot_messages = echo_bot_messages
        self.clock = clock
        self.workspace: Workspace = default_workspace(
            team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id
        )
        self.calls: list[Call] = []
        self.deliveries: list[tuple[JSONObject, Delivery]] = []
        """Every payload delivered to the bot, with its answer (events, clicks, echoes)."""
        self.limiter = RateLimiter()
        self.faults = Faults()
        self.retry_windows = RetryWindows()
        self._http = HttpDelivery(signing_secret, ack_timeout)
        self._socket = SocketHub(app_id, ack_timeout, self._notify)
        self.methods = Methods(self.workspace, Hooks(self._on_bot_message, self._socket_url))
        self._web_api = WebApi(
            self.methods,
            credentials=Credentials(bot_token, app_token),
            clock=clock,
            limiter=self.limiter,
            faults=self.faults,
            windows=self.retry_windows,
            enforce_rate_limits=enforce_rate_limits,
            record=self._record,
        )
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._event_ids = itertools.count(1)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 with a port the OS picks."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._web_api.handle)
        app.router.add_post("/actions/{team}/{token}", self._web_api.handle_response_url)
        app.router.add_get("/socket", self._socket.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._origin = f"http://{host}:{port}"
        await self._http.start()

    async def close(self) -> None:
        """Stop background deliveries, drop websockets, stop the server.

        Close a Socket Mode handler before this, or it will keep trying to reconnect.
        """
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._http.close()

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The server's origin, e.g. "http://127.0.0.1:54321"."""
        if self._origin is None:
            raise RuntimeError("start() the emulator first")
        return self._origin

    @property
    def api_url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)`, with the trailing slash."""
        return f"{self.url}/api/"

    def bot_client(self) -> AsyncWebClient:
        """A Web API client with the bot's token, aimed at this emulator."""
        return AsyncWebClient(token=self.bot_token, base_url=self.api_url)

    @property
    def socket_connected(self) -> bool:
        """Whether a Socket Mode client is connected now."""
        return self._socket.connected

    @property
    def socket_connects(self) -> int:
        """How many Socket Mode connections were accepted so far (reconnects included)."""
        return self._socket.accepted

    @property
    def enforce_rate_limits(self) -> bool:
        """Whether tier limits apply (faults from fail_next always do); can be switched live."""
        return self._web_api.enforce_rate_limits

    @enforce_rate_limits.setter
    def enforce_rate_limits(self, value: bool) -> None:
        self._web_api.enforce_rate_limits = value

    # ---- what happened ---------------------------------------------------------------------

    @property
    def views(self) -> list[JSONObject]:
        """Modals the bot opened, one record each (updated in place).

        Keys: view_id, view (current, as Slack echoes it), user, trigger_id, state (last
        submitted values), open, errors (from `response_action: errors`), versions.
        """
        return self.workspace.views

    @property
    def calls_inside_retry_after(self) -> int:
        """Calls made to a method (per channel for chat.postMessage and
        assistant.threads.setStatus) inside an open 429 window."""
        return self.retry_windows.calls_inside

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def message(self, channel: str, ts: str) -> Message:
        """Any message, deleted ones included; fails loudly when there is none."""
        message = self.workspace.messages.get((channel, ts))
        if message is None:
            raise KeyError(f"no message {ts} in {channel}")
        return message

    def messages(self, channel: str) -> list[Message]:
        """Every message in a conversation (threads included) in ts order, not deleted."""
        return [
            m for (c, _), m in self.workspace.messages.items() if c == channel and not m.deleted
        ]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Parent and replies in ts order, not deleted."""
        return self.workspace.thread(channel, thread_ts)

    def bot_messages(self, channel: str, thread_ts: str | None = None) -> list[Message]:
        """The bot's live messages in a conversation, or only in one thread (parent included)."""
        pool = self.messages(channel) if thread_ts is None else self.thread(channel, thread_ts)
        return [m for m in pool if m.bot_id == self.bot_id]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[JSONObject]:
        """Ephemeral messages (chat.postEphemeral and response_url), not deleted."""
        return [
            e
            for e in self.workspace.ephemerals
            if not e["deleted"]
            and (channel is None or e["channel"] == channel)
            and (user is None or e["user"] == user)
        ]

    def view(self, view_id: str) -> JSONObject:
        """A modal's record by id (see `views`)."""
        return self.workspace.find_view(view_id)

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every change (a call, a message, a delivery, a modal); returns
        a function that unsubscribes. For watchers such as a live page; keep listeners cheap."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ---- workspace setup -------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, is_bot: bool = False) -> None:
        self.workspace.add_user(user_id, name, is_bot=is_bot)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        kind: Literal["channel", "group", "im"] = "channel",
        members: list[str] | None = None,
    ) -> None:
        """Members default to every known user (channel/group) or just the bot (im)."""
        self.workspace.add_channel(channel_id, name, kind=kind, members=members)

    def add_usergroup(self, group_id: str, handle: str, members: list[str]) -> None:
        self.workspace.add_usergroup(group_id, handle, members)

    def join(self, channel: str, user: str) -> None:
        """Add someone (or the bot, to receive its events) to a conversation."""
        members = self._channel(channel).members
        if user not in members:
            members.append(user)

    # ---- faults and limits -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        drop: Drop | None = None,
    ) -> None:
        """Make the next `times` calls to `method` fail (429s carry `Retry-After`).

        With `drop`, the connection is closed with no HTTP answer instead (the client raises
        `aiohttp.ServerDisconnectedError`; `error`, `status` and `retry_after` are ignored):
        `drop="before"` Slack never applies the call; `drop="after"` it does (the message is
        posted or edited) and only the answer is lost, the case where a blind retry doubles a
        post. Either way the call is recorded with status 0 and error "connection_dropped".
        """
        self.faults.add(method, Fault(error, status, retry_after, drop), times)

    # ---- Slack -> bot ----------------------------------------------------------------------

    def deliver_to(self, *request_urls: str) -> None:
        """Deliver events and interactions over HTTP to this URL (Bolt's /slack/events); to
        several (replicas), each request goes to the next in turn."""
        self._http.request_urls = list(request_urls)

    @property
    def socket_connections(self) -> int:
        """Open Socket Mode connections (each replica in Socket Mode opens its own)."""
        return self._socket.open_connections

    async def wait_for_socket(self, timeout: float = 5) -> None:
        """Wait until a Socket Mode client has connected and been sent `hello`."""
        await self.wait_until(lambda: self.socket_connected, timeout)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's `disconnect` frame; a Socket Mode client should reconnect."""
        await self._socket.disconnect(reason)

    async def user_says(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        deliver: bool = True,
    ) -> tuple[Message, list[Delivery]]:
        """Post a person's message (`text` in Slack's wire syntax) and deliver its events.

        In a channel or group where the bot is mentioned, `app_mention` and `message` are both
        delivered (concurrently, different event_ids); otherwise only `message`. Nothing is
        delivered where the bot is not a member, or with `deliver=False` (seeding history).
        """
        conv = self._channel(channel)
        if user not in self.workspace.users or user not in conv.members:
            raise AssertionError(f"{user} is not a member of {channel}")
        if thread_ts is not None:
            parent = self.workspace.find(conv.id, thread_ts)
            if parent is None:
                raise AssertionError(f"no thread {thread_ts} in {channel} to reply to")
            thread_ts = parent.thread_ts or parent.ts
        wire = escape_text(text)
        message = self.workspace.post(
            conv.id,
            user=user,
            bot_id=None,
            text=wire,
            blocks=rich_text_blocks(wire, secrets.token_urlsafe(3)),
            thread_ts=thread_ts,
            at=self.clock(),
        )
        self._notify()
        if not deliver or self.bot_user_id not in conv.members:
            return message, []
        events = [message_event(self.workspace, message, conv)]
        if conv.kind != "im" and mentions(wire, self.bot_user_id):
            events.insert(0, app_mention_event(self.workspace, message))
        deliveries = await asyncio.gather(*(self.deliver_event(e) for e in events))
        return message, list(deliveries)

    async def deliver_event(
        self,
        event: JSONObject,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> Delivery:
        """Wrap `event` in an event_callback envelope and deliver it (a retry if retry_num)."""
        envelope = event_callback(self.workspace, event, event_id or self.new_event_id())
        return await self._deliver("events_api", envelope, retry_num, retry_reason)

    async def deliver_interactive(self, payload: JSONObject) -> Delivery:
        """Deliver a hand-built interaction payload (form-encoded, or `interactive` envelope)."""
        return await self._deliver("interactive", payload)

    async def click(
        self,
        user: str,
        channel: str,
        message_ts: str,
        action_id: str,
        *,
        value: str | None = None,
    ) -> Delivery:
        """Click a button the message shows now (`value` picks among same-action_id buttons)."""

        def pick(shown: list[JSONObject], where: str) -> JSONObject:
            button, block_id = find_button(shown, action_id, value, where=where)
            return button_action(button, block_id)

        return await self._click_message(user, channel, message_ts, pick)

    async def click_feedback(
        self, user: str, channel: str, message_ts: str, *, positive: bool
    ) -> Delivery:
        """Press thumbs up (`positive`) or down on the message's feedback buttons."""

        def pick(shown: list[JSONObject], where: str) -> JSONObject:
            element, block_id = find_feedback(shown, where=where)
            return feedback_action(element, block_id, positive=positive)

        return await self._click_message(user, channel, message_ts, pick)

    async def _click_message(
        self,
        user: str,
        channel: str,
        message_ts: str,
        pick: Callable[[list[JSONObject], str], JSONObject],
    ) -> Delivery:
        """Deliver block_actions for a message click; `pick` finds the action in its blocks."""
        conv = self._channel(channel)
        if conv.kind != "channel" and user not in conv.members:
            raise AssertionError(f"{user} cannot see {channel}")
        target: Message | JSONObject | None = self.workspace.find(conv.id, message_ts)
        if target is None:
            target = next(
                (e for e in self.ephemerals(conv.id, user) if e["ts"] == message_ts), None
            )
        if target is None:
            raise AssertionError(f"no message {message_ts} in {channel} that {user} can see")
        shown = target.blocks if isinstance(target, Message) else target["blocks"]
        action = pick(shown, f"{channel}/{message_ts}")
        now = self.clock()
        token = secrets.token_hex(12)
        self.workspace.response_urls[token] = ResponseUrl(
            channel=conv.id,
            message_ts=message_ts,
            user=user,
            is_ephemeral=not isinstance(target, Message),
            thread_ts=target.thread_ts if isinstance(target, Message) else target["thread_ts"],
            issued_at=now,
        )
        payload = block_actions(
            self.workspace,
            user=user,
            channel=conv,
            message=target,
            action=action,
            trigger_id=self.workspace.issue_trigger(user, now),
            response_url=f"{self.url}/actions/{self.workspace.team_id}/{token}",
        )
        return await self._deliver("interactive", payload)

    # ---- native streams, thread status, agent sessions ---------------------------------------

    @property
    def stream_lifetime(self) -> float:
        """Seconds a native stream lives after chat.startStream (Slack: about 300); settable."""
        return self.workspace.agent.stream_lifetime

    @stream_lifetime.setter
    def stream_lifetime(self, seconds: float) -> None:
        self.workspace.agent.stream_lifetime = seconds

    def is_streaming(self, channel: str, ts: str) -> bool:
        """Whether the message is a stream that was neither stopped nor expired."""
        return self.workspace.agent.live_stream(channel, ts, self.clock()) is not None

    async def stop_session(self, user: str, channel: str, thread_ts: str) -> Delivery:
        """Press Slack's own Stop button on the thread: every bot stream still going there
        stops, then `agent_session_stopped` is delivered with their ts."""
        conv = self._channel(channel)
        if user not in conv.members:
            raise AssertionError(f"{user} cannot see {channel}")
        now = self.clock()
        agent = self.workspace.agent
        stopped = []
        for stream in agent.streams.values():
            if (stream.channel, stream.thread_ts) == (conv.id, thread_ts) and stream.live(
                now, agent.stream_lifetime
            ):
                stream.stopped = True
                stopped.append(stream.ts)
        self._notify()
        event = agent_session_stopped_event(
            user=user, channel=conv.id, thread_ts=thread_ts, streams=stopped
        )
        return await self.deliver_event(event)

    def thread_status(self, channel: str, thread_ts: str) -> str | None:
        """The status line shown under the thread now (assistant.threads.setStatus), or None."""
        status = self.workspace.agent.statuses.get((channel, thread_ts))
        return status.current(self.clock()) if status is not None else None

    def status_history(self, channel: str, thread_ts: str) -> list[str]:
        """Every status the thread showed, in order; "" for each clear (by the bot, by a reply
        from the bot, or by the 2-minute timeout)."""
        status = self.workspace.agent.statuses.get((channel, thread_ts))
        if status is None:
            return []
        status.current(self.clock())  # apply a timeout that is due
        return list(status.history)

    def suggested_prompts(self, channel: str, thread_ts: str | None = None) -> list[JSONObject]:
        """The prompts last set with assistant.threads.setSuggestedPrompts ([] if none)."""
        entry = self.workspace.agent.prompts.get((channel, thread_ts))
        return copy.deepcopy(entry["prompts"]) if entry is not None else []

    def thread_title(self, channel: str, thread_ts: str) -> str | None:
        """The title set with assistant.threads.setTitle, or None."""
        return self.workspace.agent.titles.get((channel, thread_ts))

    def session(self, channel: str, thread_ts: str | None) -> JSONObject | None:
        """The agent session of a thread: {"status", "title", "history"}, or None."""
        session = self.workspace.agent.sessions.get((channel, thread_ts))
        return session.as_json() if session is not None else None

    # ---- App Home ----------------------------------------------------------------------------

    def home_view(self, user: str) -> JSONObject | None:
        """The Home tab the bot last published for `user` (views.publish), or None."""
        return self.workspace.agent.home_view(user)

    def home_publishes(self, user: str) -> int:
        """How many times the bot published `user`'s Home tab."""
        return self.workspace.agent.home_publishes.get(user, 0)

    async def open_home(self, user: str, tab: str = "home") -> Delivery:
        """Open the app's Home (or "messages") tab: delivers `app_home_opened`, whose channel
        is the person's DM with the bot (opened now if they had none, as Slack does)."""
        if user not in self.workspace.users:
            raise AssertionError(f"no user {user}")
        im = self.methods.im_with(user)
        view = self.workspace.agent.home_views.get(user) if tab == "home" else None
        event = app_home_opened_event(user=user, channel=im.id, tab=tab, view=view)
        return await self.deliver_event(event)

    async def click_home(self, user: str, action_id: str, *, value: str | None = None) -> Delivery:
        """Click a button in `user`'s current Home tab (no channel, message or response_url)."""
        view = self.workspace.agent.home_views.get(user)
        if view is None:
            raise AssertionError(f"the bot never published a Home tab for {user}")
        button, block_id = find_button(view["blocks"], action_id, value, where=f"{user}'s Home")
        payload = home_block_actions(
            self.workspace,
            user=user,
            view=view,
            action=button_action(button, block_id),
            trigger_id=self.workspace.issue_trigger(user, self.clock()),
        )
        return await self._deliver("interactive", payload)

    async def submit_view(
        self, user: str, view_id: str, values: dict[str, dict[str, Any]]
    ) -> Delivery:
        """Press Submit on an open modal; `values` is state.values. Applies the bot's ack."""
        try:
            entry = self.workspace.find_view(view_id)
        except KeyError:
            raise AssertionError(f"the bot never opened view {view_id}") from None
        if not entry["open"] or entry["user"] != user:
            raise AssertionError(f"view {view_id} is not open for {user}")
        inputs = {b.get("block_id") for b in entry["view"]["blocks"] if b.get("type") == "input"}
        if unknown := set(values) - inputs:
            raise AssertionError(f"view {view_id} has no input blocks {sorted(unknown)}")
        entry["state"] = {"values": copy.deepcopy(values)}
        payload = view_submission(
            self.workspace,
            user=user,
            entry=entry,
            values=values,
            trigger_id=self.workspace.issue_trigger(user, self.clock(), view_id=view_id),
        )
        delivery = await self._deliver("interactive", payload)
        apply_view_ack(self.methods, entry, delivery)
        self._notify()
        return delivery

    async def close_view(self, user: str, view_id: str) -> Delivery | None:
        """Press Cancel on an open modal: it closes (a pushed one uncovers the one below), and
        the bot gets `view_closed` only if the view asked for it with `notify_on_close`."""
        try:
            entry = self.workspace.find_view(view_id)
        except KeyError:
            raise AssertionError(f"the bot never opened view {view_id}") from None
        if not entry["open"] or entry["user"] != user:
            raise AssertionError(f"view {view_id} is not open for {user}")
        entry["open"] = False
        self._notify()
        if not entry["view"].get("notify_on_close"):
            return None
        return await self._deliver(
            "interactive", view_closed(self.workspace, user=user, entry=entry)
        )

    async def post_raw(
        self,
        body: bytes,
        *,
        content_type: str,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
        path: str = "/slack/events",
    ) -> Delivery:
        """POST arbitrary bytes to the bot (forged signatures, stale timestamps, junk bodies)."""
        return await self._http.post(
            body,
            content_type=content_type,
            path=path,
            timestamp=timestamp,
            secret=secret,
            signature=signature,
        )

    # ---- waiting ---------------------------------------------------------------------------

    async def wait_until(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,
    ) -> None:
        """Wait for the bot's background work to make `predicate` truthy; AssertionError if not.

        A LookupError (KeyError, IndexError) from the predicate counts as "not yet".
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                if predicate():
                    return
                missing: LookupError | None = None
            except LookupError as exc:  # e.g. `bot_messages(...)[0]` before the bot posted
                missing = exc
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {_describe(predicate)}"
                    f"{f' (last lookup failed: {missing!r})' if missing else ''}; "
                    f"last calls: {self._recent_calls()}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):  # wake on any change, or poll every 10 ms
                await asyncio.wait_for(self._changed.wait(), min(0.01, remaining))

    def new_event_id(self) -> str:
        return f"Ev{next(self._event_ids):010X}"

    # ---- internals -------------------------------------------------------------------------

    async def _deliver(
        self,
        kind: EnvelopeType,
        payload: JSONObject,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> Delivery:
        if self._http.request_urls:
            headers = {}
            if retry_num is not None:
                headers["X-Slack-Retry-Num"] = str(retry_num)
                headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
            if kind == "events_api":
                body, content_type = json_body(payload), "application/json"
            else:
                body, content_type = form_payload(payload), "application/x-www-form-urlencoded"
            delivery = await self._http.post(body, content_type=content_type, extra_headers=headers)
        elif self._socket.connected:
            delivery = await self._socket.send(
                kind, payload, retry_attempt=retry_num, retry_reason=retry_reason
            )
        else:
            raise RuntimeError("nowhere to deliver: call deliver_to(url) or connect Socket Mode")
        self.deliveries.append((payload, delivery))
        self._notify()
        return delivery

    def _on_bot_message(self, change: BotChange, message: Message) -> None:
        """Real Slack echoes the bot's own activity back as message events; Bolt must drop it."""
        self._notify()
        if not self.echo_bot_messages:
            return
        conv = self.workspace.channels[message.channel]
        event = echo_event(self.workspace, change, message, conv)
        task = asyncio.get_running_loop().create_task(self._echo(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _echo(self, event: JSONObject) -> None:
        try:
            await self.deliver_event(event)
        except RuntimeError:
            log.debug("echo not delivered: no delivery target")

    def _socket_url(self) -> str:
        return (
            f"ws://{self.url.removeprefix('http://')}/socket?ticket={self._socket.issue_ticket()}"
        )

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        for listener in list(self._listeners):
            listener()

    def _channel(self, channel: str) -> Channel:
        conv = self.workspace.channels.get(channel)
        if conv is None:
            raise AssertionError(f"no conversation {channel} (add_channel it first)")
        return conv

    def _recent_calls(self) -> str:
        tail = self.calls[-8:]
        return ", ".join(f"{c.method}->{c.error or c.status}" for c in tail) or "none"


def _describe(predicate: Callable[[], object]) -> str:
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)
