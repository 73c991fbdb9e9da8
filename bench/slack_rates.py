"""Slack calls per minute, summed over every replica, set against Slack's limits.

Slack limits a method per app and workspace, not per process: chat.update (Tier 3) about 50
a minute for every message the app edits in the workspace, chat.postMessage about one a
second per channel. Two replicas that each keep their own budget can together go over it, so
the figures come from the emulator, which sees every replica's calls. Pure: nothing here waits.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from playground.slack import Call
from playground.slack.limits import METHOD_TIERS, POST_MESSAGE_PER_CHANNEL, TIER_PER_MINUTE

MINUTE = 60.0
SHOWN = ("chat.update", "chat.postMessage")
"""The methods the printed table shows (the JSON has every method called)."""


@dataclass(frozen=True, slots=True)
class MethodLimit:
    """Slack's published sustained rate for a method, and what it is counted over."""

    per_minute: float
    scope: Literal["workspace", "channel"]


def slack_limit(method: str) -> MethodLimit | None:
    """The limit the emulator enforces, as Slack documents it (playground/slack/limits.py)."""
    if method == "chat.postMessage":
        return MethodLimit(POST_MESSAGE_PER_CHANNEL[0], "channel")
    tier = METHOD_TIERS.get(method)
    return None if tier is None else MethodLimit(TIER_PER_MINUTE[tier], "workspace")


def busiest(times: Iterable[float], window: float) -> int:
    """The most events inside any `window` seconds (half-open: [t, t + window))."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


def method_rates(calls: Sequence[Call], seconds: float) -> dict[str, dict[str, Any]]:
    """Per method: calls Slack accepted (and 429s), their mean rate over `seconds`, and the
    busiest minute (for chat.postMessage: of the busiest channel, and its busiest second).
    A span shorter than a minute makes the busiest minute simply every call in it."""
    methods = sorted({call.method for call in calls})
    rates: dict[str, dict[str, Any]] = {}
    for method in methods:
        mine = [call for call in calls if call.method == method]
        accepted = [call for call in mine if call.status != 429]
        limit = slack_limit(method)
        figures: dict[str, Any] = {
            "calls": len(accepted),
            "responses_429": len(mine) - len(accepted),
            "per_minute": len(accepted) / seconds * MINUTE if seconds > 0 else None,
            "limit_per_minute": limit.per_minute if limit else None,
            "scope": limit.scope if limit else "workspace",
        }
        if limit is not None and limit.scope == "channel":
            by_channel: dict[str, list[float]] = {}
            for call in accepted:
                by_channel.setdefault(str(call.params.get("channel")), []).append(call.at)
            figures["busiest_minute"] = max(
                (busiest(t, MINUTE) for t in by_channel.values()), default=0
            )
            figures["busiest_second"] = max(
                (busiest(t, 1.0) for t in by_channel.values()), default=0
            )
        else:
            figures["busiest_minute"] = busiest((call.at for call in accepted), MINUTE)
        figures["over_limit"] = bool(limit and figures["busiest_minute"] > limit.per_minute)
        rates[method] = figures
    return rates


def rate_cell(rates: dict[str, dict[str, Any]], method: str) -> str:
    """ "busiest minute / limit (n 429)" for the table."""
    found = rates.get(method)
    if not found:
        return "–"
    limit = found["limit_per_minute"]
    cell = f"{found['busiest_minute']}/{limit:g}" if limit else str(found["busiest_minute"])
    if found["responses_429"]:
        cell += f" ({found['responses_429']}×429)"
    return cell
