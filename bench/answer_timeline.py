"""What one answer's thread showed, moment by moment: the bot's messages in it (the approval
card aside), read from the emulator's records, joined in thread order.

A person sees text arrive by any of these: a post (`chat.postMessage`), an edit
(`chat.update`), a native stream (`chat.startStream` / `appendStream` / `stopStream`, whose
`markdown_text` or markdown `chunks` add up on the message startStream returned), and a delete
takes a message away. An answer may be one message edited many times, several messages posted
one after the other, or a stream, so "what the thread shows" is the join of all of them at a
moment, never one call's text. Pure: nothing here waits or sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from playground.slack import Call, Message

POSTING = frozenset({"chat.postMessage", "chat.startStream"})
"""Calls that start a message in the thread; the response's `ts` names it."""
STREAMING = frozenset({"chat.startStream", "chat.appendStream", "chat.stopStream"})
"""Calls whose `markdown_text` (or markdown `chunks`) add to the stream's message."""


@dataclass(frozen=True, slots=True)
class Change:
    """One message of the answer at `at` shows `text` from then on (None: it was deleted)."""

    at: float
    ts: str
    text: str | None


def answer_changes(
    calls: Iterable[Call],
    messages: Mapping[str, Message],
    *,
    root_ts: str,
    exclude: Iterable[str] = (),
) -> list[Change]:
    """Every change to the bot's messages in the thread of `root_ts`, in time order.

    `calls` are the conversation's channel's calls; `messages` the emulator's messages by ts,
    deleted ones included. A message the emulator keeps is read from its versions (what
    Slack would show); one it does not keep (a native stream the emulator does not store) is
    rebuilt from the successful calls that wrote it. A delete is timed by its call.
    """
    ok = [c for c in calls if c.status == 200]
    skipped = set(exclude)
    answer = [ts for ts in _posted(ok, messages, root_ts) if ts not in skipped]
    changes: list[Change] = []
    for ts in answer:
        message = messages.get(ts)
        if message is None:
            changes.extend(_rebuilt(ok, ts))
        else:
            changes.extend(Change(float(v["at"]), ts, str(v["text"])) for v in message.versions)
    changes.extend(
        Change(c.at, str(c.params.get("ts")), None)
        for c in ok
        if c.method == "chat.delete" and c.params.get("ts") in answer
    )
    return sorted(changes, key=lambda c: c.at)


def states(changes: list[Change]) -> Iterator[tuple[float, str]]:
    """(time, what the thread's answer shows then) after each moment something changed."""
    shown: dict[str, str] = {}
    for index, change in enumerate(changes):
        if change.text is None:
            shown.pop(change.ts, None)
        else:
            shown[change.ts] = change.text
        following = changes[index + 1] if index + 1 < len(changes) else None
        if following is None or following.at != change.at:
            yield change.at, joined(shown)


def joined(shown: Mapping[str, str]) -> str:
    """The messages' texts in thread order (by ts), as one answer."""
    return "".join(shown[ts] for ts in sorted(shown, key=ts_key))


def shown_at_end(changes: list[Change]) -> str:
    """What the thread's answer shows after the last change."""
    last = ""
    for _, text in states(changes):
        last = text
    return last


def first_exactly(changes: list[Change], text: str) -> float | None:
    """The first moment the answer showed exactly `text` (None: never, or `text` is empty)."""
    if not text:
        return None
    return next((at for at, shown in states(changes) if shown == text), None)


def first_newly_containing(changes: list[Change], needle: str, after: float) -> float | None:
    """The first moment at or after `after` the answer shows `needle` more often than it did
    just before `after`: new words arriving, not words it already showed."""
    if not needle:
        return None
    before = 0
    for at, shown in states(changes):
        count = shown.count(needle)
        if at < after:
            before = count
        elif count > before:
            return at
    return None


def ts_key(ts: str) -> tuple[int, int]:
    """Slack's ts as numbers, so "…9.000100" sorts before "…10.000000"."""
    seconds, _, micros = ts.partition(".")
    return int(seconds or 0), int(micros or 0)


def stream_text(params: Mapping[str, object]) -> str:
    """The text a stream call adds: its `markdown_text`, or its markdown chunks' texts."""
    markdown = params.get("markdown_text")
    if markdown is not None:
        return str(markdown)
    chunks = params.get("chunks")
    if not isinstance(chunks, list):
        return ""
    return "".join(
        str(chunk.get("text", ""))
        for chunk in chunks
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text"
    )


def _posted(ok: list[Call], messages: Mapping[str, Message], root_ts: str) -> list[str]:
    """ts of the bot's messages in the thread: the emulator's and those the calls started."""
    found = {ts for ts, m in messages.items() if m.thread_ts == root_ts and m.bot_id}
    for call in ok:
        ts = call.response.get("ts")
        if call.method in POSTING and call.params.get("thread_ts") == root_ts and ts:
            found.add(str(ts))
    found.discard(root_ts)
    return sorted(found, key=ts_key)


def _rebuilt(ok: list[Call], ts: str) -> list[Change]:
    """A message the emulator does not keep, from the calls that wrote it."""
    changes: list[Change] = []
    text = ""
    for call in ok:
        started = call.method == "chat.startStream" and call.response.get("ts") == ts
        if not started and call.params.get("ts") != ts:
            continue
        if call.method in STREAMING:
            text += stream_text(call.params)
        elif call.method in ("chat.postMessage", "chat.update"):
            text = _written_text(call)
        else:
            continue
        changes.append(Change(call.at, ts, text))
    return changes


def _written_text(call: Call) -> str:
    """The text a post or an edit left on the message (as the response says, else as sent)."""
    answered = call.response.get("message")
    if isinstance(answered, dict) and "text" in answered:
        return str(answered["text"])
    if "text" in call.response:
        return str(call.response["text"])
    return str(call.params.get("markdown_text") or call.params.get("text") or "")
