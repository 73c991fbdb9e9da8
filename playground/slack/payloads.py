"""Builders for what Slack sends a bot: event envelopes, message events and interaction payloads.

Shapes follow Slack's Events API and interactivity docs and bolt-python's scenario tests, so
Bolt's matchers (`app.event`, `app.message`, `app.action`, `app.view`) and middleware
(self-event filtering, authorization) see exactly what they see in production.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from .records import BotChange, JSONObject, Message
from .workspace import Channel, Workspace

VERIFICATION_TOKEN = "emulated-verification-token"

# Slack's own markup in message text: mentions, channels, special mentions and links.
_MARKUP = re.compile(
    r"<(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|![a-z]+(?:\^[A-Z0-9]+)?|(?:https?://|mailto:)[^<>|\s]+)"
    r"(?:\|[^<>]*)?>"
)


def escape_text(text: str) -> str:
    """Entity-escape `& < >` as Slack does, leaving Slack markup like `<@U123>` intact."""
    out: list[str] = []
    pos = 0
    for match in _MARKUP.finditer(text):
        out.append(_escape(text[pos : match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def rich_text_blocks(wire_text: str, block_id: str) -> list[JSONObject]:
    """The rich_text block Slack clients attach to a typed message."""
    elements: list[JSONObject] = []
    pos = 0
    for match in _MARKUP.finditer(wire_text):
        if match.start() > pos:
            elements.append({"type": "text", "text": _unescape(wire_text[pos : match.start()])})
        elements.append(_markup_element(match.group(0)[1:-1]))
        pos = match.end()
    if pos < len(wire_text):
        elements.append({"type": "text", "text": _unescape(wire_text[pos:])})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": block_id, "elements": [section]}]


def _markup_element(inner: str) -> JSONObject:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return {"type": "user", "user_id": target[1:]}
    if target.startswith("#"):
        return {"type": "channel", "channel_id": target[1:]}
    if target.startswith("!subteam^"):
        return {"type": "usergroup", "usergroup_id": target.removeprefix("!subteam^")}
    if target.startswith("!"):
        return {"type": "broadcast", "range": target[1:]}
    link: JSONObject = {"type": "link", "url": target}
    if label:
        link["text"] = label
    return link


def mentions(wire_text: str, user_id: str) -> bool:
    return re.search(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>", wire_text) is not None


def message_event(ws: Workspace, message: Message, channel: Channel) -> JSONObject:
    """A `message` event for a person's (or, echoed, the bot's) new message."""
    event = ws.message_payload(message)
    event.update({"channel": message.channel, "event_ts": message.ts})
    event["channel_type"] = channel.channel_type
    if message.bot_id is None:
        event["client_msg_id"] = f"emulated-{message.ts}"
    return event


def echo_event(ws: Workspace, change: BotChange, message: Message, conv: Channel) -> JSONObject:
    """The event Slack sends back for the bot's own post, edit or delete."""
    if change == "posted":
        return message_event(ws, message, conv)
    event: JSONObject = {
        "type": "message",
        "subtype": f"message_{change}",
        "hidden": True,
        "channel": message.channel,
        "channel_type": conv.channel_type,
    }
    if change == "changed":
        event["ts"] = message.edited_ts
        event["message"] = ws.message_payload(message)
    else:
        event["ts"] = ws.next_ts()
        event["deleted_ts"] = message.ts
        event["previous_message"] = ws.message_payload(message)
    event["event_ts"] = event["ts"]
    return event


def app_mention_event(ws: Workspace, message: Message) -> JSONObject:
    event = ws.message_payload(message)
    event["type"] = "app_mention"
    event.update({"channel": message.channel, "event_ts": message.ts})
    event["client_msg_id"] = f"emulated-{message.ts}"
    for key in ("reply_count", "reply_users", "latest_reply"):
        event.pop(key, None)
    return event


