"""The graph's state: plain JSON-like data only, so checkpoints stay portable and safe to load."""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import InstanceOf
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12 on

Message = dict[str, Any]


class AgentState(TypedDict):
    """OpenAI-format messages, who started the current turn, and decisions on this step's calls."""

    messages: Annotated[list[Message], operator.add]
    requested_by: str
    decisions: dict[str, dict[str, Any]]


@dataclass
class RunContext:
    """Per-run values that are not state: the cooperative stop flag."""

    # Left out of the context's JSON schema, which LangGraph Studio reads: an asyncio.Event is
    # set from inside this process only.
    stop: SkipJsonSchema[InstanceOf[asyncio.Event]] = field(default_factory=asyncio.Event)


def last_assistant(state: AgentState) -> Message | None:
    """The newest message if the model wrote it, else None."""
    messages = state["messages"]
    if messages and messages[-1].get("role") == "assistant":
        return messages[-1]
    return None
