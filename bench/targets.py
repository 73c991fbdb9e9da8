"""The targets for first words and completion under load, and whether a level met them.

From the issue: the model's first token visible in Slack within 1 s (p50) and 3 s (p99) at
30 and at 100 concurrent conversations, 50 ms (p50) at 1; at 30 every answer complete within
20 s of its model finishing, at 100 all of them complete and exact, the last within 60 s; no
429 and no call inside a Retry-After window. A level the issue sets no target for gets no mark.
Pure: reads a level's figures (report.py's JSON shape), nothing else.
"""

from __future__ import annotations

from typing import Any, Literal

Figures = dict[str, Any]
Mark = Literal["PASS", "MISS"]

FIRST_TOKEN_AT_ONE_P50_MS = 50.0
FIRST_TOKEN_P50_MS = 1000.0
FIRST_TOKEN_P99_MS = 3000.0
FIRST_TOKEN_LEVELS = (30, 100)
COMPLETE_WITHIN_S = {30: 20.0, 100: 60.0}
"""Level -> longest time from a model's last chunk to its whole answer shown."""


def first_token_mark(level: Figures, phase: str = "chat") -> Mark | None:
    """Every answer's first words shown, within the level's p50 (and p99) target."""
    conversations = int(level["conversations"])
    found = level["phases"].get(phase)
    if found is None or (conversations != 1 and conversations not in FIRST_TOKEN_LEVELS):
        return None
    stats = found.get("first_token_visible_ms") or {}
    if stats.get("n", 0) < found["conversations"]:
        return "MISS"
    if conversations == 1:
        return _mark(stats["p50"] <= FIRST_TOKEN_AT_ONE_P50_MS)
    return _mark(stats["p50"] <= FIRST_TOKEN_P50_MS and stats["p99"] <= FIRST_TOKEN_P99_MS)


def completion_mark(level: Figures, phase: str = "chat") -> Mark | None:
    """Every answer complete and exact, the last within the level's time of its model."""
    limit = COMPLETE_WITHIN_S.get(int(level["conversations"]))
    found = level["phases"].get(phase)
    if limit is None or found is None:
        return None
    stats = found.get("complete_after_model_s") or {}
    every = found.get("never_complete", 1) == 0 and found["complete"] == found["conversations"]
    return _mark(every and stats.get("n", 0) > 0 and stats["max"] <= limit)


def rate_limit_mark(level: Figures) -> Mark:
    """No 429 and no call inside a Retry-After window, in any phase of the level."""
    phases = level["phases"].values()
    failed = sum(p.get("responses_429", 0) + p.get("calls_inside_retry_after", 0) for p in phases)
    return _mark(failed == 0)


def _mark(met: bool) -> Mark:
    return "PASS" if met else "MISS"
