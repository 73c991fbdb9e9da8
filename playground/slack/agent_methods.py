"""Web API methods of Slack's agent surface: App Home, native streaming, assistant threads and
agent sessions, answering as Slack documents them (docs.slack.dev/reference/methods/*).

They share Methods' conversation and message checks, and keep their state in
`Workspace.agent` (agent_state.py).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import blocks as kit
from .agent_state import SESSION_STATUSES, Stream, StreamMode
from .errors import SlackError
from .records import JSONObject, Message

if TYPE_CHECKING:
    from .methods import Handler, Methods

MAX_LOADING_MESSAGES = 10
MAX_PROMPTS = 4
MAX_SESSION_TITLE = 200


class AgentMethods:
    """The agent-surface handlers; `handlers` is merged into Methods' table."""

    def __init__(self, methods: Methods) -> None:
        self.methods = methods
        self.ws = methods.ws
        self.state = methods.ws.agent
        self.handlers: dict[str, Handler] = {
            "agents.sessions.rename": self.sessions_rename,
            "agents.sessions.setStatus": self.sessions_set_status,
            "assistant.threads.setStatus": self.threads_set_status,
            "assistant.threads.setSuggestedPrompts": self.threads_set_suggested_prompts,
            "assistant.threads.setTitle": self.threads_set_title,
            "chat.appendStream": self.chat_append_stream,
            "chat.startStream": self.chat_start_stream,
            "chat.stopStream": self.chat_stop_stream,
            "views.publish": self.views_publish,
        }

    # ---- App Home --------------------------------------------------------------------------

    def views_publish(self, p: JSONObject, now: float) -> JSONObject:
        """The person's Home tab: same view id on every publish, a new hash each time."""
        user = _opt_str(p, "user_id")
        if user is None or user not in self.ws.users:
            raise SlackError("user_not_found")
        kit.check_view(p.get("view"))
        view: JSONObject = p["view"]
        if view["type"] != "home":
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] must be home [json-pointer:/view/type]"]},
            )
        current = self.state.home_views.get(user)
        if current is not None and p.get("hash") is not None and p["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view_id = current["id"] if current is not None else self.ws.new_id("V")
        full = self.methods.full_view(view, view_id=view_id, root=view_id, previous=None)
        self.state.home_views[user] = full
        self.state.home_publishes[user] = self.state.home_publishes.get(user, 0) + 1
        return {"view": copy.deepcopy(full)}

    # ---- native streaming ------------------------------------------------------------------

    def chat_start_stream(self, p: JSONObject, now: float) -> JSONObject:
        """A new bot message in the thread that grows with appendStream until stopped/expired.

        In a channel only `recipient_user_id` (of team `recipient_team_id`) sees it grow, so
        both are required there; in a DM they are optional.
        """
        channel = self.methods.bot_channel(p)
        thread_ts = _opt_str(p, "thread_ts")
        if thread_ts is None:
            raise SlackError("invalid_arguments")
        recipient, team = _opt_str(p, "recipient_user_id"), _opt_str(p, "recipient_team_id")
        if channel.kind != "im" and recipient is None:
            raise SlackError("missing_recipient_user_id")
        if channel.kind != "im" and team is None:
            raise SlackError("missing_recipient_team_id")
        if recipient is not None and recipient not in self.ws.users:
            raise SlackError("user_not_found")
        mode, text = _stream_content(p)
        if len(text) > kit.MAX_MARKDOWN_TEXT:
            raise SlackError("msg_too_long")
        message = self.ws.post(
            channel.id,
            user=self.ws.bot_user_id,
            bot_id=self.ws.bot_id,
            text=text,
            blocks=[],
            thread_ts=thread_ts,
            at=now,
        )
        message.streamed = True
        self.state.streams[(channel.id, message.ts)] = Stream(
            channel=channel.id,
            ts=message.ts,
            thread_ts=thread_ts,
            started_at=now,
            mode=mode,
            recipient_user_id=recipient,
            recipient_team_id=team,
            length=len(text),
        )
        self.methods.hooks.on_bot_message("posted", message)
        return {"channel": channel.id, "ts": message.ts}

    def chat_append_stream(self, p: JSONObject, now: float) -> JSONObject:
        stream, message = self._live_stream(p, now)
        if p.get("markdown_text") is None and p.get("chunks") is None:
            raise SlackError("no_text")
        mode, text = _stream_content(p)
        self._check_growth(stream, mode, text)
        self._grow(stream, message, mode, text, None, now)
        return {"channel": stream.channel, "ts": stream.ts}

    def chat_stop_stream(self, p: JSONObject, now: float) -> JSONObject:
        """Ends the stream: last text, `blocks` under it, `metadata`, and the session's status."""
        stream, message = self._live_stream(p, now)
        mode, text = _stream_content(p)
        self._check_growth(stream, mode, text)
        blocks = p.get("blocks")
        if blocks is not None:
            kit.check_message(None, blocks)
        session_status = _opt_str(p, "session_status")
        if session_status is not None and session_status not in SESSION_STATUSES:
            raise SlackError("invalid_arguments")
        self._grow(stream, message, mode, text, blocks, now)
        stream.stopped = True
        if isinstance(p.get("metadata"), dict):
            message.metadata = copy.deepcopy(p["metadata"])
        if session_status is not None:
            self.state.set_session_status((stream.channel, stream.thread_ts), session_status)
        return {
            "channel": stream.channel,
            "ts": stream.ts,
            "message": self.ws.message_payload(message),
        }

    def _live_stream(self, p: JSONObject, now: float) -> tuple[Stream, Message]:
        channel = self.methods.channel(p)
        message = self.ws.find(channel.id, _opt_str(p, "ts") or "")
        if message is None:
            raise SlackError("message_not_found")
        if message.bot_id != self.ws.bot_id:
            raise SlackError("message_not_owned_by_app")
        stream = self.state.live_stream(channel.id, message.ts, now)
        if stream is None:
            raise SlackError("message_not_in_streaming_state")
        return stream, message

    def _check_growth(self, stream: Stream, mode: StreamMode | None, text: str) -> None:
        if mode is not None and stream.mode is not None and mode != stream.mode:
            raise SlackError("streaming_mode_mismatch")
        if stream.length + len(text) > kit.MAX_MARKDOWN_TEXT:
            raise SlackError("msg_too_long")

    def _grow(
        self,
        stream: Stream,
        message: Message,
        mode: StreamMode | None,
        text: str,
        blocks: list[JSONObject] | None,
        now: float,
    ) -> None:
        """Apply checked content; each visible change is a new version (when it showed)."""
        stream.mode = stream.mode or mode
        stream.length += len(text)
        message.text += text
        if blocks is not None:
            message.blocks = copy.deepcopy(blocks)
        if text or blocks is not None:
            message.versions.append(
                {"text": message.text, "blocks": copy.deepcopy(message.blocks), "at": now}
            )

    # ---- assistant threads -----------------------------------------------------------------

    def threads_set_status(self, p: JSONObject, now: float) -> JSONObject:
        """The status line under a thread; "" clears it (Slack also clears it on a reply)."""
        channel = self.methods.bot_channel(p, "channel_id")
        thread_ts = _opt_str(p, "thread_ts")
        status = p.get("status")
        loading = p.get("loading_messages") or []
        if thread_ts is None or not isinstance(status, str):
            raise SlackError("invalid_arguments")
        if (
            not isinstance(loading, list)
            or len(loading) > MAX_LOADING_MESSAGES
            or not all(isinstance(m, str) for m in loading)
        ):
            raise SlackError("invalid_arguments")
        self.state.status(channel.id, thread_ts).set(status, loading, now)
        return {}

    def threads_set_suggested_prompts(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.methods.bot_channel(p, "channel_id")
        prompts = p.get("prompts")
        if (
            not isinstance(prompts, list)
            or not 1 <= len(prompts) <= MAX_PROMPTS
            or not all(_is_prompt(item) for item in prompts)
        ):
            raise SlackError("invalid_arguments")
        title = _opt_str(p, "title")
        key = (channel.id, _opt_str(p, "thread_ts"))
        self.state.prompts[key] = {"title": title, "prompts": copy.deepcopy(prompts)}
        return {}

    def threads_set_title(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.methods.bot_channel(p, "channel_id")
        thread_ts, title = _opt_str(p, "thread_ts"), _opt_str(p, "title")
        if thread_ts is None or title is None:
            raise SlackError("invalid_arguments")
        self.state.titles[(channel.id, thread_ts)] = title
        return {}

    # ---- agent sessions --------------------------------------------------------------------

    def sessions_set_status(self, p: JSONObject, now: float) -> JSONObject:
        """Move the session to a status, creating it (with `title`) on first use."""
        channel = self.methods.bot_channel(p, "channel_id")
        status, title = p.get("status"), _opt_str(p, "title")
        if status not in SESSION_STATUSES:
            raise SlackError("invalid_arguments")
        if title is not None and len(title) > MAX_SESSION_TITLE:
            raise SlackError("invalid_arguments")
        key = (channel.id, _opt_str(p, "thread_ts"))
        self.state.set_session_status(key, str(status), title=title)
        return {}

    def sessions_rename(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.methods.bot_channel(p, "channel_id")
        title = p.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= MAX_SESSION_TITLE:
            raise SlackError("invalid_arguments")
        session = self.state.sessions.get((channel.id, _opt_str(p, "thread_ts")))
        if session is None:
            raise SlackError("session_not_found")
        session.title = title
        return {}


def _stream_content(p: JSONObject) -> tuple[StreamMode | None, str]:
    """Which kind of content a stream call carries and the markdown it adds.

    Only `markdown_text` chunks add text; task_update, plan_update and blocks chunks are
    accepted and not rendered here.
    """
    markdown, chunks = p.get("markdown_text"), p.get("chunks")
    if markdown is not None and chunks is not None:
        raise SlackError("cannot_provide_both_markdown_text_and_chunks")
    if markdown is not None:
        return "markdown_text", str(markdown)
    if chunks is None:
        return None, ""
    if not isinstance(chunks, list) or not all(
        isinstance(c, dict) and isinstance(c.get("type"), str) for c in chunks
    ):
        raise SlackError("invalid_chunks")
    text = "".join(str(c.get("text", "")) for c in chunks if c["type"] == "markdown_text")
    return "chunks", text


def _is_prompt(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("title"), str)
        and isinstance(item.get("message"), str)
        and bool(item["title"])
        and bool(item["message"])
    )


def _opt_str(p: JSONObject, key: str) -> str | None:
    value = p.get(key)
    return None if value is None or value == "" else str(value)
