"""Long threads keep one checkpoint, lose no history, and still resume after pruning."""

from __future__ import annotations

from agent import Agent, AgentSettings, Approve
from tests.agent_helpers import approval, collect, finished, notes


async def checkpoint_rows(agent: Agent, thread_id: str) -> int:
    row = await agent.database.fetch_one(
        "SELECT count(*) AS n FROM checkpoints WHERE thread_id = ?", (thread_id,)
    )
    assert row is not None
    return int(row["n"])


async def test_a_long_thread_keeps_one_checkpoint_and_all_its_messages(agent: Agent) -> None:
    for turn in range(30):
        finished(await collect(agent.start("t-long", f"hello number {turn}", "UALICE")))
    assert await checkpoint_rows(agent, "t-long") == 1
    history = await agent.history("t-long")
    assert [m["content"] for m in history if m["role"] == "user"] == [
        f"hello number {turn}" for turn in range(30)
    ]


async def test_a_pruned_paused_thread_resumes_after_a_restart(
    agent_settings: AgentSettings,
) -> None:
    async with Agent.open(agent_settings) as first:
        for turn in range(5):
            finished(await collect(first.start("t-prune", f"hi {turn}", "UALICE")))
        paused = approval(await collect(first.start("t-prune", "save a note about tea", "UALICE")))
        assert await checkpoint_rows(first, "t-prune") == 1
    async with Agent.open(agent_settings) as second:
        events = await collect(second.resume("t-prune", paused.interrupt_id, Approve()))
        assert "saved" in finished(events).text.lower()
        assert len(await notes(second)) == 1
        assert len([m for m in await second.history("t-prune") if m["role"] == "user"]) == 6
