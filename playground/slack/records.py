"""What the emulator remembers: Web API calls, messages with every version, and bot answers.

These are the objects tests assert on, so they describe what a person in Slack would see
(`Message.visible_text`, `Message.buttons`) rather than how it got there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

JSONObject = dict[str, Any]
BotChange = Literal["posted", "changed", "deleted"]
"""What the bot did to one of its messages (Slack echoes each as an event)."""


@dataclass(frozen=True)
class Call:
    """One Web API request the emulator received, recorded whether it succeeded or not."""

    method: str
    params: JSONObject
    status: int
    error: str | None
    at: float
    http_method: str = "POST"
    encoding: str = "json"
    """How the parameters arrived: "json", "form", "query" or "none"."""
    response: JSONObject = field(default_factory=dict)
    inside_retry_after: bool = False
    """True when the call came while an earlier 429's Retry-After window was still open."""


@dataclass
class Message:
    """A message in a conversation, with every version it went through."""

    channel: str
    ts: str
    user: str | None
    bot_id: str | None
    text: str
    blocks: list[JSONObject]
    thread_ts: str | None
    versions: list[JSONObject]
    """Every version as {"text", "blocks", "at"}; versions[0] is the post itself (for a stream,
    chat.startStream), then one per edit, or per append/stop that showed something new."""
    deleted: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict)
    """Reaction name -> users who added it, in order."""
    metadata: JSONObject | None = None
    edited_ts: str | None = None
    streamed: bool = False
    """Made by chat.startStream and not edited since: its markdown text shows above its blocks
    (stopStream's), instead of being only their fallback."""

    @property
    def edited(self) -> bool:
        """Whether the message was edited after it was posted (a stream growing is not)."""
        return self.edited_ts is not None

    def buttons(self) -> list[JSONObject]:
        """Button elements a person can click in the current blocks, top to bottom."""
        return [el for el in iter_elements(self.blocks) if el.get("type") == "button"]

    def button(self, action_id: str) -> JSONObject:
        """The button with this action_id; fails loudly when the message does not show it."""
        for button in self.buttons():
            if button.get("action_id") == action_id:
                return button
        shown = [b.get("action_id") for b in self.buttons()]
        raise AssertionError(
            f"message {self.channel}/{self.ts} has no button {action_id!r} (buttons: {shown})"
        )

    def visible_text(self) -> str:
        """The text a person reads in the current blocks, or `text` when there are none.

        A streamed message shows its streamed text and, under it, the blocks stopStream added.
        """
        rendered = blocks_text(self.blocks)
        if self.streamed:
            return "\n".join(part for part in (self.text, rendered) if part)
        return rendered if rendered else self.text


@dataclass(frozen=True)
class Delivery:
    """The bot's answer to an event or interaction the emulator delivered."""

    status: int
    """HTTP status; 200 for a Socket Mode ack; 0 when the bot did not answer in time."""
    body: str
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        """Whether Slack would count this as acknowledged."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body decoded as JSON (None for an empty body)."""
        return json.loads(self.body) if self.body else None


def iter_elements(blocks: list[JSONObject]) -> list[JSONObject]:
    """Interactive elements of the blocks in reading order (actions, accessories, inputs)."""
    found: list[JSONObject] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("actions", "context_actions"):
            found.extend(el for el in block.get("elements", []) if isinstance(el, dict))
        elif kind == "section" and isinstance(block.get("accessory"), dict):
            found.append(block["accessory"])
        elif kind == "input" and isinstance(block.get("element"), dict):
            found.append(block["element"])
    return found


def blocks_text(blocks: list[JSONObject]) -> str:
    """Readable text of section, markdown, context, header and rich_text blocks, one per line."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.append(_object_text(block.get("text")))
            lines.extend(_object_text(f) for f in block.get("fields", []) or [])
        elif kind == "markdown":
            lines.append(str(block.get("text", "")))
        elif kind == "context":
            parts = [_object_text(el) for el in block.get("elements", []) or []]
            lines.append(" ".join(p for p in parts if p))
        elif kind == "rich_text":
            lines.append(_rich_text(block.get("elements", []) or []))
    return "\n".join(line for line in lines if line)


def _object_text(obj: Any) -> str:
    if isinstance(obj, dict) and obj.get("type") in ("plain_text", "mrkdwn"):
        return str(obj.get("text", ""))
    return ""


def _rich_text(elements: list[Any]) -> str:
    """Render rich text the way a reader sees it; containers become lines."""
    out: list[str] = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        kind = el.get("type")
        if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
            out.append("".join(_rich_inline(child) for child in el.get("elements", []) or []))
        elif kind == "rich_text_list":
            out.append(_rich_text(el.get("elements", []) or []))
        else:
            out.append(_rich_inline(el))
    return "\n".join(out)


def _rich_inline(el: Any) -> str:
    if not isinstance(el, dict):
        return ""
    kind = el.get("type")
    if kind == "text":
        return str(el.get("text", ""))
    if kind == "link":
        return str(el.get("text") or el.get("url", ""))
    if kind == "user":
        return f"<@{el.get('user_id', '')}>"
    if kind == "channel":
        return f"<#{el.get('channel_id', '')}>"
    if kind == "usergroup":
        return f"<!subteam^{el.get('usergroup_id', '')}>"
    if kind == "broadcast":
        return f"<!{el.get('range', '')}>"
    if kind == "emoji":
        return f":{el.get('name', '')}:"
    return ""
