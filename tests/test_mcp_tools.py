"""MCP servers as agent tools: real servers written with the `mcp` SDK (tests/mcp_servers), started
as subprocesses over stdio and served over streamable HTTP on a free port; no mocked client."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types
import pytest

from agent import (
    Agent,
    AgentSettings,
    Approve,
    ConfigurationError,
    InvalidArguments,
    ToolFinished,
    ToolStarted,
    tool,
)
from agent.mcp_config import HttpServer, StdioServer, load_mcp_config, parse_mcp_config
from agent.mcp_connection import McpCallTimeout, McpServerUnavailable
from agent.mcp_tools import McpTool, McpToolError, open_mcp_tools, result_text
from agent.toolkit import ToolContext
from tests.agent_helpers import approval, collect, finished
from tests.mock_llm_server import JSONObject, MockLLMServer, Reply

ROOT = Path(__file__).resolve().parent.parent
TICKETS_SERVER = ROOT / "tests" / "mcp_servers" / "tickets.py"
CONTEXT = ToolContext("t-mcp", "UALICE", "call-1")
TICKET_TOOLS = {
    "tickets__list_tickets",
    "tickets__close_ticket",
    "tickets__ticket_stats",
    "tickets__reopen_ticket",
    "tickets__crash_server",
    "tickets__wait",
}


# ── helpers: servers, configs, what the server saw ──────────────────────────────────────────


def stdio_entry(**extra: Any) -> dict[str, Any]:
    """The tickets server as a stdio entry; its files come from the environment (`${VAR}`)."""
    return {
        "command": sys.executable,
        "args": [str(TICKETS_SERVER)],
        "env": {"TICKETS_CALLS": "${TICKETS_CALLS}", "TICKETS_PID_FILE": "${TICKETS_PID:-}"},
        **extra,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.returncode is None, "the HTTP MCP server exited at start"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on port {port} after 30 s")


@asynccontextmanager
async def http_server(port: int, calls: Path, token: str = "") -> AsyncIterator[str]:
    """The tickets server over streamable HTTP on `port`; yields its URL, stops it on exit.
    With a `token`, it refuses requests that do not carry it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(TICKETS_SERVER),
        "--http",
        str(port),
        env={**os.environ, "TICKETS_CALLS": str(calls), "TICKETS_TOKEN": token},
    )
    try:
        await wait_listening(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


@asynccontextmanager
async def opened(
    tmp_path: Path,
    servers: dict[str, Any],
    environment: dict[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> AsyncIterator[dict[str, McpTool]]:
    """open_mcp_tools on a real config file; the tools by name."""
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    variables = environment if environment is not None else calls_environment(tmp_path)
    async with open_mcp_tools(path, variables, startup_timeout) as tools:
        yield {item.name: item for item in tools}


def calls_environment(tmp_path: Path) -> dict[str, str]:
    """What `${VAR}` in the test configs takes: where the server writes, the HTTP token."""
    return {
        "TICKETS_CALLS": str(tmp_path / "calls.jsonl"),
        "TICKETS_PID": str(tmp_path / "pid"),
        "TICKETS_TOKEN": "s3cret",
    }


def calls_seen(path: Path) -> list[dict[str, Any]]:
    """The calls the server handled, in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def until_served(item: McpTool, timeout: float) -> str:
    """Call a read-only tool until the server is back (the backoff may still be waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await item.run({}, CONTEXT)
        except McpServerUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


@pytest.fixture
def mcp_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="agent")
    return caplog


def warnings_about(caplog: pytest.LogCaptureFixture, server: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("agent.mcp")
        and record.levelno >= logging.WARNING
        and f"MCP server {server} " in record.getMessage()
    ]


# ── MCP_CONFIG ───────────────────────────────────────────────────────────────────────────────


def test_config_takes_variables_from_the_environment_it_is_given() -> None:
    document = {
        "mcpServers": {
            "tickets": {
                "command": "python",
                "args": ["-m", "tickets_server", "--team=${TEAM:-ops}"],
                "env": {"TOKEN": "${TICKETS_TOKEN}"},
                "cwd": "/srv/${TEAM:-ops}",
            },
            "deploys": {
                "type": "http",
                "url": "https://${DEPLOY_HOST}/mcp",
                "headers": {"Authorization": "Bearer ${DEPLOY_TOKEN}"},
                "timeout": 30,
            },
        }
    }
    environment = {"TICKETS_TOKEN": "t-123", "DEPLOY_HOST": "deploys.internal", "DEPLOY_TOKEN": "d"}
    tickets, deploys = parse_mcp_config(document, environment)
    assert tickets == StdioServer(
        "tickets",
        "python",
        ("-m", "tickets_server", "--team=ops"),
        {"TOKEN": "t-123"},
        "/srv/ops",
    )
    assert deploys == HttpServer(
        "deploys", "https://deploys.internal/mcp", {"Authorization": "Bearer d"}, 30.0
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"command": "x", "env": {"T": "${MISSING_TOKEN}"}}, "${MISSING_TOKEN} is not set"),
        ({"command": "x", "enviroment": {}}, "unknown key(s) enviroment"),
        ({"url": "https://x/mcp", "args": []}, "unknown key(s) args"),
        ({"command": "x", "url": "https://x/mcp"}, 'either "command"'),
        ({"args": ["x"]}, 'either "command"'),
        ({"command": ["python", "x"]}, "'command' must be a non-empty string"),
        ({"command": "x", "args": "--fast"}, "'args' must be a list of strings"),
        ({"command": "x", "env": {"PORT": 8080}}, "'env' must map names to strings"),
        ({"command": "x", "timeout": 0}, "'timeout' must be a positive number"),
        ({"url": "ftp://x/mcp"}, "must start with http"),
        ({"url": "https://x/mcp", "type": "sse"}, "type 'sse' does not fit"),
        ("python -m tickets", "expected an object"),
    ],
)
def test_a_config_that_cannot_work_names_the_server_and_the_problem(
    entry: object, expected: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_mcp_config({"mcpServers": {"tickets": entry}}, {})
    assert "MCP server 'tickets'" in str(refused.value)
    assert expected in str(refused.value)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"servers": {}}, 'one key, "mcpServers"'),
        ({"mcpServers": []}, "must map server names"),
        ({"mcpServers": {"ticket__s": {"command": "x"}}}, "MCP server 'ticket__s'"),
    ],
)
def test_a_config_of_the_wrong_shape_is_refused(document: object, expected: str) -> None:
    with pytest.raises(ConfigurationError, match="MCP_CONFIG") as refused:
        parse_mcp_config(document, {})
    assert expected in str(refused.value)


