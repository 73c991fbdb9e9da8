"""The agent's public API: start a turn, resume a pause, see what a thread waits on, stop a turn.

    async with Agent.open(settings) as agent:
        async for event in agent.start(thread_id, "save a note about water", user="U1"):
            ...
        async for event in agent.resume(thread_id, interrupt_id, Approve()):
            ...

Resume is exactly-once (DESIGN §4): a first-wins claim on (thread, interrupt) in the database,
then the thread's lock, then a check that the interrupt is still the one pending, and only then
`Command(resume={interrupt_id: decision})`. Anything else is refused with `ResumeRefused` before
the run is touched. Iterate each stream to its end (or close it): the lock is held meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot, StreamMode

from agent import approval_votes
from agent.approval_votes import ApprovalTally, serialization_key
from agent.builtin_tools import builtin_tools
from agent.database import Transaction
from agent.errors import InvalidArguments, ResumeRefused, ThreadPaused
from agent.events import (
    AgentEvent,
    Answer,
    ApprovalRequested,
    ApprovalRule,
    Approve,
    Decision,
    Deny,
    Edit,
    Expire,
    Failed,
    Finished,
    Pause,
    PauseKind,
    QuestionAsked,
    Resumed,
    TextDelta,
    ToolDenied,
    ToolFinished,
    ToolStarted,
)
from agent.graph import AgentGraph
from agent.instrumentation import Instrumentation, TurnOutcome, turn_outcome
from agent.ledger import ToolLedger
from agent.llm import LLMGateway
from agent.mcp_tools import open_mcp_tools
from agent.migrations import migrate
from agent.pauses import PauseBook
from agent.policy import Policy
from agent.schema import MIGRATIONS
from agent.settings import AgentSettings
from agent.state import RunContext
from agent.storage import Storage, open_storage
from agent.toolkit import Toolbox, tools_in_module

logger = logging.getLogger(__name__)

STREAM_MODES: list[StreamMode] = ["custom", "updates"]
INPUT_ID = "input_id"
"""The key that tags a user message with the front end's id for it (never sent to a model)."""


