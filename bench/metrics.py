"""From what a phase left behind (the emulator's calls and messages, the mock's chunks, the
bench's own timings) to the figures people feel. Pure: nothing here waits or sends."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench import model
from bench.answer_timeline import (
    answer_changes,
    first_exactly,
    first_newly_containing,
    shown_at_end,
)
from bench.conversations import Ack, ConversationRun
from bench.slack_rates import method_rates
from playground.slack import Call, Message, SlackEmulator
from playground.slack.records import iter_elements
from tests.mock_llm_server import SentChunk

ANSWER_CALLS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.delete",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "assistant.threads.setStatus",
        "agents.sessions.setStatus",
    }
)
"""Calls an answer costs: what writes its messages, and the status line above them."""
_MISMATCHES_KEPT = 3


@dataclass(frozen=True, slots=True)
class Stats:
    """p50 / p99 / max (and n, mean) of a sample; None where there is no sample."""

    n: int
    p50: float | None
    p99: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, values: Iterable[float], scale: float = 1.0) -> Stats:
        data = sorted(v * scale for v in values)
        if not data:
            return cls(0, None, None, None, None)
        mean = sum(data) / len(data)
        return cls(len(data), percentile(data, 50), percentile(data, 99), data[-1], mean)

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("n", "p50", "p99", "max", "mean")}


def percentile(data: list[float], q: float) -> float:
    """Linear interpolation between closest ranks of sorted `data` (numpy's default)."""
    position = (len(data) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


@dataclass
class PhaseRecord:
    """Everything one phase produced, sliced to the phase."""

    kind: str
    runs: list[ConversationRun]
    chatter: list[Ack]
    started_at: float
    ended_at: float
    calls: list[Call]
    requests: list[tuple[int, dict[str, Any]]]
    chunks: list[SentChunk]
    cpu_seconds: float
    timed_out: bool
    extra: dict[str, Any] = field(default_factory=dict)


def phase_figures(record: PhaseRecord, slack: SlackEmulator) -> dict[str, Any]:
    """The figures of one phase, JSON-ready."""
    by_request: dict[int, list[SentChunk]] = {}
    for chunk in record.chunks:
        by_request.setdefault(chunk.request, []).append(chunk)
    requests: dict[tuple[str, str], list[int]] = {}
    for number, body in record.requests:
        conversation, kind = model.classify(body)
        if conversation is not None:
            requests.setdefault((conversation, kind), []).append(number)
    views = [_View(run, slack, record, by_request, requests) for run in record.runs]
    failed_calls = [c for c in record.calls if c.status == 429]
    tokens = sum(1 for c in record.chunks if c.text)
    after = [v.complete_after_model() for v in views]
    figures: dict[str, Any] = {
        "conversations": len(record.runs),
        "timed_out": record.timed_out,
        "seconds": record.ended_at - record.started_at,
        "ack_start_ms": Stats.of((a.seconds for v in views for a in v.run.acks), 1000),
        "ack_while_streaming_ms": Stats.of((a.seconds for a in record.chatter), 1000),
        "ack_failures": sum(
            1 for a in [*record.chatter, *(a for v in views for a in v.run.acks)] if a.status != 200
        ),
        "no_reply": sum(1 for v in views if not v.changes),
        "first_message_ms": Stats.of(_present(v.first_message() for v in views), 1000),
        "first_token_visible_ms": Stats.of(_present(v.first_token_visible() for v in views), 1000),
        "answer_done_s": Stats.of(_present(v.answer_done() for v in views)),
        "complete_after_model_s": Stats.of(_present(after)),
        "never_complete": sum(1 for a in after if a is None),
        "slack_calls_per_answer": Stats.of(v.answer_calls() for v in views),
        "slack_calls_per_conversation_by_method": _calls_by_method(views) if views else {},
        "edits_per_minute_per_message": Stats.of(r for v in views for r in v.edit_rates()),
        "longest_gap_between_edits_s": Stats.of(_present(v.longest_gap() for v in views)),
        "responses_429": len(failed_calls),
        "responses_429_by_method": dict(Counter(c.method for c in failed_calls)),
        "calls_inside_retry_after": sum(1 for c in record.calls if c.inside_retry_after),
        "slack_calls_by_method": dict(Counter(c.method for c in record.calls)),
        "slack_rates": method_rates(record.calls, record.ended_at - record.started_at),
        "tokens": tokens,
        "bot_cpu_seconds": record.cpu_seconds,
        "cpu_seconds_per_1000_tokens": record.cpu_seconds / tokens * 1000 if tokens else None,
        **_completeness(views),
        **record.extra,
    }
    if record.kind == "approval":
        figures.update(_approval_figures(views))
    return figures


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


class _View:
    """One conversation seen through the records: its thread, its requests, its calls."""

    def __init__(
        self,
        run: ConversationRun,
        slack: SlackEmulator,
        record: PhaseRecord,
        by_request: dict[int, list[SentChunk]],
        requests: dict[tuple[str, str], list[int]],
    ) -> None:
        self.run = run
        self._by_request = by_request
        self._requests = requests
        self.calls = [c for c in record.calls if call_channel(c) == run.channel]
        thread = thread_messages(slack, run.channel, run.root_ts) if run.root_ts else {}
        self.card = thread.get(run.card_ts) if run.card_ts else None
        skipped = [run.card_ts] if run.card_ts else []
        self.changes = (
            answer_changes(self.calls, thread, root_ts=run.root_ts, exclude=skipped)
            if run.root_ts
            else []
        )

    def first_chunk(self, kind: str) -> SentChunk | None:
        """The first chunk with text the model sent for this conversation's `kind` request."""
        for number in self._requests.get((self.run.tag, kind), []):
            for chunk in self._by_request.get(number, []):
                if chunk.text:
                    return chunk
        return None

    def _chunks(self) -> list[SentChunk]:
        numbers = sorted(
            n for (tag, _), ns in self._requests.items() if tag == self.run.tag for n in ns
        )
        return [c for n in numbers for c in self._by_request.get(n, [])]

    def model_text(self) -> str:
        return "".join(c.text for c in self._chunks())

    def model_finished(self) -> float | None:
        """When the model sent this conversation's last chunk."""
        return max((c.at for c in self._chunks()), default=None)

    def shown_text(self) -> str:
        return shown_at_end(self.changes)

    def visible(self, chunk: SentChunk) -> float | None:
        """When the thread first showed `chunk`'s text (newly: not words shown before it)."""
        return first_newly_containing(self.changes, chunk.text, chunk.at)

    def first_message(self) -> float | None:
        first = min((c.at for c in self.changes), default=None)
        return None if first is None else first - self.run.started_at

    def first_token_visible(self) -> float | None:
        chunk = self.first_chunk("tool_call" if self.run.kind == "approval" else "chat")
        shown = None if chunk is None else self.visible(chunk)
        return None if chunk is None or shown is None else shown - chunk.at

    def complete_after_model(self) -> float | None:
        """From the model's last chunk to the first moment the thread showed all it sent."""
        done = first_exactly(self.changes, self.model_text())
        finished = self.model_finished()
        return None if done is None or finished is None else done - finished

    def answer_done(self) -> float | None:
        last = max((c.at for c in self.changes), default=None)
        return None if last is None else last - self.run.started_at

    def answer_calls(self) -> int:
        return sum(1 for c in self.calls if c.method in ANSWER_CALLS)

    def edit_rates(self) -> list[float]:
        """Edits per minute of each answer message, over the time it was being edited."""
        versions: dict[str, list[float]] = {}
        for change in self.changes:
            if change.text is not None:
                versions.setdefault(change.ts, []).append(change.at)
        rates = []
        for times in versions.values():
            edits, span = len(times) - 1, times[-1] - times[0]
            if edits and span > 0:
                rates.append(edits / span * 60)
        return rates

    def longest_gap(self) -> float | None:
        """Longest time the answer did not change while it was being written."""
        times = [c.at for c in self.changes]
        return max((b - a for a, b in itertools.pairwise(times)), default=None)

    def card_edited(self) -> float | None:
        if self.card is None or self.run.clicked_at is None:
            return None
        for version in self.card.versions:
            buttons = [e for e in iter_elements(version["blocks"]) if e.get("type") == "button"]
            if version["at"] >= self.run.clicked_at and not buttons:
                return float(version["at"]) - self.run.clicked_at
        return None

    def continuation_visible(self) -> float | None:
        chunk = self.first_chunk("continuation")
        if chunk is None or self.run.clicked_at is None:
            return None
        shown = self.visible(chunk)
        return None if shown is None else shown - self.run.clicked_at


def call_channel(call: Call) -> str | None:
    """The conversation a call is about (`channel`, or `channel_id` for the status calls)."""
    found = call.params.get("channel", call.params.get("channel_id"))
    return None if found is None else str(found)


def thread_messages(slack: SlackEmulator, channel: str, root_ts: str) -> dict[str, Message]:
    """Every message in a thread by ts, deleted ones included (their versions still count)."""
    return {
        ts: message
        for (where, ts), message in slack.workspace.messages.items()
        if where == channel and message.thread_ts == root_ts
    }


def _calls_by_method(views: list[_View]) -> dict[str, float]:
    """Mean calls per conversation, by method, of every call on the conversations' channels."""
    counted = Counter(c.method for v in views for c in v.calls)
    return {method: count / len(views) for method, count in sorted(counted.items())}


def _completeness(views: list[_View]) -> dict[str, Any]:
    """Answers whose text in Slack (all the bot's messages, joined) is exactly what was sent."""
    exact = spacing = 0
    mismatches: list[dict[str, Any]] = []
    for view in views:
        sent, shown = view.model_text(), view.shown_text()
        if sent and sent == shown:
            exact += 1
            continue
        if sent and sent.split() == shown.split():
            spacing += 1
        if len(mismatches) < _MISMATCHES_KEPT:
            mismatches.append(_mismatch(view.run.tag, sent, shown))
    return {
        "complete": exact,
        "whitespace_only_differences": spacing,
        "mismatches": mismatches,
    }


def _mismatch(tag: str, sent: str, shown: str) -> dict[str, Any]:
    at = next((i for i, (a, b) in enumerate(zip(sent, shown, strict=False)) if a != b), None)
    at = min(len(sent), len(shown)) if at is None else at
    return {
        "conversation": tag,
        "sent_chars": len(sent),
        "shown_chars": len(shown),
        "first_difference_at": at,
        "sent_there": sent[max(0, at - 20) : at + 40],
        "shown_there": shown[max(0, at - 20) : at + 40],
    }


def _approval_figures(views: list[_View]) -> dict[str, Any]:
    clicks = [v.run.click for v in views if v.run.click is not None]
    return {
        "cards_missing": sum(1 for v in views if v.run.card_ts is None),
        "click_failures": sum(1 for c in clicks if c.status != 200),
        "click_ack_ms": Stats.of((c.seconds for c in clicks), 1000),
        "click_to_card_edited_ms": Stats.of(_present(v.card_edited() for v in views), 1000),
        "click_to_continuation_ms": Stats.of(
            _present(v.continuation_visible() for v in views), 1000
        ),
        "errors": [f"{v.run.tag}: {v.run.error}" for v in views if v.run.error][:5],
    }
