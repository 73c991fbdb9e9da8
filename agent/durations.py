"""Durations as a policy file writes them (`30s`, `15m`, `2h`, `1d`, `1h30m`, or seconds) and
back: people read `15m` more easily than `900.0`."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^(?:\s*\d+(?:\.\d+)?\s*[smhd])+\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """`30s`, `15m`, `2h`, `1d`, `1h30m` or a number of seconds, as seconds (> 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 15m, 2h, 1d or seconds")
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            seconds = float(text)
        elif _DURATION.match(text):
            seconds = sum(
                float(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text)
            )
        else:
            raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 15m, 2h, 1d or seconds")
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{value!r} is not a duration longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as people write them in the policy: `15m`, `2h`, `1d`, `1h30m`, `90.5s`."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"
