"""A terminal chat with the agent: the whole product offline, one prompt at a time.

Tokens print as they stream; approvals and questions are answered at the prompt; Ctrl-C stops
an answer mid-stream; `--thread` picks up an earlier conversation, even one paused in another
process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

from agent.agent import Agent
from agent.errors import InvalidArguments, ResumeRefused, ThreadPaused
from agent.events import (
    AgentEvent,
    Answer,
    ApprovalRequested,
    Approve,
    Decision,
    Deny,
    Edit,
    Failed,
    Finished,
    Pause,
    QuestionAsked,
    TextDelta,
    ToolFinished,
    ToolStarted,
)


class TerminalChat:
    """Reads lines from the person, prints the agent's events."""

    def __init__(self, agent: Agent, thread_id: str, user: str, out: TextIO = sys.stdout) -> None:
        self._agent = agent
        self._thread_id = thread_id
        self._user = user
        self._out = out

    async def run(self) -> None:
        """Chat until end of input."""
        self._print(
            f"Countersign — thread {self._thread_id} (continue it later with "
            f"--thread {self._thread_id}). Ctrl-C stops an answer, Ctrl-D quits.\n"
        )
        pause = await self._agent.pending(self._thread_id)
        while True:
            if pause is not None:
                pause = await self._decide(pause)
                continue
            line = await self._read("you> ")
            if line is None:
                return
            if not line.strip():
                continue
            try:
                pause = await self._stream(self._agent.start(self._thread_id, line, self._user))
            except ThreadPaused as paused:
                pause = paused.pause

    async def _decide(self, pause: Pause) -> Pause | None:
        """Ask the person about a pause and resume with their decision."""
        decision = await (
            self._ask_approval(pause) if pause.kind == "approval" else self._ask_question(pause)
        )
        if decision is None:
            raise SystemExit(0)
        try:
            return await self._stream(
                self._agent.resume(self._thread_id, pause.interrupt_id, decision)
            )
        except InvalidArguments as exc:
            self._print(f"  {exc}\n")
            return pause
        except ResumeRefused as exc:
            self._print(f"  Not resumed: {exc}.\n")
            return await self._agent.pending(self._thread_id)

    async def _ask_approval(self, pause: Pause) -> Decision | None:
        self._print(f"\n  Approval needed: {pause.tool}\n")
        if pause.reason:
            self._print(f"  Why: {pause.reason}\n")
        for name, value in pause.arguments.items():
            self._print(f"    {name}: {_show(value)}\n")
        while True:
            choice = await self._read("  [a]pprove, [d]eny or [e]dit? ")
            if choice is None:
                return None
            choice = choice.strip().lower()
            if choice in {"a", "approve"}:
                return Approve()
            if choice in {"d", "deny"}:
                reason = await self._read("  Reason (optional): ")
                return Deny((reason or "").strip() or None)
            if choice in {"e", "edit"}:
                return await self._edit(pause.arguments)

    async def _edit(self, arguments: dict[str, Any]) -> Decision | None:
        edited: dict[str, Any] = {}
        for name, value in arguments.items():
            line = await self._read(f"    {name} [{_show(value)}]: ")
            if line is None:
                return None
            edited[name] = _parse(line) if line.strip() else value
        return Edit(edited)

    async def _ask_question(self, pause: Pause) -> Decision | None:
        self._print(f"\n  Question: {pause.question}\n")
        line = await self._read("  answer> ")
        return None if line is None else Answer(line)

    async def _stream(self, events: AsyncIterator[AgentEvent]) -> Pause | None:
        """Print one run; Ctrl-C asks it to stop. Returns the pause it ended on, if any."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._agent.stop, self._thread_id)
        at_line_start = True
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    if at_line_start:
                        self._print("agent> ")
                        at_line_start = False
                    self._print(event.text)
                elif isinstance(event, ToolStarted):
                    self._print(f"\n  … running {event.tool}\n")
                    at_line_start = True
                elif isinstance(event, ToolFinished):
                    mark = "done" if event.ok else "failed"
                    self._print(f"  … {event.tool} {mark}: {event.result.splitlines()[0]}\n")
                elif isinstance(event, Failed):
                    self._print(f"\n  ⚠ {event.message} (ref {event.reference})\n")
                elif isinstance(event, Finished):
                    self._print(" [stopped]\n" if event.stopped else "\n")
                elif isinstance(event, ApprovalRequested | QuestionAsked):
                    self._print("\n")
                    return await self._agent.pending(self._thread_id)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        return None

    async def _read(self, prompt: str) -> str | None:
        self._print(prompt)
        line = await asyncio.to_thread(sys.stdin.readline)
        return line.rstrip("\n") if line else None

    def _print(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parse(line: str) -> Any:
    """Edited values are JSON when they parse as JSON (numbers, lists), else plain text."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return line