def test_a_config_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_mcp_config(tmp_path / "missing.json", {})
    broken = tmp_path / "mcp.json"
    broken.write_text('{"mcpServers": {')
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_mcp_config(broken, {})


# ── listing and calling, over stdio and over streamable HTTP ────────────────────────────────


@pytest.fixture(params=["stdio", "http"])
async def tickets_entry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The tickets server as MCP_CONFIG would name it, over each transport."""
    if request.param == "stdio":
        yield stdio_entry()
        return
    async with http_server(free_port(), tmp_path / "calls.jsonl", token="s3cret") as url:
        yield {"url": url, "headers": {"Authorization": "Bearer ${TICKETS_TOKEN}"}}


async def test_tools_are_listed_with_the_servers_schema_and_called_with_arguments(
    tmp_path: Path, tickets_entry: dict[str, Any], mcp_logs: pytest.LogCaptureFixture
) -> None:
    async with opened(tmp_path, {"tickets": tickets_entry}) as tools:
        assert set(tools) == TICKET_TOOLS
        close = tools["tickets__close_ticket"]
        declaration = close.openai_schema()["function"]
        assert declaration["name"] == "tickets__close_ticket"
        assert declaration["description"].startswith("Close a ticket for good")
        assert declaration["parameters"]["properties"]["id"]["type"] == "integer"
        assert declaration["parameters"]["required"] == ["id", "priority"]

        listed = await tools["tickets__list_tickets"].run({}, CONTEXT)
        assert listed.splitlines()[0] == "#7 Printer on floor 2 is out of toner"
        assert "No closed tickets." in await tools["tickets__list_tickets"].run(
            {"status": "closed"}, CONTEXT
        )
        assert await close.run({"id": 7, "priority": "high"}, CONTEXT) == (
            "Closed ticket #7 (high)."
        )
        seen = calls_seen(tmp_path / "calls.jsonl")
        assert [(c["tool"], c["arguments"]) for c in seen] == [
            ("list_tickets", {"status": "open"}),
            ("list_tickets", {"status": "closed"}),
            ("close_ticket", {"id": 7, "priority": "high"}),
        ]
        stats = await tools["tickets__ticket_stats"].run({}, CONTEXT)
        assert json.loads(stats) == {"open": 3, "oldest": 7}  # structured content, said once
        with pytest.raises(McpToolError, match="ticket #8 is archived"):
            await tools["tickets__reopen_ticket"].run({"id": 8}, CONTEXT)
    listing = [r.getMessage() for r in mcp_logs.records if "tools listed in" in r.getMessage()]
    assert len(listing) == 1
    assert listing[0].startswith("MCP server tickets: 6 tools listed in ")


async def test_annotations_decide_which_tools_ask_for_approval(tmp_path: Path) -> None:
    async with opened(tmp_path, {"tickets": stdio_entry()}) as tools:
        flags = {name: (item.write, item.idempotent) for name, item in tools.items()}
        assert flags == {
            "tickets__list_tickets": (False, True),  # readOnlyHint
            "tickets__ticket_stats": (False, True),  # readOnlyHint + idempotentHint
            "tickets__wait": (False, True),  # readOnlyHint
            "tickets__close_ticket": (True, False),  # destructiveHint
            "tickets__reopen_ticket": (True, True),  # idempotentHint, not read-only
            "tickets__crash_server": (True, False),  # no annotations: a write
        }
        hints = tools["tickets__close_ticket"].hints
        assert (hints.read_only, hints.destructive) == (None, True)
        assert tools["tickets__close_ticket"].server == "tickets"

        close = tools["tickets__close_ticket"]
        assert close.validate({"id": 7, "priority": "low"}) == {"id": 7, "priority": "low"}
        with pytest.raises(InvalidArguments) as wrong_type:
            close.validate({"id": "seven", "priority": "low"})
        assert list(wrong_type.value.errors) == ["id"]
        assert "integer" in wrong_type.value.errors["id"]
        with pytest.raises(InvalidArguments) as missing:
            close.validate({"id": 7})
        assert missing.value.errors == {"priority": "Field required"}
        with pytest.raises(InvalidArguments) as not_listed:
            tools["tickets__list_tickets"].validate({"status": "pending"})
        assert "status" in not_listed.value.errors
    assert calls_seen(tmp_path / "calls.jsonl") == []  # checked here, never sent


# ── failures: down at start-up, dead mid-call, stuck ────────────────────────────────────────


async def test_servers_down_at_start_up_are_left_out_with_one_line_each(
    tmp_path: Path, mcp_logs: pytest.LogCaptureFixture
) -> None:
    servers = {
        "tickets": stdio_entry(),
        "missing": {"command": str(tmp_path / "no-such-server")},
        "silent": {"command": sys.executable, "args": ["-c", "import time; time.sleep(60)"]},
        "offline": {"url": f"http://127.0.0.1:{free_port()}/mcp"},
    }
    locked = http_server(free_port(), tmp_path / "locked.jsonl", token="s3cret")
    async with locked as url:
        servers["locked"] = {"url": url, "headers": {"Authorization": "Bearer wrong"}}
        began = time.monotonic()
        async with opened(tmp_path, servers, startup_timeout=3) as tools:
            assert time.monotonic() - began < 20  # the silent one waited its bound, not forever
            assert set(tools) == TICKET_TOOLS
            assert "Printer" in await tools["tickets__list_tickets"].run({}, CONTEXT)
    for server, reason in [
        ("missing", "No such file or directory"),
        ("silent", "no answer within 3 s"),
        ("offline", "ConnectError"),
        ("locked", "HTTP 401"),
    ]:
        lines = warnings_about(mcp_logs, server)
        assert len(lines) == 1, lines
        assert "left out" in lines[0]
        assert reason in lines[0]
    assert warnings_about(mcp_logs, "tickets") == []


async def test_a_stdio_server_that_dies_mid_call_fails_the_call_and_is_restarted(
    tmp_path: Path, mcp_logs: pytest.LogCaptureFixture
) -> None:
    async with opened(tmp_path, {"tickets": stdio_entry()}) as tools:
        first_pid = int((tmp_path / "pid").read_text())
        began = time.monotonic()
        with pytest.raises(McpServerUnavailable, match="went away during the call"):
            await tools["tickets__crash_server"].run({}, CONTEXT)
        assert time.monotonic() - began < 2
        assert await gone(first_pid, timeout=5)

        listed = await tools["tickets__list_tickets"].run({}, CONTEXT)  # waits for the restart
        assert "Printer" in listed
        assert int((tmp_path / "pid").read_text()) != first_pid
        closed = await tools["tickets__close_ticket"].run({"id": 9, "priority": "low"}, CONTEXT)
        assert closed == "Closed ticket #9 (low)."
    restarted = warnings_about(mcp_logs, "tickets")
    assert len(restarted) == 1
    assert "stopped" in restarted[0]
    assert "next try in 0.5 s" in restarted[0]


async def test_an_http_server_that_dies_mid_call_fails_the_call_and_is_reconnected(
    tmp_path: Path,
) -> None:
    port = free_port()
    calls = tmp_path / "calls.jsonl"
    async with (
        http_server(port, calls) as url,
        opened(tmp_path, {"tickets": {"url": url}}) as tools,
    ):
        began = time.monotonic()
        with pytest.raises(McpServerUnavailable):
            await tools["tickets__crash_server"].run({}, CONTEXT)
        assert time.monotonic() - began < 2
        async with http_server(port, calls):  # the operator brings it back
            assert "Printer" in await until_served(tools["tickets__list_tickets"], timeout=40)
    assert len({call["pid"] for call in calls_seen(calls)}) == 2


async def test_a_stuck_call_times_out_and_the_server_keeps_serving(tmp_path: Path) -> None:
    async with opened(tmp_path, {"tickets": stdio_entry(timeout=1)}) as tools:
        began = time.monotonic()
        with pytest.raises(McpCallTimeout, match="did not answer within 1 s"):
            await tools["tickets__wait"].run({"seconds": 30}, CONTEXT)
        assert time.monotonic() - began < 3
        assert "Printer" in await tools["tickets__list_tickets"].run({}, CONTEXT)


HOLDER = """
import asyncio, sys
from pathlib import Path
from agent.mcp_tools import open_mcp_tools

