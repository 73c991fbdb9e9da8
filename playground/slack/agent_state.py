"""What Slack remembers about its agent surface: App Home views, native streams, thread
status lines, suggested prompts, thread titles and agent sessions.

Pure state with no I/O, kept apart from Workspace's messages so the rules that only apply to
AI apps (stream expiry, the status line's auto-clear) live in one place. Times are the
emulator clock's seconds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

from .records import JSONObject

STATUS_TTL = 120.0
"""Slack clears a thread's status line after two minutes without a reply."""
DEFAULT_STREAM_LIFETIME = 300.0
"""A native stream ends about five minutes after chat.startStream, appends or not."""
SESSION_STATUSES = ("active", "processing", "suspended", "closed")

StreamMode = Literal["chunks", "markdown_text"]
ThreadKey = tuple[str, str | None]
"""(channel, thread_ts); thread_ts None means the conversation itself (a DM's top level)."""


@dataclass
class Stream:
    """One chat.startStream message while it grows; `stopped` once the app or a person ends it."""

    channel: str
    ts: str
    thread_ts: str
    started_at: float
    mode: StreamMode | None
    """Set by the first call that carries content; later calls must use the same kind."""
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None
    length: int = 0
    """Markdown characters streamed so far (Slack allows 12,000 per message)."""
    stopped: bool = False

    def live(self, now: float, lifetime: float) -> bool:
        return not self.stopped and now - self.started_at < lifetime


@dataclass
class ThreadStatus:
    """The "is thinking…" line under a thread, with every value it showed."""

    value: str = ""
    set_at: float = 0.0
    loading_messages: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)

    def current(self, now: float) -> str | None:
        self._expire(now)
        return self.value or None

    def set(self, value: str, loading_messages: list[str], now: float) -> None:
        self._expire(now)
        self.value, self.set_at, self.loading_messages = value, now, list(loading_messages)
        self.history.append(value)

    def clear(self, now: float) -> None:
        """What a reply from the app does: the line goes away (recorded only if it was shown)."""
        self._expire(now)
        if self.value:
            self.value, self.loading_messages = "", []
            self.history.append("")

    def _expire(self, now: float) -> None:
        if self.value and now - self.set_at >= STATUS_TTL:
            self.value, self.loading_messages = "", []
            self.history.append("")


@dataclass
class Session:
    """An agent session: Slack shows its status and title, and a Stop button while it works."""

    status: str
    title: str | None
    history: list[str] = field(default_factory=list)

    def as_json(self) -> JSONObject:
        return {"status": self.status, "title": self.title, "history": list(self.history)}


@dataclass
class AgentState:
    """Everything about the agent surface, for one workspace."""

    stream_lifetime: float = DEFAULT_STREAM_LIFETIME
    home_views: dict[str, JSONObject] = field(default_factory=dict)
    """User id -> their current Home tab view (as views.publish echoed it)."""
    home_publishes: dict[str, int] = field(default_factory=dict)
    streams: dict[tuple[str, str], Stream] = field(default_factory=dict)
    """(channel, ts) -> the stream that message was started as."""
    statuses: dict[tuple[str, str], ThreadStatus] = field(default_factory=dict)
    prompts: dict[ThreadKey, JSONObject] = field(default_factory=dict)
    """{"title": str | None, "prompts": [{title, message}]} per thread (or conversation)."""
    titles: dict[tuple[str, str], str] = field(default_factory=dict)
    sessions: dict[ThreadKey, Session] = field(default_factory=dict)

    def live_stream(self, channel: str, ts: str, now: float) -> Stream | None:
        stream = self.streams.get((channel, ts))
        if stream is None or not stream.live(now, self.stream_lifetime):
            return None
        return stream

    def status(self, channel: str, thread_ts: str) -> ThreadStatus:
        return self.statuses.setdefault((channel, thread_ts), ThreadStatus())

    def app_replied(self, channel: str, thread_ts: str, now: float) -> None:
        """A post or a stream from the app in a thread clears its status line."""
        status = self.statuses.get((channel, thread_ts))
        if status is not None:
            status.clear(now)

    def set_session_status(
        self, key: ThreadKey, status: str, *, title: str | None = None
    ) -> Session:
        """Create the session on first use (with `title`), then move it to `status`."""
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = Session(status=status, title=title)
        session.status = status
        session.history.append(status)
        return session

    def home_view(self, user: str) -> JSONObject | None:
        view = self.home_views.get(user)
        return copy.deepcopy(view) if view is not None else None
