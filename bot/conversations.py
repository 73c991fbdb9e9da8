"""Conversations: the one owner of each Slack thread ⇄ agent thread.

Slack listeners translate payloads into calls here and return; only then is Slack acked. What
they hand over is accepted durably, in one transaction with its dedupe claim (a message) or
its first-wins decision (a click, a reply that answers a question, an expiry), as an item in
the inbox. The runner takes items in order per conversation, one at a time, and an item is
finished only once its effect is durable and shown in Slack. Any item a crash or a deploy
interrupted runs again, from the agent's last checkpoint, replacing the messages its first
attempt posted; after two interruptions in a row it waits for a person to press Retry.

    accept_message / accept_decision ──▶ inbox ──▶ runner ──▶ agent.start / agent.apply
                                                      └──▶ TurnRenderer ──▶ the thread
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent import (
    Agent,
    AgentEvent,
    Answer,
    ApprovalTally,
    Approve,
    ConfigurationError,
    Decision,
    Deny,
    Edit,
    InvalidArguments,
    Pause,
    Resumed,
    ResumeRefused,
    ToolStarted,
    Transaction,
)
from bot import cards, leases, log_context
from bot.agent_session import title_of
from bot.inbox import LEASE_SECONDS, Inbox, Item
from bot.pause_messages import PauseMessages, outcome_of
from bot.run_feed import RunFeed
from bot.runtime import BotRuntime
from bot.store import BotStore, ThreadRef
from bot.tracing import turn_span
from bot.turns import INTERRUPTED_TWICE, AnswerPlace, TurnRenderer

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
"""An item interrupted this many times in a row waits for Retry instead of running again."""
HEARTBEAT_SECONDS = LEASE_SECONDS / 3
RECONCILE_SECONDS = 60.0
STOP_POLL_SECONDS = 0.5
"""How often a replica looks for Stops clicked on another replica for answers it runs."""
RECONCILER = "reconciler"
"""The lease of the job that posts missing cards: one replica at a time, or two could post."""
EARLY_REPLY_SECONDS = 600.0
"""How long a reply waits for its thread's mention: past Slack's last retry (about 5 min)."""


@dataclass(frozen=True)
class Accepted:
    """A decision taken: where the approval stands, and the item that will apply it (None
    while it waits for more approvals)."""

    tally: ApprovalTally
    item_id: int | None


@dataclass
class _Running:
    item: Item
    thread_id: str
    started_by: str
    task: asyncio.Task[None]


class Conversations:
    """Accepts work durably and runs it (see the module docstring)."""

    def __init__(self, runtime: BotRuntime) -> None:
        self._runtime = runtime
        self._agent = runtime.agent
        self._store = runtime.store
        self._inbox = Inbox(runtime.agent.database)
        self.pauses = PauseMessages(runtime)
        self._renderer = TurnRenderer(runtime, self.pauses)
        self.feed = RunFeed()
        self._running: dict[int, _Running] = {}
        self._wake = asyncio.Event()
        self._scanning = False
        self._taking = False
        self._closed = False
        self._loop: asyncio.Task[None] | None = None
        self._stop_watch: asyncio.Task[None] | None = None

    # --- life cycle --------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before traffic: this worker's entry, and every pause given its card.

        A SQLite file is for one bot process (its checkpointer holds one connection and its
        locks live in that process); a second one on the same file is refused with what to do.
        """
        if self._agent.database.dialect == "sqlite":
            neighbour = await self._inbox.live_neighbour()
            if neighbour is not None:
                raise ConfigurationError(
                    f"another bot process (pid {neighbour}) already runs on this SQLite "
                    "database. A SQLite file serves one process: stop the other one, or give "
                    "each its own DATABASE_URL, or use PostgreSQL (DATABASE_URL=postgresql://…) "
                    "to run several replicas."
                )
        await self._inbox.register()
        await self.reconcile()

    def start(self) -> None:
        """Run the inbox: what the last process left comes first, in order."""
        self._taking = True
        self._wake.set()
        self._loop = asyncio.create_task(self._run_forever(), name="inbox")
        self._stop_watch = asyncio.create_task(self._watch_stops(), name="stop requests")

    async def drain(self, grace_seconds: float) -> None:
        """A deploy, not a Stop: take nothing new, let running items end within the grace
        period, then interrupt the rest, which say so in Slack and stay in the inbox."""
        self._taking = False
        tasks = [running.task for running in self._running.values()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=10)
        self._closed = True
        self._wake.set()
        if self._loop is not None:
            await self._loop
        if self._stop_watch is not None:
            self._stop_watch.cancel()
            await asyncio.gather(self._stop_watch, return_exceptions=True)
        await self._inbox.retire()
        await leases.release(self._agent.database, RECONCILER, self._inbox.owner)

    @property
    def running(self) -> int:
        """Items running now."""
        return len(self._running)

    @property
    def idle(self) -> bool:
        """Nothing running and nothing accepted that the runner has not looked at yet."""
        return not self._running and not self._wake.is_set() and not self._scanning

    # --- accepting (before the ack) ----------------------------------------------------------

    async def accept_message(
        self,
        ref: ThreadRef,
        user: str,
        text: str,
        *,
        ts: str,
        event_id: str | None,
        early: bool = False,
    ) -> bool:
        """Queue a message that starts or continues a turn; false for a repeat delivery.

        `early`: a reply in a thread that is not a conversation yet. It is kept for
        EARLY_REPLY_SECONDS and queued after the mention that starts the thread, if one comes.
        """
        payload = {"slack": _ref_payload(ref), "user": user, "text": text, "ts": ts}
        async with self._runtime.agent.database.transaction() as transaction:
            if event_id and not await Inbox.claim(transaction, "event", event_id):
                logger.info("duplicate delivery of %s ignored", event_id)
                return False
            if not await Inbox.claim(transaction, "message", f"{ref.channel}:{ts}"):
                return False  # the other half of an app_mention / message pair
            # A reply and its thread's mention may reach two replicas at once: whichever
            # commits second sees the other's conversation (or early reply) and acts on it.
            await transaction.serialize(f"conversation:{ref.thread_id}")
            if early and not await BotStore.has_conversation(transaction, ref.thread_id):
                # Checked again here: the thread's mention may have been accepted meanwhile.
                await Inbox.keep_early(transaction, ref.thread_id, payload)
                return True
            started = await BotStore.remember_conversation(transaction, ref)
            await Inbox.add(transaction, ref.thread_id, "message", payload)
            if started:
                await Inbox.queue_early(transaction, ref.thread_id, ts)
        self._wake.set()
        return True

    async def accept_api_message(self, thread_id: str, user: str, text: str) -> int:
        """Queue a message from the HTTP API; returns its item (the run's key in the feed)."""
        payload = {"api": True, "user": user, "text": text}
        async with self._runtime.agent.database.transaction() as transaction:
            item_id = await Inbox.add(transaction, thread_id, "message", payload)
        self._wake.set()
        return item_id

    async def accept_decision(
        self,
        thread_id: str,
        interrupt_id: str,
        decision: Decision,
        actor: str | None,
    ) -> ResumeRefused | Accepted:
        """Store a decision (first wins) with the item that applies it; the refusal if not.

        A tally that is not complete is an approval counted toward two-person approval: it is
        stored, and nothing runs until the last approval needed."""
        ref = await self._store.conversation(thread_id)
        queued: list[int] = []

        async def queue(transaction: Transaction) -> None:
            queued.append(await Inbox.add(transaction, thread_id, "decision", payload))

        payload: dict[str, Any] = {
            "slack": _ref_payload(ref) if ref else None,
            "interrupt_id": interrupt_id,
            "actor": actor,
        }
        try:
            counted = await self._agent.decide(thread_id, interrupt_id, decision, actor, also=queue)
        except ResumeRefused as refused:
            return refused
        except InvalidArguments as invalid:
            return ResumeRefused("wrong_kind", str(invalid))
        self.pauses.changed()  # lists of what waits (App Home) drop or recount it now
        if counted.complete:
            self._wake.set()
        else:
            await self._counted(thread_id, interrupt_id, actor, counted)
        return Accepted(counted, queued[0] if queued else None)

    async def _counted(
        self, thread_id: str, interrupt_id: str, actor: str | None, tally: ApprovalTally
    ) -> None:
        """One approval of several, from Slack or the API: audit it, and show the count on
        every copy of the card."""
        pause = await self._agent.pending(thread_id)
        if pause is None or pause.interrupt_id != interrupt_id:
            return  # decided meanwhile: its own item edits the card
        edited = tally.edited_by == actor and tally.approved_by == (actor,)
        await self._store.audit(
            thread_id=thread_id,
            interrupt_id=interrupt_id,
            action="approval counted",
            actor=actor or "",
            tool=pause.tool,
            arguments=tally.arguments if tally.arguments is not None else pause.arguments,
            detail=f"{len(tally.approved_by)} of {tally.needed}" + (" (edited)" if edited else ""),
        )
        ref = await self._store.conversation(thread_id)
        if ref is None:
            return
        pauses = self.pauses

        async def show() -> None:
            await pauses.refresh(ref, pause, tally)

        self._runtime.tasks.submit(show, name="show an approval count")

    async def stop(self, item_id: int, clicker: str) -> str | None:
        """Stop the answer of one item; why not, if it cannot be stopped.

        An answer another replica runs is asked to stop through its inbox row; that replica
        checks who may stop it, as this one does for its own.
        """
        running = self._running.get(item_id)
        if running is None:
            if await self._inbox.request_stop(item_id, clicker):
                return None
            return "This answer has already finished."
        return await self._stop_here(running, clicker)

    async def stop_thread(self, thread_id: str, clicker: str) -> str | None:
        """Stop whatever answer the conversation is running (the HTTP API's Stop)."""
        item_id = await self._inbox.running_item(thread_id)
        if item_id is None:
            return "Nothing is running in this conversation."
        return await self.stop(item_id, clicker)

    async def item_status(self, item_id: int) -> str | None:
        """Where an item is: queued, running, held, done (None: no such item)."""
        found = await self._inbox.get(item_id)
        return found[1] if found else None

    async def _stop_here(self, running: _Running, clicker: str) -> str | None:
        verdict = await self._runtime.approvers.check(clicker, running.started_by, "stop")
        if not verdict.allowed:
            return verdict.explanation
        self._agent.stop(running.thread_id)
        return None

    async def retry(self, item_id: int, clicker: str) -> str | None:
        """Run an item again that stopped after two interruptions; why not, if it cannot."""
        found = await self._inbox.get(item_id)
        if found is None:
            return "I can't find what this button belongs to."
        item, status = found
        if status != "held":
            return "There is nothing left to retry here: this already continued."
        started_by = str(item.payload.get("started_by") or item.payload.get("user") or "")
        verdict = await self._runtime.approvers.check(clicker, started_by, "stop")
        if not verdict.allowed:
            return verdict.explanation
        if not await self._inbox.retry(item_id):
            return "There is nothing left to retry here: this already continued."
        self._wake.set()
        return None

    # --- reconciling -------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Work of dead workers goes back to the queue; every pause has its card or question
        (posted by one replica at a time: the holder of the reconciler's lease)."""
        await self._inbox.forget_early(EARLY_REPLY_SECONDS)
        await self._take_over()
        database, owner = self._agent.database, self._inbox.owner
        if not await leases.hold(database, RECONCILER, owner, RECONCILE_SECONDS * 2):
            return
        for pause in await self._agent.pending_pauses():
            ref = await self._store.conversation(pause.thread_id)
            if ref is None or await self._inbox.has_open(pause.thread_id):
                continue  # not a Slack thread, or its own item will post the card
            try:
                await self.pauses.post(ref, pause, look_first=True)
            except Exception:
                logger.warning("could not post the card of %s", pause.interrupt_id, exc_info=True)

    # --- running -----------------------------------------------------------------------------

    async def _run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + HEARTBEAT_SECONDS
        next_reconcile = loop.time() + RECONCILE_SECONDS
        while not self._closed:
            woken = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait({woken}, timeout=HEARTBEAT_SECONDS)
            woken.cancel()
            if self._closed:
                return
            self._scanning = True
            self._wake.clear()
            try:
                if loop.time() >= next_beat:
                    next_beat = loop.time() + HEARTBEAT_SECONDS
                    self._give_up_lost(await self._inbox.heartbeat())
                    await self._take_over()
                if loop.time() >= next_reconcile:
                    next_reconcile = loop.time() + RECONCILE_SECONDS
                    await self.reconcile()
                if self._taking:
                    await self._launch()
            except Exception:
                logger.exception("the inbox runner failed; trying again shortly")
            finally:
                self._scanning = False

    async def _take_over(self) -> None:
        taken = await self._inbox.take_over()
        if taken:
            logger.info("continuing %d item(s) a stopped process left", taken)
            self._wake.set()

    def _give_up_lost(self, still_ours: set[int]) -> None:
        """Items whose lease ran out while this process stalled belong to another replica
        now: stop working on them here (their new owner replaces what this one showed)."""
        for item_id, running in list(self._running.items()):
            if item_id not in still_ours and not running.task.done():
                logger.warning("item %s went to another replica; stopping it here", item_id)
                running.task.cancel()

    async def _watch_stops(self) -> None:
        """Stops clicked on other replicas for answers running here."""
        while True:
            await asyncio.sleep(STOP_POLL_SECONDS)
            if not self._running:
                continue
            try:
                for item_id, clicker in await self._inbox.stop_requests():
                    running = self._running.get(item_id)
                    if running is None:
                        continue  # it finished meanwhile
                    refusal = await self._stop_here(running, clicker)
                    if refusal is not None and (ref := _ref_of(running.item.payload)):
                        await self.pauses.slack.ephemeral(
                            ref.channel, clicker, refusal, ref.thread_ts
                        )
            except Exception:
                logger.exception("could not check for stop requests; trying again")

    async def _launch(self) -> None:
        busy = {running.thread_id for running in self._running.values()}
        for queued in await self._inbox.runnable(busy):
            if not self._taking:
                return
            item = await self._inbox.take(queued)
            if item is None:
                continue
            started_by = str(item.payload.get("user") or item.payload.get("actor") or "")
            task = asyncio.create_task(
                self._run(item),
                name=f"inbox item {item.id}",
                context=log_context.task_context(thread=item.conversation, turn=item.answer_id),
            )
            self._running[item.id] = _Running(item, item.conversation, started_by, task)

    async def _run(self, item: Item) -> None:
        try:
            try:
                outcome = await self._traced_work(item)
            except asyncio.CancelledError:
                await asyncio.shield(self._inbox.put_back(item.id))
                raise
            except Exception:
                logger.exception("inbox item %s (%s) failed", item.id, item.kind)
                outcome = "failed"
            if outcome == "held":
                await self._inbox.hold(item.id)
            else:
                await self._inbox.finish(item.id, outcome)
        finally:
            # Only now may the conversation's next item run: woken before the item was
            # finished, the runner would find it still running and sleep (on PostgreSQL its
            # query need not wait for the finishing write, as SQLite's one connection did).
            self._running.pop(item.id, None)
            self._wake.set()

    async def _traced_work(self, item: Item) -> str:
        """`_work` inside the turn's span: the parent of its model, tool and Slack calls."""
        with turn_span(self._runtime.tracer, item) as span:
            outcome = await self._work(item)
            span.set_attribute("countersign.item.outcome", outcome)
            return outcome

    async def _work(self, item: Item) -> str:
        ref = _ref_of(item.payload)
        if ref is None:
            await self._headless(item)
            return "done"
        message = item.kind == "message"
        answer = AnswerPlace(
            ref,
            item.answer_id,
            cards.item_value(item.id),
            adopt=item.shown_before,
            asker=str(item.payload["user"]) if message else None,  # a decision: its requester
            title=title_of(str(item.payload["text"])) if message else None,
        )
        if item.attempts > MAX_ATTEMPTS:
            retry = cards.retry_actions(cards.item_value(item.id))
            await self._renderer.show(answer, INTERRUPTED_TWICE, retry)
            return "held"
        if item.kind == "message":
            await self._message(item, ref, answer)
        else:
            await self._decision(item, ref, answer)
        return "done"

    async def _message(self, item: Item, ref: ThreadRef, answer: AnswerPlace) -> None:
        """A person's message: a new turn, an answer to the pending question, or a pointer."""
        thread_id, user, text = ref.thread_id, str(item.payload["user"]), str(item.payload["text"])
        pause = await self._agent.waiting_on(thread_id, item.answer_id)
        if pause is not None:
            await self._while_paused(item, ref, answer, pause)
            return
        events = self._agent.start(thread_id, text or "Hi!", user, input_id=item.answer_id)
        await self._renderer.render(answer, self.feed.relay(thread_id, item.id, events))

    async def _while_paused(
        self, item: Item, ref: ThreadRef, answer: AnswerPlace, pause: Pause
    ) -> None:
        """A reply may answer the pending question; anything else is pointed at the pause."""
        user, text = str(item.payload["user"]), str(item.payload["text"])
        anyone = self._runtime.settings.ask_human_responders == "anyone"
        if pause.kind == "question" and text and (anyone or user == pause.requested_by):
            payload: dict[str, Any] = {
                "slack": _ref_payload(ref),
                "interrupt_id": pause.interrupt_id,
                "actor": user,
            }

            async def become_decision(transaction: Transaction) -> None:
                await Inbox.become(transaction, item.id, "decision", payload)

            with contextlib.suppress(ResumeRefused):
                await self._agent.decide(
                    ref.thread_id, pause.interrupt_id, Answer(text), user, also=become_decision
                )
                decision = dataclasses.replace(item, kind="decision", payload=payload)
                await self._decision(decision, ref, answer)
                return
        marker = {"pointer": item.answer_id}
        slack = self.pauses.slack
        if answer.adopt and await slack.find(ref.channel, ref.thread_ts, marker):
            return  # an earlier attempt pointed already
        pointer = await self.pauses.pointer(ref.thread_id)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": pointer}}]
        await slack.post(ref.channel, ref.thread_ts, "Waiting on a decision", blocks, marker=marker)

    async def _decision(self, item: Item, ref: ThreadRef, answer: AnswerPlace) -> None:
        """Show the stored decision on its card, audit it, and stream the continuation."""
        applied = await self._apply(item)
        if applied is None:
            return
        pause, decision, events, audit_ran = applied
        answer = dataclasses.replace(answer, asker=pause.requested_by)
        actor = item.payload.get("actor")
        arguments = _arguments_that_run(pause, decision)
        await self.pauses.close(ref, pause, decision, actor, arguments, time.time())
        status = "Continuing…" if isinstance(decision, Approve | Edit | Answer) else "Noted…"
        await self._renderer.render(answer, events, status, on_tool=audit_ran)

    async def _apply(
        self, item: Item
    ) -> (
        tuple[
            Pause,
            Decision,
            AsyncGenerator[AgentEvent, None],
            Callable[[ToolStarted], Awaitable[None]],
        ]
        | None
    ):
        """Start applying a stored decision and audit it: the pause, the decision, the
        continuation's events (relayed to the feed) and the hook that audits the call running;
        None when the agent refuses it (already applied)."""
        interrupt_id = str(item.payload["interrupt_id"])
        actor = item.payload.get("actor")
        events = self._agent.apply(item.conversation, interrupt_id)
        try:
            first = await anext(events)
        except ResumeRefused as refused:
            await events.aclose()
            logger.warning("decision item %s refused: %s", item.id, refused)
            return None
        assert isinstance(first, Resumed)  # the agent's first event of an applied decision
        pause, decision = first.pause, first.decision
        if (running := self._running.get(item.id)) is not None:
            running.started_by = pause.requested_by  # who may stop the continuation
        arguments = _arguments_that_run(pause, decision)
        await self._audit(pause, _audit_action(decision), actor or "expiry", arguments, decision)

        async def audit_ran(event: ToolStarted) -> None:
            if event.call_id == pause.call_id:
                await self._audit(pause, "ran", actor or "expiry", event.arguments, None)

        relayed = self.feed.relay(item.conversation, item.id, events)
        return pause, decision, relayed, audit_ran

    async def _headless(self, item: Item) -> None:
        """An item of a conversation outside Slack (the HTTP API's, or the terminal chat's,
        expired here): the same turns and decisions, watched through the feed only."""
        thread_id = item.conversation
        if item.kind == "decision":
            applied = await self._apply(item)
            if applied is not None:
                _, _, events, audit_ran = applied
                await _drain(events, audit_ran)
            return
        user, text = str(item.payload["user"]), str(item.payload["text"])
        pause = await self._agent.waiting_on(thread_id, item.answer_id)
        if pause is not None:
            anyone = self._runtime.settings.ask_human_responders == "anyone"
            if pause.kind == "question" and text and (anyone or user == pause.requested_by):
                payload: dict[str, Any] = {
                    "interrupt_id": pause.interrupt_id,
                    "actor": user,
                    "api": True,
                }

                async def become_decision(transaction: Transaction) -> None:
                    await Inbox.become(transaction, item.id, "decision", payload)

                with contextlib.suppress(ResumeRefused):
                    await self._agent.decide(
                        thread_id, pause.interrupt_id, Answer(text), user, also=become_decision
                    )
                    await self._headless(
                        dataclasses.replace(item, kind="decision", payload=payload)
                    )
                    return
            await _drain(self.feed.relay(thread_id, item.id, _still_waiting(pause)))
            return
        events = self._agent.start(thread_id, text or "Hi!", user, input_id=item.answer_id)
        await _drain(self.feed.relay(thread_id, item.id, events))

    async def _audit(
        self,
        pause: Pause,
        action: str,
        actor: str,
        arguments: dict[str, Any] | None,
        decision: Decision | None,
    ) -> None:
        """Once per action, however many attempts the item takes."""
        if await self._store.audited(pause.thread_id, pause.interrupt_id, action):
            return
        await self._store.audit(
            thread_id=pause.thread_id,
            interrupt_id=pause.interrupt_id,
            action=action,
            actor=actor,
            tool=pause.tool,
            arguments=arguments,
            detail=decision.reason if isinstance(decision, Deny) else None,
        )


async def _drain(
    events: AsyncGenerator[AgentEvent, None],
    on_tool: Callable[[ToolStarted], Awaitable[None]] | None = None,
) -> None:
    """Run a run to its end where nobody reads it here (the feed's watchers do)."""
    async with contextlib.aclosing(events):
        async for event in events:
            if on_tool is not None and isinstance(event, ToolStarted):
                await on_tool(event)


async def _still_waiting(pause: Pause) -> AsyncGenerator[AgentEvent, None]:
    """A message to a paused thread that does not answer it: the pause, said again."""
    yield Agent.pause_event(pause)


def _audit_action(decision: Decision) -> str:
    """The audit log's word for a decision."""
    return "answered" if isinstance(decision, Answer) else outcome_of(decision)


def _arguments_that_run(pause: Pause, decision: Decision) -> dict[str, Any] | None:
    if pause.kind != "approval":
        return None
    return dict(decision.arguments) if isinstance(decision, Edit) else dict(pause.arguments)


def _ref_payload(ref: ThreadRef) -> dict[str, str]:
    return {"team": ref.team_id, "channel": ref.channel, "thread_ts": ref.thread_ts}


def _ref_of(payload: dict[str, Any]) -> ThreadRef | None:
    slack = payload.get("slack")
    if not slack:
        return None
    return ThreadRef(str(slack["team"]), str(slack["channel"]), str(slack["thread_ts"]))