async def main():
    async with open_mcp_tools(Path(sys.argv[1]), {"TICKETS_CALLS": "", "TICKETS_PID": sys.argv[2]}):
        print("open", flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
"""


async def test_a_killed_agent_leaves_no_server_running(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"tickets": stdio_entry()}}))
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(config),
        str(tmp_path / "pid"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"open\n"
        server = int((tmp_path / "pid").read_text())
        assert alive(server)
        holder.send_signal(signal.SIGKILL)  # no clean-up code runs
        assert await gone(server, timeout=10), "the MCP server outlived the agent"
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()


# ── through the agent: a read runs, a destructive call waits for a person ───────────────────


@tool(name="tickets__list_tickets")
async def clashing_list_tickets() -> str:
    """A local tool that takes the name an MCP tool will have."""
    return "local"


@pytest.fixture
def mcp_config(tmp_path: Path) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"tickets": stdio_entry()}}))
    return path


def mock_settings(tmp_path: Path, llm: MockLLMServer, mcp_config: Path) -> AgentSettings:
    return AgentSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'countersign.db'}",
        llm_model="openai/mock",
        llm_api_base=llm.base_url,
        llm_api_key="sk-test",  # type: ignore[arg-type]
        llm_max_retries=0,
        mcp_config=mcp_config,
    )


async def test_an_agent_runs_a_read_only_mcp_tool_and_asks_before_a_destructive_one(
    tmp_path: Path, mcp_config: Path
) -> None:
    script = [
        Reply(tool_calls=[("tickets__list_tickets", {})]),
        Reply(text="Three tickets are open."),
        Reply(
            text="I will close #7.",
            tool_calls=[("tickets__close_ticket", {"id": 7, "priority": "high"})],
        ),
        Reply(text="Closed #7."),
    ]
    arrivals: list[float] = []

    def next_reply(body: JSONObject) -> Reply:
        arrivals.append(time.monotonic())
        return script[len(arrivals) - 1]

    calls = tmp_path / "calls.jsonl"
    async with MockLLMServer(default=next_reply) as llm:
        settings = mock_settings(tmp_path, llm, mcp_config)
        async with Agent.open(settings, calls_environment(tmp_path)) as agent:
            server = int((tmp_path / "pid").read_text())
            read = await collect(agent.start("t-mcp", "which tickets are open?", "UALICE"))
            assert finished(read).text == "Three tickets are open."
            [done] = [event for event in read if isinstance(event, ToolFinished)]
            assert done.ok and done.tool == "tickets__list_tickets"
            assert done.result.startswith("#7 Printer")
            offered = [t["function"]["name"] for t in llm.requests[0]["tools"]]
            assert set(offered) >= TICKET_TOOLS

            paused = approval(await collect(agent.start("t-mcp", "close #7", "UALICE")))
            assert (paused.tool, paused.arguments) == (
                "tickets__close_ticket",
                {"id": 7, "priority": "high"},
            )
            assert [c["tool"] for c in calls_seen(calls)] == ["list_tickets"]  # not yet

            resumed = await collect(agent.resume("t-mcp", paused.interrupt_id, Approve(), "UBOB"))
            assert [e.tool for e in resumed if isinstance(e, ToolStarted)] == [
                "tickets__close_ticket"
            ]
            assert finished(resumed).text == "Closed #7."
            seen = calls_seen(calls)
            assert [(c["tool"], c["arguments"]) for c in seen] == [
                ("list_tickets", {"status": "open"}),
                ("close_ticket", {"id": 7, "priority": "high"}),
            ]
            history = await agent.history("t-mcp")
            assert history[-2] == {
                "role": "tool",
                "tool_call_id": history[-3]["tool_calls"][0]["id"],
                "content": "Closed ticket #7 (high).",
            }
        assert await gone(server, timeout=5)  # Agent.open stopped it on exit
    # The time from an MCP tool's result to the model's next request (for the closing note).
    read_gap = arrivals[1] - seen[0]["at"]
    write_gap = arrivals[3] - seen[1]["at"]
    print(
        f"\nMCP result → next model request: {read_gap * 1000:.1f} ms (read), "
        f"{write_gap * 1000:.1f} ms (approved write)"
    )
    assert 0 < read_gap < 2 and 0 < write_gap < 2


async def test_an_mcp_tool_named_like_an_agent_tool_stops_start_up(
    tmp_path: Path, mcp_config: Path
) -> None:
    async with MockLLMServer() as llm:
        settings = mock_settings(tmp_path, llm, mcp_config).model_copy(
            update={"agent_tools": ["tests.test_mcp_tools"]}
        )
        with pytest.raises(ConfigurationError, match="two tools are named 'tickets__list_tickets'"):
            async with Agent.open(settings, calls_environment(tmp_path)):
                pass
    assert await gone(int((tmp_path / "pid").read_text()), timeout=5)


def test_results_other_than_text_reach_the_model_in_words() -> None:
    structured_only = mcp_types.CallToolResult(content=[], structured_content={"open": 3})
    assert result_text(structured_only) == '{"open": 3}'
    mixed = mcp_types.CallToolResult(
        content=[
            mcp_types.TextContent(text="Here is the chart."),
            mcp_types.ImageContent(data="AAAA", mime_type="image/png"),
            mcp_types.ResourceLink(uri="https://tracker/7", name="ticket 7"),
        ],
        structured_content={"result": "Here is the chart."},
    )
    assert result_text(mixed) == (
        "Here is the chart.\n[image: image/png, 3 bytes]\n"
        "[resource link: https://tracker/7 (ticket 7)]"
    )
