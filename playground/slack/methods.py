"""The Web API methods the bot uses, each answering exactly as Slack documents.

A handler takes the merged request parameters and the clock, changes the workspace, and returns
the success body (without `"ok": true`) or raises SlackError with Slack's error code.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import blocks as kit
from .agent_methods import AgentMethods
from .errors import SlackError
from .records import BotChange, JSONObject, Message
from .workspace import Channel, Trigger, Workspace

Handler = Callable[[JSONObject, float], JSONObject]


@dataclass
class Hooks:
    """How handlers reach outside the workspace."""

    on_bot_message: Callable[[BotChange, Message], None]
    socket_url: Callable[[], str]


class Methods:
    """Slack Web API methods over one Workspace."""

    def __init__(self, ws: Workspace, hooks: Hooks) -> None:
        self.ws = ws
        self.hooks = hooks
        self.handlers: dict[str, Handler] = {
            "apps.connections.open": self.apps_connections_open,
            "auth.test": self.auth_test,
            "chat.delete": self.chat_delete,
            "chat.getPermalink": self.chat_get_permalink,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "conversations.info": self.conversations_info,
            "conversations.members": self.conversations_members,
            "conversations.open": self.conversations_open,
            "conversations.replies": self.conversations_replies,
            "reactions.add": self.reactions_add,
            "reactions.remove": self.reactions_remove,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "users.info": self.users_info,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
        }
        self.handlers.update(AgentMethods(self).handlers)

    # ---- auth ------------------------------------------------------------------------------

    def auth_test(self, p: JSONObject, now: float) -> JSONObject:
        return {
            "url": f"https://{self.ws.team_domain}.slack.com/",
            "team": "Countersign Test",
            "user": self.ws.users[self.ws.bot_user_id].name,
            "team_id": self.ws.team_id,
            "user_id": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, p: JSONObject, now: float) -> JSONObject:
        return {"url": self.hooks.socket_url()}

    # ---- chat ------------------------------------------------------------------------------

    def chat_post_message(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.bot_channel(p)
        text, blocks = self._content(p)
        message = self.ws.post(
            channel.id,
            user=self.ws.bot_user_id,
            bot_id=self.ws.bot_id,
            text=text,
            blocks=blocks,
            thread_ts=_opt_str(p, "thread_ts"),
            at=now,
            metadata=p.get("metadata") if isinstance(p.get("metadata"), dict) else None,
        )
        self.hooks.on_bot_message("posted", message)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "message": self.ws.message_payload(message),
        }

    def chat_post_ephemeral(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.bot_channel(p)
        user = _opt_str(p, "user")
        if user is None or user not in self.ws.users:
            raise SlackError("user_not_found")
        if user not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks = self._content(p)
        ts = self.ws.next_ts()
        self.ws.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "ts": ts,
                "text": text,
                "blocks": blocks,
                "thread_ts": _opt_str(p, "thread_ts"),
                "at": now,
                "via": "chat.postEphemeral",
                "deleted": False,
            }
        )
        return {"message_ts": ts}

    def chat_update(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.channel(p)
        message = self.own_message(channel, _opt_str(p, "ts"), "cant_update_message")
        if self.ws.agent.live_stream(channel.id, message.ts, now) is not None:
            raise SlackError("streaming_state_conflict")
        text, blocks = self._content(p, old=message)
        self.ws.edit(message, text=text, blocks=blocks, at=now)
        message.streamed = False
        self.hooks.on_bot_message("changed", message)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": self.ws.message_payload(message),
        }

    def chat_delete(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.channel(p)
        message = self.own_message(channel, _opt_str(p, "ts"), "cant_delete_message")
        message.deleted = True
        self.hooks.on_bot_message("deleted", message)
        return {"channel": channel.id, "ts": message.ts}

    def chat_get_permalink(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.channel(p)
        message = self.ws.find(channel.id, _opt_str(p, "message_ts") or "")
        if message is None:
            raise SlackError("message_not_found")
        link = (
            f"https://{self.ws.team_domain}.slack.com/archives/{channel.id}/"
            f"p{message.ts.replace('.', '')}"
        )
        if message.thread_ts is not None:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    # ---- reactions -------------------------------------------------------------------------

    def reactions_add(self, p: JSONObject, now: float) -> JSONObject:
        message, name = self._reaction_target(p)
        users = message.reactions.setdefault(name, [])
        if self.ws.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self.ws.bot_user_id)
        return {}

    def reactions_remove(self, p: JSONObject, now: float) -> JSONObject:
        message, name = self._reaction_target(p)
        users = message.reactions.get(name, [])
        if self.ws.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.remove(self.ws.bot_user_id)
        if not users:
            del message.reactions[name]
        return {}

    def _reaction_target(self, p: JSONObject) -> tuple[Message, str]:
        channel = self.channel(p)
        name = (_opt_str(p, "name") or "").strip(":")
        if not name:
            raise SlackError("invalid_name")
        message = self.ws.find(channel.id, _opt_str(p, "timestamp") or "")
        if message is None:
            raise SlackError("message_not_found")
        return message, name

    # ---- views -----------------------------------------------------------------------------

    def views_open(self, p: JSONObject, now: float) -> JSONObject:
        trigger = self._trigger(p, now)
        kit.check_view(p.get("view"))
        for entry in self.ws.views:  # a new modal replaces whatever this person had open
            if entry["user"] == trigger.user:
                entry["open"] = False
        entry = self.store_view(p["view"], trigger.user, str(p["trigger_id"]), root=None)
        return {"view": copy.deepcopy(entry["view"])}

    def views_push(self, p: JSONObject, now: float) -> JSONObject:
        trigger = self._trigger(p, now)
        kit.check_view(p.get("view"))
        root = None
        if trigger.view_id is not None:
            root = self.ws.find_view(trigger.view_id)["view"]["root_view_id"]
            stack = [e for e in self.ws.views if e["open"] and e["view"]["root_view_id"] == root]
            if len(stack) >= 3:
                raise SlackError("push_limit_reached")
        entry = self.store_view(p["view"], trigger.user, str(p["trigger_id"]), root=root)
        return {"view": copy.deepcopy(entry["view"])}

    def views_update(self, p: JSONObject, now: float) -> JSONObject:
        view_id, external_id = _opt_str(p, "view_id"), _opt_str(p, "external_id")
        if view_id is None and external_id is None:
            raise SlackError("invalid_arguments")
        try:
            entry = self.ws.find_view(view_id, external_id)
        except KeyError:
            raise SlackError("not_found") from None
        if not entry["open"]:
            raise SlackError("not_found")
        if p.get("hash") is not None and p["hash"] != entry["view"]["hash"]:
            raise SlackError("hash_conflict")
        kit.check_view(p.get("view"))
        self.replace_view(entry, p["view"])
        return {"view": copy.deepcopy(entry["view"])}

    def _trigger(self, p: JSONObject, now: float) -> Trigger:
        result = self.ws.exchange_trigger(p.get("trigger_id"), now)
        if isinstance(result, str):
            raise SlackError(result)
        return result

    def store_view(
        self, view: JSONObject, user: str, trigger_id: str | None, *, root: str | None
    ) -> JSONObject:
        """Open a view (a new root, or pushed onto the stack rooted at `root`)."""
        view_id = self.ws.new_id("V")
        previous = None
        if root is not None:
            stack = [e for e in self.ws.views if e["open"] and e["view"]["root_view_id"] == root]
            previous = stack[-1]["view_id"] if stack else None
        full = self.full_view(view, view_id=view_id, root=root or view_id, previous=previous)
        entry: JSONObject = {
            "view_id": view_id,
            "view": full,
            "user": user,
            "trigger_id": trigger_id,
            "state": {"values": {}},
            "open": True,
            "errors": None,
            "versions": [copy.deepcopy(full)],
        }
        self.ws.views.append(entry)
        return entry

    def replace_view(self, entry: JSONObject, view: JSONObject) -> None:
        """views.update or a `response_action: update`: same id, new content and hash."""
        entry["view"] = self.full_view(
            view,
            view_id=entry["view_id"],
            root=entry["view"]["root_view_id"],
            previous=entry["view"]["previous_view_id"],
        )
        entry["versions"].append(copy.deepcopy(entry["view"]))

    def full_view(
        self, view: JSONObject, *, view_id: str, root: str, previous: str | None
    ) -> JSONObject:
        """The view as Slack echoes it back: the bot's fields plus ids, hash and empty state."""
        return {
            "id": view_id,
            "team_id": self.ws.team_id,
            "type": view.get("type"),
            "title": copy.deepcopy(view.get("title")),
            "submit": copy.deepcopy(view.get("submit")),
            "close": copy.deepcopy(view.get("close")),
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{self.ws.next_ts()}.{secrets.token_hex(4)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root,
            "previous_view_id": previous,
            "app_id": self.ws.app_id,
            "app_installed_team_id": self.ws.team_id,
            "bot_id": self.ws.bot_id,
        }

    # ---- directory -------------------------------------------------------------------------

    def users_info(self, p: JSONObject, now: float) -> JSONObject:
        user = self.ws.users.get(_opt_str(p, "user") or "")
        if user is None:
            raise SlackError("user_not_found")
        profile: JSONObject = {"real_name": user.name, "display_name": user.name}
        if user.is_bot:
            profile["bot_id"] = self.ws.bot_id
        return {
            "user": {
                "id": user.id,
                "team_id": self.ws.team_id,
                "name": user.name,
                "real_name": user.name,
                "deleted": False,
                "is_bot": user.is_bot,
                "is_app_user": False,
                "is_admin": False,
                "is_owner": False,
                "tz": "UTC",
                "profile": profile,
            }
        }

    def conversations_info(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.channel(p)
        info: JSONObject = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": channel.kind == "channel",
            "is_group": channel.kind == "group",
            "is_im": channel.kind == "im",
            "is_private": channel.kind != "channel",
            "is_archived": False,
            "is_member": self.ws.bot_user_id in channel.members,
            "created": 1_700_000_000,
        }
        if channel.kind == "im":
            info["user"] = next((m for m in channel.members if m != self.ws.bot_user_id), None)
            del info["name"]
        return {"channel": info}

    def conversations_members(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.channel(p)
        return {"members": list(channel.members), "response_metadata": {"next_cursor": ""}}

    def conversations_open(self, p: JSONObject, now: float) -> JSONObject:
        """The bot's DM with one person: the one it has, or a new one (as Slack, one per pair).

        Only 1:1 DMs are emulated: a list of 2 to 8 people (a group DM in Slack) is refused
        with `method_not_supported_for_channel_type`, so a test relying on one notices.
        """
        already_open = True
        if _opt_str(p, "channel") is not None:
            im = self._resumed_im(p)
        else:
            user = self._one_person(p)
            found = self.ws.resolve_channel(user)
            if found is not None and found.kind == "im":
                im = found
            else:
                im, already_open = self._new_im(user), False
        answer: JSONObject = {
            "channel": self._im_payload(im) if _flag(p.get("return_im")) else {"id": im.id}
        }
        if already_open:
            answer.update({"no_op": True, "already_open": True})
        return answer

    def _resumed_im(self, p: JSONObject) -> Channel:
        channel = self.ws.channels.get(_opt_str(p, "channel") or "")
        if channel is None:
            raise SlackError("channel_not_found")
        if channel.kind != "im":
            raise SlackError("method_not_supported_for_channel_type")
        return channel

    def _one_person(self, p: JSONObject) -> str:
        """The one person `users` names, checked as Slack checks the list."""
        users = [u.strip() for u in (_opt_str(p, "users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        if any(user not in self.ws.users for user in users):
            raise SlackError("user_not_found")
        if len(users) > 1:
            raise SlackError("method_not_supported_for_channel_type")
        if self.ws.users[users[0]].is_bot:
            raise SlackError("cannot_dm_bot")
        return users[0]

    def im_with(self, user: str) -> Channel:
        """The bot's DM with `user`, opened now if they never had one (as conversations.open)."""
        found = self.ws.resolve_channel(user)
        if found is not None and found.kind == "im":
            return found
        return self._new_im(user)

    def _new_im(self, user: str) -> Channel:
        im_id = self.ws.new_id("D")
        self.ws.add_channel(
            im_id, self.ws.users[user].name, kind="im", members=[user, self.ws.bot_user_id]
        )
        return self.ws.channels[im_id]

    def _im_payload(self, im: Channel) -> JSONObject:
        """The full IM object `return_im` asks for."""
        return {
            "id": im.id,
            "created": 1_700_000_000,
            "is_im": True,
            "is_org_shared": False,
            "user": next((m for m in im.members if m != self.ws.bot_user_id), self.ws.bot_user_id),
            "last_read": "0000000000.000000",
            "latest": None,
            "unread_count": 0,
            "unread_count_display": 0,
            "is_open": True,
            "priority": 0,
        }

    def conversations_replies(self, p: JSONObject, now: float) -> JSONObject:
        channel = self.channel(p)
        ts = _opt_str(p, "ts")
        if ts is None or self.ws.find(channel.id, ts) is None:
            raise SlackError("thread_not_found")
        thread = self.ws.thread(channel.id, ts)
        start = int(_opt_str(p, "cursor") or 0)
        limit = int(p.get("limit") or 1000)
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        return {
            "messages": [self.ws.message_payload(m) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def usergroups_list(self, p: JSONObject, now: float) -> JSONObject:
        with_users = _flag(p.get("include_users"))
        groups = []
        for group in self.ws.usergroups.values():
            item: JSONObject = {
                "id": group.id,
                "team_id": self.ws.team_id,
                "handle": group.handle,
                "name": group.handle,
                "is_usergroup": True,
                "user_count": len(group.members),
            }
            if with_users:
                item["users"] = list(group.members)
            groups.append(item)
        return {"usergroups": groups}

    def usergroups_users_list(self, p: JSONObject, now: float) -> JSONObject:
        group = self.ws.usergroups.get(_opt_str(p, "usergroup") or "")
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group.members)}

    # ---- shared checks ---------------------------------------------------------------------

    def channel(self, p: JSONObject, key: str = "channel") -> Channel:
        channel = self.ws.resolve_channel(_opt_str(p, key) or "")
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def bot_channel(self, p: JSONObject, key: str = "channel") -> Channel:
        """A conversation the bot may post in (needs membership, as without chat:write.public)."""
        channel = self.channel(p, key)
        if self.ws.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def own_message(self, channel: Channel, ts: str | None, refused: str) -> Message:
        message = self.ws.find(channel.id, ts or "")
        if message is None:
            raise SlackError("message_not_found")
        if message.bot_id != self.ws.bot_id:
            raise SlackError(refused)
        return message

    def _content(
        self, p: JSONObject, *, old: Message | None = None
    ) -> tuple[str, list[JSONObject]]:
        """Text and blocks of a post or an edit, validated; an edit keeps what it does not send.

        chat.update keeps the old blocks only when neither text nor blocks is sent; text alone
        removes them (docs: chat.update `blocks`). Blocks alone keep the old text.
        """
        text, blocks, markdown = p.get("text"), p.get("blocks"), p.get("markdown_text")
        if markdown is not None:
            if text is not None or blocks is not None:
                raise SlackError("markdown_text_conflict")
            if len(str(markdown)) > kit.MAX_MARKDOWN_TEXT:
                raise SlackError("msg_too_long")
            text, blocks = str(markdown), [{"type": "markdown", "text": str(markdown)}]
        kit.check_message(text, blocks)
        if old is not None and text is None and blocks is None:
            return old.text, copy.deepcopy(old.blocks)
        if old is not None and text is None:
            text = old.text
        text = "" if text is None else str(text)
        blocks = blocks or []
        if not text and not blocks and not p.get("attachments"):
            raise SlackError("no_text")
        return text, blocks


def _opt_str(p: JSONObject, key: str) -> str | None:
    value = p.get(key)
    return None if value is None or value == "" else str(value)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")
