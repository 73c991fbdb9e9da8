"""Which thread, turn and Slack event a log line belongs to, wherever in the code it is written.

The ids travel in a context variable: set where work starts (a Bolt listener taking an event or
a click, the inbox runner taking an item) and reset when it ends. asyncio copies the variable
into every task started meanwhile, so lines logged on behalf of that work by agent/, LangGraph,
slack_sdk or a background job carry the same ids without being handed them. bot.log_format
writes them into JSON lines; the text format leaves them out.

The variable is module-level because a context variable must be one object for everyone who
reads it (Python's own rule: create them at module level, never in closures); it holds no state
of its own, only each task's current value.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class LogIds:
    """The ids a log line carries; None where the work has none (yet)."""

    thread: str | None = None
    """The agent thread id (one Slack thread, or one API conversation)."""
    turn: str | None = None
    """The answer id of the inbox item being run (it also tags the item's Slack messages)."""
    event: str | None = None
    """Slack's event id, or the trigger id of a click or modal submission."""


_CURRENT: ContextVar[LogIds | None] = ContextVar("countersign_log_ids", default=None)


def current() -> LogIds:
    """The ids of the work this code runs for."""
    return _CURRENT.get() or LogIds()


@contextlib.contextmanager
def working_on(
    *, thread: str | None = None, turn: str | None = None, event: str | None = None
) -> Iterator[None]:
    """Lines logged inside (and in tasks started inside) carry these ids, on top of the
    enclosing ones; on the way out the enclosing ids are back."""
    token = _CURRENT.set(_merged(thread=thread, turn=turn, event=event))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def task_context(*, thread: str | None = None, turn: str | None = None) -> contextvars.Context:
    """A copy of the current context with these ids on top, for `asyncio.create_task(…,
    context=…)`: the task and the tasks it starts carry them, and they end with it."""
    context = contextvars.copy_context()
    context.run(_CURRENT.set, _merged(thread=thread, turn=turn))
    return context


def learned(*, thread: str | None = None, turn: str | None = None) -> None:
    """An id found part-way through the work (a listener decodes the thread from the payload):
    it holds until the enclosing `working_on` ends, which resets what this sets."""
    _CURRENT.set(_merged(thread=thread, turn=turn))


def _merged(**ids: str | None) -> LogIds:
    known = {name: value for name, value in ids.items() if value is not None}
    return dataclasses.replace(current(), **known)
