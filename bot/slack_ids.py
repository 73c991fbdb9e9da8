"""What Slack's IDs look like: checked wherever an ID from settings or a payload becomes a
mention, an approver or a Home viewer, so text that is not an ID can never ping or be stored."""

from __future__ import annotations

import re

_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP = re.compile(r"S[A-Z0-9]{2,}")


def is_user_id(value: str) -> bool:
    """A person (U…, or W… in Enterprise Grid)."""
    return _USER.fullmatch(value) is not None


def is_group_id(value: str) -> bool:
    """A user group (S…)."""
    return _GROUP.fullmatch(value) is not None
