"""The emulated workspace: people, conversations, messages, ephemerals, modals and triggers.

Pure state with no I/O, so the Web API handlers, the delivery code and the tests all read and
change the same objects. Timestamps are deterministic ("1700000000.000100", then +100 µs).
"""

from __future__ import annotations

import copy
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from .agent_state import AgentState
from .records import JSONObject, Message

ChannelKind = Literal["channel", "group", "im"]
TRIGGER_TTL = 3.0


@dataclass
class User:
    id: str
    name: str
    is_bot: bool = False


@dataclass
class Channel:
    id: str
    name: str
    kind: ChannelKind
    members: list[str]

    @property
    def channel_type(self) -> str:
        """The `channel_type` Slack puts on message events in this conversation."""
        return self.kind


@dataclass
class Usergroup:
    id: str
    handle: str
    members: list[str]


@dataclass
class Trigger:
    """A trigger_id handed to the bot with an interaction: ~3 s to live, exchanged once."""

    user: str
    issued_at: float
    used: bool = False
    view_id: str | None = None


@dataclass
class ResponseUrl:
    """Where the bot may answer an interaction: at most 5 times within 30 minutes."""

    channel: str
    message_ts: str
    user: str
    is_ephemeral: bool
    thread_ts: str | None
    issued_at: float
    uses: int = 0


