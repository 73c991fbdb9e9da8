"""MessageStreamer: show one answer in a Slack thread while the model writes it.

Modelled on slack_sdk's `AsyncChatStream` (web/async_chat_stream.py): an explicit state
(`idle` → `streaming` → `finished` | `failed`), text buffered by `append()` and flushed by a
background task, an error on `append()` after the end, and a documented `ts`.

What people see: `start()` posts a status line at once; the first text replaces it as soon as
it arrives; later text is shown by `chat.update` at a cadence that shares the workspace's
chat.update budget with every other answer (`SlackRateLimiter.suggested_interval`), latest text
winning; `finish()` always lands the whole text. Long answers continue in new messages in the
thread (bot.splitting): each piece of text has exactly one owner message, and an edit that
failed is retried on that same message, never re-posted elsewhere (pitfalls 1–7).

This module decides when to send. What each message shows is bot.answer_blocks; posting,
editing and deleting them is bot.answer_messages, through bot.budgeted_calls like every other
Slack call the bot makes: a 429 closes the method in the limiter for its Retry-After window;
skippable frames are dropped (the latest text is kept), must-land calls wait the window out.
5xx and connection errors are retried a bounded number of times; anything else raises
`StreamError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from slack_sdk.web.async_client import AsyncWebClient

from bot.answer_blocks import MAX_ACTION_BLOCKS, AnswerFrames, Block, Display, Frame
from bot.answer_messages import AnswerMessages, SentMessage, StreamError
from bot.budgeted_calls import BudgetedCalls, RetryPolicy
from bot.rate_limits import SlackRateLimiter
from bot.splitting import MESSAGE_LIMIT

__all__ = ["MessageStreamer", "StreamError", "StreamStateError", "StreamerSettings"]

State = Literal["idle", "streaming", "finished", "failed"]

_MAX_MESSAGE_LIMIT = 3900  # `text` must stay under 4,000 with a few display-only markers


class StreamStateError(RuntimeError):
    """A method was called in a state that does not allow it (e.g. `append()` after `finish()`)."""


@dataclass(frozen=True, slots=True)
class StreamerSettings:
    """Timing and retry knobs; tests shrink the times."""

    message_limit: int = MESSAGE_LIMIT
    min_interval: float = 1.0
    """Seconds between two edits of the live message, however much budget is free."""
    transient_retries: int = 3
    retry_backoff: float = 0.5
    """First wait after a 5xx or connection error; doubles on each retry."""
    max_rate_limited: int = 20
    """429s one call may meet before the streamer gives up on it."""

    def __post_init__(self) -> None:
        if not 20 <= self.message_limit <= _MAX_MESSAGE_LIMIT:
            raise ValueError(f"message_limit must be 20..{_MAX_MESSAGE_LIMIT}")


class MessageStreamer:
    """Posts and edits the messages of one answer in one thread (see the module docstring)."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        limiter: SlackRateLimiter,
        settings: StreamerSettings | None = None,
        logger: logging.Logger | None = None,
        answer_id: str | None = None,
        adopt: Sequence[str] = (),
        on_first_text: Callable[[], None] | None = None,
    ) -> None:
        """`answer_id` tags every message of the answer; `adopt` lists messages an earlier
        attempt at the same answer posted (in order): they are edited, never posted again.
        `on_first_text` is called once Slack has accepted the first frame showing text."""
        self._on_first_text = on_first_text
        self._limiter = limiter
        self._settings = settings or StreamerSettings()
        self._log = logger or logging.getLogger(__name__)
        policy = RetryPolicy(
            max_rate_limited=self._settings.max_rate_limited,
            transient_retries=self._settings.transient_retries,
            retry_backoff=self._settings.retry_backoff,
        )
        self._id = answer_id or uuid.uuid4().hex[:10]
        self._messages = AnswerMessages(
            client,
            BudgetedCalls(limiter, policy, self._log),
            channel=channel,
            thread_ts=thread_ts,
            answer_id=self._id,
            logger=self._log,
        )
        self._messages.sent.extend(SentMessage(ts) for ts in adopt)
        self._state: State = "idle"
        self._text = ""
        self._layout = AnswerFrames(self._settings.message_limit)
        self._display = Display()
        self._first_text = True
        """The first text is still to be shown: it goes out at once, not at the cadence."""
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._text_arrived = asyncio.Event()  # the first visible text: shown at once
        self._flusher: asyncio.Task[None] | None = None
        self._error: StreamError | None = None
        self._last_edit = 0.0
        self._registered = False

    @property
    def state(self) -> State:
        """`idle` before start(), `streaming`, then `finished` or `failed`."""
        return self._state

    @property
    def ts(self) -> str | None:
        """ts of the first message (None until `start()` posted it); usable with chat.update."""
        sent = self._messages.sent
        return sent[0].ts if sent else None

    @property
    def message_ts(self) -> tuple[str, ...]:
        """ts of every message of this answer, in thread order."""
        return tuple(message.ts for message in self._messages.sent)

    @property
    def text(self) -> str:
        """The answer's Markdown received so far."""
        return self._text

    async def start(self, status: str = "Thinking…") -> None:
        """Post the first message (or edit an adopted one), showing `status`, at once."""
        if self._state != "idle":
            raise StreamStateError(f"cannot start: stream is {self._state}")
        self._display.placeholder = status
        try:
            if self._messages.sent:
                await self._messages.update(
                    self._messages.sent[0], self._frames()[0], skippable=False
                )
            else:
                await self._messages.post(0, self._frames()[0])
        except StreamError:
            self._state = "failed"
            raise
        self._state = "streaming"
        self._limiter.register_stream()
        self._registered = True
        self._last_edit = asyncio.get_running_loop().time()
        self._flusher = asyncio.create_task(self._run_flusher(), name=f"streamer-{self._id}")

    async def append(self, text_delta: str) -> None:
        """Add text; it is shown by the flusher, so this never waits on Slack."""
        self._require_streaming("append")
        if text_delta:
            self._text += text_delta
            self._wake.set()
            if self._first_text and self._visible_text():
                self._text_arrived.set()

    def set_status(self, line: str | None) -> None:
        """Show a progress line under the text ("Searching notes…"); None removes it."""
        self._require_streaming("set_status")
        self._display.status = line
        self._wake.set()

    def set_actions(self, blocks: list[Block] | None) -> None:
        """Action blocks under the last message while streaming (a Stop button); gone at the end."""
        self._require_streaming("set_actions")
        if blocks and len(blocks) > MAX_ACTION_BLOCKS:
            raise ValueError(f"at most {MAX_ACTION_BLOCKS} action blocks (Slack allows 50 in all)")
        self._display.actions = [dict(block) for block in blocks] if blocks else None
        self._wake.set()

    async def finish(
        self,
        final_text: str | None = None,
        footer: str | None = None,
        actions: list[Block] | None = None,
    ) -> None:
        """Land the whole text (ours, or `final_text`), drop status and live actions, add
        `footer` (plain text) and the final `actions` (a Retry button), if any.

        Returns when every message shows its final content. Raises StreamError if Slack refused
        an edit for good (the other messages still get theirs) or a post (later pieces would
        lose their order, so they are not posted).
        """
        self._display.final_actions = [dict(block) for block in actions] if actions else None
        await self._end(final_text, footer, "finished")

    async def fail(self, message: str, reference: str | None = None) -> None:
        """Finish with an error line; with no text yet, the status message becomes that line."""
        line = f"⚠️ {message}" + (f" (ref {reference})" if reference else "")
        await self._end(None, line, "failed")

    async def aclose(self) -> None:
        """Stop the flusher without sending anything more (for errors and shutdown)."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._state in ("idle", "streaming"):
            self._state = "failed"
        self._unregister()

    async def __aenter__(self) -> MessageStreamer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- flushing ------------------------------------------------------------------------

    async def _end(self, final_text: str | None, footer: str | None, state: State) -> None:
        self._require_streaming("finish")
        self._display.footer = footer
        self._closing.set()
        self._wake.set()
        try:
            if self._flusher is not None:
                await self._flusher  # an edit in flight lands (or fails) before the final one
            if final_text is not None:
                self._replace_text(final_text)
            self._display.final = True
            self._error = None  # the flusher's error, if any, was logged; the final edit decides
            await self._sync(final=True)
        except StreamError as error:
            self._error = self._error or error
        except BaseException:
            await self.aclose()
            raise
        finally:
            self._unregister()
        self._state = "failed" if self._error is not None else state
        if self._error is not None:
            raise self._error

    async def _run_flusher(self) -> None:
        """Show new text at the cadence; the first text goes out at once."""
        loop = asyncio.get_running_loop()
        while not self._closing.is_set():
            await self._wake.wait()
            if not self._first_text or not self._visible_text():
                delay = self._last_edit + self._interval() - loop.time()
                if delay > 0:
                    await self._pause(delay)
            if self._closing.is_set():
                return
            self._wake.clear()
            try:
                complete = await self._sync(final=False)
            except StreamError as error:  # logged where it happened; finish() raises it
                self._error = error
                return
            if complete:
                self._last_edit = loop.time()
            else:  # the budget had no room for this frame: try again when it might
                wait = max(0.01, self._limiter.wait_time("chat.update"))
                self._last_edit = max(self._last_edit, loop.time() + wait - self._interval())
                self._wake.set()

    async def _pause(self, delay: float) -> None:
        """Wait for the next edit slot, but not past the end or the first text's arrival."""
        waits = [asyncio.ensure_future(self._closing.wait())]
        if self._first_text:
            waits.append(asyncio.ensure_future(self._text_arrived.wait()))
        _, pending = await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()

    def _interval(self) -> float:
        """Seconds between edits: this answer's share of the workspace's chat.update budget."""
        shared = self._limiter.suggested_interval("chat.update")
        return max(self._settings.min_interval, shared)

    async def _sync(self, *, final: bool) -> bool:
        """Make every message show its frame; False if a skippable edit found no budget."""
        frames = self._frames()
        sent = self._messages.sent
        first_text = self._first_text and bool(self._visible_text())
        for index, frame in enumerate(frames):
            if index >= len(sent):
                await self._messages.post(index, frame)
                continue
            message = sent[index]
            if message.shown == frame:
                continue
            skippable = not final and not first_text and index == len(frames) - 1
            try:
                if not await self._messages.update(message, frame, skippable=skippable):
                    return False
            except StreamError as error:
                if not final:
                    raise
                self._error = self._error or error  # the other messages still get their text
        if final:
            for message in sent[len(frames) :]:
                await self._messages.delete(message)
        if first_text:
            self._first_text = False
            if self._on_first_text is not None:
                self._on_first_text()
        return True

    def _replace_text(self, final_text: str) -> None:
        """Take the caller's final text; if it rewrites what was sealed, re-split from scratch."""
        if not final_text.startswith(self._text):
            self._layout = AnswerFrames(self._settings.message_limit)
        self._text = final_text

    def _visible_text(self) -> bool:
        return bool(self._text.strip())

    def _frames(self) -> list[Frame]:
        return self._layout.frames(self._text, self._display)

    def _require_streaming(self, action: str) -> None:
        if self._state != "streaming":
            raise StreamStateError(f"cannot {action}: stream is {self._state}")

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            self._limiter.unregister_stream()
