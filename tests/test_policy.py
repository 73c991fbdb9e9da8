"""The approval policy (POLICY_FILE): rules in order on tool, arguments and user, the defaults,
conditions that fail closed, every mistake refused at load with its rule, and
`python -m bot policy check` run as people run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agent.durations import format_duration, parse_duration
from agent.errors import ConfigurationError
from agent.events import ApprovalRule
from agent.policy import Policy, PolicyVerdict

EXAMPLE = """\
rules:
  - tool: "tickets__close_ticket"
    when: "args.priority == 'low'"
    decision: allow
  - tool: "payments__refund"
    when: "args.amount > 500"
    decision: approve
    approvers: ["S0FINANCE"]
    approvals: 2
    remind_after: 15m
    escalate_to: ["U0CFO0001"]
  - tool: "*__delete_*"
    decision: deny
    reason: "Deleting is not allowed from Slack."
default:
  read_only: allow      # MCP tools whose annotations say readOnlyHint
  other: approve        # everything else, including tools with no annotations
"""
REFUND_RULE = "rule 2 (payments__refund, when args.amount > 500)"
ALICE = "U0ALICE01"


def load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Policy.load(path)


def decide(
    policy: Policy,
    tool: str,
    arguments: dict[str, Any] | None = None,
    *,
    read_only: bool = False,
    user: str = ALICE,
) -> PolicyVerdict:
    return policy.decide(tool, read_only=read_only, arguments=arguments or {}, user=user)


def refused_at_load(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigurationError) as refused:
        load(tmp_path, text)
    return str(refused.value)


# --- every outcome --------------------------------------------------------------------------


def test_an_allow_rule_runs_the_call_without_a_card(tmp_path: Path) -> None:
    verdict = decide(load(tmp_path, EXAMPLE), "tickets__close_ticket", {"priority": "low"})
    assert verdict == PolicyVerdict(
        "allow", "rule 1 (tickets__close_ticket, when args.priority == 'low')", None, None
    )


def test_an_approve_rule_carries_its_own_approvers_quorum_and_timings(tmp_path: Path) -> None:
    verdict = decide(load(tmp_path, EXAMPLE), "payments__refund", {"amount": 600})
    assert verdict.outcome == "approve"
    assert verdict.rule == REFUND_RULE
    assert verdict.approval == ApprovalRule(
        rule=REFUND_RULE,
        reason=None,
        approvers=("S0FINANCE",),
        approvals=2,
        allow_self=None,
        expires_after=None,
        remind_after=900.0,
        escalate_to=("U0CFO0001",),
    )


def test_a_deny_rule_refuses_with_its_reason(tmp_path: Path) -> None:
    verdict = decide(load(tmp_path, EXAMPLE), "tickets__delete_ticket", {"id": 7})
    assert verdict == PolicyVerdict(
        "deny", "rule 3 (*__delete_*)", "Deleting is not allowed from Slack.", None
    )


def test_every_approval_setting_is_read_and_durations_become_seconds(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        """\
        rules:
          - tool: "deploys__rollout"
            decision: approve
            reason: "Production deploys need a second pair of eyes."
            approvers: ["U0BOB0001", "W0CAROL01", "S0SRE0001"]
            approvals: 1
            allow_self: false
            expires_after: 2h
            remind_after: 1h30m
            escalate_to: ["U0CTO0001"]
        """,
    )
    verdict = decide(policy, "deploys__rollout", {"service": "api"})
    assert verdict.reason == "Production deploys need a second pair of eyes."
    assert verdict.approval == ApprovalRule(
        rule="rule 1 (deploys__rollout)",
        reason="Production deploys need a second pair of eyes.",
        approvers=("U0BOB0001", "W0CAROL01", "S0SRE0001"),
        approvals=1,
        allow_self=False,
        expires_after=7200.0,
        remind_after=5400.0,
        escalate_to=("U0CTO0001",),
    )


@pytest.mark.parametrize(
    ("amount", "rule"),
    [
        (600, REFUND_RULE),
        (600.0, REFUND_RULE),
        (500.5, REFUND_RULE),  # a JSON double against an int literal: compared as numbers
        (500, "default for other tools"),
        (499.99, "default for other tools"),
    ],
)
def test_a_condition_on_an_argument_compares_ints_and_doubles_as_numbers(
    tmp_path: Path, amount: float, rule: str
) -> None:
    verdict = decide(load(tmp_path, EXAMPLE), "payments__refund", {"amount": amount})
    assert (verdict.outcome, verdict.rule) == ("approve", rule)


def test_a_condition_on_who_asks(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        """\
        rules:
          - tool: "deploys__*"
            when: "user in ['U0ONCALL1', 'U0ONCALL2'] && args.env != 'production'"
            decision: allow
        """,
    )
    assert decide(policy, "deploys__rollout", {"env": "staging"}, user="U0ONCALL1").outcome == (
        "allow"
    )
    assert decide(policy, "deploys__rollout", {"env": "staging"}, user=ALICE).rule == (
        "default for other tools"
    )
    assert decide(policy, "deploys__rollout", {"env": "production"}, user="U0ONCALL1").rule == (
        "default for other tools"
    )


def test_a_condition_can_name_the_tool_and_loop_over_arguments(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        """\
        rules:
          - tool: "shop__*"
            when: "tool.endsWith('_order') && args.items.all(item, item.qty <= 10)"
            decision: allow
        """,
    )
    small = {"items": [{"qty": 1}, {"qty": 10}]}
    large = {"items": [{"qty": 1}, {"qty": 11}]}
    assert decide(policy, "shop__place_order", small).outcome == "allow"
    assert decide(policy, "shop__place_order", large).outcome == "approve"
    assert decide(policy, "shop__cancel_orders", small).outcome == "approve"


# --- order and patterns ---------------------------------------------------------------------


def test_the_first_matching_rule_decides(tmp_path: Path) -> None:
    allow_first = """\
        rules:
          - tool: "tickets__close_ticket"
            decision: allow
          - tool: "tickets__*"
            decision: deny
        """
    deny_first = """\
        rules:
          - tool: "tickets__*"
            decision: deny
          - tool: "tickets__close_ticket"
            decision: allow
        """
    assert decide(load(tmp_path, allow_first), "tickets__close_ticket").outcome == "allow"
    assert decide(load(tmp_path, deny_first), "tickets__close_ticket").outcome == "deny"
    assert decide(load(tmp_path, allow_first), "tickets__reopen").outcome == "deny"


def test_a_rule_whose_condition_is_false_passes_to_the_next(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        """\
        rules:
          - tool: "tickets__close_ticket"
            when: "args.priority == 'low'"
            decision: allow
          - tool: "tickets__close_ticket"
            decision: deny
            reason: "Only low-priority tickets close from Slack."
        """,
    )
    verdict = decide(policy, "tickets__close_ticket", {"priority": "high"})
    assert (verdict.outcome, verdict.rule) == ("deny", "rule 2 (tickets__close_ticket)")


@pytest.mark.parametrize(
    ("pattern", "tool", "matches"),
    [
        ("*__delete_*", "tickets__delete_ticket", True),
        ("*__delete_*", "db__delete_rows", True),
        ("*__delete_*", "tickets__undelete_ticket", False),
        ("*__delete_*", "tickets__DELETE_ticket", False),  # patterns are case-sensitive
        ("*__delete_*", "delete_ticket", False),
        ("tickets__*", "tickets__list", True),
        ("tickets__*", "deploys__list", False),
        ("tickets__get_?", "tickets__get_1", True),
        ("tickets__get_?", "tickets__get_12", False),
        ("db__[!r]*", "db__write", True),
        ("db__[!r]*", "db__read", False),
        ("save_note", "save_note", True),
        ("save_note", "save_notes", False),
    ],
)
def test_tool_patterns_are_globs(tmp_path: Path, pattern: str, tool: str, matches: bool) -> None:
    policy = load(tmp_path, f'rules:\n  - tool: "{pattern}"\n    decision: deny\n')
    assert (decide(policy, tool).outcome == "deny") is matches


# --- defaults -------------------------------------------------------------------------------


def test_when_no_rule_matches_read_only_tools_run_and_others_ask(tmp_path: Path) -> None:
    policy = load(tmp_path, EXAMPLE)
    assert decide(policy, "tickets__list", read_only=True) == PolicyVerdict(
        "allow", "default for read-only tools", None, None
    )
    assert decide(policy, "tickets__create") == PolicyVerdict(
        "approve",
        "default for other tools",
        None,
        ApprovalRule(rule="default for other tools"),
    )


def test_the_defaults_can_be_changed(tmp_path: Path) -> None:
    policy = load(tmp_path, "default:\n  read_only: approve\n  other: deny\n")
    assert decide(policy, "tickets__list", read_only=True).outcome == "approve"
    assert decide(policy, "tickets__create").outcome == "deny"


def test_a_rule_decides_before_the_read_only_default(tmp_path: Path) -> None:
    policy = load(tmp_path, 'rules:\n  - tool: "secrets__*"\n    decision: approve\n')
    assert decide(policy, "secrets__read", read_only=True).rule == "rule 1 (secrets__*)"


def test_without_a_policy_file_read_only_runs_and_the_rest_asks_the_default_approvers() -> None:
    policy = Policy.default()
    assert decide(policy, "search_notes", {"query": "x"}, read_only=True).outcome == "allow"
    verdict = decide(policy, "save_note", {"title": "t", "body": "b"})
    assert verdict.outcome == "approve"
    assert verdict.approval == ApprovalRule(rule="default for other tools")


# --- conditions that cannot be evaluated fail closed ----------------------------------------

FAILING = """\
rules:
  - tool: "tickets__close_ticket"
    when: "args.priority == 'low'"
    decision: allow
  - tool: "payments__refund"
    when: "args.amount > 500"
    decision: approve
    approvers: ["S0FINANCE"]
    approvals: 2
    reason: "Large refunds need finance."
  - tool: "db__drop"
    when: "args.table.startsWith('audit_')"
    decision: deny
    reason: "The audit tables stay."
  - tool: "*"
    decision: allow
