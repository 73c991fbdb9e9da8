"""Who may approve, deny or stop: checked against the Slack emulator on every click, failing closed.

Default workspace: UALICE, UBOB, UCAROL; user group S0APPROVERS = [UBOB].
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvers import Action, ApproverPolicy, Verdict
from playground.slack import SlackEmulator
from tests.fake_clock import FakeClock

GROUP_LOOKUP = "usergroups.users.list"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def policy(
    slack: SlackEmulator,
    approvers: list[str],
    *,
    allow_self_approval: bool = True,
    clock: FakeClock | None = None,
) -> ApproverPolicy:
    client = AsyncWebClient(token="xoxb-test-token", base_url=slack.api_url)
    return ApproverPolicy(
        client,
        approvers,
        allow_self_approval=allow_self_approval,
        clock=clock or FakeClock(),
    )


def lookups(slack: SlackEmulator) -> int:
    return len(slack.calls_to(GROUP_LOOKUP))


# ── who may approve ─────────────────────────────────────────────────────────────────────────


async def test_unset_approvers_lets_anyone_in_the_conversation_approve(
    slack: SlackEmulator,
) -> None:
    anyone = policy(slack, [])
    assert await anyone.check("UCAROL", "UALICE", "approve") == Verdict(True, "")
    assert await anyone.check("UALICE", "UALICE", "approve") == Verdict(True, "")
    assert lookups(slack) == 0


async def test_a_listed_user_may_approve_and_others_are_told_who_can(
    slack: SlackEmulator,
) -> None:
    carol_only = policy(slack, ["UCAROL"])
    assert (await carol_only.check("UCAROL", "UALICE", "approve")).allowed
    refused = await carol_only.check("UBOB", "UALICE", "approve")
    assert refused == Verdict(False, "Only <@UCAROL> can approve this.")
    assert lookups(slack) == 0  # no group listed, nothing to ask Slack


async def test_a_member_of_a_listed_group_may_approve(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["S0APPROVERS"])
    assert await approvers.check("UBOB", "UALICE", "approve") == Verdict(True, "")
    assert slack.calls_to(GROUP_LOOKUP)[0].params["usergroup"] == "S0APPROVERS"


async def test_a_non_member_is_refused_with_who_may_approve(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["UCAROL", "S0APPROVERS"])
    refused = await approvers.check("UALICE", "UBOB", "approve")
    assert not refused.allowed
    assert refused.explanation == (
        "Only <@UCAROL> or members of <!subteam^S0APPROVERS> can approve this."
    )


async def test_membership_in_any_listed_group_is_enough(slack: SlackEmulator) -> None:
    slack.add_usergroup("S0ONCALL", "oncall", ["UCAROL"])
    approvers = policy(slack, ["S0APPROVERS", "S0ONCALL"])
    assert (await approvers.check("UCAROL", "UALICE", "approve")).allowed
    refused = await approvers.check("UALICE", "UBOB", "approve")
    assert refused.explanation == (
        "Only members of <!subteam^S0APPROVERS> or <!subteam^S0ONCALL> can approve this."
    )


@pytest.mark.parametrize("entry", ["", "bob", "C0GENERAL", "<@UBOB>", "u0bob"])
def test_an_entry_that_is_not_a_slack_id_is_an_error_not_skipped(entry: str) -> None:
    # Skipping it could leave the list empty, which would mean "anyone may approve".
    with pytest.raises(ValueError, match="not Slack user IDs"):
        ApproverPolicy(AsyncWebClient(), ["UBOB", entry], allow_self_approval=True)


# ── self-approval, deny and stop ────────────────────────────────────────────────────────────


async def test_without_self_approval_the_requester_cannot_approve(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["S0APPROVERS"], allow_self_approval=False)
    refused = await approvers.check("UBOB", "UBOB", "approve")
    assert refused == Verdict(False, "You asked for this, so someone else has to approve it.")
    assert (await approvers.check("UBOB", "UALICE", "approve")).allowed


async def test_without_self_approval_and_no_list_everyone_else_may_approve(
    slack: SlackEmulator,
) -> None:
    anyone_else = policy(slack, [], allow_self_approval=False)
    assert not (await anyone_else.check("UALICE", "UALICE", "approve")).allowed
    assert (await anyone_else.check("UCAROL", "UALICE", "approve")).allowed


async def test_self_approval_allowed_by_default(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["S0APPROVERS"])
    assert (await approvers.check("UBOB", "UBOB", "approve")).allowed


async def test_asking_for_an_action_does_not_make_you_an_approver(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["S0APPROVERS"], allow_self_approval=True)
    refused = await approvers.check("UALICE", "UALICE", "approve")
    assert refused == Verdict(False, "Only members of <!subteam^S0APPROVERS> can approve this.")


@pytest.mark.parametrize("action", ["deny", "stop"])
async def test_the_requester_may_always_deny_or_stop_their_own_request(
    slack: SlackEmulator, action: Action
) -> None:
    strict = policy(slack, ["S0APPROVERS"], allow_self_approval=False)
    assert (await strict.check("UBOB", "UBOB", action)).allowed  # approver, self-approval off
    assert (await strict.check("UALICE", "UALICE", action)).allowed  # not an approver at all
    assert lookups(slack) == 0  # the requester needs no lookup


@pytest.mark.parametrize("action", ["deny", "stop"])
async def test_others_may_deny_or_stop_only_if_they_may_approve(
    slack: SlackEmulator, action: Action
) -> None:
    approvers = policy(slack, ["S0APPROVERS"])
    assert (await approvers.check("UBOB", "UALICE", action)).allowed
    refused = await approvers.check("UCAROL", "UALICE", action)
    assert refused == Verdict(
        False,
        f"Only <@UALICE> (who asked) or members of <!subteam^S0APPROVERS> can {action} this.",
    )


# ── caching ─────────────────────────────────────────────────────────────────────────────────


async def test_membership_is_cached_then_fetched_again_after_expiry(
    slack: SlackEmulator, clock: FakeClock
) -> None:
    approvers = policy(slack, ["S0APPROVERS"], clock=clock)
    assert not (await approvers.check("UCAROL", "UALICE", "approve")).allowed
    slack.add_usergroup("S0APPROVERS", "approvers", ["UBOB", "UCAROL"])  # Carol joins the group

    clock.now += 59
    assert not (await approvers.check("UCAROL", "UALICE", "approve")).allowed  # cached answer
    assert lookups(slack) == 1

    clock.now += 2
    assert (await approvers.check("UCAROL", "UALICE", "approve")).allowed
    assert lookups(slack) == 2


async def test_concurrent_checks_share_one_lookup(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["S0APPROVERS"])
    verdicts = await asyncio.gather(
        *(approvers.check(user, "UALICE", "approve") for user in ["UBOB", "UCAROL"] * 5)
    )
    assert [v.allowed for v in verdicts] == [True, False] * 5
    assert lookups(slack) == 1


# ── failing closed ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("error", "status"), [("ratelimited", 429), ("fatal_error", 500)])
async def test_a_failed_lookup_refuses_and_the_next_click_asks_again(
    slack: SlackEmulator, caplog: pytest.LogCaptureFixture, error: str, status: int
) -> None:
    approvers = policy(slack, ["S0APPROVERS"])
    slack.fail_next(GROUP_LOOKUP, error=error, status=status)

    with caplog.at_level(logging.WARNING, logger="bot.approvers"):
        refused = await approvers.check("UBOB", "UALICE", "approve")
    assert not refused.allowed
    assert "couldn't check" in refused.explanation
    assert "try again" in refused.explanation
    assert "S0APPROVERS" in caplog.text

    assert (await approvers.check("UBOB", "UALICE", "approve")).allowed  # failure not cached
    assert lookups(slack) == 2


async def test_an_unreachable_slack_refuses(clock: FakeClock) -> None:
    with socket.socket() as spare:  # a port nobody listens on
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    client = AsyncWebClient(token="xoxb-test-token", base_url=f"http://127.0.0.1:{port}/api/")
    approvers = ApproverPolicy(client, ["S0APPROVERS"], allow_self_approval=True, clock=clock)
    refused = await approvers.check("UBOB", "UALICE", "deny")
    assert not refused.allowed
    assert refused.explanation.startswith("I couldn't check with Slack whether you may deny this")


async def test_an_unknown_group_refuses_rather_than_allowing(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["S0GONE"])
    refused = await approvers.check("UBOB", "UALICE", "approve")
    assert not refused.allowed
    assert "couldn't check" in refused.explanation


async def test_a_failed_group_does_not_block_a_listed_user(slack: SlackEmulator) -> None:
    approvers = policy(slack, ["UCAROL", "S0APPROVERS"])
    slack.fail_next(GROUP_LOOKUP, error="fatal_error", status=500, times=3)
    assert (await approvers.check("UCAROL", "UALICE", "approve")).allowed


# ── describing the rule ─────────────────────────────────────────────────────────────────────


def test_describe_says_who_may_approve() -> None:
    client = AsyncWebClient()
    open_policy = ApproverPolicy(client, [], allow_self_approval=True)
    assert open_policy.describe() == (
        "Anyone in the conversation can approve, including the person who asked."
    )
    no_self = ApproverPolicy(client, [], allow_self_approval=False)
    assert (
        no_self.describe() == "Anyone in the conversation can approve except the person who asked."
    )
    listed = ApproverPolicy(client, ["UBOB", "W0ALICE", "S0APPROVERS"], allow_self_approval=False)
    assert listed.describe() == (
        "Only <@UBOB>, <@W0ALICE> or members of <!subteam^S0APPROVERS> can approve."
        " Nobody can approve their own request."
        " The person who asked can always deny or stop their own request."
    )
