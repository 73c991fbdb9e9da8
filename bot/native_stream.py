"""NativeStreamer: one answer in a DM, streamed with Slack's own streaming (`chat_stream()`).

In a DM the answer streams natively: slack_sdk's `AsyncChatStream` starts the message with the
first words (`chat.startStream`), appends at a cadence (`chat.appendStream`, Tier 4, shared by
the workspace), and stops it with the footer and the final buttons under the text
(`chat.stopStream`). While no text is showing, the agent view's status line says what the
agent does (bot.agent_session), so there is no placeholder message.

Native streams end on their own: about five minutes after they start, while a run waits for a
person, or when someone presses Slack's Stop; every later call answers
`message_not_in_streaming_state` (pitfalls 6, 38). From then on the answer belongs to a
MessageStreamer that adopts the stream's message (same `ts`) and edits it, continuing in new
messages when the text outgrows it: the whole text lands once, in order. The same fallback
takes over when the workspace's stream budget (Tier 2: about 20 new streams a minute) has no
room within a second, or when the text grows past what one streamed message may hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from bot.agent_session import AgentSession
from bot.answer_blocks import Block
from bot.answer_messages import StreamError
from bot.budgeted_calls import BudgetedCalls, error_code, failure_code
from bot.formatting import escape_mrkdwn
from bot.rate_limits import SlackRateLimiter
from bot.streaming import MessageStreamer, State, StreamStateError

__all__ = ["NativeStreamer"]

STREAM_TEXT_LIMIT = 10_000
"""Slack holds 12,000 characters of markdown in one streamed message; past this the rest goes
to the edit-based streamer."""
START_WAIT = 1.0
"""Longest the first words wait for the stream budget before they are posted instead."""
_ENDED = frozenset(
    {"message_not_in_streaming_state", "stopped_by_user", "streaming_state_conflict"}
)
_MENTION = re.compile(r"<(?=[@!#])")


def safe_markdown(text: str) -> str:
    """Model text for a stream: no broadcast or mention survives (pitfall 5)."""
    quiet = re.sub(r"@(?=here|channel|everyone)", "@\u200b", text, flags=re.IGNORECASE)
    return _MENTION.sub("<\u200b", quiet)


class NativeStreamer:
    """Streams one answer natively into a DM thread; see the module docstring."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        recipient_user: str,
        recipient_team: str,
        limiter: SlackRateLimiter,
        session: AgentSession,
        fallback: Callable[[Sequence[str]], MessageStreamer],
        title: str | None = None,
        min_interval: float = 1.0,
        logger: logging.Logger | None = None,
    ) -> None:
        """`fallback(adopt)` builds the edit-based streamer that takes over (adopting the
        stream's message, if there is one)."""
        self._client = client
        self._limiter = limiter
        self._calls = BudgetedCalls(limiter, logger=logger)
        self._session = session
        self._make_fallback = fallback
        self._title = title
        self._min_interval = min_interval
        self._log = logger or logging.getLogger(__name__)
        self._stream_args: dict[str, Any] = {
            "channel": channel,
            "thread_ts": thread_ts,
            "recipient_user_id": recipient_user,
            "recipient_team_id": recipient_team,
        }
        self._stream: AsyncChatStream | None = None
        self._fallback: MessageStreamer | None = None
        self._status = ""
        self._actions: list[Block] | None = None
        self._state: State = "idle"
        self._text = ""
        self._sent = 0
        """How much of the text the stream shows."""
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._error: StreamError | None = None
        self._registered = False

    @property
    def state(self) -> State:
        """`idle` before start(), `streaming`, then `finished` or `failed`."""
        return self._fallback.state if self._fallback is not None else self._state

    @property
    def text(self) -> str:
        """The answer's Markdown received so far."""
        return self._text

    async def start(self, status: str = "Thinking…") -> None:
        """Show the status line; the message itself starts with the first words."""
        if self._state != "idle":
            raise StreamStateError(f"cannot start: stream is {self._state}")
        self._status = status
        self._state = "streaming"
        self._limiter.register_stream()
        self._registered = True
        self._flusher = asyncio.create_task(self._run_flusher(), name="native-stream")

    async def append(self, text_delta: str) -> None:
        """Add text; the flusher sends it, so this never waits on Slack."""
        if self._fallback is not None:
            await self._fallback.append(text_delta)
        elif self._state != "streaming":
            raise StreamStateError(f"cannot append: stream is {self._state}")
        self._text += text_delta
        self._wake.set()

    def set_status(self, line: str | None) -> None:
        """A progress line: the status line under the thread (the text shows above it)."""
        if self._fallback is not None:
            self._fallback.set_status(line)
            return
        self._status = line or ""
        self._wake.set()

    def set_actions(self, blocks: list[Block] | None) -> None:
        """Live buttons (Stop): Slack shows its own Stop while a native stream runs, so these
        are kept for the fallback only."""
        self._actions = blocks
        if self._fallback is not None:
            self._fallback.set_actions(blocks)

    async def finish(
        self,
        final_text: str | None = None,
        footer: str | None = None,
        actions: list[Block] | None = None,
    ) -> None:
        """Land the whole text, then the footer and the final buttons under it."""
        await self._stop_flusher()
        if final_text is not None and not final_text.startswith(self._text):
            await self._take_over()  # a rewritten text: the edit-based streamer rewrites
        if final_text is not None:
            self._text = final_text
        if self._fallback is None and self._stream is not None and self._stream.ts:
            with contextlib.suppress(_StreamEnded):
                await self._stop_stream(footer, actions)
                self._finished("finished")
                return
        if self._fallback is None and not self._text.strip() and not (footer or actions):
            self._finished("finished")  # nothing to show: the card or the next turn follows
            return
        fallback = await self._take_over()
        try:
            await fallback.finish(footer=footer, actions=actions)
        finally:
            self._unregister()

    async def fail(self, message: str, reference: str | None = None) -> None:
        """Finish with an error line under whatever text there is."""
        line = f"⚠️ {message}" + (f" (ref {reference})" if reference else "")
        await self.finish(footer=line)
        self._state = "failed"

    async def aclose(self) -> None:
        """Stop sending without landing anything more (errors and shutdown)."""
        await self._stop_flusher()
        if self._fallback is not None:
            await self._fallback.aclose()
        if self._state in ("idle", "streaming"):
            self._state = "failed"
        self._unregister()

    # ---- sending -------------------------------------------------------------------------

    async def _run_flusher(self) -> None:
        """Send the status line and new text at the cadence; the first words at once."""
        loop = asyncio.get_running_loop()
        last = 0.0
        await self._session.working(title=self._title)
        shown_status = self._status
        while not self._closing.is_set() and self._fallback is None:
            await self._wake.wait()
            self._wake.clear()
            if self._status != shown_status and not self._text[self._sent :].strip():
                shown_status = self._status
                await self._session.status(_status_line(self._status) if self._status else "")
            if self._stream is not None:
                delay = last + self._interval() - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), delay)
                    if self._closing.is_set():
                        return
            try:
                await self._send_new_text()
            except (_StreamEnded, StreamError):  # StreamError was logged where it happened
                await self._take_over()
                return
            last = loop.time()

    async def _send_new_text(self) -> None:
        pending = self._text[self._sent :]
        if not pending:
            return
        if len(self._text) > STREAM_TEXT_LIMIT:
            raise _StreamEnded("too_long")
        if self._stream is None:
            if self._limiter.wait_time("chat.startStream") > START_WAIT:
                raise _StreamEnded("no_stream_budget")
            self._stream = await self._client.chat_stream(buffer_size=1, **self._stream_args)
            method = "chat.startStream"
        else:
            method = "chat.appendStream"
        await self._call(method, self._stream, markdown_text=safe_markdown(pending))
        if method == "chat.startStream":
            self._session.replied()
        self._sent += len(pending)

    async def _stop_stream(self, footer: str | None, actions: list[Block] | None) -> None:
        stream = self._stream
        assert stream is not None
        pending = self._text[self._sent :]
        blocks: list[Block] = []
        if footer:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(footer)}]}
            )
        blocks.extend(actions or [])
        await self._call(
            "chat.stopStream",
            stream,
            stop=True,
            markdown_text=safe_markdown(pending) if pending else None,
            blocks=blocks or None,
        )
        self._sent = len(self._text)

    async def _call(
        self,
        method: str,
        stream: AsyncChatStream,
        *,
        stop: bool = False,
        markdown_text: str | None = None,
        blocks: list[Block] | None = None,
    ) -> None:
        """One stream call under the workspace's budget. A call that fails leaves its text in
        the stream's buffer, so a retry sends it once (`markdown_text` only the first time)."""
        first = [markdown_text]

        async def send() -> Any:
            text, first[0] = first[0], None
            if stop:
                return await stream.stop(markdown_text=text, blocks=blocks)
            return await stream.append(markdown_text=text or "")

        try:
            await self._calls.must_land(method, send)
        except SlackApiError as error:
            if error_code(error) in _ENDED:
                raise _StreamEnded(error_code(error)) from error
            raise self._refused(method, error_code(error)) from error
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            raise self._refused(method, failure_code(error)) from error

    async def _take_over(self) -> MessageStreamer:
        """Hand the answer to the edit-based streamer, adopting the stream's message."""
        if self._fallback is not None:
            return self._fallback
        adopt = [self._stream.ts] if self._stream is not None and self._stream.ts else []
        fallback = self._make_fallback(adopt)
        taken = len(self._text)
        await fallback.start(self._status or "Thinking…", text=self._text)
        if self._actions:
            fallback.set_actions(self._actions)
        self._fallback = fallback
        if len(self._text) > taken:  # text that arrived while the fallback started
            await fallback.append(self._text[taken:])
        self._unregister()  # the fallback counts itself
        return fallback

    async def _stop_flusher(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._flusher is not None and not self._flusher.done():
            try:
                await self._flusher
            except BaseException:
                self._flusher.cancel()
                raise

    def _interval(self) -> float:
        """This answer's share of the workspace's appendStream budget."""
        return max(self._min_interval, self._limiter.suggested_interval("chat.appendStream"))

    def _finished(self, state: State) -> None:
        self._state = state
        self._unregister()

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            self._limiter.unregister_stream()

    def _refused(self, method: str, error: str) -> StreamError:
        self._log.error("%s refused for %s: %s", method, self._stream_args["channel"], error)
        return StreamError(method, error)


class _StreamEnded(Exception):
    """The native stream cannot take more: expired, stopped, too long, or no budget."""


def _status_line(progress: str) -> str:
    """Progress lines are written for a message ("📝 Saving the note…"); the agent view's
    status reads after the app's name ("is saving the note…")."""
    words = re.sub(r"^\W+", "", progress).strip()
    if not words or words == "Thinking…":
        return "is thinking…"
    return "is " + words[0].lower() + words[1:]
