"""`python -m bot policy check TOOL`: which rule of the approval policy decides a call, and
what the bot would do with it, in words, before anyone tries it in Slack."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from agent import (
    ConfigurationError,
    Database,
    Policy,
    PolicyVerdict,
    Tool,
    Transaction,
    builtin_tools,
    format_duration,
    open_mcp_tools,
    tools_in_module,
)
from bot.settings import BotSettings

USAGE_ERROR = 2
"""Exit code for a policy file or arguments that cannot be used (as argparse's own errors)."""


def add_policy_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`policy check TOOL [--args JSON] [--user U…] [--read-only]`."""
    policy = commands.add_parser("policy", help="explain the approval policy (POLICY_FILE)")
    actions = policy.add_subparsers(dest="policy_command", required=True)
    check = actions.add_parser("check", help="which rule decides a tool call, and what happens")
    check.add_argument("tool", help="the tool's name, e.g. payments__refund or save_note")
    check.add_argument(
        "--args",
        dest="call_arguments",
        default="{}",
        metavar="JSON",
        help="the call's arguments as a JSON object, e.g. '{\"amount\": 600}'",
    )
    check.add_argument("--user", default="", help="Slack id of who asks (`user` in conditions)")
    check.add_argument(
        "--read-only",
        action="store_true",
        help="treat the tool as read-only (an MCP tool its server marks readOnlyHint)",
    )


def run_policy_command(settings: BotSettings, options: argparse.Namespace) -> int:
    """Print the explanation; a bad policy file or bad --args goes to stderr with exit 2."""
    try:
        arguments = _call_arguments(options.call_arguments)
        policy = Policy.load(settings.policy_file) if settings.policy_file else Policy.default()
    except ConfigurationError as exc:
        print(f"countersign: {exc}", file=sys.stderr)
        return USAGE_ERROR
    tool, user = options.tool, options.user
    read_only, assumption = _read_only(settings, tool, options.read_only)
    verdict = policy.decide(tool, read_only=read_only, arguments=arguments, user=user)
    print(_describe_policy(policy))
    call = json.dumps(arguments, ensure_ascii=False)
    print(f"Call: {tool} {call}, asked by {user or '(no --user)'}")
    print(assumption)
    print()
    print(f"Decided by {verdict.rule}: {verdict.outcome}")
    for line in _consequences(verdict, settings):
        print(f"  {line}")
    print()
    print("Rule by rule:")
    for line in policy.explain(tool, read_only=read_only, arguments=arguments, user=user):
        print(f"  {line}")
    return 0


def _call_arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"--args is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"--args must be a JSON object of the call's arguments, like "
            f"'{{\"amount\": 600}}', not {text}"
        )
    return value


def _describe_policy(policy: Policy) -> str:
    if policy.source is None:
        return (
            "Policy: none (POLICY_FILE is not set), so read-only tools run and other tools "
            "ask for approval as APPROVERS says."
        )
    return f"Policy: {policy.source} ({len(policy.rules)} rule(s))"


def _read_only(settings: BotSettings, tool: str, flag: bool) -> tuple[bool, str]:
    """Whether to treat the tool as read-only, and a sentence saying where that came from."""
    known, problem = _known_tools(settings)
    if tool in known:
        write = known[tool].write
        kind = "a write tool" if write else "read-only"
        note = " (--read-only is ignored for it)" if flag and write else ""
        return not write, f"{tool} is {kind}, as the tool itself says{note}."
    if flag:
        return True, f"{tool} is taken as read-only, as --read-only says."
    return False, (
        f"{tool} is taken as not read-only: no built-in, AGENT_TOOLS or MCP_CONFIG tool has "
        f"that name{problem}. Pass --read-only to treat it as read-only."
    )


def _known_tools(settings: BotSettings) -> tuple[dict[str, Tool], str]:
    """The built-in, AGENT_TOOLS and MCP tools by name (never run), and why some could not
    load. MCP_CONFIG's servers are started to read their tools' annotations, then stopped."""
    tools = builtin_tools(_UnusedDatabase())
    problem = ""
    for module in settings.agent_tools:
        try:
            tools += tools_in_module(module)
        except ConfigurationError as exc:
            problem = f" (AGENT_TOOLS could not be loaded: {exc})"
    if settings.mcp_config is not None:
        try:
            tools += asyncio.run(_mcp_tools(settings.mcp_config))
        except ConfigurationError as exc:
            problem += f" (MCP_CONFIG could not be used: {exc})"
    return {item.name: item for item in tools}, problem


async def _mcp_tools(config: Path) -> list[Tool]:
    async with open_mcp_tools(config, os.environ) as tools:
        return list(tools)


class _UnusedDatabase(Database):
    """Built-in tools are made only to read their `write=` flags here; none of them runs."""

    dialect = "sqlite"

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]:
        return self._never()

    @contextlib.asynccontextmanager
    async def _never(self) -> AsyncIterator[Transaction]:
        raise RuntimeError("policy check runs no tools")
        yield  # pragma: no cover


def _consequences(verdict: PolicyVerdict, settings: BotSettings) -> list[str]:
    """What the bot would do, in sentences, with the deployment's defaults filled in."""
    if verdict.outcome == "allow":
        return ["It runs at once, without an approval card."]
    if verdict.outcome == "deny":
        told = f"“{verdict.reason}”" if verdict.reason else "that the policy refuses it"
        return [f"It is refused and does not run; the model and the thread are told {told}."]
    assert verdict.approval is not None
    rule = verdict.approval
    count = (
        "1 approval" if rule.approvals == 1 else f"{rule.approvals} approvals (different people)"
    )
    lines = [f"It waits for {count} from {_approvers(rule.approvers, settings)}."]
    if rule.approvals >= 2:
        lines.append("The person who asked never counts toward them.")
    else:
        allowed = rule.allow_self if rule.allow_self is not None else settings.allow_self_approval
        origin = "" if rule.allow_self is not None else " (ALLOW_SELF_APPROVAL)"
        may = "may" if allowed else "may not"
        lines.append(f"The person who asked {may} approve it themselves{origin}.")
    if rule.expires_after is not None:
        lines.append(f"Undecided, it expires after {format_duration(rule.expires_after)}.")
    else:
        ttl = format_duration(settings.approval_ttl_seconds)
        lines.append(f"Undecided, it expires after {ttl} (APPROVAL_TTL_SECONDS).")
    if rule.remind_after is not None:
        remind = format_duration(rule.remind_after)
        lines.append(f"Approvers who have not decided are reminded after {remind}.")
    if rule.escalate_to:
        lines.append(
            f"At that time {', '.join(rule.escalate_to)} become approvers too and are told by DM."
        )
    if verdict.reason:
        lines.append(f"The card says why: {verdict.reason}")
    return lines


def _approvers(approvers: tuple[str, ...], settings: BotSettings) -> str:
    if approvers:
        return f"{_who(approvers)} (the rule's approvers)"
    if settings.approvers:
        return f"{_who(settings.approvers)} (APPROVERS)"
    return "anyone in the conversation (APPROVERS is empty)"


def _who(ids: Sequence[str]) -> str:
    """`U1, U2 or members of S0FINANCE`: user ids as they are, user groups as their members."""
    names = [item if not item.startswith("S") else f"members of {item}" for item in ids]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
