"""The tools node never runs a write twice, even when it runs again for the same call; a write
cut off by a crash is either re-run (idempotent tools) or reported, never misreported."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from agent import Agent, AgentSettings, ToolContext, tool
from agent.builtin_tools import builtin_tools
from agent.database import Database
from agent.graph import AgentGraph
from agent.ledger import ToolLedger
from agent.policy import Policy
from agent.toolkit import Toolbox, tool_from_function, tools_in_module

RUNS: list[str] = []


@tool(write=True)
async def send_invoice(customer: str) -> str:
    """Send an invoice (a write that must never happen twice)."""
    RUNS.append(customer)
    return f"Invoice sent to {customer}."


@tool(write=True, idempotent=True)
async def set_status(status: str) -> str:
    """Set the team's status (setting it twice changes nothing)."""
    return f"Status is {status}."


def call(call_id: str, customer: str) -> dict[str, Any]:
    arguments = json.dumps({"customer": customer})
    return {"id": call_id, "function": {"name": "send_invoice", "arguments": arguments}}


async def test_a_rerun_of_the_tools_node_does_not_repeat_a_write(agent: Agent) -> None:
    RUNS.clear()
    toolbox = Toolbox([tool_from_function(send_invoice, write=True)])
    graph = AgentGraph(
        model=None,  # type: ignore[arg-type]
        toolbox=toolbox,
        ledger=ToolLedger(agent.database),
        policy=Policy.default(),
    )
    context = ToolContext("t-ledger", "UALICE", "call-1")
    events: list[dict[str, Any]] = []
    approved = {"kind": "approve"}
    verdict = graph._verdict(call("call-1", "ACME"), "UALICE")
    first = await graph._run_call(call("call-1", "ACME"), verdict, approved, context, events.append)
    # The process died after the write, before the checkpoint: the node runs again.
    second = await graph._run_call(
        call("call-1", "ACME"), verdict, approved, context, events.append
    )
    assert RUNS == ["ACME"]
    assert first == second == "Invoice sent to ACME."
    assert [e["type"] for e in events] == ["tool_started", "tool_finished"]


async def test_a_call_cut_off_mid_run_is_reported_not_repeated(agent: Agent) -> None:
    RUNS.clear()
    ledger = ToolLedger(agent.database)
    await ledger.begin("t-cut", "call-9", "send_invoice", '{"customer": "ACME"}')  # then: crash
    toolbox = Toolbox([tool_from_function(send_invoice, write=True)])
    graph = AgentGraph(model=None, toolbox=toolbox, ledger=ledger, policy=Policy.default())  # type: ignore[arg-type]
    context = ToolContext("t-cut", "UALICE", "call-9")
    verdict = graph._verdict(call("call-9", "ACME"), "UALICE")
    result = await graph._run_call(
        call("call-9", "ACME"), verdict, {"kind": "approve"}, context, print
    )
    assert RUNS == []
    assert result.startswith("NOT RUN")


# ── save_note: idempotent by call id ────────────────────────────────────────────────────────

NOTE = {"title": "Water", "body": "Drink more water."}


def note_call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "function": {"name": "save_note", "arguments": json.dumps(NOTE)}}


async def run_note_call(database: Database, call_id: str, events: list[dict[str, Any]]) -> str:
    """The tools node's handling of an approved save_note call, as after a restart."""
    graph = AgentGraph(
        model=None,  # type: ignore[arg-type]
        toolbox=Toolbox(builtin_tools(database)),
        ledger=ToolLedger(database),
        policy=Policy.default(),
    )
    context = ToolContext("t-note", "UALICE", call_id)
    call = note_call(call_id)
    verdict = graph._verdict(call, "UALICE")
    return await graph._run_call(call, verdict, {"kind": "approve"}, context, events.append)


async def note_rows(database: Database) -> list[tuple[str, str | None]]:
    rows = await database.fetch_all("SELECT title, call_id FROM notes ORDER BY id")
    return [(row["title"], row["call_id"]) for row in rows]


async def ledger_row(database: Database, call_id: str) -> tuple[int | None, str | None, bool]:
    row = await database.fetch_one(
        "SELECT ok, result, finished_at FROM tool_runs WHERE thread_id = 't-note' AND call_id = ?",
        (call_id,),
    )
    assert row is not None
    return row["ok"], row["result"], row["finished_at"] is not None


