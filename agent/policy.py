"""The approval policy: for each tool call, run it, refuse it, or ask whom for approval.

Rules are checked in order and the first that matches decides; a rule matches when its tool
pattern does and its `when:` condition (if any) is true. When none matches, the default for
read-only tools or for other tools decides. Without POLICY_FILE the defaults alone apply:
read-only tools run, everything else asks the deployment's approvers.

A condition that cannot be evaluated for a call (a missing key, a type mismatch, a result that
is not true or false) fails closed: its rule still decides, in its safest form. A deny rule
refuses; an approve rule asks for approval as it says; an allow rule asks the default approvers.
Nothing is skipped on to a later, possibly more permissive, rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cel

from agent.events import ApprovalRule
from agent.policy_conditions import ConditionError, call_context
from agent.policy_file import Outcome, PolicyDocument, PolicyRule, read_policy_file

READ_ONLY_DEFAULT = "default for read-only tools"
OTHER_DEFAULT = "default for other tools"


@dataclass(frozen=True)
class PolicyVerdict:
    """What the policy decided for one call, and which rule decided it."""

    outcome: Outcome
    rule: str
    """The deciding rule as people read it: `rule 2 (payments__refund, when args.amount > 500)`
    or `default for other tools`."""
    reason: str | None
    """The rule's `reason` (why it refuses, or why it asks), or why a condition failed."""
    approval: ApprovalRule | None
    """Set when `outcome` is approve: who may approve, how many, and for how long."""


class Policy:
    """A checked, compiled policy; `decide` costs microseconds (nothing is parsed per call)."""

    def __init__(self, document: PolicyDocument, source: Path | None = None) -> None:
        self.source = source
        self.rules = document.rules
        self._verdicts = tuple(_verdict(rule.outcome, rule.label, rule) for rule in self.rules)
        self._read_only = _verdict(document.read_only, READ_ONLY_DEFAULT)
        self._other = _verdict(document.other, OTHER_DEFAULT)

    @classmethod
    def load(cls, path: Path) -> Policy:
        """Read POLICY_FILE; ConfigurationError names the file, the rule and what is wrong."""
        return cls(read_policy_file(path), path)

    @classmethod
    def default(cls) -> Policy:
        """No POLICY_FILE: read-only tools run, the others ask the deployment's approvers."""
        return cls(PolicyDocument(rules=(), read_only="allow", other="approve"))

    def decide(
        self, tool: str, *, read_only: bool, arguments: dict[str, Any], user: str
    ) -> PolicyVerdict:
        """The first matching rule's verdict, or the default's."""
        call = _Call(tool, arguments, user)
        for rule, verdict in zip(self.rules, self._verdicts, strict=True):
            decided, _ = _judge(rule, verdict, call)
            if decided is not None:
                return decided
        return self._read_only if read_only else self._other

    def explain(
        self, tool: str, *, read_only: bool, arguments: dict[str, Any], user: str
    ) -> list[str]:
        """One line per rule and default: whether it matched and why, and which one decided."""
        call = _Call(tool, arguments, user)
        lines: list[str] = []
        decided: PolicyVerdict | None = None
        for rule, verdict in zip(self.rules, self._verdicts, strict=True):
            if decided is not None:
                lines.append(f"{rule.label}: not reached")
                continue
            decided, note = _judge(rule, verdict, call)
            if decided is None:
                lines.append(f"{rule.label}: {note} → next rule")
            else:
                lines.append(f"{rule.label}: {note} → {decided.outcome}  ← decides")
        for default, applies in ((self._read_only, read_only), (self._other, not read_only)):
            if decided is not None:
                lines.append(f"{default.rule}: not reached")
            elif not applies:
                kind = "read-only" if read_only else "not read-only"
                lines.append(f"{default.rule}: does not apply (the tool is {kind})")
            else:
                decided = default
                lines.append(f"{default.rule}: no rule matched → {default.outcome}  ← decides")
        return lines


class _Call:
    """One call as conditions see it; the CEL context is built once, and only if needed."""

    __slots__ = ("_context", "_error", "arguments", "tool", "user")

    def __init__(self, tool: str, arguments: dict[str, Any], user: str) -> None:
        self.tool = tool
        self.arguments = arguments
        self.user = user
        self._context: cel.Context | None = None
        self._error: ConditionError | None = None

    def context(self) -> cel.Context:
        if self._error is not None:
            raise self._error
        if self._context is None:
            try:
                self._context = call_context(self.tool, self.arguments, self.user)
            except ConditionError as exc:
                self._error = exc
                raise
        return self._context


def _judge(
    rule: PolicyRule, verdict: PolicyVerdict, call: _Call
) -> tuple[PolicyVerdict | None, str]:
    """The rule's verdict if it matches the call (None if not), and a note saying why."""
    if not rule.pattern.match(call.tool):
        return None, "tool does not match"
    if rule.condition is None:
        return verdict, "tool matches"
    try:
        holds = rule.condition.holds(call.context())
    except ConditionError as exc:
        return _fail_closed(
            rule, str(exc)
        ), f"tool matches, condition could not be checked ({exc}): fails closed"
    if not holds:
        return None, "tool matches, condition is false"
    return verdict, "tool matches, condition is true"


def _verdict(outcome: Outcome, label: str, rule: PolicyRule | None = None) -> PolicyVerdict:
    reason = rule.reason if rule else None
    approval = None
    if outcome == "approve":
        approval = rule.approval if rule and rule.approval else ApprovalRule(rule=label)
    return PolicyVerdict(outcome, label, reason, approval)


def _fail_closed(rule: PolicyRule, error: str) -> PolicyVerdict:
    """The rule's safest form when its condition cannot be evaluated for this call."""
    assert rule.condition is not None
    why = f"the condition `{rule.condition.source}` could not be checked ({error})"
    if rule.outcome == "deny":
        reason = f"{rule.reason} ({why})" if rule.reason else f"Refused because {why}."
        return PolicyVerdict("deny", rule.label, reason, None)
    reason = f"Approval is needed because {why}."
    if rule.outcome == "approve" and rule.reason:
        reason = f"{rule.reason} ({why})"
    base = rule.approval or ApprovalRule(rule=rule.label)
    return PolicyVerdict("approve", rule.label, reason, replace(base, reason=reason))