class Agent:
    """Owns the database connection, the checkpointer, the LLM gateway and the compiled graph."""

    def __init__(
        self,
        storage: Storage,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        toolbox: Toolbox,
        gateway: LLMGateway,
        instrumentation: Instrumentation | None = None,
    ) -> None:
        self.database = storage.database
        self._observer = (instrumentation or Instrumentation()).observer
        self._storage = storage
        self._toolbox = toolbox
        self._graph = graph
        self._gateway = gateway
        self._pauses = PauseBook(storage.database)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._running: dict[str, RunContext] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        settings: AgentSettings,
        environment: Mapping[str, str] | None = None,
        *,
        instrumentation: Instrumentation | None = None,
    ) -> AsyncIterator[Agent]:
        """Open the database, bring its tables up to date, start the MCP servers, compile the
        graph; close on exit (stopping the servers). `environment` fills `${VAR}` in MCP_CONFIG;
        by default it is the process environment, where the settings come from too.
        `instrumentation` receives metrics and spans (agent.instrumentation); none by default."""
        instrumentation = instrumentation or Instrumentation()
        policy = Policy.load(settings.policy_file) if settings.policy_file else Policy.default()
        async with open_storage(settings.database_url) as storage:
            await migrate(storage.database, "agent", MIGRATIONS)
            tools = builtin_tools(storage.database)
            for module in settings.agent_tools:
                tools += tools_in_module(module)
            variables = os.environ if environment is None else environment
            async with open_mcp_tools(settings.mcp_config, variables) as mcp_tools:
                toolbox = Toolbox([*tools, *mcp_tools])  # a name clash is a ConfigurationError
                gateway = LLMGateway(settings, instrumentation=instrumentation)
                graph = AgentGraph(
                    gateway,
                    toolbox,
                    ToolLedger(storage.database),
                    policy,
                    tracer=instrumentation.tracer,
                ).compile(storage.saver)
                yield cls(storage, graph, toolbox, gateway, instrumentation)

    async def warm_up(self) -> None:
        """Pay the LLM client's first-call cost at start-up rather than on the first message."""
        await self._gateway.warm_up()

    @property
    def graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The compiled graph, for what drives it without this class (LangGraph Studio:
        agent/studio.py). Runs through it skip the claims and locks of `resume`."""
        return self._graph

    # --- the operations ------------------------------------------------------------------

    async def start(
        self, thread_id: str, text: str, user: str, input_id: str | None = None
    ) -> AsyncGenerator[AgentEvent, None]:
        """Run one turn; raises ThreadPaused if the thread waits on a pause.

        `input_id` makes the call idempotent: when the thread already took that input (the
        process died mid-turn), the turn continues from its last checkpoint instead of starting
        again, and its first event carries the text it had already written.
        """
        async with self._lock(thread_id):
            snapshot = await self._snapshot(thread_id)
            since = _after_input(snapshot, input_id) if input_id is not None else None
            if since is not None:
                async for event in self._continue(snapshot, since):
                    yield event
                return
            pause = _pause_of(snapshot)
            if pause is not None:
                await self._pauses.record(pause)
                raise ThreadPaused(pause)
            message: dict[str, Any] = {"role": "user", "content": text}
            if input_id is not None:
                message[INPUT_ID] = input_id
            turn = {"messages": [message], "requested_by": user, "decisions": {}}
            async for event in self._run(thread_id, turn):
                yield event

    async def decide(
        self,
        thread_id: str,
        interrupt_id: str,
        decision: Decision,
        decided_by: str | None,
        also: Callable[[Transaction], Awaitable[object]] | None = None,
    ) -> ApprovalTally:
        """Store the decision on a pending pause, first wins; returns where the approval stands.

        Durable before anyone is told (DESIGN §4 rule 8): once the returned tally is complete,
        `apply` runs the decision, in this process or, after a crash, in the next. `also`
        writes more in the same transaction (the work that will apply it), so the two are never
        apart; it runs only when the decision is stored. A pause whose rule asks for two or more
        approvals counts each approver once and stores the decision with the last one needed
        (agent.approval_votes); one Deny ends it. Raises ResumeRefused (nothing stored) or
        InvalidArguments (edited arguments that do not fit).
        """
        pause = await self._pause_in_checkpoint(thread_id)
        if pause is None or pause.interrupt_id != interrupt_id:
            raise await self._refusal(thread_id, interrupt_id)
        value = self._decision_value(pause, decision)
        # one decision decides: complete, whoever (or whatever, for an expiry) took it
        counted = ApprovalTally(1, (decided_by,)) if decided_by else ApprovalTally(0)
        needed = pause.rule.approvals if pause.kind == "approval" else 1
        async with self.database.transaction() as transaction:
            if needed > 1 and isinstance(decision, Approve | Edit):
                counted = await self._count(transaction, pause, value, decided_by)
                if not counted.complete:
                    return counted
                if counted.arguments is not None:
                    value = {"kind": "edit", "arguments": counted.arguments}
            if not await self._pauses.decide(transaction, pause, value, decided_by):
                raise ResumeRefused("already_handled")
            if also is not None:
                await also(transaction)
        self._observer.decision_stored(pause.kind, max(0.0, time.time() - pause.created_at))
        return counted

    async def _count(
        self,
        transaction: Transaction,
        pause: Pause,
        value: dict[str, Any],
        voter: str | None,
    ) -> ApprovalTally:
        """One person's approval toward the pause's quorum, or why it does not count."""
        if voter is None or voter == pause.requested_by:
            raise ResumeRefused("own_request")
        await transaction.serialize(serialization_key(pause.thread_id, pause.interrupt_id))
        if await self._pauses.status(pause.thread_id, pause.interrupt_id, transaction) not in (
            None,
            "pending",
        ):
            raise ResumeRefused("already_handled")
        edited = value.get("arguments") if value["kind"] == "edit" else None
        counted = await approval_votes.vote(
            transaction, pause.thread_id, pause.interrupt_id, voter, pause.rule.approvals, edited
        )
        if counted is None:
            raise ResumeRefused("already_counted")
        return counted

    async def tally(self, pause: Pause) -> ApprovalTally:
        """Who approved a pause so far, of how many its rule needs."""
        return await approval_votes.tally(
            self.database, pause.thread_id, pause.interrupt_id, pause.rule.approvals
        )

    async def apply(self, thread_id: str, interrupt_id: str) -> AsyncGenerator[AgentEvent, None]:
        """Run the stored decision of a pause; the first event is `Resumed`.

        Safe to call again after a crash: if the decision already reached the checkpoint, the
        run continues from where it stopped instead of deciding twice.
        """
        async with self._lock(thread_id):
            stored = await self._pauses.decision(thread_id, interrupt_id)
            if stored is None:
                raise await self._refusal(thread_id, interrupt_id)
            decision = _decision_of(stored.value)
            snapshot = await self._snapshot(thread_id)
            pause = _pause_of(snapshot)
            if pause is not None and pause.interrupt_id == interrupt_id:
                yield Resumed(pause, decision)
                try:
                    command: Command[Any] = Command(resume={interrupt_id: stored.value})
                    async for event in self._run(thread_id, command):
                        yield event
                finally:
                    after = await self._pause_in_checkpoint(thread_id)
                    if after is None or after.interrupt_id != interrupt_id:
                        await self._pauses.close(thread_id, interrupt_id, "resolved")
                return
            decided = await self._pauses.recorded(thread_id, interrupt_id)
            assert decided is not None  # a stored decision belongs to a recorded pause
            await self._pauses.close(thread_id, interrupt_id, "resolved")
            yield Resumed(decided, decision)
            async for event in self._continue(snapshot, _after_call(snapshot, decided.call_id)):
                yield event

    async def resume(
        self, thread_id: str, interrupt_id: str, decision: Decision, decided_by: str | None = None
    ) -> AsyncGenerator[AgentEvent, None]:
        """Decide and apply in one go (the terminal chat); the first event is `Resumed`."""
        counted = await self.decide(thread_id, interrupt_id, decision, decided_by)
        if not counted.complete:
            return  # counted toward the quorum; the last approval needed continues the run
        async for event in self.apply(thread_id, interrupt_id):
            yield event

    async def pending(self, thread_id: str) -> Pause | None:
        """The pause the thread waits on, if any."""
        return await self._pause_in_checkpoint(thread_id)

    async def waiting_on(self, thread_id: str, input_id: str) -> Pause | None:
        """The pause a new input would meet: None when nothing waits, or when the thread already
        took this input (then `start` with it continues that turn, pause or not)."""
        snapshot = await self._snapshot(thread_id)
        return None if _after_input(snapshot, input_id) is not None else _pause_of(snapshot)

    async def pending_pauses(self) -> list[Pause]:
        """Every pause the checkpoints wait on, each recorded (a crash can come in between)."""
        pauses = []
        for thread_id in await self._storage.interrupted_threads():
            pause = await self._pause_in_checkpoint(thread_id)
            if pause is not None:
                await self._pauses.record(pause)
                pauses.append(pause)
        return pauses

    def stop(self, thread_id: str) -> bool:
        """Ask the running turn to stop at once; false when nothing is running there."""
        context = self._running.get(thread_id)
        if context is None:
            return False
        context.stop.set()
        return True

    async def expired_pauses(self, ttl_seconds: float) -> list[Pause]:
        """Pauses that have waited longer than their rule's `expires_after` (else the TTL),
        from the database (survives restarts)."""
        now = time.time()
        return [
            pause
            for pause in await self.waiting_pauses()
            if now - pause.created_at > (pause.rule.expires_after or ttl_seconds)
        ]

    async def waiting_pauses(self) -> list[Pause]:
        """Every recorded pause nobody has decided yet, oldest first."""
        return await self._pauses.waiting_since_before(time.time())

    async def pending_pause_counts(self) -> dict[PauseKind, int]:
        """How many recorded pauses wait on a person, by kind (one query, for metrics)."""
        return await self._pauses.pending_counts()

    async def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's messages as stored in its checkpoint (OpenAI format, without our tags)."""
        return [
            {key: value for key, value in message.items() if key != INPUT_ID}
            for message in (await self._snapshot(thread_id)).values.get("messages", [])
        ]

    def tool_schema(self, name: str) -> dict[str, Any] | None:
        """The JSON schema of a tool's arguments (for a form that edits them), if it exists."""
        tool = self._toolbox.get(name)
        return tool.openai_schema()["function"]["parameters"] if tool else None

    def validate_arguments(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the tool would run them; raises InvalidArguments."""
        tool = self._toolbox.get(name)
        if tool is None:
            raise InvalidArguments(name, {"tool": "there is no such tool"})
        return tool.validate(arguments)

    # --- internals -----------------------------------------------------------------------

    async def _run(
        self, thread_id: str, graph_input: Any, prior: str = ""
    ) -> AsyncGenerator[AgentEvent, None]:
        """One run of the graph, reported to the observer: begun, and how it ended."""
        self._observer.turn_started()
        outcome: TurnOutcome = "interrupted"  # closed before its last event
        try:
            async with contextlib.aclosing(self._run_graph(thread_id, graph_input, prior)) as run:
                async for event in run:
                    outcome = turn_outcome(event) or outcome
                    yield event
        finally:
            self._observer.turn_finished(outcome)

    async def _run_graph(
        self, thread_id: str, graph_input: Any, prior: str = ""
    ) -> AsyncGenerator[AgentEvent, None]:
        context = RunContext()
        self._running[thread_id] = context
        text: list[str] = []
        if prior:
            text.append(prior)
            yield TextDelta(prior)
        failed = False
        try:
            stream = cast(
                "AsyncGenerator[Any, None]",
                self._graph.astream(
                    graph_input,
                    self._config(thread_id),
                    context=context,
                    stream_mode=STREAM_MODES,
                    version="v2",
                    durability="sync",
                ),
            )
            async with contextlib.aclosing(stream):
                async for part in stream:
                    if part["type"] != "custom":
                        continue
                    event = self._event(part["data"])
                    if isinstance(event, TextDelta):
                        text.append(event.text)
                    elif isinstance(event, Failed):
                        failed = True
                        logger.warning(
                            "turn failed in %s [%s]: %s", thread_id, event.reference, event.message
                        )
                    yield event
        except Exception:
            reference = uuid.uuid4().hex[:8]
            logger.exception("agent run crashed in %s [%s]", thread_id, reference)
            yield Failed("Something went wrong inside the agent.", "internal", reference)
            return
        finally:
            self._running.pop(thread_id, None)
        await self._storage.keep_latest(thread_id)
        pause = await self._pause_in_checkpoint(thread_id)
        if pause is not None:
            await self._pauses.record(pause)
            yield self.pause_event(pause)
        elif not failed:
            yield Finished("".join(text), stopped=context.stop.is_set())

    async def _continue(
        self, snapshot: StateSnapshot, since: int
    ) -> AsyncGenerator[AgentEvent, None]:
        """Pick a turn up where a crash left it; `since` indexes its first reply in history."""
        thread_id = str(snapshot.config["configurable"]["thread_id"])
        messages: list[dict[str, Any]] = snapshot.values.get("messages", [])
        prior = ""
        for message in messages[since:]:
            if message.get("role") == "user":
                break  # a later input's turn: not this one's text
            if message.get("role") == "assistant":
                prior += str(message.get("content") or "")
        pause = _pause_of(snapshot)
        if pause is None and snapshot.next:
            async for event in self._run(thread_id, None, prior):
                yield event
            return
        if prior:
            yield TextDelta(prior)
        if pause is not None:
            await self._pauses.record(pause)
            yield self.pause_event(pause)
        else:
            yield Finished(prior)

    async def _refusal(self, thread_id: str, interrupt_id: str) -> ResumeRefused:
        """Why a decision on this pause cannot be taken now."""
        status = await self._pauses.status(thread_id, interrupt_id)
        if status in ("decided", "resolved"):
            return ResumeRefused("already_handled")
        if status is None and not await self._thread_exists(thread_id):
            return ResumeRefused("unknown_thread")
        if status == "pending":  # the run moved on without it: nothing will ever decide it
            await self._pauses.close(thread_id, interrupt_id, "superseded")
        return ResumeRefused("stale")

    @staticmethod
    def _event(data: dict[str, Any]) -> AgentEvent:
        kind = data["type"]
        if kind == "text":
            return TextDelta(data["text"])
        if kind == "tool_started":
            return ToolStarted(data["call_id"], data["tool"], data["arguments"])
        if kind == "tool_finished":
            return ToolFinished(data["call_id"], data["tool"], data["ok"], data["result"])
        if kind == "tool_denied":
            return ToolDenied(data["call_id"], data["tool"], data["rule"], data["reason"])
        if kind == "failed":
            return Failed(data["message"], data["kind"], uuid.uuid4().hex[:8])
        raise ValueError(f"unknown stream event {kind!r}")

    @staticmethod
    def pause_event(pause: Pause) -> AgentEvent:
        """The event that announces a pause (to say again what a paused thread waits on)."""
        if pause.kind == "approval":
            return ApprovalRequested(
                pause.interrupt_id,
                pause.call_id,
                pause.tool or "",
                pause.arguments,
                pause.reason,
                pause.requested_by,
            )
        return QuestionAsked(
            pause.interrupt_id, pause.call_id, pause.question or "", pause.requested_by
        )

    def _decision_value(self, pause: Pause, decision: Decision) -> dict[str, Any]:
        """The JSON the graph receives; refuses answers that do not fit the pause."""
        fits = (
            isinstance(decision, Answer | Expire)
            if pause.kind == "question"
            else not isinstance(decision, Answer)
        )
        if not fits:
            raise ResumeRefused("wrong_kind")
        value: dict[str, Any] = {"kind": _DECISION_KINDS[type(decision)], **asdict(decision)}
        if isinstance(decision, Edit):
            tool = self._toolbox.get(pause.tool or "")
            assert tool is not None  # a pause names a tool the toolbox has
            value["arguments"] = tool.validate(decision.arguments)
        return value

    async def _snapshot(self, thread_id: str) -> StateSnapshot:
        """The thread's checkpoint: read once per step, it holds the whole conversation."""
        return await self._graph.aget_state(self._config(thread_id))

    async def _pause_in_checkpoint(self, thread_id: str) -> Pause | None:
        return _pause_of(await self._snapshot(thread_id))

    async def _thread_exists(self, thread_id: str) -> bool:
        return bool((await self._snapshot(thread_id)).values)

    def _lock(self, thread_id: str) -> asyncio.Lock:
        """The thread's lock; it lives as long as someone holds or waits on it, then goes."""
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        return lock

    @staticmethod
    def _config(thread_id: str) -> RunnableConfig:
        return RunnableConfig(configurable={"thread_id": thread_id})


_DECISION_KINDS: dict[type, str] = {
    Approve: "approve",
    Deny: "deny",
    Edit: "edit",
    Expire: "expire",
    Answer: "answer",
}


def _decision_of(value: dict[str, Any]) -> Decision:
    """The Decision a stored value was made from (the inverse of `Agent._decision_value`)."""
    fields = {key: item for key, item in value.items() if key != "kind"}
    kind = next(cls for cls, name in _DECISION_KINDS.items() if name == value["kind"])
    return cast("Decision", kind(**fields))


def _pause_of(snapshot: StateSnapshot) -> Pause | None:
    """The pause a checkpoint waits on, if any."""
    if not snapshot.interrupts:
        return None
    interrupt = snapshot.interrupts[0]
    payload: dict[str, Any] = interrupt.value
    return Pause(
        thread_id=str(snapshot.config["configurable"]["thread_id"]),
        interrupt_id=interrupt.id,
        kind=payload["kind"],
        call_id=payload["call_id"],
        requested_by=payload["requested_by"],
        created_at=payload["created_at"],
        tool=payload.get("tool"),
        arguments=payload.get("arguments") or {},
        reason=payload.get("reason"),
        question=payload.get("question"),
        rule=ApprovalRule.from_json(payload.get("rule")),
    )


def _after_input(snapshot: StateSnapshot, input_id: str) -> int | None:
    """Where the replies to an input begin in history, if the thread already took it."""
    for index, message in enumerate(snapshot.values.get("messages", [])):
        if message.get(INPUT_ID) == input_id:
            return index + 1
    return None


def _after_call(snapshot: StateSnapshot, call_id: str) -> int:
    """Where the run went on after the model asked for `call_id` (its results, then replies)."""
    history: list[dict[str, Any]] = snapshot.values.get("messages", [])
    for index in range(len(history) - 1, -1, -1):
        calls = history[index].get("tool_calls") or []
        if any(call.get("id") == call_id for call in calls):
            return index + 1
    return len(history)
