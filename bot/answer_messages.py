"""The Slack messages of one answer: each piece posted once, edited in place, leftovers deleted.

The streamer decides when; this sends. Every call goes through bot.budgeted_calls. Each post
carries a metadata marker (the answer's id and the piece's index), so a post that failed
ambiguously but landed anyway is found by it and adopted, never posted twice. A call Slack
refuses for good raises `StreamError`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.answer_blocks import Block, Frame, sendable
from bot.budgeted_calls import ONE_TRY, BudgetedCalls, failure_code
from bot.marked_messages import find_marked, marker_metadata, thread_messages

Reply = dict[str, Any]

PIECE_EVENT = "countersign_answer_piece"


class StreamError(Exception):
    """Slack refused part of the answer for good; `error` is Slack's code (or the cause)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method} failed: {error}")
        self.method = method
        self.error = error


@dataclass(slots=True)
class SentMessage:
    """One message of the answer and the frame it is known to show."""

    ts: str
    shown: Frame | None = None


async def answer_pieces(
    client: AsyncWebClient, calls: BudgetedCalls, channel: str, thread_ts: str, answer_id: str
) -> list[str]:
    """ts of the messages an earlier attempt at this answer posted, in piece order.

    Reads the whole thread: a long thread's answer can be past the first page.
    """
    pieces: dict[int, str] = {}
    found = thread_messages(client, calls, channel=channel, thread_ts=thread_ts)
    async with contextlib.aclosing(found):
        async for message in found:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == PIECE_EVENT and payload.get("stream") == answer_id:
                pieces[int(payload.get("piece", 0))] = str(message["ts"])
    return [pieces[index] for index in sorted(pieces)]


class AnswerMessages:
    """Posts, edits and deletes the messages of one answer; `sent` is in thread order."""

    def __init__(
        self,
        client: AsyncWebClient,
        calls: BudgetedCalls,
        *,
        channel: str,
        thread_ts: str,
        answer_id: str,
        logger: logging.Logger,
    ) -> None:
        self._client = client
        self._calls = calls
        self._channel = channel
        self._thread_ts = thread_ts
        self._id = answer_id
        self._log = logger
        self._seq = itertools.count(1)
        self.sent: list[SentMessage] = []
        self._retired: list[SentMessage] = []

    async def post(self, index: int, frame: Frame) -> None:
        """Post piece `index` at the end of the thread; it must land."""
        previous = self.sent[-1].ts if self.sent else self._thread_ts

        async def send() -> Reply:
            response = await self._client.chat_postMessage(
                channel=self._channel,
                thread_ts=self._thread_ts,
                text=frame.text,
                blocks=self._blocks(frame),
                metadata=marker_metadata(self._marker(index), PIECE_EVENT),
            )
            return dict(response.data) if isinstance(response.data, dict) else {}

        reply = await self._call("chat.postMessage", send, lambda: self._find_post(index, previous))
        if reply is None:
            raise RuntimeError("a must-land call returned nothing")  # _call returns or raises
        self.sent.append(SentMessage(str(reply["ts"]), frame))

    async def update(self, message: SentMessage, frame: Frame, *, skippable: bool) -> bool:
        """Make `message` show `frame`; False when a skippable edit was skipped."""

        async def send() -> Reply:
            await self._client.chat_update(
                channel=self._channel,
                ts=message.ts,
                text=frame.text,
                blocks=self._blocks(frame),
                parse="none",
            )
            return {}

        reply = await self._call("chat.update", send, skippable=skippable)
        if reply is None:
            return False
        message.shown = frame
        return True

    async def delete(self, message: SentMessage, *, retired: bool = False) -> None:
        """Remove a message the final text no longer needs."""

        async def send() -> Reply:
            await self._client.chat_delete(channel=self._channel, ts=message.ts)
            return {}

        await self._call("chat.delete", send)
        (self._retired if retired else self.sent).remove(message)

    def retire(self, message: SentMessage) -> None:
        """Take `message` out of the answer (its piece goes to a new message); it is deleted
        by `delete_retired`, at the end, when edits and deletions no longer hold text back."""
        self.sent.remove(message)
        self._retired.append(message)

    @property
    def retired(self) -> tuple[SentMessage, ...]:
        """Messages taken out of the answer, still to be deleted."""
        return tuple(self._retired)

    async def delete_retired(self) -> None:
        """Delete the messages `retire` took out of the answer."""
        while self._retired:
            await self.delete(self._retired[0], retired=True)

    async def _find_post(self, index: int, after: str) -> Reply | None:
        """After an ambiguous failure, find the post if Slack made it anyway (no ghost twin).

        A search that fails raises: not knowing is no licence to post a second copy.
        """
        ts = await find_marked(
            self._client,
            self._calls,
            channel=self._channel,
            thread_ts=self._thread_ts,
            metadata=marker_metadata(self._marker(index), PIECE_EVENT),
            oldest=after,
            policy=ONE_TRY,
        )
        return {"ts": ts} if ts is not None else None

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
            raise self._refused(method, failure_code(error)) from error

    def _refused(self, method: str, error: str) -> StreamError:
        """One line: Slack's code (or the cause) says it all; a traceback would only repeat it."""
        self._log.error("%s refused for %s/%s: %s", method, self._channel, self._thread_ts, error)
        return StreamError(method, error)

    def _blocks(self, frame: Frame) -> list[Block]:
        """Fresh block_ids for every send, whichever message it is for."""
        return sendable(frame.blocks, f"cs-{self._id}-{next(self._seq)}")

    def _marker(self, index: int) -> dict[str, Any]:
        return {"stream": self._id, "piece": index}
