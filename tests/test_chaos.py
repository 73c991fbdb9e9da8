"""Kill the bot (or deploy it) at a random moment of a busy workspace: nobody loses anything.

A few seeds per mode (`--chaos-runs N` for more; `python -m bench.chaos` for a table). Each run
is the real bot process twice on one database; tests/chaos.py says what is checked and why.
Then the same with two replicas on one PostgreSQL database, one of them interrupted while the
other serves. The checks themselves are tested first, on what people would see, so a clean run
means something.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.chaos import (
    APPROVE,
    MODES,
    RETRY,
    STOP,
    Ack,
    ChaosConfig,
    Conversation,
    Decision,
    Expected,
    Mode,
    ReplicaMoments,
    Shown,
    card_line,
    check_conversation,
    check_writes,
    help_answer,
    proposal_answer,
    rerun_command,
    run_chaos,
    saved_answer,
)
from tests.postgres_server import PostgresServer

CI_CONVERSATIONS = 4
"""Fewer than the bench's six: a CI run stays around 40 s."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per seed: 1..N, N from `--chaos-runs` (default 2)."""
    if "chaos_seed" in metafunc.fixturenames:
        runs = int(metafunc.config.getoption("--chaos-runs"))
        metafunc.parametrize("chaos_seed", range(1, runs + 1))


@pytest.mark.parametrize("mode", MODES)
async def test_nothing_lost_or_doubled(mode: Mode, chaos_seed: int, tmp_path: Path) -> None:
    config = ChaosConfig(chaos_seed, mode, conversations=CI_CONVERSATIONS)
    result = await run_chaos(config, tmp_path)
    assert result.ok, result.report()


def replica_config(seed: int) -> ChaosConfig:
    """Seeds alternate between the modes, so the default two runs are one of each: seed 1 a
    deploy (SIGTERM) with the replica back at once, seed 2 a kill with the replica down past
    the survivor's heartbeat, which then takes the dead replica's items over."""
    mode = MODES[seed % len(MODES)]
    return ChaosConfig(seed, mode, conversations=CI_CONVERSATIONS, replicas=2, database="postgres")


async def test_two_replicas_nothing_lost_or_doubled(
    chaos_seed: int, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    result = await run_chaos(replica_config(chaos_seed), tmp_path, postgres_server)
    assert result.ok, result.report()


def test_the_default_replica_seeds_cover_a_deploy_and_a_long_kill() -> None:
    first, second = replica_config(1), replica_config(2)
    assert (first.mode, second.mode) == ("term", "kill")
    assert ReplicaMoments.for_run(first).downtime < 10 < ReplicaMoments.for_run(second).downtime
    assert "--replicas 2" in rerun_command(second)


def test_replicas_need_postgres() -> None:
    with pytest.raises(ValueError, match="postgres"):
        ChaosConfig(1, "kill", replicas=2)


# ── the checks, on what people see ──────────────────────────────────────────────────────────


def chat(*owed: tuple[str, str]) -> Conversation:
    conv = Conversation(0, "chat", "C0GENERAL", "UALICE", thread_ts="1.000100")
    conv.answers += [Expected(*answer, "mention", Ack(True)) for answer in owed]
    return conv


def checks(conv: Conversation, *messages: Shown, notes: Counter[str] | None = None) -> list[str]:
    return [f.check for f in check_conversation(conv, list(messages), notes or Counter())]


HELP = f"{help_answer()[0]}, but here is what I can do… {help_answer()[1]}"


def test_a_complete_answer_is_all_that_is_owed() -> None:
    assert checks(chat(help_answer()), Shown("2", HELP, ())) == []


def test_an_answer_cut_off_or_never_given_is_lost() -> None:
    cut = Shown("2", "I'm the offline demo model, so I can't really answer that ⚠️", (RETRY,))
    assert checks(chat(help_answer()), cut) == ["lost_mentions"]
    assert checks(chat(help_answer())) == ["lost_mentions"]
    streaming = Shown("2", HELP, (STOP,))
    assert checks(chat(help_answer()), streaming) == ["lost_mentions"]


def test_a_second_answer_or_a_leftover_partial_is_a_duplicate() -> None:
    assert checks(chat(help_answer()), Shown("2", HELP, ()), Shown("3", HELP, ())) == [
        "duplicate_answers"
    ]
    partial = Shown("2", "I'm the offline demo model, so I can't really answer that", ())
    assert checks(chat(help_answer()), partial, Shown("3", HELP, ())) == ["duplicate_answers"]


def save(*, decided: bool) -> Conversation:
    """A conversation that asked to save “Falcon”, approved by UBOB if `decided`."""
    conv = Conversation(0, "save", "C0GENERAL", "UALICE", thread_ts="1.000100", cards=["Falcon"])
    conv.answers.append(Expected(*proposal_answer("Falcon"), "mention", Ack(True)))
    if decided:
        conv.decisions["Falcon"] = Decision("Falcon", "approve", "UBOB", "", Ack(True))
        continuation = saved_answer("Falcon")
        conv.answers.append(Expected(*continuation, "approve", Ack(True), "lost_pauses", "Falcon"))
    return conv


PROPOSAL = Shown("2", proposal_answer("Falcon")[1], ())
CARD = f"*Approval needed:* Save note\n{card_line('Falcon')}"


def test_a_proposal_needs_its_card() -> None:
    assert checks(save(decided=False), PROPOSAL) == ["lost_pauses"]
    assert checks(save(decided=False), PROPOSAL, Shown("3", CARD, (APPROVE,))) == []


def test_a_card_must_say_what_ran() -> None:
    approved = Shown("3", CARD + "✅ Approved by <@UBOB>", ())
    # Approved but nothing saved: the card is wrong (its missing continuation is not counted
    # again); approved and saved but never answered: the decision's answer is lost.
    assert checks(save(decided=True), PROPOSAL, approved) == ["wrong_cards"]
    saved = Counter(Falcon=1)
    assert checks(save(decided=True), PROPOSAL, approved, notes=saved) == ["lost_pauses"]
    done = Shown("4", saved_answer("Falcon")[1], ())
    assert checks(save(decided=True), PROPOSAL, approved, done, notes=saved) == []
    live = Shown("3", CARD, (APPROVE,))
    assert checks(save(decided=True), PROPOSAL, live) == ["wrong_cards"]  # approve was acked


def test_a_write_runs_once_and_only_when_approved() -> None:
    decided = {
        "Falcon": Decision("Falcon", "approve", "UBOB", ""),
        "Raven": Decision("Raven", "deny", "UBOB", "no"),
    }
    assert check_writes(Counter(Falcon=1), decided) == []
    doubled = check_writes(Counter(Falcon=2, Raven=1, Stray=1), decided)
    assert [f.what for f in doubled] == [
        "“Falcon” was saved 2 times",
        "“Raven” was denied but saved",
        "“Stray” was never approved but saved",
    ]
