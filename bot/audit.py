"""`python -m bot audit`: the decision log, readable in a terminal."""

from __future__ import annotations

import datetime

from agent import Agent
from bot import schema
from bot.settings import BotSettings
from bot.store import BotStore


async def print_audit(settings: BotSettings, limit: int) -> None:
    """Print the newest decisions, oldest first."""
    async with Agent.open(settings) as agent:
        store = BotStore(agent.database)
        await schema.upgrade(agent.database)
        rows = await store.audit_rows(limit)
    if not rows:
        print("No decisions recorded yet.")
        return
    print(f"{'when (UTC)':19}  {'action':9}  {'who':11}  {'tool':14}  {'args sha256':12}  thread")
    for row in rows:
        when = datetime.datetime.fromtimestamp(row["at"], datetime.UTC).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        digest = (row["arguments_sha256"] or "")[:12]
        line = (
            f"{when:19}  {row['action']:9}  {row['actor']:11}  {row['tool'] or '':14}  "
            f"{digest:12}  {row['thread_id']}"
        )
        if row["detail"]:
            line += f"  ({row['detail']})"
        print(line)
