"""POLICY_FILE: read the YAML, check every part of it, and compile it once.

A policy decides who may do what, so a mistake in it must stop start-up rather than quietly
change the outcome: unknown keys, duplicated keys, wrong types, bad patterns, durations or Slack
ids and conditions that do not compile are all refused, in one line naming the file, the rule
(1-based, with its tool) and the reason.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from agent.durations import format_duration, parse_duration
from agent.errors import ConfigurationError
from agent.events import ApprovalRule
from agent.policy_conditions import Condition, compile_condition

Outcome = Literal["allow", "deny", "approve"]

APPROVAL_KEYS = (
    "approvers",
    "approvals",
    "allow_self",
    "expires_after",
    "remind_after",
    "escalate_to",
)
"""Keys that only mean something on a rule whose decision is `approve`."""

_GLOB = re.compile(r"^(?:[A-Za-z0-9_.\-*?]|\[!?[A-Za-z0-9_.\-]+\])+$")
_APPROVER_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class PolicyRule:
    """One checked rule, its pattern and condition compiled."""

    position: int
    tool: str
    pattern: re.Pattern[str]
    condition: Condition | None
    outcome: Outcome
    reason: str | None
    approval: ApprovalRule | None
    """Set when `outcome` is approve: the rule's own settings, labelled with `label`."""

    @property
    def label(self) -> str:
        """How people see the rule: `rule 2 (payments__refund, when args.amount > 500)`."""
        return rule_label(self.position, self.tool, self.condition)


@dataclass(frozen=True)
class PolicyDocument:
    """A whole policy file: its rules in order, and the outcomes when none matches."""

    rules: tuple[PolicyRule, ...]
    read_only: Outcome
    other: Outcome


def rule_label(position: int, tool: str, condition: Condition | None) -> str:
    """`rule 2 (payments__refund, when args.amount > 500)`: what the card and logs name."""
    when = f", when {' '.join(condition.source.split())}" if condition else ""
    return f"rule {position} ({tool}{when})"


