"""The agent graph of DESIGN §3.

    START → llm ─(no tool calls)──────────────────────────────▶ END
             ├─(ask_human call)──────▶ ask_human [interrupt] ──▶ llm
             ├─(policy: approve)─────▶ approve   [interrupt] ─▶ tools ─▶ llm
             └─(policy: allow/deny)───────────────────────────▶ tools ─▶ llm

The approval policy (agent.policy) decides each call from its tool and arguments; it is pure,
so routing, the pause and the tools node all reach the same verdict for the same call.

`approve` and `ask_human` only interrupt: LangGraph re-runs an interrupted node from its first
line on resume, so anything else there would repeat. One call is decided per visit; several
writes in one step loop through the graph, one pause each. `tools` is the only node with side
effects; it runs exactly the decided calls with exactly the decided arguments, once each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from opentelemetry.trace import NoOpTracer, Status, StatusCode, Tracer

from agent import tool_results
from agent.builtin_tools import ASK_HUMAN
from agent.errors import InvalidArguments
from agent.ledger import PreviousRun, ToolLedger
from agent.llm import LLMError, ModelReply
from agent.policy import Policy, PolicyVerdict
from agent.prompts import SYSTEM_PROMPT
from agent.state import AgentState, Message, RunContext, last_assistant
from agent.text_batches import TextBatcher
from agent.toolkit import Tool, Toolbox, ToolContext, ToolFailed

logger = logging.getLogger(__name__)

Step = Literal["approve", "ask_human", "tools", "__end__"]
DONE: Literal["__end__"] = "__end__"  # LangGraph's END, typed for the routers
Writer = Any  # LangGraph's StreamWriter: a callable taking one JSON-like value


class ModelClient(Protocol):
    """What the graph needs from the LLM gateway: one streamed turn that `stop` ends at once."""

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: Callable[[str], None],
        stop: asyncio.Event,
    ) -> ModelReply: ...


def parse_arguments(call: Message) -> dict[str, Any] | None:
    """The call's arguments as a dict, or None when the model wrote something else."""
    raw = call.get("function", {}).get("arguments") or "{}"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def with_missing_results(messages: list[Message]) -> list[Message]:
    """Give every tool call a result, so a run cut short never leaves history providers reject."""
    repaired: list[Message] = []
    unanswered: list[str] = []
    for message in messages:
        if message.get("role") == "tool":
            unanswered = [
                call_id for call_id in unanswered if call_id != message.get("tool_call_id")
            ]
        else:
            repaired.extend(_interrupted(unanswered))
            unanswered = [call["id"] for call in message.get("tool_calls") or []]
        repaired.append(message)
    repaired.extend(_interrupted(unanswered))
    return repaired


def _interrupted(call_ids: list[str]) -> list[Message]:
    return [
        {"role": "tool", "tool_call_id": call_id, "content": tool_results.INTERRUPTED}
        for call_id in call_ids
    ]


