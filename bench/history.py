"""Database bytes per turn: one thread of many turns, then a pause that must still resume.

The agent keeps only each thread's newest checkpoint after every run (agent.storage), so a
long thread should cost about its messages once, not once per turn. This runs the agent as the
bot does (the same `Agent`, litellm, SQLite in WAL mode or PostgreSQL) against the mock model,
in-process and without Slack: Slack's edit budget would make 200 turns take many minutes and
adds nothing to what the database stores. The bot's own tables add a few hundred bytes per
turn on top.

PostgreSQL's count for a database starts at several MB (its catalogs) and keeps the rows that
pruning deleted until autovacuum reclaims them, so there the figure is the growth since the
agent opened the empty database, dead rows included: an upper bound.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import model
from bench.database import BenchDatabase
from tests.mock_llm_server import MockLLMServer

THREAD = "C0BENCH001:1700000000.000100"


async def run_history(turns: int, answer_words: int, database: BenchDatabase) -> dict[str, Any]:
    """`turns` chat turns in one thread, then an approval that is resumed; the sizes."""
    from agent import Agent, AgentSettings, ApprovalRequested, Approve, Finished

    tag = model.tag(0)
    script = model.ScriptedModel(answer_words, 20)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="countersign-history-") as tmp:
        url = database.new_url(Path(tmp))
        settings = AgentSettings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            llm_model="openai/mock",
            llm_api_key="sk-bench",  # type: ignore[arg-type]
        )
        peak_wal = 0
        answered = 0
        async with MockLLMServer(default=script, tokens_per_second=0) as mock:
            settings = settings.model_copy(update={"llm_api_base": mock.base_url})
            async with Agent.open(settings) as agent:
                empty = database.size_bytes(url) if database.kind == "postgres" else 0
                for turn in range(turns):
                    question = f"{model.chat_question(tag)} (turn {turn + 1})"
                    async for event in agent.start(THREAD, question, "UALICE"):
                        answered += isinstance(event, Finished)
                    peak_wal = max(peak_wal, _wal_size(url))
                live = _stored(database, url) - empty
                pause = None
                async for event in agent.start(THREAD, model.note_request(tag), "UALICE"):
                    if isinstance(event, ApprovalRequested):
                        pause = event
                resumed = False
                if pause is not None:
                    async for event in agent.resume(THREAD, pause.interrupt_id, Approve()):
                        resumed = resumed or isinstance(event, Finished)
                messages = len(await agent.history(THREAD))
        # The last connection closed: SQLite's WAL is checkpointed away.
        stored = _stored(database, url) - empty
        text_bytes = sum(
            len(model.chat_question(tag)) + 12 + len(model.answer_text(tag, answer_words))
            for _ in range(turns)
        )
    return {
        "database": database.kind,
        "turns": turns,
        "answered": answered,
        "answer_words": answer_words,
        "messages_in_thread": messages,
        "database_bytes": stored,
        "database_bytes_before_pause": live,
        "peak_wal_bytes": peak_wal,
        "bytes_per_turn": stored / max(1, turns),
        "conversation_text_bytes": text_bytes,
        "paused_thread_resumed": resumed,
        "seconds": time.monotonic() - started,
    }


def history_lines(history: dict[str, Any]) -> str:
    return "\n".join(
        [
            "",
            f"One thread, {history['turns']} turns of {history['answer_words']}-word answers"
            f"{_where(history)}: "
            f"database {history['database_bytes'] / 2**20:.2f} MB "
            f"({history['bytes_per_turn'] / 1024:.1f} KB per turn; the text itself is "
            f"{history['conversation_text_bytes'] / 2**20:.2f} MB){_wal(history)}; paused after "
            "pruning and resumed: "
            f"{'yes' if history['paused_thread_resumed'] else 'NO'}",
        ]
    )


def _wal(history: dict[str, Any]) -> str:
    if history["database"] == "postgres":
        return ""
    return f", peak WAL {history['peak_wal_bytes'] / 2**20:.1f} MB"


def _where(history: dict[str, Any]) -> str:
    return " (PostgreSQL: growth, dead rows included)" if history["database"] == "postgres" else ""


def _stored(database: BenchDatabase, url: str) -> int:
    """The SQLite file alone (its WAL is counted apart), or PostgreSQL's count."""
    if database.kind == "postgres":
        return database.size_bytes(url)
    return _size(Path(url.removeprefix("sqlite:///")))


def _wal_size(url: str) -> int:
    if not url.startswith("sqlite:///"):
        return 0
    path = Path(url.removeprefix("sqlite:///"))
    return _size(path.with_name(path.name + "-wal"))


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