@dataclass
class Workspace:
    """One team with its bot; everything the emulator knows lives here."""

    team_id: str
    bot_user_id: str
    bot_id: str
    app_id: str
    team_domain: str = "countersign-test"
    users: dict[str, User] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    usergroups: dict[str, Usergroup] = field(default_factory=dict)
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)
    ephemerals: list[JSONObject] = field(default_factory=list)
    views: list[JSONObject] = field(default_factory=list)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
    agent: AgentState = field(default_factory=AgentState)
    """App Home, native streams, thread statuses, prompts and agent sessions."""
    _replies: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ---- directory -------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, is_bot: bool = False) -> None:
        self.users[user_id] = User(user_id, name, is_bot)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        kind: ChannelKind = "channel",
        members: list[str] | None = None,
    ) -> None:
        """Members default to every known user for channels/groups and to the bot for an im."""
        if members is None:
            members = [self.bot_user_id] if kind == "im" else list(self.users)
        self.channels[channel_id] = Channel(channel_id, name, kind, list(members))

    def add_usergroup(self, group_id: str, handle: str, members: list[str]) -> None:
        self.usergroups[group_id] = Usergroup(group_id, handle, list(members))

    def resolve_channel(self, ref: str) -> Channel | None:
        """A conversation by id, by "#name"/"name", or a user id meaning the DM with them."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel.kind != "im" and channel.name == name:
                return channel
        if ref in self.users:
            for channel in self.channels.values():
                if channel.kind == "im" and ref in channel.members:
                    return channel
        return None

    # ---- ids -------------------------------------------------------------------------------

    def next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    # ---- messages --------------------------------------------------------------------------

    def post(
        self,
        channel: str,
        *,
        user: str | None,
        bot_id: str | None,
        text: str,
        blocks: list[JSONObject],
        thread_ts: str | None,
        at: float,
        metadata: JSONObject | None = None,
    ) -> Message:
        ts = self.next_ts()
        message = Message(
            channel=channel,
            ts=ts,
            user=user,
            bot_id=bot_id,
            text=text,
            blocks=copy.deepcopy(blocks),
            thread_ts=thread_ts,
            versions=[{"text": text, "blocks": copy.deepcopy(blocks), "at": at}],
            metadata=metadata,
        )
        self.messages[(channel, ts)] = message
        if thread_ts is not None:
            self._replies.setdefault((channel, thread_ts), []).append(ts)
            if bot_id == self.bot_id:
                self.agent.app_replied(channel, thread_ts, at)
        return message

    def edit(self, message: Message, *, text: str, blocks: list[JSONObject], at: float) -> None:
        message.text = text
        message.blocks = copy.deepcopy(blocks)
        message.versions.append({"text": text, "blocks": copy.deepcopy(blocks), "at": at})
        message.edited_ts = self.next_ts()

    def find(self, channel: str, ts: str) -> Message | None:
        message = self.messages.get((channel, ts))
        return None if message is None or message.deleted else message

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Parent and replies in ts order, without deleted messages."""
        keys = [thread_ts, *self._replies.get((channel, thread_ts), [])]
        found = [self.messages.get((channel, ts)) for ts in keys]
        return sorted((m for m in found if m and not m.deleted), key=lambda m: _ts_key(m.ts))

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.thread(channel, thread_ts) if m.ts != thread_ts]

    def message_payload(self, message: Message) -> JSONObject:
        """The message as Slack shows it in API answers, events and interaction payloads."""
        payload: JSONObject = {"type": "message", "ts": message.ts, "text": message.text}
        if message.user is not None:
            payload["user"] = message.user
        if message.bot_id is not None:
            payload["bot_id"] = message.bot_id
            payload["app_id"] = self.app_id
            payload["bot_profile"] = {
                "id": message.bot_id,
                "app_id": self.app_id,
                "name": self.users[self.bot_user_id].name,
                "team_id": self.team_id,
                "deleted": False,
            }
        payload["team"] = self.team_id
        if message.blocks:
            payload["blocks"] = copy.deepcopy(message.blocks)
        replies = self.replies(message.channel, message.ts) if message.thread_ts is None else []
        if message.thread_ts is not None:
            payload["thread_ts"] = message.thread_ts
            parent = self.messages.get((message.channel, message.thread_ts))
            if parent is not None and parent.user is not None:
                payload["parent_user_id"] = parent.user
        elif replies:
            payload["thread_ts"] = message.ts
            payload["reply_count"] = len(replies)
            payload["reply_users"] = sorted({r.user for r in replies if r.user})
            payload["latest_reply"] = replies[-1].ts
        if message.edited_ts is not None:  # a stream's growth is not an edit
            payload["edited"] = {"user": message.user, "ts": message.edited_ts}
        if message.reactions:
            payload["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in message.reactions.items()
            ]
        if message.metadata is not None:
            payload["metadata"] = copy.deepcopy(message.metadata)
        return payload

    # ---- interactions ----------------------------------------------------------------------

    def issue_trigger(self, user: str, now: float, *, view_id: str | None = None) -> str:
        trigger_id = f"{next(self._ids)}.{int(now * 1000)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(user, now, view_id=view_id)
        return trigger_id

    def exchange_trigger(self, trigger_id: Any, now: float) -> Trigger | str:
        """The trigger, now used up, or the Slack error code explaining why it cannot be."""
        trigger = self.triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            return "invalid_trigger_id"
        if trigger.used:
            return "exchanged_trigger_id"
        if now - trigger.issued_at > TRIGGER_TTL:
            return "expired_trigger_id"
        trigger.used = True
        return trigger

    def find_view(self, view_id: str | None = None, external_id: str | None = None) -> JSONObject:
        for entry in self.views:
            if view_id is not None and entry["view_id"] == view_id:
                return entry
            if external_id is not None and entry["view"].get("external_id") == external_id:
                return entry
        raise KeyError(view_id or external_id)


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def default_workspace(*, team_id: str, bot_user_id: str, bot_id: str, app_id: str) -> Workspace:
    """The workspace every test starts from (see the package docstring)."""
    ws = Workspace(team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id)
    ws.add_user(bot_user_id, "countersign", is_bot=True)
    ws.add_user("UALICE", "alice")
    ws.add_user("UBOB", "bob")
    ws.add_user("UCAROL", "carol")
    ws.add_channel("C0GENERAL", "general")
    ws.add_channel("G0PRIVATE", "private", kind="group")
    ws.add_channel("D0ALICE", "alice", kind="im", members=["UALICE", bot_user_id])
    ws.add_channel("D0BOB", "bob", kind="im", members=["UBOB", bot_user_id])
    ws.add_usergroup("S0APPROVERS", "approvers", ["UBOB"])
    return ws
