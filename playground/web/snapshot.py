"""What one person sees of the workspace, as JSON for the page: pure reads, no changes.

Only what Slack would show them: public channels, private ones and DMs they are in, their own
ephemeral messages and their own open modal. Message text and blocks go out exactly as the bot
sent them (Slack's wire format); the page renders them.
"""

from __future__ import annotations

from typing import Any

from bot.settings import BotSettings
from playground.slack import Call, Message, SlackEmulator
from playground.slack.workspace import Channel
from playground.web.agent_snapshot import agent_surface, home

JSONObject = dict[str, Any]


def about(settings: BotSettings) -> JSONObject:
    """The settings that change what people see, for the page's header."""
    return {
        "model": settings.llm_model,
        "approvers": list(settings.approvers),
        "allow_self_approval": settings.allow_self_approval,
        "ask_human_responders": settings.ask_human_responders,
        "approval_ttl_seconds": settings.approval_ttl_seconds,
    }


def directory(slack: SlackEmulator) -> JSONObject:
    """People, user groups and the bot: what mentions in text resolve to."""
    ws = slack.workspace
    return {
        "team": {"id": ws.team_id, "name": "Countersign playground"},
        "bot": ws.bot_user_id,
        "users": [{"id": u.id, "name": u.name, "is_bot": u.is_bot} for u in ws.users.values()],
        "usergroups": [{"id": g.id, "handle": g.handle} for g in ws.usergroups.values()],
    }


def conversations(slack: SlackEmulator, user: str) -> list[JSONObject]:
    """The conversations `user` can see, in sidebar order: channels, then DMs."""
    visible = [c for c in slack.workspace.channels.values() if can_see(c, user)]
    visible.sort(key=lambda c: (c.kind == "im", c.name))
    return [
        {"id": c.id, "kind": c.kind, "name": _name(slack, c, user), "member": user in c.members}
        for c in visible
    ]


def can_see(channel: Channel, user: str) -> bool:
    """Public channels are open to everyone; private ones and DMs only to their members."""
    return channel.kind == "channel" or user in channel.members


def messages(slack: SlackEmulator, channel: str) -> list[JSONObject]:
    """Every live message of a conversation (thread replies too), oldest first."""
    return [_message(slack, m) for m in slack.messages(channel)]


def ephemerals(slack: SlackEmulator, user: str) -> list[JSONObject]:
    """Messages only `user` sees ("Only visible to you")."""
    return [
        {
            "channel": e["channel"],
            "ts": e["ts"],
            "thread_ts": e["thread_ts"],
            "text": e["text"],
            "blocks": e["blocks"],
            "at": e["at"],
        }
        for e in slack.ephemerals(user=user)
    ]


def open_view(slack: SlackEmulator, user: str) -> JSONObject | None:
    """The modal on top of `user`'s screen, if any, with errors from the bot's last ack."""
    shown = [entry for entry in slack.views if entry["open"] and entry["user"] == user]
    if not shown:
        return None
    entry = shown[-1]
    view = entry["view"]
    return {
        "id": entry["view_id"],
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": view.get("blocks", []),
        "errors": entry["errors"] or {},
    }


def call_summary(index: int, call: Call) -> JSONObject:
    """One line of the API log: which method, when, and how it went."""
    channel = call.params.get("channel")
    return {
        "index": index,
        "method": call.method,
        "at": call.at,
        "status": call.status,
        "ok": call.error is None,
        "error": call.error,
        "channel": channel if isinstance(channel, str) else None,
        "ignored_retry_after": call.inside_retry_after,
    }


def call_detail(index: int, call: Call) -> JSONObject:
    """The whole call, for when someone opens a log line: what the bot sent, what it got."""
    return {**call_summary(index, call), "params": call.params, "response": call.response}


def _message(slack: SlackEmulator, message: Message) -> JSONObject:
    return {
        "ts": message.ts,
        "thread_ts": message.thread_ts,
        "user": message.user,
        "bot": message.bot_id is not None,
        "text": message.text,
        "blocks": message.blocks,
        "at": message.versions[0]["at"],
        "edits": len(message.versions) - 1,
        "reactions": [{"name": n, "users": list(u)} for n, u in message.reactions.items()],
        # A native stream's text is markdown and shows above its blocks; `streaming` while it grows.
        "streamed": message.streamed,
        "streaming": message.streamed and slack.is_streaming(message.channel, message.ts),
    }


def _name(slack: SlackEmulator, channel: Channel, user: str) -> str:
    """A channel's name; a DM is named after the others in it, as Slack's sidebar does."""
    if channel.kind != "im":
        return channel.name
    others = [m for m in channel.members if m != user] or [user]
    return ", ".join(slack.workspace.users[m].name for m in others if m in slack.workspace.users)


def state(slack: SlackEmulator, settings: JSONObject, user: str) -> JSONObject:
    """Everything the page shows `user`, in parts the live stream can send one by one."""
    visible = conversations(slack, user)
    return {
        "me": user,
        "about": settings,
        "directory": directory(slack),
        "conversations": visible,
        "messages": {c["id"]: messages(slack, c["id"]) for c in visible},
        "ephemerals": ephemerals(slack, user),
        "view": open_view(slack, user),
        "agent": agent_surface(slack, [c["id"] for c in visible]),
        "home": home(slack, user),
    }
