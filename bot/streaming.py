"""MessageStreamer: show one answer in a Slack thread while the model writes it.

Modelled on slack_sdk's `AsyncChatStream` (web/async_chat_stream.py): an explicit state
(`idle` → `streaming` → `finished` | `failed`), text buffered by `append()` and flushed by a
background task, an error on `append()` after the end, and a documented `ts`.

What people see: the first message carries the model's first words (or, when the model takes
longer than `placeholder_after`, a status line that the first words then replace); later text
is shown by `chat.update` at a cadence that shares the workspace's chat.update budget with every
other answer (`SlackRateLimiter.suggested_interval`), latest text winning; `finish()` always
lands the whole text. Long answers continue in new messages in the thread (bot.splitting).

Under load the workspace's ~50 edits a minute cannot keep every answer moving, so when new text
has waited `part_after` for an edit, the last message is sealed as it stands and the text goes
on in a new message (chat.postMessage: about one a second per channel, several hundred a minute
per workspace). The first words after a status line do not wait at all: the status line is
retired (deleted at the end) and they are posted. Either way each piece of text has exactly one
owner message, and an edit that failed is retried on that same message, never re-posted
elsewhere (pitfalls 1–7). The Stop button stays on the message that showed it when the answer
first went on in a new one; removing it (one edit) is done at the end, after the whole text has
landed.

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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from slack_sdk.web.async_client import AsyncWebClient

from bot.answer_blocks import MAX_ACTION_BLOCKS, AnswerFrames, Block, Display, Frame
from bot.answer_messages import AnswerMessages, SentMessage, StreamError
from bot.budgeted_calls import BudgetedCalls, RetryPolicy
from bot.rate_limits import POSTS_ACROSS_CHANNELS, SlackRateLimiter
from bot.splitting import MESSAGE_LIMIT

__all__ = ["MessageStreamer", "StreamError", "StreamStateError", "StreamerSettings"]

State = Literal["idle", "streaming", "finished", "failed"]
Job = Callable[[], Awaitable[None]]

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
    placeholder_after: float = 1.0
    """Seconds to wait for the model's first words before posting the status line alone: a
    model that starts quickly gets its first words in the first message, not an edit."""
    part_after: float = 8.0
    """When the workspace's edit budget cannot show new text for this long, the text goes out
    as a new message instead (chat.postMessage has its own, per-channel budget). Under more
    load it stretches, so that every answer's parts fit the workspace's posting budget."""
    first_words_wait: float = 0.5
    """First words after a status line wait this long at most for an edit slot; then they
    are posted, and the status line is deleted at the end."""
    final_edit_wait: float = 4.0
    """At the end, an edit that would wait longer than this is replaced by a new message
    carrying the rest of the text; the earlier message loses its Stop button later. A quiet
    workspace's short wait is better spent than a split message."""

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
        later: Callable[[Job], object] | None = None,
    ) -> None:
        """`answer_id` tags every message of the answer; `adopt` lists messages an earlier
        attempt at the same answer posted (in order): they are edited, never posted again.
        `on_first_text` is called once Slack has accepted the first frame showing text.
        `later` runs the touches that need not hold the answer up (an early-sealed message
        losing its Stop button) in the background; without it, `finish()` waits for them."""
        self._on_first_text = on_first_text
        self._later = later
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
        self._last_change = 0.0
        """When new text last became visible (loop time)."""
        self._retry_at: float | None = None
        """When to try again after an edit found no budget."""
        self._shown_upto = 0
        """How much of the text the messages show (after the last complete sync)."""
        self._sealed_early: set[int] = set()
        """Pieces sealed where their message stood: only their Stop button is left to remove."""
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

    async def start(self, status: str = "Thinking…", text: str = "") -> None:
        """Begin the answer with `status` (and any `text` already written elsewhere).

        An adopted first message is edited at once. Otherwise the first message is posted by
        the flusher: with the first words as soon as they arrive, or with `status` alone after
        `placeholder_after`.
        """
        if self._state != "idle":
            raise StreamStateError(f"cannot start: stream is {self._state}")
        self._display.placeholder = status
        self._text = text
        if self._visible_text():
            self._text_arrived.set()
        try:
            if self._messages.sent:
                await self._sync(final=False, must_land=True)
        except StreamError:
            self._state = "failed"
            raise
        self._state = "streaming"
        self._limiter.register_stream()
        self._registered = True
        self._last_change = asyncio.get_running_loop().time()
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
            if not await self._lands_by_edit_soon():
                self._seal_where_shown()  # the rest lands now, in a new message
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
        """Show new text at the cadence; the first words go out at once."""
        loop = asyncio.get_running_loop()
        if not self._messages.sent:
            await self._pause(self._settings.placeholder_after)
        while not self._closing.is_set():
            if self._messages.sent:
                await self._wake.wait()
                delay = self._next_flush() - loop.time()
                if delay > 0:
                    await self._pause(delay)
            if self._closing.is_set():
                return
            self._wake.clear()
            try:
                await self._flush(loop.time())
            except StreamError as error:  # logged where it happened; finish() raises it
                self._error = error
                return

    async def _flush(self, now: float) -> None:
        """One step: edit the last message, or go on in a new one when edits would wait."""
        self._retry_at = None
        if await self._sync(final=False):
            self._last_change = now
            return
        if self._first_words_waiting():
            wait = self._limiter.wait_time("chat.update")
            if wait <= self._settings.first_words_wait:
                self._retry_at = now + max(0.01, wait)  # a slot is close: edit then
                self._wake.set()
                return
            self._messages.retire(self._messages.sent[0])  # it showed the status line alone
            await self._sync(final=False, must_land=True)
            self._last_change = now
            return
        if now >= self._part_due() and self._seal_where_shown():
            await self._sync(final=False, must_land=True)  # posts the new part
            self._last_change = now
            return
        wait = max(0.05, min(self._limiter.wait_time("chat.update"), self._part_due() - now))
        self._retry_at = now + wait
        self._wake.set()

    def _next_flush(self) -> float:
        """When the next flush is due (loop time)."""
        if self._retry_at is not None:
            return self._retry_at
        if self._first_words_waiting():
            return 0.0
        return self._last_change + min(self._interval(), self._part_interval())

    def _part_due(self) -> float:
        return self._last_change + self._part_interval()

    def _part_interval(self) -> float:
        """Seconds new text may wait for an edit before it goes out in a new message: long
        enough that every streaming answer's parts fit the workspace's posting budget."""
        posts = self._limiter.budget(POSTS_ACROSS_CHANNELS).per_second
        return max(self._settings.part_after, self._limiter.active_streams / (0.8 * posts))

    def _first_words_waiting(self) -> bool:
        """The only message shows the status line, and there are words to show."""
        return self._first_text and bool(self._messages.sent) and self._visible_text()

    def _seal_where_shown(self) -> bool:
        """End the last message at what it shows, so the rest of the text gets a new message;
        False when that would change nothing (no message shows text, or no text is unshown)."""
        if not self._seal_would_help():
            return False
        if not self._layout.seal_at(self._text, self._shown_upto):
            return False
        self._sealed_early.add(len(self._messages.sent) - 1)
        # The Stop button stays on the message that shows it (removed at the end, one edit);
        # later parts go without, so they need no edit at all once the text is in.
        self._display.actions = None
        return True

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

    async def _sync(self, *, final: bool, must_land: bool = False) -> bool:
        """Make every message show its frame; False if a skippable edit found no budget.

        Messages sealed early get their last edit (no Stop button) only at the end, after
        every piece of text has landed.
        """
        text_length = len(self._text)
        frames = self._frames()
        sent = self._messages.sent
        first_text = self._first_text and bool(self._visible_text())
        cleanups: list[int] = []
        for index, frame in enumerate(frames):
            if index >= len(sent):
                await self._messages.post(index, frame)
                continue
            message = sent[index]
            if message.shown == frame:
                continue
            if index in self._sealed_early or (final and self._only_looks(message, frame)):
                cleanups.append(index)
                continue
            skippable = not final and not must_land and index == len(frames) - 1
            if not await self._edit(message, frame, final=final, skippable=skippable):
                return False
        if final:
            for message in sent[len(frames) :]:
                await self._messages.delete(message)
            touches = [(sent[index], frames[index]) for index in cleanups]
            if self._later is not None and (touches or self._messages.retired):
                self._later(lambda: self._last_touches(touches))
            else:
                await self._last_touches(touches)
        self._shown_upto = text_length
        if first_text:
            self._first_text = False
            if self._on_first_text is not None:
                self._on_first_text()
        return True

    async def _lands_by_edit_soon(self) -> bool:
        """At the end: can the rest of the text land by editing the last message within
        `final_edit_wait`? Tries edits that never queue, so a busy workspace's edit budget is
        not waited for; False sends the rest as a new message instead."""
        if not self._seal_would_help():
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.final_edit_wait
        while True:
            if await self._sync(final=False):  # frames are final: the text, footer, buttons
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.sleep(min(left, max(0.05, self._limiter.wait_time("chat.update"))))

    def _only_looks(self, message: SentMessage, frame: Frame) -> bool:
        """The message already shows the frame's text: what is left (the Stop button going,
        a footer, the final buttons) can wait for `later`."""
        shown = message.shown
        return self._later is not None and shown is not None and shown.text == frame.text

    def _seal_would_help(self) -> bool:
        """A message shows some text, and there is text none shows yet."""
        return (
            bool(self._messages.sent)
            and self._shown_upto > 0
            and bool(self._text[self._shown_upto :].strip())
        )

    async def _last_touches(self, touches: list[tuple[SentMessage, Frame]]) -> None:
        """What is left once the text is in: retired status lines go (first: chat.delete has
        a budget of its own, and until then the thread shows a stray "Thinking…"), then
        early-sealed messages lose their Stop button."""
        await self._messages.delete_retired()
        for message, frame in touches:
            await self._edit(message, frame, final=True, skippable=False)

    async def _edit(
        self, message: SentMessage, frame: Frame, *, final: bool, skippable: bool
    ) -> bool:
        """One edit; at the end a refused edit is remembered and the other messages go on."""
        try:
            return await self._messages.update(message, frame, skippable=skippable)
        except StreamError as error:
            if not final:
                raise
            self._error = self._error or error
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