def read_policy_file(path: Path) -> PolicyDocument:
    """Load and check POLICY_FILE; ConfigurationError names the file, rule and reason."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"POLICY_FILE {name} cannot be read: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python objects
    except yaml.MarkedYAMLError as exc:
        raise ConfigurationError(f"{name}, {_yaml_problem(exc)}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{name}: not valid YAML: {exc}") from exc
    if data is None:
        raise ConfigurationError(f"{name} is empty: write `rules:` and/or `default:` in it")
    try:
        document = _PolicyModel.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigurationError(_describe(errors[0], name, data) + more) from exc
    return PolicyDocument(
        tuple(_compiled(position, rule) for position, rule in enumerate(document.rules, 1)),
        document.default.read_only,
        document.default.other,
    )


def _glob(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a tool name or pattern in quotes, not {value!r}")
    if not _GLOB.match(value):
        raise ValueError(
            f"{value!r} is not a tool pattern: use letters, digits, _ - . and the wildcards "
            '* ? [abc] [!abc] (e.g. "*__delete_*")'
        )
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a sentence in quotes, not {value!r}")
    return value.strip()


def _ids(value: object, pattern: re.Pattern[str], kind: str) -> tuple[str, ...]:
    """A non-empty list of Slack ids of one `kind` (`Slack user id (U…/W…)`), deduplicated."""
    if not isinstance(value, list) or not value:
        raise ValueError(f'must be a list of Slack ids like ["U0123ABCD"], not {value!r}')
    if bad := [item for item in value if not (isinstance(item, str) and pattern.match(item))]:
        raise ValueError(
            f"{bad[0]!r} is not a {kind}; copy ids from a profile's ⋮ menu → Copy member ID"
        )
    return tuple(dict.fromkeys(value))


def _approver_ids(value: object) -> tuple[str, ...]:
    return _ids(value, _APPROVER_ID, "Slack user id (U…/W…) or user-group id (S…)")


def _user_ids(value: object) -> tuple[str, ...]:
    return _ids(value, _USER_ID, "Slack user id (U…/W…)")


Pattern = Annotated[str, BeforeValidator(_glob)]
Text = Annotated[str | None, BeforeValidator(_text)]
Duration = Annotated[float | None, BeforeValidator(parse_duration)]


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    tool: Pattern
    when: Annotated[Condition | None, BeforeValidator(compile_condition)] = None
    decision: Outcome
    reason: Text = None
    approvers: Annotated[tuple[str, ...], BeforeValidator(_approver_ids)] = ()
    approvals: Annotated[StrictInt, Field(ge=1)] = 1
    allow_self: StrictBool | None = None
    expires_after: Duration = None
    remind_after: Duration = None
    escalate_to: Annotated[tuple[str, ...], BeforeValidator(_user_ids)] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """What each key means depends on the others; refuse combinations that cannot work."""
        if self.decision != "approve":
            if given := [key for key in APPROVAL_KEYS if key in self.model_fields_set]:
                raise ValueError(
                    f"{given[0]} only applies to decision: approve (this rule's decision is "
                    f"{self.decision})"
                )
            return self
        if self.escalate_to and self.remind_after is None:
            raise ValueError("escalate_to needs remind_after: it is when escalation happens")
        if (
            self.remind_after is not None
            and self.expires_after is not None
            and self.remind_after >= self.expires_after
        ):
            raise ValueError(
                f"remind_after ({format_duration(self.remind_after)}) must be shorter than "
                f"expires_after ({format_duration(self.expires_after)}), or nobody is reminded"
            )
        if self.approvals > 1 and self.allow_self:
            raise ValueError(
                f"allow_self: true cannot hold with approvals: {self.approvals}: the person who "
                "asked never counts toward two or more approvals"
            )
        people = set(self.approvers) | set(self.escalate_to)
        named_only_people = self.approvers and not any(i.startswith("S") for i in self.approvers)
        if named_only_people and len(people) < self.approvals:
            raise ValueError(
                f"approvals: {self.approvals} can never be reached: approvers and escalate_to "
                f"name {len(people)} person(s) and no user group"
            )
        return self


class _DefaultModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read_only: Outcome = "allow"
    other: Outcome = "approve"


class _PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    rules: list[_RuleModel] = Field(default_factory=list)
    default: _DefaultModel = Field(default_factory=_DefaultModel)


_KEYS: dict[str, tuple[str, ...]] = {
    "file": tuple(_PolicyModel.model_fields),
    "rule": tuple(_RuleModel.model_fields),
    "default": tuple(_DefaultModel.model_fields),
}


def _compiled(position: int, rule: _RuleModel) -> PolicyRule:
    label = rule_label(position, rule.tool, rule.when)
    approval = None
    if rule.decision == "approve":
        approval = ApprovalRule(
            rule=label,
            reason=rule.reason,
            approvers=rule.approvers,
            approvals=rule.approvals,
            allow_self=rule.allow_self,
            expires_after=rule.expires_after,
            remind_after=rule.remind_after,
            escalate_to=rule.escalate_to,
        )
    pattern = re.compile(fnmatch.translate(rule.tool))
    return PolicyRule(position, rule.tool, pattern, rule.when, rule.decision, rule.reason, approval)


def _describe(error: ErrorDetails, name: str, data: object) -> str:
    """One pydantic error as `policy.yaml, rule 3 (payments__refund): approvals: …`."""
    location = list(error["loc"])
    where, keys = name, _KEYS["file"]
    if location[:1] == ["rules"] and len(location) >= 2 and isinstance(location[1], int):
        where = f"{name}, {_rule_name(data, location[1])}"
        location, keys = location[2:], _KEYS["rule"]
    elif location[:1] == ["default"] and len(location) >= 2:
        where, location, keys = f"{name}, default", location[1:], _KEYS["default"]
    field = ".".join(str(part) for part in location)
    kind = error["type"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(field, keys, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(keys)}"
        return f"{where}: unknown key {field!r} ({hint})"
    if kind == "missing":
        return f"{where}: {field} is missing"
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
    elif kind in ("model_type", "dict_type"):
        message = f"must be a mapping of keys ({', '.join(keys)}), not {error['input']!r}"
    elif kind == "list_type":
        message = "must be a list, each rule starting with `- tool:`"
    else:
        message = f"{error['msg']} (got {_shortened(error['input'])})"
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"


def _rule_name(data: object, index: int) -> str:
    """`rule 3 (payments__refund)`, or `rule 3` when the rule has no readable tool."""
    try:
        tool = data["rules"][index]["tool"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        tool = None
    return f"rule {index + 1} ({tool})" if isinstance(tool, str) else f"rule {index + 1}"


def _shortened(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
    problem = exc.problem or exc.context or "not valid YAML"
    return f"{where}: {problem}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (plain YAML keeps the last, silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)
