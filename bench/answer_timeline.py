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
    deleted ones included, each read from its versions (what Slack showed, a native stream's
    growing text included). A delete is timed by its call.
    """
    ok = [c for c in calls if c.status == 200]
    skipped = set(exclude)
    answer = [
        ts
        for ts in sorted(messages, key=ts_key)
        if messages[ts].thread_ts == root_ts
        and messages[ts].bot_id
        and ts != root_ts
        and ts not in skipped
    ]
    changes = [
        Change(float(v["at"]), ts, str(v["text"])) for ts in answer for v in messages[ts].versions
    ]
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
