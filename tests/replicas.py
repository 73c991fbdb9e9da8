"""Several `python -m bot` processes (replicas) on one PostgreSQL database, against one emulator.

Each replica listens on a port of its own. Over HTTP the emulator hands requests out to them in
turn, as a round-robin load balancer would (`slack.deliver_to(*urls)`); in Socket Mode each
replica opens its own connection and Slack spreads envelopes over them. Tests play the people
and assert on what they see in Slack, and on the `notes` table for writes.

    async with replicas(slack, tmp_path, postgres_server.new_database(), count=2) as bots:
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
        owner = await bots.owner_of(thread_id(CHANNEL, asked.ts))   # the replica running it
        with bots.only_to(bots.other_than(owner)):                  # the next click goes there
            await slack.click(...)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.launch import BYTECODE_CACHE
from bot.server import EVENTS_PATH
from playground.slack import Message, SlackEmulator
from tests.bot_process import READY, BotProcess, bot_environment, spawn_bot

BOT = "UBOT"
TEAM = "T0001"
HELLO = "I'm the Countersign demo model"
HELP_ENDING = "for real answers."
STOPPED = "⏹ Stopped."
IN_PROGRESS = ("Thinking…", "Continuing…", "Paused for a restart", "Noted…", "Searching notes…")
STOP, APPROVE = "countersign_stop", "countersign_approve"


def thread_id(channel: str, thread_ts: str) -> str:
    """The conversation a Slack thread is (the inbox's `conversation`)."""
    return f"{TEAM}:{channel}:{thread_ts}"


def bot_replies(slack: SlackEmulator, channel: str, thread_ts: str) -> list[Message]:
    """The bot's messages in a thread, in order, as people see the thread."""
    return [m for m in slack.thread(channel, thread_ts) if m.user == BOT]


def answers(slack: SlackEmulator, channel: str, thread_ts: str) -> list[list[Message]]:
    """The bot's messages in a thread grouped by answer, in order: an answer is one message,
    or several parts when it went on in new messages under load (they share a stream id)."""
    grouped: list[list[Message]] = []
    streams: dict[str, list[Message]] = {}
    for message in bot_replies(slack, channel, thread_ts):
        payload = (message.metadata or {}).get("event_payload") or {}
        stream = payload.get("stream")
        if stream is None:
            grouped.append([message])
        elif stream in streams:
            streams[stream].append(message)
        else:
            streams[stream] = [message]
            grouped.append(streams[stream])
    return grouped


def texts(slack: SlackEmulator, channel: str, thread_ts: str) -> list[str]:
    return [m.visible_text() for m in bot_replies(slack, channel, thread_ts)]


def finished(message: Message) -> bool:
    """An answer that says nothing is in progress and offers no Stop."""
    text = message.visible_text()
    return not any(mark in text for mark in IN_PROGRESS) and not any(
        button.get("action_id") == STOP for button in message.buttons()
    )


def has_stop(message: Message) -> bool:
    return any(button.get("action_id") == STOP for button in message.buttons())


@dataclass
class Replicas:
    """The running replicas, the workspace they serve and the database they share."""

    slack: SlackEmulator
    database_url: str
    processes: list[BotProcess]
    socket_mode: bool

    @property
    def alive(self) -> list[BotProcess]:
        return [p for p in self.processes if p.process.returncode is None]

    def logs(self) -> str:
        """Every replica's log, for a failing assertion's message."""
        return "\n".join(
            f"--- replica {index} (pid {p.process.pid}) ---\n" + "\n".join(p.log)
            for index, p in enumerate(self.processes)
        )

    def deliver_round_robin(self) -> None:
        """HTTP requests go to the live replicas in turn."""
        if not self.socket_mode:
            self.slack.deliver_to(*(p.url + EVENTS_PATH for p in self.alive))

    @contextlib.contextmanager
    def only_to(self, process: BotProcess) -> Iterator[None]:
        """Deliver to one replica inside the block (a load balancer's choice), then in turn."""
        self.slack.deliver_to(process.url + EVENTS_PATH)
        try:
            yield
        finally:
            self.deliver_round_robin()

    def other_than(self, process: BotProcess) -> BotProcess:
        return next(p for p in self.alive if p is not process)

    def kill(self, process: BotProcess) -> None:
        """SIGKILL one replica; the load balancer stops sending it requests."""
        process.kill()
        self.slack.deliver_to(*(p.url + EVENTS_PATH for p in self.alive if p is not process))

    async def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.database_url) as connection:
            cursor = await connection.execute(sql, params)
            return list(await cursor.fetchall())

    async def notes(self) -> list[tuple[str, str]]:
        rows = await self.query("SELECT title, body FROM notes ORDER BY id")
        return [(title, body) for title, body in rows]

    async def owner_of(self, conversation: str, timeout: float = 20) -> BotProcess:
        """The replica running the conversation's item now (its worker row names the pid)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            rows = await self.query(
                "SELECT w.pid FROM inbox i JOIN workers w ON w.id = i.owner"
                " WHERE i.conversation = %s AND i.status = 'running'",
                conversation,
            )
            pids = {pid for (pid,) in rows}
            owners = [p for p in self.processes if p.process.pid in pids]
            if owners:
                return owners[0]
            if loop.time() > deadline:
                raise AssertionError(f"nothing runs {conversation}:\n{self.logs()}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def replicas(
    slack: SlackEmulator, workdir: Path, database_url: str, count: int = 2, **env: str
) -> AsyncIterator[Replicas]:
    """Start `count` bot processes on one database at once, each on a port of its own (HTTP,
    round-robin), or each with its own connection (Socket Mode: SLACK_APP_TOKEN in `env`).
    At the end each is stopped with SIGTERM, as a deploy would."""
    socket_mode = "SLACK_APP_TOKEN" in env
    # Starts in seconds, not tens: compiled bytecode where the bench keeps it, even where the
    # environment says not to write any.
    env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(BYTECODE_CACHE), **env}
    async with contextlib.AsyncExitStack() as stack:
        starts = []
        for index in range(count):
            home = workdir / f"replica{index}"
            home.mkdir(parents=True, exist_ok=True)
            starts.append(spawn_bot(home, bot_environment(slack, home, database_url, **env), READY))
        processes: list[BotProcess] = []
        if not (BYTECODE_CACHE.is_dir() and any(BYTECODE_CACHE.iterdir())):
            # A cold cache: one compiles it first; several at once on two cores take minutes.
            processes.append(await stack.enter_async_context(starts[0]))
        late = starts[len(processes) :]
        results = await asyncio.gather(*(s.__aenter__() for s in late), return_exceptions=True)
        for start, result in zip(late, results, strict=True):
            if isinstance(result, BotProcess):
                stack.push_async_exit(start)
                processes.append(result)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        running = Replicas(slack, database_url, processes, socket_mode)
        if socket_mode:
            await slack.wait_until(lambda: slack.socket_connections == count, timeout=20)
        else:
            running.deliver_round_robin()
        yield running
