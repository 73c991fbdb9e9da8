"""Who may approve, deny or stop a paused action (DESIGN §6, pitfall 14).

A click payload is not proof of authority, so `ApproverPolicy.check` runs on every click and asks
Slack for user-group membership itself. It fails closed: when membership cannot be checked the
click is refused, never waved through. An empty `APPROVERS` means "anyone in the conversation"
only because the operator left it unset; an entry that is not a Slack ID is an error at start-up,
not something to skip (skipping it could turn a typo into "anyone may approve").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from agent import ApprovalRule
from bot.slack_ids import is_group_id, is_user_id

logger = logging.getLogger(__name__)

Action = Literal["approve", "deny", "stop"]

_LOOKUP_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError, OSError)

CHECK_FAILED = (
    "I couldn't check with Slack whether you may {action} this, so nothing changed. "
    "Please try again in a moment."
)
SELF_APPROVAL = "You asked for this, so someone else has to approve it."


@dataclass(frozen=True)
class Verdict:
    """The answer for one click; `explanation` is mrkdwn for an ephemeral reply when refused."""

    allowed: bool
    explanation: str = ""


ALLOWED = Verdict(True)
QUORUM_SELF = "You asked for this, and it needs {needed} approvals from other people."


@dataclass(frozen=True)
class _Deciders:
    """Who may decide one request: users, and groups whose members may."""

    users: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def anyone(self) -> bool:
        return not (self.users or self.groups)

    def describe(self, *first: str) -> str:
        names = [*first, *(f"<@{user}>" for user in self.users)]
        if self.groups:
            names.append("members of " + join_or([f"<!subteam^{g}>" for g in self.groups]))
        return join_or(names)


class ApproverPolicy:
    """Decides each click from `APPROVERS` and `ALLOW_SELF_APPROVAL`, asking Slack for groups."""

    def __init__(
        self,
        client: AsyncWebClient,
        approvers: Sequence[str],
        *,
        allow_self_approval: bool,
        cache_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        ids = [item.strip() for item in approvers]
        if bad := [item for item in ids if not (is_user_id(item) or is_group_id(item))]:
            raise ValueError(
                f"not Slack user IDs (U…/W…) or user-group IDs (S…): {', '.join(map(repr, bad))}"
            )
        self._client = client
        self._users = tuple(dict.fromkeys(i for i in ids if is_user_id(i)))
        self._groups = tuple(dict.fromkeys(i for i in ids if is_group_id(i)))
        self._allow_self_approval = allow_self_approval
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lookups: dict[str, asyncio.Task[frozenset[str]]] = {}

    @property
    def restricted(self) -> bool:
        """Whether APPROVERS names anyone (unset: anyone in the conversation may approve)."""
        return bool(self._users or self._groups)

    async def check(
        self,
        clicker: str,
        requested_by: str,
        action: Action,
        rule: ApprovalRule | None = None,
        *,
        escalated: bool = False,
    ) -> Verdict:
        """May `clicker` do `action` on a request made by `requested_by`? Asks Slack if needed.

        `rule` is the policy rule the pause carries: its approvers replace APPROVERS, its
        `allow_self` replaces ALLOW_SELF_APPROVAL, and once `escalated` its `escalate_to` may
        decide too. The requester never counts toward an approval by two or more people.
        """
        deciders = self._deciders(rule, escalated)
        if action == "approve" and clicker == requested_by:
            if rule is not None and rule.approvals > 1:
                return Verdict(False, QUORUM_SELF.format(needed=rule.approvals))
            if not self._self_allowed(rule):
                return Verdict(False, SELF_APPROVAL)
        if action != "approve" and clicker == requested_by:
            return ALLOWED  # withdrawing your own request is always harmless
        if deciders.anyone or clicker in deciders.users:
            return ALLOWED
        failed = False
        for group in deciders.groups:
            try:
                members = await self._group_members(group)
            except _LOOKUP_ERRORS as exc:
                logger.warning("could not list members of user group %s: %s", group, exc)
                failed = True
                continue
            if clicker in members:
                return ALLOWED
        if failed:
            return Verdict(False, CHECK_FAILED.format(action=action))
        return Verdict(False, self._refusal(action, requested_by, deciders))

    async def people(self, rule: ApprovalRule | None, *, escalated: bool = False) -> set[str]:
        """Everyone named as a decider, groups expanded; empty when anyone may decide.

        A group Slack cannot list right now is left out (its members see the card where
        it was posted): this is for telling people, never for allowing them.
        """
        deciders = self._deciders(rule, escalated)
        people = set(deciders.users)
        for group in deciders.groups:
            try:
                people |= await self._group_members(group)
            except _LOOKUP_ERRORS as exc:
                logger.warning("could not list members of user group %s: %s", group, exc)
        return people

    def who(self, rule: ApprovalRule | None, *, escalated: bool = False) -> tuple[str, ...]:
        """The user and group ids who may decide (empty: anyone in the conversation)."""
        deciders = self._deciders(rule, escalated)
        return (*deciders.users, *deciders.groups)

    def _deciders(self, rule: ApprovalRule | None, escalated: bool) -> _Deciders:
        ids: tuple[str, ...] = (*self._users, *self._groups)
        if rule is not None and rule.approvers:
            ids = rule.approvers
        if rule is not None and escalated:
            ids = (*ids, *rule.escalate_to) if ids else ()  # anyone already includes them
        return _Deciders(
            tuple(dict.fromkeys(i for i in ids if is_user_id(i))),
            tuple(dict.fromkeys(i for i in ids if is_group_id(i))),
        )

    def _self_allowed(self, rule: ApprovalRule | None) -> bool:
        if rule is not None and rule.allow_self is not None:
            return rule.allow_self
        return self._allow_self_approval

    def describe(self) -> str:
        """Who may approve, in mrkdwn for help text.

        It mentions the approvers: post it ephemerally, or a regular message notifies them.
        """
        if not self.restricted:
            who = "Anyone in the conversation can approve"
            if self._allow_self_approval:
                return f"{who}, including the person who asked."
            return f"{who} except the person who asked."
        text = f"Only {self._who()} can approve."
        if not self._allow_self_approval:
            text += " Nobody can approve their own request."
        return text + " The person who asked can always deny or stop their own request."

    def _refusal(self, action: Action, requested_by: str, deciders: _Deciders) -> str:
        if action == "approve":
            return f"Only {deciders.describe()} can approve this."
        return f"Only {deciders.describe(f'<@{requested_by}> (who asked)')} can {action} this."

    def _who(self, *first: str) -> str:
        return _Deciders(self._users, self._groups).describe(*first)

    async def _group_members(self, group: str) -> frozenset[str]:
        """Members of `group`, cached; concurrent callers share one lookup; failures not cached."""
        cached = self._members.get(group)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        lookup = self._lookups.get(group)
        if lookup is None:
            lookup = asyncio.ensure_future(self._fetch(group))
            self._lookups[group] = lookup
            lookup.add_done_callback(lambda done: self._forget(group, done))
        # shield: one cancelled click must not cancel the lookup others are waiting for
        return await asyncio.shield(lookup)

    async def _fetch(self, group: str) -> frozenset[str]:
        response = await self._client.usergroups_users_list(usergroup=group)
        members = frozenset(str(user) for user in response.get("users") or [])
        self._members[group] = (self._clock() + self._cache_seconds, members)
        return members

    def _forget(self, group: str, done: asyncio.Task[frozenset[str]]) -> None:
        if self._lookups.get(group) is done:
            del self._lookups[group]
        if not done.cancelled():
            done.exception()  # retrieved, so an unawaited failure is not logged as lost


def join_or(items: Sequence[str]) -> str:
    """Slack-style list: `a`, `a or b`, `a, b or c`."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"