"""


def test_an_allow_rule_whose_condition_fails_asks_the_default_approvers(tmp_path: Path) -> None:
    verdict = decide(load(tmp_path, FAILING), "tickets__close_ticket", {"id": 7})
    label = "rule 1 (tickets__close_ticket, when args.priority == 'low')"
    assert verdict.outcome == "approve"
    assert verdict.rule == label
    assert verdict.reason == (
        "Approval is needed because the condition `args.priority == 'low'` could not be "
        "checked (no such key: 'priority')."
    )
    assert verdict.approval == ApprovalRule(rule=label, reason=verdict.reason)


def test_an_approve_rule_whose_condition_fails_still_asks_as_it_says(tmp_path: Path) -> None:
    verdict = decide(load(tmp_path, FAILING), "payments__refund", {"amount": "lots"})
    assert verdict.outcome == "approve"
    assert verdict.approval is not None
    assert (verdict.approval.approvers, verdict.approval.approvals) == (("S0FINANCE",), 2)
    assert verdict.reason is not None
    assert verdict.reason.startswith("Large refunds need finance. (the condition")
    assert "types do not fit" in verdict.reason
    assert verdict.approval.reason == verdict.reason


def test_a_deny_rule_whose_condition_fails_still_denies(tmp_path: Path) -> None:
    verdict = decide(load(tmp_path, FAILING), "db__drop", {"table": 42})
    assert verdict.outcome == "deny"
    assert verdict.rule == "rule 3 (db__drop, when args.table.startsWith('audit_'))"
    assert verdict.reason is not None and verdict.reason.startswith("The audit tables stay.")
    assert "could not be checked" in verdict.reason


def test_a_condition_that_is_not_true_or_false_fails_closed(tmp_path: Path) -> None:
    policy = load(tmp_path, 'rules:\n  - tool: "x"\n    when: "args.count"\n    decision: allow\n')
    verdict = decide(policy, "x", {"count": 3})
    assert verdict.outcome == "approve"
    assert verdict.reason is not None and "gave 3 (int), not true or false" in verdict.reason


def test_arguments_cel_cannot_read_fail_closed(tmp_path: Path) -> None:
    verdict = decide(load(tmp_path, FAILING), "tickets__close_ticket", {"priority": {1, 2}})
    assert verdict.outcome == "approve"
    assert verdict.reason is not None and "cannot be given to CEL" in verdict.reason


def test_a_failing_condition_never_falls_through_to_a_later_allow(tmp_path: Path) -> None:
    """Rule 4 allows everything; a broken rule 1 must not hand the call to it."""
    verdict = decide(load(tmp_path, FAILING), "tickets__close_ticket", {})
    assert verdict.rule.startswith("rule 1 ")
    assert verdict.outcome == "approve"


def test_has_guards_a_condition_against_missing_keys(tmp_path: Path) -> None:
    policy = load(
        tmp_path,
        """\
        rules:
          - tool: "tickets__close_ticket"
            when: "has(args.priority) && args.priority == 'low'"
            decision: allow
        """,
    )
    verdict = decide(policy, "tickets__close_ticket", {"id": 7})
    assert (verdict.rule, verdict.reason) == ("default for other tools", None)


# --- explanations ---------------------------------------------------------------------------


def test_explain_says_what_each_rule_made_of_the_call(tmp_path: Path) -> None:
    policy = load(tmp_path, EXAMPLE)
    lines = policy.explain("payments__refund", read_only=False, arguments={"amount": 20}, user="")
    assert lines == [
        "rule 1 (tickets__close_ticket, when args.priority == 'low'): tool does not match → "
        "next rule",
        f"{REFUND_RULE}: tool matches, condition is false → next rule",
        "rule 3 (*__delete_*): tool does not match → next rule",
        "default for read-only tools: does not apply (the tool is not read-only)",
        "default for other tools: no rule matched → approve  ← decides",
    ]
    lines = policy.explain("x__delete_y", read_only=True, arguments={}, user="")
    assert lines[2:] == [
        "rule 3 (*__delete_*): tool matches → deny  ← decides",
        "default for read-only tools: not reached",
        "default for other tools: not reached",
    ]


# --- mistakes refused at load ---------------------------------------------------------------


def rule(*lines: str, tool: str = "payments__refund", decision: str = "approve") -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return (
        'rules:\n  - tool: "tickets__list"\n    decision: allow\n'
        f'  - tool: "{tool}"\n    decision: {decision}\n{body}'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            rule('when: "args.amount >"'),
            "policy.yaml, rule 2 (payments__refund): when: Syntax error: the expression ends too "
            "soon (at column 14)",
        ),
        (
            rule('approver: ["U0BOB0001"]'),
            "policy.yaml, rule 2 (payments__refund): unknown key 'approver' "
            "(did you mean 'approvers'?)",
        ),
        (
            rule("approvals: two"),
            "policy.yaml, rule 2 (payments__refund): approvals: Input should be a valid integer "
            "(got 'two')",
        ),
        (
            rule("approvals: 0"),
            "policy.yaml, rule 2 (payments__refund): approvals: Input should be greater than or "
            "equal to 1 (got 0)",
        ),
        (
            rule('allow_self: "yes"'),
            "policy.yaml, rule 2 (payments__refund): allow_self: Input should be a valid "
            "boolean (got 'yes')",
        ),
        (
            rule(decision="maybe"),
            "policy.yaml, rule 2 (payments__refund): decision: Input should be 'allow', 'deny' "
            "or 'approve' (got 'maybe')",
        ),
        (
            'rules:\n  - tool: "x"\n',
            "policy.yaml, rule 1 (x): decision is missing",
        ),
        (
            rule(tool="tickets delete"),
            "policy.yaml, rule 2 (tickets delete): tool: 'tickets delete' is not a tool "
            "pattern: use letters, digits, _ - . and the wildcards * ? [abc] [!abc] "
            '(e.g. "*__delete_*")',
        ),
        (rule(tool="db__[ab"), "rule 2 (db__[ab): tool: 'db__[ab' is not a tool pattern"),
        (
            rule("remind_after: soon"),
            "policy.yaml, rule 2 (payments__refund): remind_after: 'soon' is not a duration; "
            "write e.g. 30s, 15m, 2h, 1d or seconds",
        ),
        (
            rule("expires_after: 0"),
            "rule 2 (payments__refund): expires_after: 0 is not a duration longer than zero",
        ),
        (
            rule('approvers: ["alice"]'),
            "policy.yaml, rule 2 (payments__refund): approvers: 'alice' is not a Slack user id "
            "(U…/W…) or user-group id (S…); copy ids from a profile's ⋮ menu → Copy member ID",
        ),
        (
            rule('approvers: "U0BOB0001"'),
            "rule 2 (payments__refund): approvers: must be a list of Slack ids like "
            "[\"U0123ABCD\"], not 'U0BOB0001'",
        ),
        (
            rule("remind_after: 5m", 'escalate_to: ["S0FINANCE"]'),
            "rule 2 (payments__refund): escalate_to: 'S0FINANCE' is not a Slack user id (U…/W…)",
        ),
        (
            rule('approvers: ["U0BOB0001"]', decision="allow"),
            "policy.yaml, rule 2 (payments__refund): approvers only applies to decision: "
            "approve (this rule's decision is allow)",
        ),
        (
            rule("remind_after: 30m", decision="deny"),
            "rule 2 (payments__refund): remind_after only applies to decision: approve",
        ),
        (
            rule("expires_after: 30m", "remind_after: 1h"),
            "policy.yaml, rule 2 (payments__refund): remind_after (1h) must be shorter than "
            "expires_after (30m), or nobody is reminded",
        ),
        (
            rule('escalate_to: ["U0CFO0001"]'),
            "policy.yaml, rule 2 (payments__refund): escalate_to needs remind_after: it is "
            "when escalation happens",
        ),
        (
            rule('when: "amount > 500"'),
            "policy.yaml, rule 2 (payments__refund): when: unknown name 'amount': a condition "
            "can use args (the call's arguments, e.g. args.amount), user and tool",
        ),
        (
            rule("when: \"args.note.lowerAscii() == 'x'\""),
            "policy.yaml, rule 2 (payments__refund): when: unknown function 'lowerAscii'; "
            "available: ",
        ),
        (
            rule("when: 500"),
            "rule 2 (payments__refund): when: must be a CEL expression in quotes, not 500",
        ),
        (
            rule('approvers: ["U0BOB0001", "U0CAROL01"]', "approvals: 3"),
            "rule 2 (payments__refund): approvals: 3 can never be reached: approvers and "
            "escalate_to name 2 person(s) and no user group",
        ),
        (
            rule("approvals: 2", "allow_self: true"),
            "rule 2 (payments__refund): allow_self: true cannot hold with approvals: 2",
        ),
        ("rule:\n  - tool: x\n", "policy.yaml: unknown key 'rule' (did you mean 'rules'?)"),
        (
            "default:\n  write: approve\n",
            "policy.yaml, default: unknown key 'write' (known keys: read_only, other)",
        ),
        (
            "default:\n  other: ask\n",
            "policy.yaml, default: other: Input should be 'allow', 'deny' or 'approve' (got 'ask')",
        ),
        ("version: 2\n", "policy.yaml: version: Input should be 1 (got 2)"),
        ("rules:\n  tool: x\n", "policy.yaml: rules: must be a list, each rule starting with"),
        ("rules:\n  - just a string\n", "policy.yaml, rule 1: must be a mapping of keys"),
        ("", "policy.yaml is empty"),
        (
            'rules:\n  - tool: "x"\n    decision: allow\n   reason: "bad indent"\n',
            "policy.yaml, line 4, column 4: expected <block end>, but found "
            "'<block mapping start>'",
        ),
        (
            'rules:\n  - tool: "x"\n    decision: allow\n    decision: deny\n',
            "policy.yaml, line 4, column 5: duplicate key 'decision'",
        ),
    ],
)
def test_mistakes_stop_loading_with_the_file_rule_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    refused = refused_at_load(tmp_path, text)
    assert message in refused
    assert refused.startswith(str(tmp_path / "policy.yaml"))


def test_only_the_first_mistake_is_spelled_out_and_the_rest_counted(tmp_path: Path) -> None:
    refused = refused_at_load(tmp_path, rule("approvals: two", "remind_after: soon"))
    assert refused.endswith("(got 'two') (and 1 more problem(s))")


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"POLICY_FILE .*nope\.yaml cannot be read"):
        Policy.load(tmp_path / "nope.yaml")


def test_a_good_file_with_every_feature_loads(tmp_path: Path) -> None:
    policy = load(tmp_path, "version: 1\n" + EXAMPLE)
    assert [rule.label for rule in policy.rules] == [
        "rule 1 (tickets__close_ticket, when args.priority == 'low')",
        REFUND_RULE,
        "rule 3 (*__delete_*)",
    ]


@pytest.mark.parametrize(
    ("written", "seconds", "shown"),
    [
        ("30s", 30.0, "30s"),
        ("15m", 900.0, "15m"),
        ("2h", 7200.0, "2h"),
        ("1d", 86400.0, "1d"),
        ("1h30m", 5400.0, "1h30m"),
        (900, 900.0, "15m"),
        ("90", 90.0, "1m30s"),
        (2.5, 2.5, "2.5s"),
    ],
)
def test_durations_read_as_people_write_them(written: object, seconds: float, shown: str) -> None:
    assert parse_duration(written) == seconds
    assert format_duration(seconds) == shown


@pytest.mark.parametrize("written", ["soon", "15 minutes", "-5m", "0", True, None, ".inf"])
def test_durations_that_are_not_durations_are_refused(written: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(written if written != ".inf" else float("inf"))


# --- python -m bot policy check -------------------------------------------------------------


def policy_check(
    workdir: Path, *arguments: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`python -m bot policy check …` in `workdir` (no .env there), with only `settings` set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "LLM_", "APPROV", "ALLOW_", "POLICY_", "AGENT_", "MCP_"))
    }
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", **settings)
    return subprocess.run(
        [sys.executable, "-m", "bot", "policy", "check", *arguments],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_policy_check_explains_an_approve_rule(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(EXAMPLE, encoding="utf-8")
    run = policy_check(
        tmp_path,
        "payments__refund",
        "--args",
        '{"amount": 600, "order": "A-1"}',
        "--user",
        ALICE,
        POLICY_FILE="policy.yaml",
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [
        "Policy: policy.yaml (3 rule(s))",
        f'Call: payments__refund {{"amount": 600, "order": "A-1"}}, asked by {ALICE}',
        "payments__refund is taken as not read-only: no built-in, AGENT_TOOLS or MCP_CONFIG tool "
        "has that name. Pass --read-only to treat it as read-only.",
        "",
        f"Decided by {REFUND_RULE}: approve",
        "  It waits for 2 approvals (different people) from members of S0FINANCE "
        "(the rule's approvers).",
        "  The person who asked never counts toward them.",
        "  Undecided, it expires after 1h (APPROVAL_TTL_SECONDS).",
        "  Approvers who have not decided are reminded after 15m.",
        "  At that time U0CFO0001 become approvers too and are told by DM.",
        "",
        "Rule by rule:",
        "  rule 1 (tickets__close_ticket, when args.priority == 'low'): tool does not match → "
        "next rule",
        f"  {REFUND_RULE}: tool matches, condition is true → approve  ← decides",
        "  rule 3 (*__delete_*): not reached",
        "  default for read-only tools: not reached",
        "  default for other tools: not reached",
    ]


def test_policy_check_without_a_policy_file_uses_the_tools_own_flags(tmp_path: Path) -> None:
    run = policy_check(
        tmp_path,
        "save_note",
        "--args",
        '{"title": "t", "body": "b"}',
        "--read-only",
        APPROVERS="U0BOB0001,S0LEADS01",
        ALLOW_SELF_APPROVAL="false",
        APPROVAL_TTL_SECONDS="1800",
    )
    assert run.returncode == 0, run.stderr
    assert "Policy: none (POLICY_FILE is not set)" in run.stdout
    assert (
        "save_note is a write tool, as the tool itself says (--read-only is ignored for it)."
        in run.stdout
    )
    assert "Decided by default for other tools: approve" in run.stdout
    assert (
        "It waits for 1 approval from U0BOB0001 or members of S0LEADS01 (APPROVERS)." in run.stdout
    )
    assert "The person who asked may not approve it themselves (ALLOW_SELF_APPROVAL)." in run.stdout
    assert "Undecided, it expires after 30m (APPROVAL_TTL_SECONDS)." in run.stdout


def test_policy_check_asks_mcp_servers_which_tools_are_read_only(tmp_path: Path) -> None:
    """With MCP_CONFIG, the example server's own annotations say what the default decides."""
    (tmp_path / "policy.yaml").write_text(EXAMPLE, encoding="utf-8")
    server = Path(__file__).resolve().parent.parent / "examples" / "tickets" / "server.py"
    config = {
        "mcpServers": {
            "tickets": {
                "command": sys.executable,
                "args": [str(server)],
                "env": {"TICKETS_FILE": str(tmp_path / "tickets.json")},
            }
        }
    }
    (tmp_path / "mcp.json").write_text(json.dumps(config), encoding="utf-8")
    run = policy_check(
        tmp_path, "tickets__list_tickets", POLICY_FILE="policy.yaml", MCP_CONFIG="mcp.json"
    )
    assert run.returncode == 0, run.stderr
    assert "tickets__list_tickets is read-only, as the tool itself says." in run.stdout
    assert "Decided by default for read-only tools: allow" in run.stdout
    assert "It runs at once, without an approval card." in run.stdout
    assert not (tmp_path / "tickets.json").exists()  # nothing ran


def test_policy_check_refuses_a_bad_file_and_bad_arguments_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(rule('when: "args.amount >"'), encoding="utf-8")
    run = policy_check(tmp_path, "payments__refund", POLICY_FILE="policy.yaml")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.strip() == (
        "countersign: policy.yaml, rule 2 (payments__refund): when: Syntax error: the "
        "expression ends too soon (at column 14)"
    )
    run = policy_check(tmp_path, "payments__refund", "--args", "{amount: 600}")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.startswith("countersign: --args is not valid JSON: Expecting property name")
