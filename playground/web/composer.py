"""What the page's message box sends: typed `@name`s become Slack mentions, as Slack's own
composer does when you pick a name, so `@countersign` in a channel reaches the bot."""

from __future__ import annotations

import re

from playground.slack.workspace import Workspace

_AT_NAME = re.compile(r"(?<![\w@<])@([a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)", re.IGNORECASE)
BROADCASTS = frozenset({"here", "channel", "everyone"})


def mentions_to_markup(text: str, ws: Workspace) -> str:
    """`@alice` → `<@UALICE>`, `@approvers` → `<!subteam^S…>`, `@here` → `<!here>`; other
    `@words` stay as typed."""
    users = {u.name.lower(): u.id for u in ws.users.values()}
    groups = {g.handle.lower(): g.id for g in ws.usergroups.values()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name in users:
            return f"<@{users[name]}>"
        if name in groups:
            return f"<!subteam^{groups[name]}>"
        if name in BROADCASTS:
            return f"<!{name}>"
        return match.group(0)

    return _AT_NAME.sub(replace, text)