def event_callback(ws: Workspace, event: JSONObject, event_id: str) -> JSONObject:
    """The Events API envelope Slack wraps every event in."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        "context_team_id": ws.team_id,
        "context_enterprise_id": None,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-emulated-{event_id}",
    }


def user_object(ws: Workspace, user_id: str) -> JSONObject:
    name = ws.users[user_id].name if user_id in ws.users else user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": ws.team_id}


def button_action(button: JSONObject, block_id: str) -> JSONObject:
    """The `actions[0]` of a button click."""
    action: JSONObject = {
        "action_id": button.get("action_id"),
        "block_id": block_id,
        "text": button.get("text"),
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if button.get("value") is not None:
        action["value"] = button["value"]
    if button.get("style") is not None:
        action["style"] = button["style"]
    return action


def feedback_action(element: JSONObject, block_id: str, *, positive: bool) -> JSONObject:
    """The `actions[0]` of a thumbs up / down on a `feedback_buttons` element."""
    chosen = element.get("positive_button" if positive else "negative_button") or {}
    return {
        "type": "feedback_buttons",
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "value": chosen.get("value"),
        "action_ts": f"{time.time():.6f}",
    }


def block_actions(
    ws: Workspace,
    *,
    user: str,
    channel: Channel,
    message: Message | JSONObject,
    button: JSONObject | None = None,
    block_id: str = "",
    trigger_id: str,
    response_url: str,
    action: JSONObject | None = None,
) -> JSONObject:
    """A click in a message; `message` is a Message, or an ephemeral's dict (no `message` sent).

    The action is `action` when given, else a click on `button` in block `block_id`.
    """
    if action is None:
        if button is None:
            raise ValueError("block_actions needs a button or an action")
        action = button_action(button, block_id)
    is_ephemeral = not isinstance(message, Message)
    ts = message["ts"] if isinstance(message, dict) else message.ts
    thread_ts = message.get("thread_ts") if isinstance(message, dict) else message.thread_ts
    container: JSONObject = {
        "type": "message",
        "message_ts": ts,
        "channel_id": channel.id,
        "is_ephemeral": is_ephemeral,
    }
    if thread_ts is not None:
        container["thread_ts"] = thread_ts
    payload: JSONObject = {
        "type": "block_actions",
        "user": user_object(ws, user),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": _channel_name(channel)},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    if isinstance(message, Message):
        payload["message"] = ws.message_payload(message)
    return payload


def home_block_actions(
    ws: Workspace, *, user: str, view: JSONObject, action: JSONObject, trigger_id: str
) -> JSONObject:
    """A click in the Home tab: the view instead of a message, and no channel or response_url."""
    return {
        "type": "block_actions",
        "user": user_object(ws, user),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": trigger_id,
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": copy.deepcopy(view),
        "actions": [action],
    }


def app_home_opened_event(
    *, user: str, channel: str, tab: str, view: JSONObject | None
) -> JSONObject:
    """A person opened the app's Home or Messages tab; the view comes only with Home."""
    event: JSONObject = {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab}
    if view is not None:
        event["view"] = copy.deepcopy(view)
    event["event_ts"] = f"{time.time():.6f}"
    return event


def agent_session_stopped_event(
    *, user: str, channel: str, thread_ts: str, streams: list[str]
) -> JSONObject:
    """A person pressed Stop on the agent's session; `streams` are the streams it ended."""
    return {
        "type": "agent_session_stopped",
        "channel": channel,
        "thread_ts": thread_ts,
        "user": user,
        "streaming_message_ts": list(streams),
        "event_ts": f"{time.time():.6f}",
    }


def view_submission(
    ws: Workspace, *, user: str, entry: JSONObject, values: dict[str, Any], trigger_id: str
) -> JSONObject:
    """A modal's Submit: the view as the bot last set it, with the person's input in state."""
    view = dict(entry["view"])
    view["state"] = {"values": values}
    return {
        "type": "view_submission",
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "user": user_object(ws, user),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed(ws: Workspace, *, user: str, entry: JSONObject) -> JSONObject:
    """A modal closed with Cancel, sent only for views with `notify_on_close`."""
    return {
        "type": "view_closed",
        "team": {"id": ws.team_id, "domain": ws.team_domain},
        "user": user_object(ws, user),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "view": dict(entry["view"]),
        "is_cleared": False,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def _channel_name(channel: Channel) -> str:
    return "directmessage" if channel.kind == "im" else channel.name