async def test_a_note_saved_just_before_a_crash_is_reported_saved_once(agent: Agent) -> None:
    database = agent.database
    ledger = ToolLedger(database)
    await ledger.begin("t-note", "call-7", "save_note", json.dumps(NOTE, sort_keys=True))
    save_note = Toolbox(builtin_tools(database)).get("save_note")
    assert save_note is not None and save_note.idempotent
    await save_note.run(NOTE, ToolContext("t-note", "UALICE", "call-7"))
    # The process died here: the note is in, the ledger never heard back.
    events: list[dict[str, Any]] = []
    result = await run_note_call(database, "call-7", events)
    assert result == "Saved the note “Water”."
    assert await note_rows(database) == [("Water", "call-7")]
    assert await ledger_row(database, "call-7") == (1, "Saved the note “Water”.", True)
    assert [event["type"] for event in events] == ["tool_started", "tool_finished"]
    # And a later re-run of the node reads the ledger: nothing runs, the same answer.
    again: list[dict[str, Any]] = []
    assert await run_note_call(database, "call-7", again) == result
    assert again == []
    assert await note_rows(database) == [("Water", "call-7")]


async def test_a_note_cut_off_before_its_insert_is_saved_on_the_rerun(agent: Agent) -> None:
    database = agent.database
    ledger = ToolLedger(database)
    await ledger.begin("t-note", "call-8", "save_note", json.dumps(NOTE, sort_keys=True))
    # The process died before the insert.
    result = await run_note_call(database, "call-8", [])
    assert result == "Saved the note “Water”."
    assert await note_rows(database) == [("Water", "call-8")]
    assert await ledger_row(database, "call-8") == (1, result, True)


async def test_two_calls_save_two_notes(agent: Agent) -> None:
    """The unique key is the call, not the content: the same note asked for twice is two notes."""
    await run_note_call(agent.database, "call-a", [])
    await run_note_call(agent.database, "call-b", [])
    assert await note_rows(agent.database) == [("Water", "call-a"), ("Water", "call-b")]


def test_idempotent_is_declared_on_the_decorator_and_defaults_to_false() -> None:
    found = {item.name: item for item in tools_in_module(__name__)}
    assert found["set_status"].idempotent and found["set_status"].write
    assert not found["send_invoice"].idempotent
    assert tool_from_function(send_invoice, write=True, idempotent=True).idempotent


# ── the notes table of an older file ────────────────────────────────────────────────────────

OLD_NOTES_TABLE = """
CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
)"""


async def test_an_old_notes_table_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    """A file from before numbered migrations: its notes gain the call id, and save_note is
    idempotent on it; every later start finds the migration applied."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(OLD_NOTES_TABLE)
        old.execute(
            "INSERT INTO notes(title, body, thread_id, created_by, created_at)"
            " VALUES ('Tea', 'Green.', 't-old', 'UBOB', 1.0)"
        )
    settings = AgentSettings(_env_file=None, database_url=f"sqlite:///{path}")  # type: ignore[call-arg]
    for _ in range(2):  # the second start finds nothing left to do
        async with Agent.open(settings) as agent:
            database = agent.database
            save_note = Toolbox(builtin_tools(database)).get("save_note")
            assert save_note is not None
            for _ in range(2):
                await save_note.run(NOTE, ToolContext("t-old", "UALICE", "call-1"))
            assert await note_rows(database) == [("Tea", None), ("Water", "call-1")]
            versions = await database.fetch_all("SELECT component, version FROM schema_migrations")
            assert [(row["component"], row["version"]) for row in versions] == [
                ("agent", 1),
                ("agent", 2),
            ]


async def test_two_processes_opening_one_old_file_at_once_both_start(tmp_path: Path) -> None:
    """Both see the migration missing; the second waits for the first and finds it applied."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(OLD_NOTES_TABLE)
    settings = AgentSettings(_env_file=None, database_url=f"sqlite:///{path}")  # type: ignore[call-arg]

    async def start_and_save(call_id: str) -> None:
        async with Agent.open(settings) as agent:
            await run_note_call(agent.database, call_id, [])

    await asyncio.gather(start_and_save("call-1"), start_and_save("call-2"))
    async with Agent.open(settings) as agent:
        assert sorted(await note_rows(agent.database)) == [("Water", "call-1"), ("Water", "call-2")]