class AgentGraph:
    """Builds the compiled graph from its parts; nothing global."""

    def __init__(
        self,
        model: ModelClient,
        toolbox: Toolbox,
        ledger: ToolLedger,
        policy: Policy,
        *,
        tracer: Tracer | None = None,
    ) -> None:
        self._model = model
        self._toolbox = toolbox
        self._ledger = ledger
        self._policy = policy
        self._tracer = tracer or NoOpTracer()

    def compile(
        self, checkpointer: BaseCheckpointSaver[Any]
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        """Nodes, edges, compile: read top-down."""
        builder = StateGraph(AgentState, context_schema=RunContext)
        builder.add_node("llm", self._llm)
        builder.add_node("approve", self._approve)
        builder.add_node("ask_human", self._ask_human)
        builder.add_node("tools", self._tools)
        builder.add_edge(START, "llm")
        targets: list[str] = ["approve", "ask_human", "tools", END]
        builder.add_conditional_edges("llm", self._after_llm, targets)
        builder.add_conditional_edges("approve", self._next_step, targets)
        builder.add_conditional_edges("ask_human", self._next_step, targets)
        builder.add_edge("tools", "llm")
        return builder.compile(checkpointer=checkpointer)

    # --- routing -------------------------------------------------------------------------

    def _after_llm(self, state: AgentState) -> Step:
        message = last_assistant(state)
        if message is None or not message.get("tool_calls"):
            return DONE
        return self._next_step(state)

    def _next_step(self, state: AgentState) -> Step:
        found = self._first_undecided(state)
        return found[1] if found else "tools"

    def _first_undecided(self, state: AgentState) -> tuple[Message, Step] | None:
        """The first call of this step that still waits on a person, and the node that asks."""
        message = last_assistant(state)
        for call in (message or {}).get("tool_calls") or []:
            if call["id"] in state["decisions"]:
                continue
            name = call["function"]["name"]
            if name == ASK_HUMAN and self._question(call) is not None:
                return call, "ask_human"
            verdict = self._verdict(call, state["requested_by"])
            if verdict is not None and verdict.outcome == "approve":
                return call, "approve"
        return None

    def _verdict(self, call: Message, requested_by: str) -> PolicyVerdict | None:
        """What the policy says about a call; None when it cannot run at all (no such tool,
        arguments that do not fit: the tools node reports it, nobody approves a broken call)."""
        name = call["function"]["name"]
        tool = self._toolbox.get(name)
        arguments = parse_arguments(call)
        if tool is None or arguments is None or name == ASK_HUMAN:
            return None  # ask_human is a person's answer, never the policy's
        try:
            checked = tool.validate(arguments)
        except InvalidArguments:
            return None
        return self._policy.decide(
            tool.name, read_only=not tool.write, arguments=checked, user=requested_by
        )

    @staticmethod
    def _question(call: Message) -> str | None:
        arguments = parse_arguments(call) or {}
        question = arguments.get("question")
        return question.strip() if isinstance(question, str) and question.strip() else None

    # --- nodes ---------------------------------------------------------------------------

    async def _llm(self, state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        write = runtime.stream_writer
        stop = runtime.context.stop
        if stop.is_set():
            return {}
        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        messages += with_missing_results(state["messages"])
        batch = TextBatcher(lambda text: write({"type": "text", "text": text}))
        try:
            reply = await self._model.complete(
                messages, self._toolbox.schemas(), on_text=batch.add, stop=stop
            )
        except LLMError as exc:
            batch.flush()
            write({"type": "failed", "kind": exc.kind, "message": exc.message})
            return {}
        finally:
            batch.flush()
        message: Message = {"role": "assistant", "content": reply.text}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in reply.tool_calls
            ]
        return {"messages": [message]}

    def _approve(self, state: AgentState) -> dict[str, Any]:
        found = self._first_undecided(state)
        assert found is not None and found[1] == "approve"  # routing sent us here for this call
        call = found[0]
        message = last_assistant(state) or {}
        verdict = self._verdict(call, state["requested_by"])
        assert verdict is not None and verdict.approval is not None  # routing checked it
        decision = interrupt(
            {
                "kind": "approval",
                "call_id": call["id"],
                "tool": call["function"]["name"],
                "arguments": parse_arguments(call),
                "reason": (message.get("content") or "").strip() or None,
                "requested_by": state["requested_by"],
                "created_at": time.time(),
                "rule": verdict.approval.to_json(),
            }
        )
        return {"decisions": {**state["decisions"], call["id"]: decision}}

    def _ask_human(self, state: AgentState) -> dict[str, Any]:
        found = self._first_undecided(state)
        assert found is not None and found[1] == "ask_human"  # routing sent us here for this call
        call = found[0]
        answer = interrupt(
            {
                "kind": "question",
                "call_id": call["id"],
                "question": self._question(call),
                "requested_by": state["requested_by"],
                "created_at": time.time(),
            }
        )
        return {"decisions": {**state["decisions"], call["id"]: answer}}

    async def _tools(self, state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        thread_id = str(get_config()["configurable"]["thread_id"])
        message = last_assistant(state) or {}
        results = []
        for call in message.get("tool_calls") or []:
            context = ToolContext(thread_id, state["requested_by"], call["id"])
            decision = state["decisions"].get(call["id"])
            verdict = self._verdict(call, state["requested_by"])
            content = await self._run_call(call, verdict, decision, context, runtime.stream_writer)
            results.append({"role": "tool", "tool_call_id": call["id"], "content": content})
        return {"messages": results, "decisions": {}}

    async def _run_call(
        self,
        call: Message,
        verdict: PolicyVerdict | None,
        decision: dict[str, Any] | None,
        context: ToolContext,
        write: Writer,
    ) -> str:
        """The result the model reads for one call; runs the tool only when the policy and,
        where it asks for one, a person's decision let it."""
        name = call["function"]["name"]
        kind = (decision or {}).get("kind")
        if name == ASK_HUMAN:
            if kind == "answer":
                return str(decision["text"])  # type: ignore[index]
            if kind == "expire":
                return tool_results.NO_ANSWER
            return f"{tool_results.ERROR} ask_human needs a non-empty `question`."
        tool = self._toolbox.get(name)
        if tool is None:
            return f"{tool_results.ERROR} there is no tool named {name!r}."
        arguments = parse_arguments(call)
        if arguments is None:
            return f"{tool_results.ERROR} the arguments were not a JSON object."
        if verdict is not None and verdict.outcome == "deny":
            return self._refuse(call, verdict, write)
        if verdict is not None and verdict.outcome == "approve":
            if kind == "deny":
                return tool_results.denied(decision.get("reason"))  # type: ignore[union-attr]
            if kind == "expire":
                return tool_results.EXPIRED
            if kind == "edit":
                arguments = dict(decision["arguments"])  # type: ignore[index]
                edited = self._policy.decide(
                    tool.name,
                    read_only=not tool.write,
                    arguments=arguments,
                    user=context.requested_by,
                )
                if edited.outcome == "deny":  # an approver cannot edit their way past a deny
                    return self._refuse(call, edited, write)
            elif kind != "approve":
                try:
                    tool.validate(arguments)
                except InvalidArguments as exc:
                    return f"{tool_results.ERROR} {exc}"
                return f"{tool_results.ERROR} this call was never approved, so it did not run."
        try:
            arguments = tool.validate(arguments)
        except InvalidArguments as exc:
            return f"{tool_results.ERROR} {exc}"
        result = await self._execute(tool.name, arguments, context, write)
        if kind == "edit":
            result = f"{result}\n{tool_results.EDITED_NOTE}"
        return result

    @staticmethod
    def _refuse(call: Message, verdict: PolicyVerdict, write: Writer) -> str:
        reason = verdict.reason or "the approval policy does not allow it"
        write(
            {
                "type": "tool_denied",
                "call_id": call["id"],
                "tool": call["function"]["name"],
                "rule": verdict.rule,
                "reason": reason,
            }
        )
        return tool_results.refused(reason)

    async def _execute(
        self, name: str, arguments: dict[str, Any], context: ToolContext, write: Writer
    ) -> str:
        tool = self._toolbox.get(name)
        assert tool is not None
        previous = await self._ledger.begin(
            context.thread_id, context.call_id, name, json.dumps(arguments, sort_keys=True)
        )
        settled = _settled_result(tool, previous, context.call_id)
        if settled is not None:
            return settled
        write(
            {
                "type": "tool_started",
                "call_id": context.call_id,
                "tool": name,
                "arguments": arguments,
            }
        )
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": context.call_id,
        }
        with self._tracer.start_as_current_span(
            f"execute_tool {name}", attributes=attributes
        ) as span:
            try:
                result, ok = await tool.run(arguments, context), True
            except Exception as exc:  # a tool's failure is the model's to read, not the run's end
                logger.warning(
                    "tool %s failed (call %s): %s",
                    name,
                    context.call_id,
                    exc,
                    exc_info=not isinstance(exc, ToolFailed),
                )
                result, ok = tool_results.error(exc), False
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        await self._ledger.finish(context.thread_id, context.call_id, ok=ok, result=result)
        write(
            {
                "type": "tool_finished",
                "call_id": context.call_id,
                "tool": name,
                "ok": ok,
                "result": result,
            }
        )
        return result


def _settled_result(tool: Tool, previous: PreviousRun | None, call_id: str) -> str | None:
    """What an earlier attempt at the call settled, or None when this attempt runs the tool.

    A call begun and never finished was cut off by a crash, maybe after its effect (pitfall
    36): an idempotent tool runs again to learn what happened, any other is reported not run.
    """
    if previous is None:
        return None
    if previous.finished:
        return previous.result
    if not tool.idempotent:
        return tool_results.INTERRUPTED
    logger.info("running %s again after a crash cut it off (call %s)", tool.name, call_id)
    return None
