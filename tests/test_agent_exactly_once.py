"""Resume is exactly-once: concurrent clicks, stale ids, unknown threads, restarts."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest

from agent import Agent, AgentSettings, Approve, Deny, Resumed, ResumeRefused
from tests.agent_helpers import approval, collect, finished, notes


async def test_two_concurrent_resumes_write_once(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-race", "save a note about water", "UALICE")))
    outcomes = await asyncio.gather(
        collect(agent.resume("t-race", paused.interrupt_id, Approve())),
        collect(agent.resume("t-race", paused.interrupt_id, Approve())),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, ResumeRefused)]
    completed = [o for o in outcomes if isinstance(o, list)]
    assert len(completed) == 1 and len(refused) == 1, outcomes
    assert refused[0].reason == "already_handled"
    assert len(await notes(agent)) == 1


async def test_a_second_click_after_the_first_finished_changes_nothing(agent: Agent) -> None:
    paused = approval(await collect(agent.start("t-double", "save a note about water", "UALICE")))
    finished(await collect(agent.resume("t-double", paused.interrupt_id, Approve())))
    history = await agent.history("t-double")
    with pytest.raises(ResumeRefused) as refused:
        await collect(agent.resume("t-double", paused.interrupt_id, Deny()))
    assert refused.value.reason == "already_handled"
    assert await agent.history("t-double") == history
    assert len(await notes(agent)) == 1


async def test_a_stale_button_cannot_answer_the_next_pause(agent: Agent) -> None:
    first = approval(
        await collect(agent.start("t-stale", "save notes about tea and coffee", "UALICE"))
    )
    second = approval(await collect(agent.resume("t-stale", first.interrupt_id, Approve())))
    with pytest.raises(ResumeRefused):
        await collect(agent.resume("t-stale", first.interrupt_id, Approve()))
    still = await agent.pending("t-stale")
    assert still is not None and still.interrupt_id == second.interrupt_id
    assert await notes(agent) == []  # the old click approved nothing


async def test_resuming_an_unknown_thread_starts_nothing(agent: Agent) -> None:
    with pytest.raises(ResumeRefused) as refused:
        await collect(agent.resume("t-nobody", "0" * 32, Approve()))
    assert refused.value.reason == "unknown_thread"
    assert await agent.history("t-nobody") == []


async def test_resuming_a_finished_thread_is_refused(agent: Agent) -> None:
    finished(await collect(agent.start("t-done", "hello", "UALICE")))
    with pytest.raises(ResumeRefused) as refused:
        await collect(agent.resume("t-done", "0" * 32, Approve()))
    assert refused.value.reason == "stale"


async def test_pause_survives_closing_the_agent(agent_settings: AgentSettings) -> None:
    async with Agent.open(agent_settings) as first:
        paused = approval(
            await collect(first.start("t-restart", "save a note about water", "UALICE"))
        )
    async with Agent.open(agent_settings) as second:
        pending = await second.pending("t-restart")
        assert pending is not None and pending.interrupt_id == paused.interrupt_id
        events = await collect(second.resume("t-restart", paused.interrupt_id, Approve()))
        assert isinstance(events[0], Resumed)
        finished(events)
        assert len(await notes(second)) == 1


async def test_pause_in_another_process_resumes_here(agent_settings: AgentSettings) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        from agent import Agent, AgentSettings
        async def main():
            settings = AgentSettings(_env_file=None, database_url={agent_settings.database_url!r},
                                     demo_tokens_per_second=0)
            async with Agent.open(settings) as agent:
                async for event in agent.start("t-process", "save a note about water", "UALICE"):
                    pass
                print(type(event).__name__, event.interrupt_id)
        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0
    kind, interrupt_id = output.decode().split()
    assert kind == "ApprovalRequested"
    async with Agent.open(agent_settings) as agent:
        finished(await collect(agent.resume("t-process", interrupt_id, Approve())))
        assert len(await notes(agent)) == 1


async def test_a_claim_an_older_version_stranded_is_open_again_after_the_upgrade(
    agent_settings: AgentSettings,
) -> None:
    async with Agent.open(agent_settings) as first:
        paused = approval(
            await collect(first.start("t-strand", "save a note about water", "UALICE"))
        )
        # A process of an older version (before numbered migrations) claimed the pause and
        # died before its answer reached the checkpoint.
        await first.database.execute(
            "UPDATE pauses SET status = 'claimed' WHERE interrupt_id = ?", (paused.interrupt_id,)
        )
        await first.database.execute("DELETE FROM schema_migrations")
    async with Agent.open(agent_settings) as second:
        finished(await collect(second.resume("t-strand", paused.interrupt_id, Approve())))
        assert len(await notes(second)) == 1


async def test_a_stored_decision_is_applied_after_a_crash_and_never_asked_again(
    agent_settings: AgentSettings,
) -> None:
    async with Agent.open(agent_settings) as first:
        paused = approval(await collect(first.start("t-stored", "save a note about water", "U1")))
        await first.decide("t-stored", paused.interrupt_id, Approve(), "UBOB")
        # The process dies here: the decision is stored, the graph never saw it.
    async with Agent.open(agent_settings) as second:
        with pytest.raises(ResumeRefused) as refused:  # nobody can decide it again
            await second.decide("t-stored", paused.interrupt_id, Deny(), "UCAROL")
        assert refused.value.reason == "already_handled"
        events = await collect(second.apply("t-stored", paused.interrupt_id))
        assert isinstance(events[0], Resumed) and events[0].decision == Approve()
        finished(events)
        assert len(await notes(second)) == 1
        # Applying again (a second attempt of the same work) continues, and writes nothing more.
        again = await collect(second.apply("t-stored", paused.interrupt_id))
        assert isinstance(again[0], Resumed)
        assert finished(again).text == finished(events).text
        assert len(await notes(second)) == 1


async def test_opening_the_agent_releases_no_one_elses_decision(
    agent_settings: AgentSettings,
) -> None:
    async with Agent.open(agent_settings) as bot:
        paused = approval(await collect(bot.start("t-own", "save a note about water", "U1")))
        await bot.decide("t-own", paused.interrupt_id, Approve(), "UBOB")
        async with Agent.open(agent_settings) as cli:  # `python -m bot audit` on the same file
            with pytest.raises(ResumeRefused):
                await cli.decide("t-own", paused.interrupt_id, Approve(), "UCAROL")
        finished(await collect(bot.apply("t-own", paused.interrupt_id)))
        assert len(await notes(bot)) == 1


async def test_a_turn_cut_off_by_a_crash_continues_with_its_input_id(
    agent_settings: AgentSettings,
) -> None:
    async with Agent.open(agent_settings) as agent:
        first = await collect(agent.start("t-again", "hello", "U1", input_id="item-1"))
        again = await collect(agent.start("t-again", "hello", "U1", input_id="item-1"))
        assert finished(again).text == finished(first).text  # the same answer, not a new turn
        assert [m["role"] for m in await agent.history("t-again")] == ["user", "assistant"]
        paused = approval(
            await collect(agent.start("t-wait", "save a note about tea", "U1", "i-2"))
        )
        assert await agent.waiting_on("t-wait", "i-2") is None  # its own input: continue it
        waiting = await agent.waiting_on("t-wait", "i-3")  # a new input meets the pause
        assert waiting is not None and waiting.interrupt_id == paused.interrupt_id
        again_paused = approval(await collect(agent.start("t-wait", "ignored", "U1", "i-2")))
        assert again_paused.interrupt_id == paused.interrupt_id  # the same pause, not a new turn
