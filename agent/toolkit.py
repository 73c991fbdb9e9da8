"""Tools as typed async functions: the docstring is the description, the signature the schema.

    @tool(write=True)
    async def create_ticket(title: str, priority: Literal["low", "high"] = "low") -> str:
        \"\"\"Open a ticket in the team's tracker.\"\"\"

A write tool pauses the run for approval before it runs. A parameter annotated `ToolContext`
is filled in by the agent (who asked, which thread, which call) and is not shown to the model.

`idempotent=True` promises that running the tool again with the same `ToolContext.call_id` has no
further effect (e.g. the call id is a unique key of what it writes). Such a call, cut off by a
crash after it began, is run again and its real result recorded; any other tool's cut-off call
is reported as not run and never repeated (agent.ledger).

`Tool` is what the graph and the agent see; `FunctionTool` is a Python function as a tool, and
`agent.mcp_tools.McpTool` a tool of an MCP server.
"""

from __future__ import annotations

import importlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ValidationError, create_model

from agent.errors import ConfigurationError, InvalidArguments

ToolFunction = Callable[..., Awaitable[object]]
_MARK = "__countersign_tool__"


class ToolFailed(Exception):
    """A tool's own, foreseen failure (the tool said it failed, its server is down, it took
    too long): the model reads the message, and the log needs no traceback."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about the call: the conversation and the person who started the turn."""

    thread_id: str
    requested_by: str
    call_id: str


class Tool(ABC):
    """A callable tool with its JSON schema, whether it needs approval (`write`), and whether a
    call cut off by a crash may be run again (`idempotent`: same call id, no further effect)."""

    name: str
    description: str
    write: bool
    idempotent: bool

    @abstractmethod
    def openai_schema(self) -> dict[str, Any]:
        """The tool as OpenAI-format function declaration (what litellm passes to providers)."""

    @abstractmethod
    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check arguments against the schema: normalised arguments, or InvalidArguments."""

    @abstractmethod
    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        """Run with already validated arguments; the result is text for the model. An exception
        becomes an error result the model reads; the run goes on."""


@dataclass(frozen=True)
class FunctionTool(Tool):
    """A typed async Python function as a tool: its signature is the schema."""

    name: str
    description: str
    function: ToolFunction
    write: bool
    arguments_model: type[BaseModel]
    context_parameter: str | None = None
    idempotent: bool = False

    def openai_schema(self) -> dict[str, Any]:
        parameters = self.arguments_model.model_json_schema()
        parameters.pop("title", None)
        for field in parameters.get("properties", {}).values():
            field.pop("title", None)
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": parameters,
            },
        }

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            model = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            errors = {
                ".".join(str(part) for part in error["loc"]) or "arguments": error["msg"]
                for error in exc.errors()
            }
            raise InvalidArguments(self.name, errors) from exc
        return model.model_dump(mode="json")

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        kwargs = dict(arguments)
        if self.context_parameter:
            kwargs[self.context_parameter] = context
        result = await self.function(**kwargs)
        if isinstance(result, str):
            return result
        return json.dumps(result, default=str, ensure_ascii=False)


def tool(
    *, write: bool = False, name: str | None = None, idempotent: bool = False
) -> Callable[[ToolFunction], ToolFunction]:
    """Mark an async function as a tool; `write=True` means a person approves each call first,
    `idempotent=True` that a second run with the same call id changes nothing."""

    def mark(function: ToolFunction) -> ToolFunction:
        options = {"write": write, "name": name or function.__name__, "idempotent": idempotent}
        setattr(function, _MARK, options)
        return function

    return mark


def tool_from_function(
    function: ToolFunction, *, write: bool, name: str | None = None, idempotent: bool = False
) -> FunctionTool:
    """Build a Tool from a typed async function, failing with a clear message if it cannot be."""
    label = name or function.__name__
    if not inspect.iscoroutinefunction(function):
        raise ConfigurationError(f"tool {label!r} must be an async function")
    description = inspect.getdoc(function)
    if not description:
        raise ConfigurationError(f"tool {label!r} needs a docstring: it is the model's description")
    hints = get_type_hints(function)
    fields: dict[str, Any] = {}
    context_parameter = None
    for parameter in inspect.signature(function).parameters.values():
        annotation = hints.get(parameter.name)
        if annotation is ToolContext:
            context_parameter = parameter.name
            continue
        if annotation is None:
            raise ConfigurationError(
                f"tool {label!r}: parameter {parameter.name!r} needs a type annotation"
            )
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model = create_model(f"{label}_arguments", **fields)
    return FunctionTool(label, description, function, write, model, context_parameter, idempotent)


def tools_in_module(module_name: str) -> list[FunctionTool]:
    """Every function marked with @tool in a module named by AGENT_TOOLS."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"AGENT_TOOLS names {module_name!r}, which cannot be imported: {exc}"
        ) from exc
    found = [
        tool_from_function(
            value, write=mark["write"], name=mark["name"], idempotent=mark["idempotent"]
        )
        for value in vars(module).values()
        if (mark := getattr(value, _MARK, None)) is not None
    ]
    if not found:
        raise ConfigurationError(f"AGENT_TOOLS module {module_name!r} defines no @tool functions")
    return found


class Toolbox:
    """The tools one agent offers, by name."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            if item.name in self._tools:
                raise ConfigurationError(f"two tools are named {item.name!r}")
            self._tools[item.name] = item

    def get(self, name: str) -> Tool | None:
        """The tool with that name, if the agent has it."""
        return self._tools.get(name)

    def names(self) -> list[str]:
        """Tool names in the order they were added."""
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """All tools in OpenAI format."""
        return [item.openai_schema() for item in self._tools.values()]
