"""MCP_CONFIG: the MCP servers whose tools the agent offers, in the common `mcpServers` shape.

    {"mcpServers": {
      "tickets": {"command": "python", "args": ["-m", "tickets_server"],
                  "env": {"TOKEN": "${TICKETS_TOKEN}"}},
      "deploys": {"url": "https://deploys.internal/mcp",
                  "headers": {"Authorization": "Bearer ${DEPLOY_TOKEN}"}, "timeout": 60}
    }}

A server with `command` is started as a subprocess and spoken to over stdio; one with `url` over
streamable HTTP. `${VAR}` (or `${VAR:-default}`) in any string is taken from the environment the
caller passes in, so tokens stay out of the file. `timeout` (seconds, default 120) bounds each
call; `cwd` sets a stdio server's working directory; `type` ("stdio", "http") may be given as
other clients write it. Anything else stops start-up with a message that
names the server and the problem: a typo in a key would otherwise silently drop a token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigurationError

DEFAULT_CALL_TIMEOUT = 120.0
"""Seconds one tool call may take before the model is told it timed out (per-server `timeout`)."""

SERVER_NAME = re.compile(r"^[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*$")
"""Letters, digits, `-` and single `_`: the name prefixes tool names as `<server>__<tool>`."""

Problem = Callable[[str], ConfigurationError]
"""Builds the error for one server: the message names the file and the server."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_STDIO_KEYS = {"type", "command", "args", "env", "cwd", "timeout"}
_HTTP_KEYS = {"type", "url", "headers", "timeout"}
_STDIO_TYPES = {"stdio"}
_HTTP_TYPES = {"http", "streamable-http", "streamableHttp"}


@dataclass(frozen=True)
class StdioServer:
    """A server the agent starts as a subprocess and keeps alive."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float = DEFAULT_CALL_TIMEOUT

    @property
    def transport(self) -> str:
        return "stdio"


@dataclass(frozen=True)
class HttpServer:
    """A server reached at a URL over streamable HTTP."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_CALL_TIMEOUT

    @property
    def transport(self) -> str:
        return "http"


McpServerConfig = StdioServer | HttpServer


def load_mcp_config(path: Path, environment: Mapping[str, str]) -> list[McpServerConfig]:
    """The servers a config file names, in file order; ConfigurationError when it cannot work."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"MCP_CONFIG names {str(path)!r}, which cannot be read: {exc}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"MCP_CONFIG {str(path)!r} is not valid JSON: {exc}") from exc
    return parse_mcp_config(document, environment, source=str(path))


def parse_mcp_config(
    document: object, environment: Mapping[str, str], source: str = "MCP_CONFIG"
) -> list[McpServerConfig]:
    """The servers of an already decoded config document."""
    if not isinstance(document, dict) or set(document) != {"mcpServers"}:
        raise ConfigurationError(
            f'{source}: expected an object with one key, "mcpServers", mapping names to servers'
        )
    servers = document["mcpServers"]
    if not isinstance(servers, dict):
        raise ConfigurationError(f'{source}: "mcpServers" must map server names to objects')
    return [_server(name, entry, environment, source) for name, entry in servers.items()]


def _server(
    name: str, entry: object, environment: Mapping[str, str], source: str
) -> McpServerConfig:
    def problem(text: str) -> ConfigurationError:
        return ConfigurationError(f"{source}: MCP server {name!r}: {text}")

    if not SERVER_NAME.match(name):
        raise problem("a name may hold letters, digits, '-' and single '_' (it prefixes tools)")
    if not isinstance(entry, dict):
        raise problem('expected an object with "command" (stdio) or "url" (streamable HTTP)')
    if ("command" in entry) == ("url" in entry):
        raise problem('give either "command" (stdio) or "url" (streamable HTTP), not both')
    stdio = "command" in entry
    allowed, types = (_STDIO_KEYS, _STDIO_TYPES) if stdio else (_HTTP_KEYS, _HTTP_TYPES)
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise problem(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    if "type" in entry and entry["type"] not in types:
        raise problem(f"type {entry['type']!r} does not fit; expected one of {sorted(types)}")
    try:
        expanded = _expand(entry, environment)
    except KeyError as missing:
        raise problem(f"${{{missing.args[0]}}} is not set in the environment") from None
    timeout = _timeout(expanded.get("timeout", DEFAULT_CALL_TIMEOUT), problem)
    if stdio:
        return StdioServer(
            name,
            command=_text(expanded["command"], "command", problem),
            args=tuple(_texts(expanded.get("args", []), "args", problem)),
            env=_text_map(expanded.get("env", {}), "env", problem),
            cwd=_text(expanded["cwd"], "cwd", problem) if "cwd" in expanded else None,
            timeout=timeout,
        )
    url = _text(expanded["url"], "url", problem)
    if not url.startswith(("http://", "https://")):
        raise problem(f"url {url!r} must start with http:// or https://")
    headers = _text_map(expanded.get("headers", {}), "headers", problem)
    return HttpServer(name, url=url, headers=headers, timeout=timeout)


def _expand(value: Any, environment: Mapping[str, str]) -> Any:
    """`${VAR}` and `${VAR:-default}` replaced in every string; KeyError names a missing VAR."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            variable, default = match.group(1), match.group(2)
            if variable in environment:
                return environment[variable]
            if default is not None:
                return default
            raise KeyError(variable)

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, list):
        return [_expand(item, environment) for item in value]
    if isinstance(value, dict):
        return {key: _expand(item, environment) for key, item in value.items()}
    return value


def _text(value: object, key: str, problem: Problem) -> str:
    if not isinstance(value, str) or not value:
        raise problem(f"{key!r} must be a non-empty string")
    return value


def _texts(value: object, key: str, problem: Problem) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise problem(f"{key!r} must be a list of strings")
    return list(value)


def _text_map(value: object, key: str, problem: Problem) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise problem(f"{key!r} must map names to strings")
    return dict(value)


def _timeout(value: object, problem: Problem) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise problem("'timeout' must be a positive number of seconds")
    return float(value)
