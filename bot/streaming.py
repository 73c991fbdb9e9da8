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

Every call goes through bot.budgeted_calls, like every other Slack call the bot makes: a 429
closes the method in the limiter for its Retry-After window; skippable frames are dropped (the
latest text is kept), must-land calls wait the window out. 5xx and connection errors are retried
a bounded number of times; anything else raises `StreamError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.budgeted_calls import ONE_TRY, BudgetedCalls, RetryPolicy, failure_code
from bot.formatting import escape_mrkdwn, markdown_to_mrkdwn
from bot.rate_limits import SlackRateLimiter
from bot.splitting import MESSAGE_LIMIT, AnswerPieces, Piece, split_rendered

State = Literal["idle", "streaming", "finished", "failed"]
Block = dict[str, Any]
Reply = dict[str, Any]

EMPTY_ANSWER = "(no answer)"
PIECE_EVENT = "countersign_answer_piece"
_LINE_LIMIT = 2000  # status and footer lines; a context element holds 3,000
_MAX_ACTION_BLOCKS = 10  # with up to two sections and two context lines, far below 50 blocks
_MAX_MESSAGE_LIMIT = 3900  # `text` must stay under 4,000 with a few display-only markers


class StreamError(Exception):
    """Slack refused part of the answer for good; `error` is Slack's code (or the cause)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method} failed: {error}")
        self.method = method
        self.error = error


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


@dataclass(frozen=True, slots=True)
class _Frame:
    """What one message should show; compared to skip edits that change nothing."""

    text: str
    blocks: list[Block]


@dataclass(slots=True)
class _Message:
    ts: str
    shown: _Frame | None = None


@dataclass(slots=True)
class _Want:
    """The parts of the display that are not the answer text."""

    placeholder: str = ""
    status: str | None = None
    actions: list[Block] | None = None
    footer: str | None = None
    final: bool = False
    first_text: bool = True
    """The first text is still to be shown: it goes out at once, not at the cadence."""


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
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._limiter = limiter
        self._settings = settings or StreamerSettings()
        self._log = logger or logging.getLogger(__name__)
        policy = RetryPolicy(
            max_rate_limited=self._settings.max_rate_limited,
            transient_retries=self._settings.transient_retries,
            retry_backoff=self._settings.retry_backoff,
        )
        self._calls = BudgetedCalls(limiter, policy, self._log)
        self._id = uuid.uuid4().hex[:10]
        self._seq = itertools.count(1)
        self._state: State = "idle"
        self._text = ""
        self._pieces = AnswerPieces(self._settings.message_limit)
        self._messages: list[_Message] = []
        self._sealed_frames: list[_Frame] = []
        self._want = _Want()
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
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
        return self._messages[0].ts if self._messages else None

    @property
    def message_ts(self) -> tuple[str, ...]:
        """ts of every message of this answer, in thread order."""
        return tuple(message.ts for message in self._messages)

    @property
    def text(self) -> str:
        """The answer's Markdown received so far."""
        return self._text

    async def start(self, status: str = "Thinking…") -> None:
        """Post the first message, showing `status`, at once."""
        if self._state != "idle":
            raise StreamStateError(f"cannot start: stream is {self._state}")
        self._want.placeholder = status
        try:
            await self._post(0, self._frames()[0])
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

    def set_status(self, line: str | None) -> None:
        """Show a progress line under the text ("Searching notes…"); None removes it."""
        self._require_streaming("set_status")
        self._want.status = line
        self._wake.set()

    def set_actions(self, blocks: list[Block] | None) -> None:
        """Action blocks under the last message while streaming (a Stop button); gone at the end."""
        self._require_streaming("set_actions")
        if blocks and len(blocks) > _MAX_ACTION_BLOCKS:
            raise ValueError(f"at most {_MAX_ACTION_BLOCKS} action blocks (Slack allows 50 in all)")
        self._want.actions = [dict(block) for block in blocks] if blocks else None
        self._wake.set()

    async def finish(self, final_text: str | None = None, footer: str | None = None) -> None:
        """Land the whole text (ours, or `final_text`), drop status and actions, add `footer`.

        Returns when every message shows its final content. Raises StreamError if Slack refused
        an edit for good (the other messages still get theirs) or a post (later pieces would
        lose their order, so they are not posted).
        """
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
        self._want.footer = footer
        self._closing.set()
        self._wake.set()
        try:
            if self._flusher is not None:
                await self._flusher  # an edit in flight lands (or fails) before the final one
            if final_text is not None:
                self._replace_text(final_text)
            self._want.final = True
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
            if not self._want.first_text or not self._visible_text():
                delay = self._last_edit + self._interval() - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), delay)
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

    def _interval(self) -> float:
        """Seconds between edits: this answer's share of the workspace's chat.update budget."""
        shared = self._limiter.suggested_interval("chat.update")
        return max(self._settings.min_interval, shared)

    async def _sync(self, *, final: bool) -> bool:
        """Make every message show its frame; False if a skippable edit found no budget."""
        frames = self._frames()
        first_text = self._want.first_text and bool(self._visible_text())
        for index, frame in enumerate(frames):
            if index >= len(self._messages):
                await self._post(index, frame)
                continue
            message = self._messages[index]
            if message.shown == frame:
                continue
            skippable = not final and not first_text and index == len(frames) - 1
            try:
                if not await self._update(message, frame, skippable=skippable):
                    return False
            except StreamError as error:
                if not final:
                    raise
                self._error = self._error or error  # the other messages still get their text
        if final:
            for message in self._messages[len(frames) :]:
                await self._delete(message)
        if first_text:
            self._want.first_text = False
        return True

    def _replace_text(self, final_text: str) -> None:
        """Take the caller's final text; if it rewrites what was sealed, re-split from scratch."""
        if not final_text.startswith(self._text):
            self._pieces = AnswerPieces(self._settings.message_limit)
            self._sealed_frames = []
        self._text = final_text

    def _visible_text(self) -> bool:
        return bool(self._text.strip())

    # ---- rendering -----------------------------------------------------------------------

    def _frames(self) -> list[_Frame]:
        """One frame per message: sealed pieces, then the live tail with status and actions."""
        self._pieces.update(self._text)
        pieces: list[Piece | None] = list(self._pieces.pieces) or [None]
        last = len(pieces) - 1
        frames: list[_Frame] = []
        for index, piece in enumerate(pieces):
            if index == last:
                frames.append(self._frame(piece, last=True))
                continue
            if index == len(self._sealed_frames):  # sealed pieces never change: render once
                self._sealed_frames.append(self._frame(piece, last=False))
            frames.append(self._sealed_frames[index])
        return frames

    def _frame(self, piece: Piece | None, *, last: bool) -> _Frame:
        want = self._want
        live = last and not want.final
        rendered = markdown_to_mrkdwn(piece.markdown, partial=live) if piece else ""
        blocks: list[Block] = [_section(chunk) for chunk in split_rendered(rendered)]
        if not rendered.strip():
            if live:
                text = _line(want.status or want.placeholder)
                blocks = [_context(text)]
            else:
                text = _line((want.footer or EMPTY_ANSWER) if last else "")
                blocks = [_section(text)]
        else:
            text = rendered
            if live and want.status:
                blocks.append(_context(_line(want.status)))
            if last and want.final and want.footer:
                blocks.append(_context(_line(want.footer)))
        if live and want.actions:
            blocks.extend(want.actions)
        return _Frame(text, blocks)

    def _with_ids(self, blocks: list[Block]) -> list[Block]:
        """Fresh block_ids on our blocks for every send (Slack asks for new ones on update)."""
        seq = next(self._seq)
        return [
            {**block, "block_id": f"cs-{self._id}-{seq}-{n}"} if block.get("_ours") else block
            for n, block in enumerate(blocks)
        ]

    # ---- Slack calls ---------------------------------------------------------------------

    async def _post(self, index: int, frame: _Frame) -> None:
        previous = self._messages[-1].ts if self._messages else self._thread_ts

        async def send() -> Reply:
            response = await self._client.chat_postMessage(
                channel=self._channel,
                thread_ts=self._thread_ts,
                text=frame.text,
                blocks=_strip(self._with_ids(frame.blocks)),
                metadata={"event_type": PIECE_EVENT, "event_payload": self._marker(index)},
            )
            return dict(response.data) if isinstance(response.data, dict) else {}

        reply = await self._call("chat.postMessage", send, lambda: self._find_post(index, previous))
        if reply is None:
            raise RuntimeError("a must-land call returned nothing")  # _call returns or raises
        self._messages.append(_Message(str(reply["ts"]), frame))

    async def _update(self, message: _Message, frame: _Frame, *, skippable: bool) -> bool:
        async def send() -> Reply:
            await self._client.chat_update(
                channel=self._channel,
                ts=message.ts,
                text=frame.text,
                blocks=_strip(self._with_ids(frame.blocks)),
                parse="none",
            )
            return {}

        reply = await self._call("chat.update", send, skippable=skippable)
        if reply is None:
            return False
        message.shown = frame
        return True

    async def _delete(self, message: _Message) -> None:
        async def send() -> Reply:
            await self._client.chat_delete(channel=self._channel, ts=message.ts)
            return {}

        await self._call("chat.delete", send)
        self._messages.remove(message)

    async def _find_post(self, index: int, after: str) -> Reply | None:
        """After an ambiguous failure, find the post if Slack made it anyway (no ghost twin)."""
        try:
            response = await self._calls.must_land(
                "conversations.replies",
                lambda: self._client.conversations_replies(
                    channel=self._channel,
                    ts=self._thread_ts,
                    oldest=after,
                    include_all_metadata=True,
                ),
                policy=ONE_TRY,
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            self._log.warning("could not check for a lost post: %s", error)
            return None
        for found in response.get("messages") or []:
            metadata = found.get("metadata") or {}
            if metadata.get("event_payload") == self._marker(index):
                return {"ts": found["ts"]}
        return None

    async def _call(
        self,
        method: str,
        send: Callable[[], Awaitable[Reply]],
        recover: Callable[[], Awaitable[Reply | None]] | None = None,
        *,
        skippable: bool = False,
    ) -> Reply | None:
        """One Slack call under the limiter; None only when a skippable call was skipped."""
        key = self._channel if method == "chat.postMessage" else ""
        try:
            if skippable:
                return await self._calls.skippable(method, send, key=key)
            return await self._calls.must_land(method, send, key=key, recover=recover)
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            raise self._refused(method, failure_code(error), error) from error

    def _refused(self, method: str, error: str, cause: BaseException) -> StreamError:
        self._log.error(
            "%s refused for %s/%s: %s",
            method,
            self._channel,
            self._thread_ts,
            error,
            exc_info=cause,
        )
        return StreamError(method, error)

    def _marker(self, index: int) -> dict[str, Any]:
        return {"stream": self._id, "piece": index}

    def _require_streaming(self, action: str) -> None:
        if self._state != "streaming":
            raise StreamStateError(f"cannot {action}: stream is {self._state}")

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            self._limiter.unregister_stream()


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, "_ours": True}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}], "_ours": True}


def _line(text: str) -> str:
    """A status or footer line: plain text, escaped, one line, bounded."""
    flat = " ".join(text.split()) or "…"
    if len(flat) > _LINE_LIMIT:
        flat = flat[: _LINE_LIMIT - 1] + "…"
    return escape_mrkdwn(flat)


def _strip(blocks: list[Block]) -> list[Block]:
    return [{k: v for k, v in block.items() if k != "_ours"} for block in blocks]
