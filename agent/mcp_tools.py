"""MCP servers' tools as agent tools: `<server>__<tool>`, the server's schema and description.

    async with open_mcp_tools(settings.mcp_config, os.environ) as tools:
        toolbox = Toolbox([*builtin, *tools])

Annotations decide approval: a tool is a write (asks a person first) unless the server marks it
`readOnlyHint`; no annotations means write. A server that cannot be started or listed at start-up
is named in one warning with the reason and its tools are left out; the agent still starts.
Arguments are checked against the server's JSON schema before anything is sent, so a person
never approves a call the server would reject. Results reach the model as text: text parts
joined, other content named, structured content as JSON where no text carries it; a tool's own
error (`isError`), a server gone mid-call or a timeout is raised, which the graph turns into an
error result the model reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import mcp_types
from jsonschema.protocols import Validator

from agent.errors import InvalidArguments
from agent.mcp_config import load_mcp_config
from agent.mcp_connection import STARTUP_TIMEOUT, ListedTools, McpConnection
from agent.toolkit import Tool, ToolContext, ToolFailed

logger = logging.getLogger(__name__)

SEPARATOR = "__"
"""Between the server's name and the tool's: `tickets__close_ticket`."""

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


class McpToolError(ToolFailed):
    """The tool ran and reported an error (`isError`); the message is what it said."""


@dataclass(frozen=True)
class McpHints:
    """A tool's annotations as the server gave them (None: not said). Hints from the server,
    which the approval policy may weigh; never a promise."""

    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None

    @classmethod
    def of(cls, annotations: mcp_types.ToolAnnotations | None) -> McpHints:
        if annotations is None:
            return cls()
        return cls(
            read_only=annotations.read_only_hint,
            destructive=annotations.destructive_hint,
            idempotent=annotations.idempotent_hint,
            open_world=annotations.open_world_hint,
        )


@dataclass(frozen=True)
class McpTool(Tool):
    """One tool of an MCP server; `server` and `hints` tell the policy where it came from.

    `write` unless the server says `readOnlyHint`; `idempotent` (a call cut off by a crash may
    run again) when it says `readOnlyHint` or `idempotentHint`.
    """

    name: str
    description: str
    write: bool
    idempotent: bool
    server: str
    remote_name: str
    input_schema: dict[str, Any]
    hints: McpHints
    timeout: float
    validator: Validator = field(repr=False, compare=False)
    connection: McpConnection = field(repr=False, compare=False)

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(self.input_schema),  # callers may change theirs
            },
        }

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        for error in self.validator.iter_errors(arguments):
            for name, message in _field_errors(error):
                errors.setdefault(name, message)
        if errors:
            raise InvalidArguments(self.name, errors)
        return dict(arguments)

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        result = await self.connection.call(self.remote_name, arguments, self.timeout)
        text = result_text(result)
        if result.is_error:
            raise McpToolError(text or "the tool reported an error without saying which")
        return text or "(the tool returned nothing)"


@contextlib.asynccontextmanager
async def open_mcp_tools(
    config_path: Path | None,
    environment: Mapping[str, str],
    startup_timeout: float = STARTUP_TIMEOUT,
) -> AsyncIterator[list[McpTool]]:
    """Start every server of the config file at once; yield the tools of those that answered.

    On exit every server is stopped (a stdio server gets its stdin closed, then a signal).
    """
    if config_path is None:
        yield []
        return
    servers = load_mcp_config(config_path, environment)
    connections = [McpConnection(server, startup_timeout) for server in servers]
    try:
        outcomes = await asyncio.gather(*(connection.start() for connection in connections))
        tools: list[McpTool] = []
        for connection, outcome in zip(connections, outcomes, strict=True):
            if isinstance(outcome, str):
                logger.warning(
                    "MCP server %s left out, its tools are not offered: %s",
                    connection.name,
                    outcome,
                )
                continue
            tools += _tools_of(connection, outcome)
        yield tools
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))


def _tools_of(connection: McpConnection, listed: ListedTools) -> list[McpTool]:
    server = connection.config
    tools: list[McpTool] = []
    for remote in listed.tools:
        name = server.name + SEPARATOR + _NOT_ALLOWED.sub("_", remote.name)
        try:
            validator = _validator(name, remote.input_schema)
            if any(item.name == name for item in tools):
                raise ValueError(f"another of its tools is also offered as {name!r}")
        except ValueError as problem:
            logger.warning("MCP server %s: tool %r left out: %s", server.name, remote.name, problem)
            continue
        hints = McpHints.of(remote.annotations)
        tools.append(
            McpTool(
                name=name,
                description=remote.description or remote.title or remote.name,
                write=not hints.read_only,
                idempotent=bool(hints.read_only or hints.idempotent),
                server=server.name,
                remote_name=remote.name,
                input_schema={"properties": {}, **remote.input_schema},
                hints=hints,
                timeout=server.timeout,
                validator=validator,
                connection=connection,
            )
        )
    logger.info(
        "MCP server %s: %d tools listed in %.0f ms (%s)",
        server.name,
        len(listed.tools),
        listed.seconds * 1000,
        server.transport,
    )
    return tools


def _validator(name: str, schema: dict[str, Any]) -> Validator:
    """The checker of a tool's arguments; ValueError when a model could not be offered the tool."""
    if not _MODEL_NAME.match(name):
        raise ValueError(f"{name!r} is longer than the 64 characters models accept")
    if schema.get("type") != "object":
        raise ValueError("its input schema is not an object")
    checker = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        checker.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"its input schema is not valid JSON Schema: {exc.message}") from exc
    return checker(schema)


def _field_errors(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs for one schema error, named the way the edit form names fields."""
    where = ".".join(str(part) for part in error.absolute_path)
    prefix = f"{where}." if where else ""
    if error.validator == "required" and isinstance(error.instance, dict):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [str(name) for name in required if name not in error.instance]
        return [(prefix + name, "Field required") for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties", {}))
        extra = [name for name in error.instance if name not in known]
        return [(prefix + name, "Unexpected field") for name in extra] or [
            (where or "arguments", error.message)
        ]
    return [(where or "arguments", error.message)]


def result_text(result: mcp_types.CallToolResult) -> str:
    """A tool result as the model reads it: text parts joined, other content named briefly, and
    structured content as JSON when no text part carries the result (the spec asks servers to
    send it as text too, and SDKs wrap plain returns as `{"result": …}`: said once is enough)."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            parts.append(f"[{block.type}: {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource link: {block.uri} ({block.name})]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                parts.append(resource.text)
            else:
                parts.append(f"[resource: {resource.uri}, {resource.mime_type or 'binary'}]")
        else:
            parts.append(f"[{getattr(block, 'type', 'unknown')} content]")
    texts = any(isinstance(block, mcp_types.TextContent) for block in result.content)
    if result.structured_content is not None and not texts:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(part for part in parts if part)
