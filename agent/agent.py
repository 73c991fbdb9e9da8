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
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import asdict
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StreamMode

from agent.builtin_tools import NOTES_TABLE, builtin_tools
from agent.checkpoints import keep_latest
from agent.database import CLAIMS_TABLE, Database
from agent.errors import ResumeRefused, ThreadPaused
from agent.events import (
    AgentEvent,
    Answer,
    ApprovalRequested,
    Approve,
    Decision,
    Deny,
    Edit,
    Expire,
    Failed,
    Finished,
    Pause,
    QuestionAsked,
    Resumed,
    TextDelta,
    ToolFinished,
    ToolStarted,
)
from agent.graph import AgentGraph
from agent.ledger import TOOL_RUNS_TABLE, ToolLedger
from agent.llm import LLMGateway
from agent.pauses import PAUSES_INDEX, PAUSES_TABLE, PauseBook
from agent.settings import AgentSettings
from agent.state import RunContext
from agent.toolkit import Toolbox, tools_in_module

logger = logging.getLogger(__name__)

STREAM_MODES: list[StreamMode] = ["custom", "updates"]
APP_TABLES = (CLAIMS_TABLE, NOTES_TABLE, TOOL_RUNS_TABLE, PAUSES_TABLE, PAUSES_INDEX)


