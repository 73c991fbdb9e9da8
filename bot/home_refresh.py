"""The Home tab kept up to date: each viewer's list of what they may decide, published when
they open it and whenever the pauses change.

Who may decide follows the card's buttons (bot.approvers: APPROVERS or the rule's approvers,
escalation, self-approval, quorum); a question is the requester's unless
ASK_HUMAN_RESPONDERS=anyone. Where anyone may decide, only people in the conversation see it
here, as only they see its card. An approval someone already counted toward its quorum waits
for others, so it leaves their list.

PauseMessages reports every change it shows in Slack (a card posted, counted, escalated or
closed, and a decision accepted from anywhere) through `changed()`. views.publish is Tier 4
(about 100 a minute per workspace), so changes are coalesced: after DEBOUNCE_SECONDS one pass
computes the list of everyone who opened Home (bot.home_viewers) and publishes only to those
whose list differs from the one they were last shown. Opening Home, or a notice for a click
made there, always publishes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackClientError

from agent import Pause
from bot.app_home import Place, Waiting, WaitingApproval, WaitingQuestion, home_view
from bot.budgeted_calls import BudgetedCalls, RetryPolicy, failure_code
from bot.home_viewers import HomeViewers
from bot.pause_messages import PauseMessages
from bot.request_checks import PayloadError, need_text, obj, text
from bot.runtime import BotRuntime
from bot.slack_ids import is_user_id
from bot.store import SlackPlace, arguments_hash

logger = logging.getLogger(__name__)

Body = dict[str, Any]

DEBOUNCE_SECONDS = 0.5
"""Changes within this long reach each viewer in one publish."""
POLICY = RetryPolicy(max_rate_limited=3, transient_retries=2, retry_backoff=0.5)
"""A publish replaces the whole view, so repeating one is harmless; a lost one is fixed by
the next change or the next time the person opens Home."""
KEPT_LINKS = 1000


@dataclass
class _Wanted:
    """A publish someone asked for: it goes even if their list did not change."""

    notice: str | None = None


@dataclass(frozen=True)
class _Candidate:
    """A pending pause of a Slack conversation, with what deciding who sees it needs."""

    pause: Pause
    waiting: Waiting
    channel: str
    escalated: bool
    approved_by: tuple[str, ...] = ()
    key: tuple[Any, ...] = ()


@dataclass
class _Pass:
    """What one refresh pass looked up once for every viewer."""

    candidates: list[_Candidate]
    members: dict[str, set[str] | None] = field(default_factory=dict)


async def home_tab(body: Body) -> bool:
    """A Bolt matcher: `app_home_opened` for the Home tab. The Messages tab (Slack's agent
    view) sends the same event; Bolt runs only the first listener that matches, so the Home
    listener must leave that one to the agent view's."""
    event = body.get("event")
    tab = event.get("tab") if isinstance(event, dict) else None
    return tab in (None, "home")


