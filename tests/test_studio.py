"""LangGraph Studio: the factory langgraph.json names loads, builds the agent's graph and runs
turns of the demo model, driven the way `langgraph dev` drives it, with no Slack anywhere."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel
from langgraph.types import Command

ROOT = Path(__file__).resolve().parent.parent
USER = "U0STUDIO"


def factory_in_langgraph_json() -> Callable[..., Any]:
    """Import the graph's module from its file, as the server does (not by package name), and
    return what langgraph.json names in it."""
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    path, name = config["graphs"]["countersign"].rsplit(":", 1)
    spec = importlib.util.spec_from_file_location("countersign_studio", ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    factory: Callable[..., Any] = getattr(module, name)
    return factory


@contextlib.asynccontextmanager
async def served_graph(
    factory: Callable[..., Any], checkpointer: InMemorySaver
) -> AsyncIterator[Pregel[Any, Any, Any, Any]]:
    """What the server does with a factory on every use: call it (with the config only if it
    takes an argument), enter what it returns, and put its own checkpointer on the graph (one
    for the server's whole life: threads outlive each use of the factory)."""
    made = factory({"configurable": {}}) if inspect.signature(factory).parameters else factory()
    async with contextlib.AsyncExitStack() as stack:
        if hasattr(made, "__aenter__"):
            made = await stack.enter_async_context(made)
        elif inspect.iscoroutine(made):
            made = await made
        assert isinstance(made, Pregel)
        yield made.copy(update={"checkpointer": checkpointer, "store": None})


async def run(graph: Pregel[Any, Any, Any, Any], thread: str, graph_input: Any) -> str:
    """One run on a thread, streamed as Studio asks for it; returns the text the model wrote."""
    text = []
    async for mode, chunk in graph.astream(
        graph_input,
        {"configurable": {"thread_id": thread}},
        context={},  # the server passes the run's context: empty unless someone set it
        stream_mode=["custom", "values"],
    ):
        if mode == "custom" and chunk["type"] == "text":
            text.append(chunk["text"])
    return "".join(text)


def said(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], "requested_by": USER, "decisions": {}}


def notes(workdir: Path) -> list[str]:
    with sqlite3.connect(workdir / "countersign-studio.db") as connection:
        return [row[0] for row in connection.execute("SELECT title FROM notes ORDER BY id")]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where `langgraph dev` would run: the factory's SQLite file and `.env` are read there.
    The demo model at full speed; no other setting from this machine."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "POLICY_FILE", "AGENT_TOOLS", "MCP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_MODEL", "demo")
    monkeypatch.setenv("DEMO_TOKENS_PER_SECOND", "0")
    return tmp_path


async def test_studio_sees_the_graph_and_its_schemas(workdir: Path) -> None:
    async with served_graph(factory_in_langgraph_json(), InMemorySaver()) as graph:
        assert {"llm", "approve", "ask_human", "tools"} <= set(graph.get_graph().nodes)
        # Studio builds its input form from these; an error here leaves it without one.
        fields = graph.get_input_jsonschema()["properties"]
        assert {"messages", "requested_by", "decisions"} <= fields.keys()
        assert "messages" in graph.get_output_jsonschema()["properties"]
        assert graph.get_context_jsonschema()["properties"] == {}  # nothing to set from outside


async def test_a_turn_pauses_for_approval_and_resumes_in_studio(workdir: Path) -> None:
    factory, server_threads = factory_in_langgraph_json(), InMemorySaver()
    async with served_graph(factory, server_threads) as graph:
        greeting = await run(graph, "hello-thread", said("hello"))
        assert greeting.startswith("Hi! I'm the Countersign demo model")
        state = await graph.aget_state({"configurable": {"thread_id": "hello-thread"}})
        assert state.next == () and state.values["messages"][-1]["content"] == greeting

        thread = {"configurable": {"thread_id": "note-thread"}}
        await run(graph, "note-thread", said("save a note about water"))
        paused = await graph.aget_state(thread)
        assert paused.next == ("approve",)
        [pause] = paused.interrupts
        assert pause.value["kind"] == "approval" and pause.value["tool"] == "save_note"
        assert pause.value["arguments"]["title"] == "Water"
        assert pause.value["requested_by"] == USER
    assert notes(workdir) == []  # nothing ran before the approval

    # Studio's resume sends the decision the graph reads; the server builds the graph anew.
    async with served_graph(factory, server_threads) as graph:
        answer = await run(graph, "note-thread", Command(resume={"kind": "approve"}))
        assert (await graph.aget_state(thread)).next == ()
    assert "saved the note" in answer
    assert notes(workdir) == ["Water"]