class Agent:
    """Owns the database connection, the checkpointer, the LLM gateway and the compiled graph."""

    def __init__(
        self,
        database: Database,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        toolbox: Toolbox,
        gateway: LLMGateway,
    ) -> None:
        self.database = database
        self.toolbox = toolbox
        self._graph = graph
        self._gateway = gateway
        self._pauses = PauseBook(database)
        self._locks: dict[str, asyncio.Lock] = {}
        self._running: dict[str, RunContext] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: AgentSettings) -> AsyncIterator[Agent]:
        """Open the database, set up tables, compile the graph; close everything on exit."""
        connection = await Database.connect(settings.sqlite_path())
        try:
            saver = AsyncSqliteSaver(connection)
            await saver.setup()
            database = Database(connection, saver.lock)
            await database.create_tables(APP_TABLES)
            tools = builtin_tools(database)
            for module in settings.agent_tools:
                tools += tools_in_module(module)
            toolbox = Toolbox(tools)
            gateway = LLMGateway(settings)
            graph = AgentGraph(gateway, toolbox, ToolLedger(database)).compile(saver)
            agent = cls(database, graph, toolbox, gateway)
            await agent._release_stranded_claims()
            yield agent
            agent.stop_all()
        finally:
            await connection.close()

    async def warm_up(self) -> None:
        """Pay the LLM client's first-call cost at start-up rather than on the first message."""
        await self._gateway.warm_up()

    # --- the four operations -------------------------------------------------------------

    async def start(self, thread_id: str, text: str, user: str) -> AsyncGenerator[AgentEvent, None]:
        """Run one turn; raises ThreadPaused, if the thread waits on a pause."""
        async with self._lock(thread_id):
            pause = await self._pause_in_checkpoint(thread_id)
            if pause is not None:
                await self._pauses.record(pause)
                raise ThreadPaused(pause)
            turn = {
                "messages": [{"role": "user", "content": text}],
                "requested_by": user,
                "decisions": {},
            }
            async for event in self._run(thread_id, turn):
                yield event

    async def resume(
        self, thread_id: str, interrupt_id: str, decision: Decision
    ) -> AsyncGenerator[AgentEvent, None]:
        """Answer a pause exactly once; the first event is `Resumed` once the answer is accepted."""
        status = await self._pauses.status(thread_id, interrupt_id)
        pause = await self._pause_in_checkpoint(thread_id)
        if pause is None or pause.interrupt_id != interrupt_id:
            if status is None and not await self._thread_exists(thread_id):
                raise ResumeRefused("unknown_thread")
            raise ResumeRefused("already_handled" if status == "resolved" else "stale")
        if status is None:
            await self._pauses.record(pause)  # reached, but not recorded before a crash
        value = self._decision_value(pause, decision)
        if not await self._pauses.claim(thread_id, interrupt_id):
            raise ResumeRefused("already_handled")
        async with self._lock(thread_id):
            current = await self._pause_in_checkpoint(thread_id)
            if current is None or current.interrupt_id != interrupt_id:
                await self._pauses.close(thread_id, interrupt_id, "superseded")
                raise ResumeRefused("stale")
            try:
                yield Resumed(pause, decision)
                async for event in self._run(thread_id, Command(resume={interrupt_id: value})):
                    yield event
            finally:
                # The checkpoint is the truth: if the answer never reached it, the pause stays open.
                after = await self._pause_in_checkpoint(thread_id)
                if after is not None and after.interrupt_id == interrupt_id:
                    await self._pauses.release(thread_id, interrupt_id)
                else:
                    await self._pauses.close(thread_id, interrupt_id, "resolved")

    async def pending(self, thread_id: str) -> Pause | None:
        """The pause the thread waits on, if any."""
        return await self._pause_in_checkpoint(thread_id)

    def stop(self, thread_id: str) -> bool:
        """Ask the running turn to stop at its next chunk; false when nothing is running there."""
        context = self._running.get(thread_id)
        if context is None:
            return False
        context.stop.set()
        return True

    def stop_all(self) -> None:
        """Ask every running turn to stop (shutdown): each ends at a consistent point."""
        for context in self._running.values():
            context.stop.set()

    async def retry(self, thread_id: str) -> AsyncGenerator[AgentEvent, None]:
        """Continue a run that a crash cut short, from its last checkpoint.

        Raises ResumeRefused("not_paused") when the thread has nothing left to run, and
        ThreadPaused when it waits on a person instead.
        """
        async with self._lock(thread_id):
            snapshot = await self._graph.aget_state(self._config(thread_id))
            pause = await self._pause_in_checkpoint(thread_id)
            if pause is not None:
                raise ThreadPaused(pause)
            if not snapshot.next:
                raise ResumeRefused(
                    "not_paused" if snapshot.values else "unknown_thread",
                    "there is nothing left to retry in this conversation",
                )
            async for event in self._run(thread_id, None):
                yield event

    async def expired_pauses(self, ttl_seconds: float) -> list[Pause]:
        """Pauses that have waited longer than the TTL, from the database (survives restarts)."""
        return await self._pauses.waiting_since_before(time.time() - ttl_seconds)

    async def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's messages as stored in its checkpoint (OpenAI format)."""
        snapshot = await self._graph.aget_state(self._config(thread_id))
        return list(snapshot.values.get("messages", []))

    # --- internals -----------------------------------------------------------------------

    async def _run(self, thread_id: str, graph_input: Any) -> AsyncGenerator[AgentEvent, None]:
        context = RunContext()
        self._running[thread_id] = context
        text: list[str] = []
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
        await keep_latest(self.database, thread_id)
        pause = await self._pause_in_checkpoint(thread_id)
        if pause is not None:
            await self._pauses.record(pause)
            yield self._pause_event(pause)
        elif not failed:
            yield Finished("".join(text), stopped=context.stop.is_set())

    @staticmethod
    def _event(data: dict[str, Any]) -> AgentEvent:
        kind = data["type"]
        if kind == "text":
            return TextDelta(data["text"])
        if kind == "tool_started":
            return ToolStarted(data["call_id"], data["tool"], data["arguments"])
        if kind == "tool_finished":
            return ToolFinished(data["call_id"], data["tool"], data["ok"], data["result"])
        if kind == "failed":
            return Failed(data["message"], data["kind"], uuid.uuid4().hex[:8])
        raise ValueError(f"unknown stream event {kind!r}")

    @staticmethod
    def _pause_event(pause: Pause) -> AgentEvent:
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
            tool = self.toolbox.get(pause.tool or "")
            assert tool is not None  # a pause names a tool the toolbox has
            value["arguments"] = tool.validate(decision.arguments)
        return value

    async def _pause_in_checkpoint(self, thread_id: str) -> Pause | None:
        snapshot = await self._graph.aget_state(self._config(thread_id))
        if not snapshot.interrupts:
            return None
        interrupt = snapshot.interrupts[0]
        payload: dict[str, Any] = interrupt.value
        return Pause(
            thread_id=thread_id,
            interrupt_id=interrupt.id,
            kind=payload["kind"],
            call_id=payload["call_id"],
            requested_by=payload["requested_by"],
            created_at=payload["created_at"],
            tool=payload.get("tool"),
            arguments=payload.get("arguments") or {},
            reason=payload.get("reason"),
            question=payload.get("question"),
        )

    async def _thread_exists(self, thread_id: str) -> bool:
        snapshot = await self._graph.aget_state(self._config(thread_id))
        return bool(snapshot.values)

    async def _release_stranded_claims(self) -> None:
        """A claim whose interrupt is still pending never reached the run: make it claimable."""
        for thread_id, interrupt_id in await self._pauses.claimed():
            pause = await self._pause_in_checkpoint(thread_id)
            if pause is not None and pause.interrupt_id == interrupt_id:
                await self._pauses.release(thread_id, interrupt_id)
            else:
                await self._pauses.close(thread_id, interrupt_id, "resolved")

    def _lock(self, thread_id: str) -> asyncio.Lock:
        return self._locks.setdefault(thread_id, asyncio.Lock())

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