class AppHome:
    """Publishes each viewer's "Waiting for you" list (see the module docstring)."""

    def __init__(
        self, runtime: BotRuntime, pauses: PauseMessages, *, delay: float = DEBOUNCE_SECONDS
    ) -> None:
        self._runtime = runtime
        self._pauses = pauses
        self._viewers = HomeViewers(runtime.agent.database)
        self._calls = BudgetedCalls(runtime.limiter, POLICY, logger)
        self._delay = delay
        self._wanted: dict[str, _Wanted] = {}
        self._everyone = False
        self._flushing: asyncio.Task[None] | None = None
        self._links: dict[tuple[str, str], str] = {}

    async def on_opened(self, ack: AsyncAck, body: Body) -> None:
        """`app_home_opened`: remember the viewer, and show them their list as it is now."""
        await ack()
        event = obj(body, "event")
        if text(event, "tab") not in (None, "home"):
            return  # the Messages tab: nothing of ours to show
        user = need_text(event, "user")
        if not is_user_id(user):
            raise PayloadError(f"app_home_opened for {user[:40]!r}, which is not a user ID")
        await self._viewers.opened(user)
        self._want(user, _Wanted())

    def changed(self) -> None:
        """The pauses changed: refresh every viewer whose list is no longer what they see."""
        self._everyone = True
        self._schedule()

    def tell(self, user: str, notice: str) -> None:
        """Show `notice` (mrkdwn) at the top of `user`'s Home: the answer to a click made
        there, which has no channel or response_url to answer in."""
        self._want(user, _Wanted(notice))

    # --- publishing ------------------------------------------------------------------------

    def _want(self, user: str, wanted: _Wanted) -> None:
        earlier = self._wanted.get(user)
        if earlier is not None and wanted.notice is None:
            wanted.notice = earlier.notice  # a later open keeps a notice not yet shown
        self._wanted[user] = wanted
        self._schedule()

    def _schedule(self) -> None:
        if self._flushing is None:
            self._flushing = self._runtime.tasks.submit(self._flush, name="refresh App Home")

    async def _flush(self) -> None:
        """Wait a moment for more changes, then publish; again while more arrived meanwhile."""
        try:
            while self._wanted or self._everyone:
                if not self._wanted and not await self._viewers.recent():
                    self._everyone = False  # nobody has opened Home: nothing to refresh
                    continue
                await asyncio.sleep(self._delay)
                wanted, self._wanted = self._wanted, {}
                everyone, self._everyone = self._everyone, False
                try:
                    await self._refresh(wanted, everyone)
                except Exception:
                    logger.exception("could not refresh App Home; the next change tries again")
        finally:
            self._flushing = None

    async def _refresh(self, wanted: dict[str, _Wanted], everyone: bool) -> None:
        users = set(wanted)
        if everyone:
            users |= set(await self._viewers.recent())
        if not users:
            return
        found = _Pass(await self._candidates())
        now = time.time()
        for user in sorted(users):
            listed = [c for c in found.candidates if await self._may_decide(user, c, found)]
            fingerprint = _fingerprint(listed)
            want = wanted.get(user)
            if want is None and fingerprint == await self._viewers.shown(user):
                continue
            notice = want.notice if want else None
            view = home_view(
                [c.waiting for c in listed], now=now, notice=notice, metadata=fingerprint
            )
            try:
                await self._publish(user, view)
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as refused:
                logger.warning(
                    "could not publish the Home tab of %s: %s", user, failure_code(refused)
                )
                continue
            await self._viewers.published(user, fingerprint)

    async def _publish(self, user: str, view: dict[str, Any]) -> None:
        client = self._runtime.client

        async def send() -> object:
            return await client.views_publish(user_id=user, view=view)

        await self._calls.must_land("views.publish", send)

    # --- what is waiting, and for whom -----------------------------------------------------

    async def _candidates(self) -> list[_Candidate]:
        """Every pause a Slack conversation waits on, newest first, as its card shows it."""
        runtime = self._runtime
        found: list[_Candidate] = []
        for recorded in reversed(await runtime.agent.waiting_pauses()):
            ref = await runtime.store.conversation(recorded.thread_id)
            if ref is None:
                continue  # an HTTP API conversation: nothing to click in Slack
            pause = await runtime.agent.pending(recorded.thread_id)
            if pause is None or pause.interrupt_id != recorded.interrupt_id:
                continue  # the run moved on: its buttons would only be refused
            posted = await runtime.store.pause_place(pause.thread_id, pause.interrupt_id)
            place = Place(ref.channel, await self._link(posted) if posted else None)
            escalated = await self._pauses.escalated(pause)
            if pause.kind == "question":
                question = WaitingQuestion(
                    pause.requested_by, pause.question or "", place, pause.created_at
                )
                key: tuple[Any, ...] = (pause.thread_id, pause.interrupt_id, place.link is not None)
                found.append(_Candidate(pause, question, ref.channel, escalated, key=key))
                continue
            card = await self._pauses.card(pause)
            key = (
                pause.thread_id,
                pause.interrupt_id,
                place.link is not None,
                card.approved_by,
                arguments_hash(card.arguments),
                card.approvers,
            )
            approval = WaitingApproval(card, place, pause.created_at)
            found.append(_Candidate(pause, approval, ref.channel, escalated, card.approved_by, key))
        return found

    async def _may_decide(self, user: str, candidate: _Candidate, found: _Pass) -> bool:
        """Whether `user` may decide it now, by the rules the card's buttons apply."""
        pause, runtime = candidate.pause, self._runtime
        if pause.kind == "question":
            if runtime.settings.ask_human_responders != "anyone":
                return user == pause.requested_by
            return await self._in_conversation(user, candidate.channel, found)
        if user in candidate.approved_by:
            return False  # counted: it waits for someone else now
        verdict = await runtime.approvers.check(
            user, pause.requested_by, "approve", pause.rule, escalated=candidate.escalated
        )
        if not verdict.allowed:
            return False
        if runtime.approvers.who(pause.rule, escalated=candidate.escalated):
            return True  # a named decider: they get the card wherever they are
        return await self._in_conversation(user, candidate.channel, found)

    async def _in_conversation(self, user: str, channel: str, found: _Pass) -> bool:
        """Anyone in the conversation may decide, and only they may see what it asks."""
        if channel not in found.members:
            try:
                found.members[channel] = await self._runtime.slack.members(channel)
            except Exception:
                logger.warning("could not list members of %s", channel, exc_info=True)
                found.members[channel] = None
        members = found.members[channel]
        return members is not None and user in members

    async def _link(self, place: SlackPlace) -> str | None:
        """A permalink to the pause's message (asked once per message, then kept)."""
        key = (place.channel, place.message_ts)
        if key not in self._links:
            try:
                response = await self._runtime.client.chat_getPermalink(
                    channel=place.channel, message_ts=place.message_ts
                )
            except Exception:
                logger.info("no permalink for %s", place.message_ts, exc_info=True)
                return None
            if len(self._links) >= KEPT_LINKS:
                self._links.clear()
            self._links[key] = str(response["permalink"])
        return self._links[key]


def _fingerprint(listed: list[_Candidate]) -> str:
    """Names a list as its viewer sees it: what is listed, counts, edits, links."""
    canonical = json.dumps([candidate.key for candidate in listed], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
