"""Chaos: the real bot under a seeded mixed workload, interrupted once by SIGKILL or SIGTERM.

Countersign promises that nothing Slack was told "received" is lost and nothing is done twice,
whenever the process dies (DESIGN §4 rules 7–10, issue 10). This drives `python -m bot` (HTTP
mode, the offline demo model) from the emulator as people would: mentions that start threads in
a few channels, follow-ups sent while the answer before them still streams, writes approved by
someone else or denied with a reason, questions answered in the thread, and the duplicate
deliveries Slack makes. At a seeded moment the bot is killed (`kill`) or sent SIGTERM as in a
deploy (`term`), then started again on the same database and port. Events whose delivery failed
meanwhile are retried as Slack retries them (same event_id, retry headers); a click that failed
is clicked again if its button is still there, as a person who saw the error would.

With `replicas=2` (PostgreSQL) two bot processes share one database behind a round-robin
balancer: one of them, picked by the seed, is killed or sent SIGTERM and started again later,
while the other keeps serving (see `ReplicaRun`). The dead replica's running items wait for
the survivor's next heartbeat (at most 10 s) or for the restarted replica, whichever is first.

When Slack has been quiet for a while, `check` counts what people lost, from what they see in
Slack and from the notes table (see `COUNTS`). `run_chaos(ChaosConfig(seed, mode))` returns a
`ChaosResult`; tests/test_chaos.py runs a few seeds, `python -m bench.chaos` many.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import sqlite3
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import psycopg

from bench.launch import BYTECODE_CACHE, free_port
from playground.slack import SlackEmulator
from playground.slack.records import Delivery, JSONObject, Message
from tests.bot_process import BotProcess, bot_process
from tests.postgres_server import PostgresServer, running_server

Mode = Literal["kill", "term"]
MODES: tuple[Mode, ...] = ("kill", "term")
DatabaseKind = Literal["sqlite", "postgres"]
Kind = Literal["chat", "save", "remind"]
KINDS: tuple[Kind, ...] = ("chat", "save", "remind")
"""A question and follow-ups; a note to approve or deny; a reminder that asks when first."""
Check = Literal[
    "lost_mentions",
    "duplicate_answers",
    "lost_pauses",
    "wrong_cards",
    "double_writes",
    "stuck_messages",
]
COUNTS: tuple[Check, ...] = (
    "lost_mentions",
    "duplicate_answers",
    "lost_pauses",
    "wrong_cards",
    "double_writes",
    "stuck_messages",
)
"""What `check` counts, each from what people see once all is quiet:

- lost_mentions: a person's message that Slack was told "received" (a mention, a follow-up, the
  reply to a question) with no complete answer in its thread: the demo model's exact final
  sentence, in a message with no Stop or Retry button, no status line and no ⚠️/⏹ line.
- duplicate_answers: an answer complete twice, a cut-off copy left beside the complete answer,
  an answer nobody asked for (in a thread that lost nothing), or a card or question posted twice.
- lost_pauses: a write the model proposed (its words show) with no card; a question the model
  asked ("Waiting for an answer") that never appeared; a decision (the card shows the verdict)
  whose continuation never completed.
- wrong_cards: a card that says Approved/Edited when the note is not in the table, Denied/Expired
  when it is, still shows its buttons after its decision was acked (or after the thread moved
  on or the write ran), or lost its buttons without saying what happened.
- double_writes: a note saved more than once, or saved although it was denied or never approved.
- stuck_messages: any bot message still showing a Stop button or an in-progress line
  (`STATUS_LINES`, "Paused for a restart" among them).
"""

BOT = "UBOT"
PEOPLE = ("UALICE", "UBOB", "UCAROL", "UDAVE")
CHANNELS = ("C0GENERAL", "G0PRIVATE", "C0OPS", "C0DESIGN")
APPROVE, DENY = "countersign_approve", "countersign_deny"
STOP, RETRY = "countersign_stop", "countersign_retry"

# What the demo model says (agent/demo_planner.py), as people read it in Slack.
HELP_OPENING = "I'm the offline demo model, so I can't really answer that"
HELP_ENDING = "for real answers."
ASKED_FOOTER = "Waiting for an answer ↓"
PROPOSED_FOOTER = "Waiting for approval ↓"
STATUS_LINES = (
    "Thinking…",
    "Continuing…",
    "Noted…",
    "Paused for a restart",
    "Searching notes…",
    "Saving the note…",
    "⚙️ Running",
)
"""Lines that say an answer is still in progress; none may be left once all is quiet."""
UNFINISHED_MARKS = ("⚠️", "⏹ Stopped", "(no answer)")
"""An answer showing one of these ended without its text: interrupted, stopped or failed."""

# Words for topics: saves and reminders use one pool, searches another, so a search never
# finds a note and its answer stays "I found no notes about …" (LIKE '%word%' on every note).
WRITE_WORDS = (
    "falcon", "harbor", "lantern", "meadow", "orchid", "pebble", "raven", "summit",
    "thistle", "willow", "ember", "glacier", "beacon", "canyon", "fjord", "grove",
    "kestrel", "lagoon", "marble", "nectar", "osprey", "prairie", "quill", "sparrow",
)  # fmt: skip
WRITE_KINDS = ("plan", "budget", "review", "launch", "retro", "roadmap")
SEARCH_WORDS = (
    "quartz", "zephyr", "nimbus", "walrus", "cobalt", "juniper", "saffron", "tundra",
    "velvet", "mosaic", "pylon", "sequoia", "bison", "cactus", "dolphin", "gecko",
    "iguana", "jaguar", "koala", "lemur", "mango", "narwhal", "okapi", "puffin",
    "quokka", "rhubarb", "sorrel", "tapir", "umber", "vortex", "wombat", "yarrow",
)  # fmt: skip
CHATTER = ("tell me a joke about {}", "translate {} into French", "how tall is a {}?")
WHEN = ("tomorrow at 10", "friday at 3pm", "next monday at 9")

MAX_CONVERSATIONS = 8
POLL_SECONDS = 0.05
HEALTH_POLL_SECONDS = 0.25
DECISION_WAIT_SECONDS = 15.0
SLACK_RETRIES = 3
"""Slack retries a failed event three times (immediately, after 1 min, after 5 min)."""
PERSISTENCE = 4
"""How many times a person clicks a button (or submits a modal) that showed them an error."""
LOG_TAIL = 40


# ── configuration and results ───────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ChaosConfig:
    """One run: the seed decides the workload and the moment of the interrupt."""

    seed: int
    mode: Mode
    conversations: int = 6
    spread_seconds: float = 5.0
    """Conversations start over this many seconds."""
    shutdown_grace_seconds: float = 2.0
    """SHUTDOWN_GRACE_SECONDS for the bot: short, so SIGTERM lands on answers still running."""
    quiet_seconds: float = 3.0
    """After the restart, Slack unchanged this long (and the bot idle) means nothing more
    will happen…"""
    patience_seconds: float = 8.0
    """…but not before this long after it: a fresh process is slow to its first answer."""
    settle_limit_seconds: float = 90.0
    """The most a run waits after the restart, however busy Slack stays."""
    bot_source: Path | None = None
    """Run the bot from another checkout (e.g. an older commit) instead of this one."""
    replicas: int = 1
    """Bot processes on one database; with more than one, one of them is interrupted and
    restarted while the others keep serving (needs PostgreSQL)."""
    database: DatabaseKind = "sqlite"

    def __post_init__(self) -> None:
        if not 1 <= self.conversations <= MAX_CONVERSATIONS:
            raise ValueError(f"conversations must be 1..{MAX_CONVERSATIONS} (the topic pools)")
        if self.replicas < 1:
            raise ValueError("at least one replica")
        if self.replicas > 1 and self.database != "postgres":
            raise ValueError("replicas share one database: that needs database='postgres'")


@dataclass(frozen=True)
class Finding:
    """One thing people would see go wrong."""

    check: Check
    where: str
    """The thread ("C0OPS/1700000000.000300"), or "notes" for the notes table."""
    what: str


@dataclass
class ChaosResult:
    """What one run did and found; `report()` is what a failing test prints."""

    config: ChaosConfig
    tokens_per_second: int
    interrupted_at: float
    """Seconds into the workload."""
    moment: str
    """What was going on at the interrupt, as people saw it."""
    down_seconds: float
    """From the signal until the next bot (the same replica again) was ready (SIGTERM's drain
    included)."""
    findings: list[Finding]
    threads: dict[str, str]
    """What people see in each thread, by where it is ("C0OPS/1700000000.000300")."""
    stats: Counter[str]
    timings: dict[str, float]
    """Seconds each bot took to start, and how long the run went on after the restart."""
    logs: list[tuple[str, list[str]]]
    """Each bot process's log, by name ("first", "second"; "replica 2, after the restart")."""
    victim: str = ""
    """Which replica was interrupted ("" with one process)."""
    impatient: list[str] = field(default_factory=list)
    """Where the workload gave up too early (see Snapshot.impatient): not a clean run."""

    def counts(self) -> dict[Check, int]:
        found = Counter(finding.check for finding in self.findings)
        return {check: found[check] for check in COUNTS}

    @property
    def ok(self) -> bool:
        return not self.findings and not self.impatient

    def summary(self) -> str:
        counts = " ".join(f"{name}={n}" for name, n in self.counts().items())
        where = f", {self.victim}" if self.victim else ""
        next_bot = "it was back" if self.victim else "the next bot ready"
        return (
            f"chaos seed {self.config.seed}, mode {self.config.mode}{where}: interrupted "
            f"{self.interrupted_at:.1f} s into the workload ({self.moment}), {next_bot} "
            f"{self.down_seconds:.1f} s after the signal, demo model at "
            f"{self.tokens_per_second} tokens/s\n"
            f"  {counts}\n  {_stats_line(self.stats)}{self._taken_over()}\n  "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items())
        )

    def taken_over(self) -> dict[str, int]:
        """Items each bot process said it took over from a stopped one (from its log)."""
        return {name: taken_over(log) for name, log in self.logs if taken_over(log)}

    def _taken_over(self) -> str:
        found = self.taken_over()
        if not found:
            return "; no bot took items over"
        return "; items taken over: " + ", ".join(f"{n} by {name}" for name, n in found.items())

    def report(self) -> str:
        """The seed, the mode, the moment, each bad thread as people see it, and every log."""
        lines = [self.summary(), f"  rerun: {rerun_command(self.config)}", ""]
        if self.impatient:
            lines += [f"inconclusive: {line}" for line in self.impatient] + [""]
        by_place: dict[str, list[Finding]] = {}
        for finding in self.findings:
            by_place.setdefault(finding.where, []).append(finding)
        for where, found in by_place.items():
            lines.append(f"{where}:")
            lines.extend(f"  {f.check}: {f.what}" for f in found)
            if where in self.threads:
                lines.append("  what people see:")
                lines.append(self.threads[where])
            lines.append("")
        for name, log in self.logs:
            lines.append(f"--- the {name} bot's log, last {LOG_TAIL} lines ---")
            lines.extend(log[-LOG_TAIL:])
        return "\n".join(lines)


def rerun_command(config: ChaosConfig) -> str:
    where = f" --replicas {config.replicas}" if config.replicas > 1 else ""
    if config.replicas == 1 and config.database != "sqlite":
        where = f" --database {config.database}"
    return (
        f"uv run python -m bench.chaos --runs 1 --mode {config.mode} --seed {config.seed} "
        f"--conversations {config.conversations}{where} --reports"
    )


TAKEN_OVER = re.compile(r"continuing (\d+) item\(s\) a stopped process left")
"""bot.conversations logs this when it queues again what a stopped process was running."""


def taken_over(log: list[str]) -> int:
    return sum(int(match.group(1)) for line in log if (match := TAKEN_OVER.search(line)))


def _stats_line(stats: Counter[str]) -> str:
    return (
        f"people sent {stats['sent']} messages ({stats['acked']} acked, {stats['owed']} owed an "
        f"answer); {stats['failed']} deliveries failed, {stats['redelivered']} events "
        f"redelivered, {stats['clicked_again']} clicks or submits repeated after an error, "
        f"{stats['duplicates']} duplicate deliveries; {stats['decided']} cards decided"
    )


# ── what the people sent and are owed ───────────────────────────────────────────────────────


@dataclass
class Ack:
    """Whether Slack got a 2xx for something (a retry may set it later)."""

    acked: bool = False


@dataclass
class Said:
    """A person's message and the events Slack delivered for it (first attempts)."""

    user: str
    text: str
    ts: str
    envelopes: list[JSONObject] = field(default_factory=list)
    ack: Ack = field(default_factory=Ack)


@dataclass(frozen=True)
class Expected:
    """An answer someone is owed: found by `opening`, complete once it shows `ending`.

    Owed only if Slack was told "received" (`ack`); an answer to a message that was never
    acked may be missing, but never doubled.
    """

    opening: str
    ending: str
    why: str
    ack: Ack
    lost_as: Check = "lost_mentions"
    after_card: str | None = None
    """The title of the card this answer follows (a decision's continuation)."""


@dataclass
class Decision:
    """What a person decided on the card for `title`."""

    title: str
    choice: Literal["approve", "deny"]
    by: str
    reason: str
    ack: Ack = field(default_factory=Ack)


@dataclass
class Conversation:
    """One Slack thread of the workload and everything owed in it."""

    index: int
    kind: Kind
    channel: str
    starter: str
    thread_ts: str = ""
    answers: list[Expected] = field(default_factory=list)
    questions: list[Expected] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)
    """Titles of the notes the model will propose, each owed a card once proposed."""
    decisions: dict[str, Decision] = field(default_factory=dict)
    gave_up_on: list[str] = field(default_factory=list)
    """What people stopped waiting for (a card's title line, a question) when all was quiet."""

    @property
    def where(self) -> str:
        return f"{self.channel}/{self.thread_ts}"


def help_answer() -> tuple[str, str]:
    return HELP_OPENING, HELP_ENDING


def search_answer(query: str) -> tuple[str, str]:
    return f"about “{query}”", f"I found no notes about “{query}”."


def proposal_answer(title: str) -> tuple[str, str]:
    opening = f"I'll save a note titled “{title}”"
    return opening, f"{opening} so the team can find it later."


def reminder_answer(title: str) -> tuple[str, str]:
    opening = f"I'll save a reminder titled “{title}”"
    return opening, f"Thanks! {opening} so it isn't forgotten."


def saved_answer(title: str) -> tuple[str, str]:
    return f"saved the note “{title}”", f"Done — saved the note “{title}”."


def denied_answer(reason: str) -> tuple[str, str]:
    return "I did not save the note", f"Okay, I did not save the note. Reason given: {reason}."


def question_for(topic: str) -> str:
    return f"When is the {topic}, and when should I remind you?"


# ── watching Slack ──────────────────────────────────────────────────────────────────────────


class InboxProbe:
    """Counts the open items of the bots' inbox in PostgreSQL (queued, or running)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def open_items(self) -> int:
        """0 before the first bot made the table, and whenever the database cannot say."""
        try:
            if self._connection is None or self._connection.closed:
                self._connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            cursor = await self._connection.execute(
                "SELECT count(*) FROM inbox WHERE status IN ('queued', 'running')"
            )
            row = await cursor.fetchone()
        except psycopg.Error:
            return 0
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


class Watch:
    """What everyone waits on: whether the bot is up, and when Slack last changed.

    Before the restart people wait as long as it takes. After it, nothing more will come once
    Slack has been unchanged for a while and the bot's /healthz reports no running jobs: quiet
    alone is not enough, as the bot may be waiting out its own rate limits (decision cards
    are edited at most 8 a minute) with work still queued. With several replicas every one
    must say so, and on PostgreSQL the inbox must hold nothing queued or running either: an
    item a dead replica was running waits, with nothing to see, for a heartbeat to free it.
    """

    def __init__(
        self, slack: SlackEmulator, config: ChaosConfig, inbox: InboxProbe | None = None
    ) -> None:
        self.slack = slack
        self.config = config
        self.inbox = inbox
        self.up = asyncio.Event()
        self.restarted_at: float | None = None
        self.busy = False
        """A bot's last /healthz said it has jobs running, or the inbox holds open items."""
        self.stalls: list[tuple[float, float]] = []
        """(start, seconds) of each stretch when the inbox held work and no bot ran any: a
        dead replica's items wait so for a heartbeat; anywhere else, it is slow to notice."""
        self._stalled_since: float | None = None
        self._signature: tuple[int, ...] = ()
        self.changed_at = self.now()
        """When Slack last changed (messages, edits, modals, deliveries), on the loop's clock."""
        self._health: asyncio.Task[None] | None = None

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def restarted(self, *urls: str) -> None:
        """The interrupted bot is ready again: events may flow, and the bots' health is
        watched (at `urls`, unless `watch_health` already watches them)."""
        self.restarted_at = self.now()
        self.up.set()
        if self._health is None:
            self.watch_health(lambda: urls)

    def watch_health(self, urls: Callable[[], Sequence[str]]) -> None:
        """Poll the /healthz of the bots `urls()` names at each moment (and the inbox)."""
        self._health = asyncio.create_task(self._watch_health(urls))

    def longest_stall(self, *, after: float | None = None, before: float | None = None) -> float:
        """The longest stall that started in [after, before)."""
        return max(
            (
                seconds
                for start, seconds in self.stalls
                if (after is None or start >= after) and (before is None or start < before)
            ),
            default=0.0,
        )

    async def close(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
        if self.inbox is not None:
            await self.inbox.close()

    def settled(self) -> bool:
        """After the restart: quiet and idle long enough, or out of patience."""
        self._notice_changes()
        if self.restarted_at is None:
            return False
        since_restart, quiet = self.now() - self.restarted_at, self.now() - self.changed_at
        if since_restart >= self.config.settle_limit_seconds:
            return True
        return (
            since_restart >= self.config.patience_seconds
            and quiet >= self.config.quiet_seconds
            and not self.busy
        )

    async def until(self, predicate: Callable[[], object]) -> bool:
        """Wait for `predicate`; False once settled without it (a LookupError is "not yet")."""
        while True:
            with contextlib.suppress(LookupError):
                if predicate():
                    return True
            if self.settled():
                return False
            await asyncio.sleep(POLL_SECONDS)

    async def bot_up(self) -> bool:
        return await self.until(self.up.is_set)

    async def settle(self) -> None:
        await self.until(lambda: False)

    async def _watch_health(self, urls: Callable[[], Sequence[str]]) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                running = any([await self._busy(session, url) for url in urls()])
                queued = self.inbox is not None and await self.inbox.open_items() > 0
                self.busy = running or queued
                self._note_stall(queued and not running)
                await asyncio.sleep(HEALTH_POLL_SECONDS)

    def _note_stall(self, stalled: bool) -> None:
        if stalled and self._stalled_since is None:
            self._stalled_since = self.now()
        elif not stalled and self._stalled_since is not None:
            self.stalls.append((self._stalled_since, self.now() - self._stalled_since))
            self._stalled_since = None

    @staticmethod
    async def _busy(session: aiohttp.ClientSession, url: str) -> bool:
        try:
            async with session.get(url + "/healthz") as response:
                body = await response.json()
            return int(body.get("running_jobs") or 0) > 0
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
            return False  # a bot that cannot say is judged by Slack alone

    def _notice_changes(self) -> None:
        ws = self.slack.workspace
        messages = ws.messages.values()
        signature = (
            len(ws.messages),
            sum(len(m.versions) for m in messages),
            sum(m.deleted for m in messages),
            len(ws.views),
            len(ws.ephemerals),
            len(self.slack.deliveries),
        )
        if signature != self._signature:
            self._signature = signature
            self.changed_at = self.now()


# ── Slack's side of delivery: retries, and people who click again ──────────────────────────


class SlackSide:
    """Delivers what people do to a bot that may be down, as Slack and people would."""

    def __init__(self, slack: SlackEmulator, watch: Watch, stats: Counter[str]) -> None:
        self.slack = slack
        self.watch = watch
        self.stats = stats
        self._background: set[asyncio.Task[None]] = set()
        self.said: list[Said] = []
        self.decision_acked = asyncio.Event()
        """Set whenever Slack acks a decision (an Approve click, a Deny modal's submit)."""

    async def say(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> Said:
        """Post; events that failed are retried in the background (same event_id)."""
        message, _ = await self.slack.user_says(user, channel, text, thread_ts=thread_ts)
        said = Said(user, text, message.ts)
        self.said.append(said)
        for envelope, delivery in self._first_deliveries(channel, message.ts):
            said.envelopes.append(envelope)
            if delivery.ok:
                said.ack.acked = True
            else:
                self.stats["failed"] += 1
                self.spawn(self._retry(said, envelope, delivery))
        return said

    def duplicate(self, said: Said, delay: float, pick: int) -> None:
        """Deliver one of its events again later, as Slack does when an ack came late."""

        async def again() -> None:
            await asyncio.sleep(delay)
            if not said.ack.acked or not await self.watch.bot_up():
                return
            envelope = said.envelopes[pick % len(said.envelopes)]
            await self._deliver(envelope, 1, "http_timeout")
            self.stats["duplicates"] += 1

        self.spawn(again())

    async def click(self, user: str, channel: str, ts: str, action: str) -> bool:
        """Click while the button shows; an error makes the person click again later."""
        for attempt in range(PERSISTENCE):
            if attempt and not await self.watch.bot_up():
                return False
            if not shows_button(self.slack, channel, ts, action):
                return False
            try:
                delivery = await self.slack.click(user, channel, ts, action)
            except AssertionError:  # the button went away between the look and the click
                return False
            if delivery.ok:
                return True
            self.stats["failed"] += 1
            self.stats["clicked_again"] += 1
            await asyncio.sleep(0.5)
        return False

    async def submit(self, user: str, view_id: str, values: dict[str, Any]) -> bool:
        """Press Submit while the modal is open; a failed submit leaves it open to try again."""
        for attempt in range(PERSISTENCE):
            if attempt and not await self.watch.bot_up():
                return False
            try:
                delivery = await self.slack.submit_view(user, view_id, values)
            except AssertionError:  # closed meanwhile (another modal replaced it)
                return False
            if delivery.ok:
                return True
            self.stats["failed"] += 1
            self.stats["clicked_again"] += 1
            await asyncio.sleep(0.5)
        return False

    def tally(self, workload: Workload) -> Counter[str]:
        """How many messages were sent and acked, and how many answers were owed."""
        owed = [e for c in workload.conversations for e in c.answers + c.questions]
        return Counter(
            sent=len(self.said),
            acked=sum(said.ack.acked for said in self.said),
            owed=sum(e.ack.acked for e in owed if e.after_card is None),
        )

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def finish(self) -> None:
        """Let every retry and duplicate delivery end (each gives up once settled)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def cancel(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _retry(self, said: Said, envelope: JSONObject, failed: Delivery) -> None:
        reason = retry_reason(failed)
        for attempt in range(1, SLACK_RETRIES + 1):
            if not await self.watch.bot_up():
                return
            delivery = await self._deliver(envelope, attempt, reason)
            self.stats["redelivered"] += 1
            if delivery.ok:
                said.ack.acked = True
                return
            reason = retry_reason(delivery)
            await asyncio.sleep(1)

    async def _deliver(self, envelope: JSONObject, retry_num: int, reason: str) -> Delivery:
        return await self.slack.deliver_event(
            envelope["event"],
            event_id=envelope["event_id"],
            retry_num=retry_num,
            retry_reason=reason,
        )

    def _first_deliveries(self, channel: str, ts: str) -> list[tuple[JSONObject, Delivery]]:
        """The first delivery of each event about this message (Slack sends one or two)."""
        found: dict[str, tuple[JSONObject, Delivery]] = {}
        for payload, delivery in self.slack.deliveries:
            event = payload.get("event") or {}
            if event.get("ts") == ts and event.get("channel") == channel:
                found.setdefault(str(payload["event_id"]), (payload, delivery))
        return list(found.values())


def retry_reason(delivery: Delivery) -> str:
    """Slack's X-Slack-Retry-Reason for a failed delivery."""
    if delivery.status == 0:
        return "http_timeout" if not delivery.body else "connection_failed"
    return "http_error"


def shows_button(slack: SlackEmulator, channel: str, ts: str, action: str) -> bool:
    with contextlib.suppress(KeyError):
        message = slack.message(channel, ts)
        return not message.deleted and any(b.get("action_id") == action for b in message.buttons())
    return False


# ── the workload ────────────────────────────────────────────────────────────────────────────


@dataclass
class Workload:
    """Everything the people do in one run, and what they are owed for it."""

    slack: SlackEmulator
    side: SlackSide
    watch: Watch
    seed: int
    conversations: list[Conversation] = field(default_factory=list)

    async def play(self, count: int, spread: float) -> None:
        """All conversations at once, each starting at its seeded moment."""
        rng = random.Random(f"{self.seed}:topics")
        writes = [f"{word} {rng.choice(WRITE_KINDS)}" for word in rng.sample(WRITE_WORDS, count)]
        searches = rng.sample(SEARCH_WORDS, min(len(SEARCH_WORDS), count * 4))
        plays = []
        for index in range(count):
            crng = random.Random(f"{self.seed}:{index}")
            kind = crng.choices(KINDS, weights=(4, 4, 3))[0]
            conversation = Conversation(index, kind, crng.choice(CHANNELS), crng.choice(PEOPLE))
            self.conversations.append(conversation)
            words = searches[index * 4 : index * 4 + 4]
            plays.append(
                self._play(conversation, crng, crng.uniform(0, spread), writes[index], words)
            )
        await asyncio.gather(*plays)

    async def _play(
        self, conv: Conversation, rng: random.Random, start: float, topic: str, words: list[str]
    ) -> None:
        await asyncio.sleep(start)
        if conv.kind == "chat":
            await self._chat(conv, rng, words)
        elif conv.kind == "save":
            await self._save(conv, rng, topic)
        else:
            await self._remind(conv, rng, topic)

    async def _chat(self, conv: Conversation, rng: random.Random, words: list[str]) -> None:
        """A question, then follow-ups sent while the answer before them still streams."""
        await self._say(conv, rng, conv.starter, *self._chatter(rng, words[0]))
        for word in words[1 : 1 + rng.randint(0, 2)]:
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            user, mention = rng.choice(PEOPLE), rng.random() < 0.5
            await self._say(conv, rng, user, *self._chatter(rng, word), mention=mention)

    @staticmethod
    def _chatter(rng: random.Random, word: str) -> tuple[str, tuple[str, str]]:
        if rng.random() < 0.5:
            return f"what did I save about {word}?", search_answer(word)
        return rng.choice(CHATTER).format(word), help_answer()

    async def _save(self, conv: Conversation, rng: random.Random, topic: str) -> None:
        title = topic[:1].upper() + topic[1:]
        conv.cards.append(title)
        asked = f"save a note about {topic}"
        await self._say(conv, rng, conv.starter, asked, proposal_answer(title))
        await self._decide(conv, rng, title)

    async def _remind(self, conv: Conversation, rng: random.Random, topic: str) -> None:
        """A reminder with no time: the model asks the asker, whose reply answers it."""
        question = question_for(topic)
        said = await self._say(conv, rng, conv.starter, f"remind me about the {topic}", None)
        conv.questions.append(Expected(question, question, f"the question for {topic!r}", said.ack))
        if not await self.watch.until(lambda: find_messages(self.slack, conv, question)):
            conv.gave_up_on.append(question)
            return
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        title = f"Reminder: the {topic}"
        conv.cards.append(title)
        when = rng.choice(WHEN)
        await self._say(conv, rng, conv.starter, when, reminder_answer(title), reply=True)
        await self._decide(conv, rng, title)

    async def _say(
        self,
        conv: Conversation,
        rng: random.Random,
        user: str,
        text: str,
        owed: tuple[str, str] | None,
        *,
        mention: bool = True,
        reply: bool = False,
    ) -> Said:
        """Post in the conversation (its first message starts the thread), note what is owed,
        and now and then have Slack deliver it twice."""
        words = f"<@{BOT}> {text}" if mention and not reply else text
        thread = conv.thread_ts or None
        said = await self.side.say(user, conv.channel, words, thread)
        conv.thread_ts = conv.thread_ts or said.ts
        if owed is not None:
            kind = "reply" if thread else "mention"
            conv.answers.append(Expected(*owed, f"{kind} {text!r} by {user}", said.ack))
        if rng.random() < 0.35:
            self.side.duplicate(said, rng.uniform(0, 3), rng.randrange(2))
        return said

    async def _decide(self, conv: Conversation, rng: random.Random, title: str) -> None:
        """When the card shows, someone else approves it or denies it with a reason."""
        if not await self.watch.until(lambda: live_card(self.slack, conv, title)):
            conv.gave_up_on.append(card_line(title))
            return
        await asyncio.sleep(rng.uniform(0.3, 2.0))
        by = rng.choice([p for p in PEOPLE if p != conv.starter])
        if rng.random() < 0.6:
            decision = Decision(title, "approve", by, "")
            conv.decisions[title] = decision
            decision.ack.acked = await self._approve(conv, decision)
            conv.answers.append(self._continuation(decision, saved_answer(title)))
        else:
            reason = f"we keep the {title.lower()} in the wiki"
            decision = Decision(title, "deny", by, reason)
            conv.decisions[title] = decision
            decision.ack.acked = await self._deny(conv, decision)
            conv.answers.append(self._continuation(decision, denied_answer(reason)))
        if decision.ack.acked:
            self.side.stats["decided"] += 1
            self.side.decision_acked.set()

    @staticmethod
    def _continuation(decision: Decision, owed: tuple[str, str]) -> Expected:
        why = f"{decision.choice} of “{decision.title}” by {decision.by}"
        return Expected(*owed, why, decision.ack, "lost_pauses", decision.title)

    async def _approve(self, conv: Conversation, decision: Decision) -> bool:
        card = live_card(self.slack, conv, decision.title)
        if card is None:
            return False
        return await self.side.click(decision.by, conv.channel, card.ts, APPROVE)

    async def _deny(self, conv: Conversation, decision: Decision) -> bool:
        """Deny opens a modal; the reason goes in it. No modal (the bot died before opening it)
        or a modal that closed: click Deny again while the card still offers it."""
        values = {"reason": {"reason": {"type": "plain_text_input", "value": decision.reason}}}
        for _ in range(PERSISTENCE):
            card = live_card(self.slack, conv, decision.title)
            if card is None:
                return False
            value = card.button(DENY)["value"]
            if not await self.side.click(decision.by, conv.channel, card.ts, DENY):
                return False
            opened = await self._modal(decision.by, value)
            if opened is not None:
                return await self.side.submit(decision.by, opened, values)
        return False

    async def _modal(self, user: str, value: str) -> str | None:
        """The deny modal the bot opened for this card, if it opens within a few seconds."""

        def opened() -> str | None:
            for entry in reversed(self.slack.views):
                meta = entry["view"].get("private_metadata")
                if entry["open"] and entry["user"] == user and meta == value:
                    return str(entry["view_id"])
            return None

        deadline = self.watch.now() + 5
        await self.watch.until(lambda: opened() or self.watch.now() > deadline)
        return opened()


def find_messages(slack: SlackEmulator, conv: Conversation, text: str) -> list[Message]:
    """The bot's messages in the conversation's thread that show `text`."""
    return [m for m in bot_messages(slack, conv) if text in m.visible_text()]


def bot_messages(slack: SlackEmulator, conv: Conversation) -> list[Message]:
    if not conv.thread_ts:
        return []
    return slack.bot_messages(conv.channel, conv.thread_ts)


def live_card(slack: SlackEmulator, conv: Conversation, title: str) -> Message | None:
    """The newest card for `title` that still offers its buttons."""
    cards = [m for m in find_messages(slack, conv, card_line(title)) if is_card(m.visible_text())]
    live = [m for m in cards if any(b.get("action_id") == APPROVE for b in m.buttons())]
    return live[-1] if live else None


def card_line(title: str) -> str:
    """How a card shows the note's title (a line: label, then value)."""
    return f"*Title:* {title}\n"


def is_card(text: str) -> bool:
    return "Approval needed" in text


# ── the run ─────────────────────────────────────────────────────────────────────────────────


def bot_environment(
    config: ChaosConfig, port: int, tokens_per_second: int, database_url: str
) -> dict[str, str]:
    """Settings for every process: the same port for a bot and its restart, the database they
    all share, the demo model at a pace a kill can land in."""
    env = {
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "DEMO_TOKENS_PER_SECOND": str(tokens_per_second),
        "SHUTDOWN_GRACE_SECONDS": str(config.shutdown_grace_seconds),
        # Starts in seconds, not tens of seconds: keep compiled bytecode where the bench does.
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(BYTECODE_CACHE),
    }
    if config.bot_source is not None:
        env["PYTHONPATH"] = str(config.bot_source.resolve())
    return env


def setup_workspace(slack: SlackEmulator) -> None:
    """Four people, four conversations the bot is in (a private one among them)."""
    slack.add_user("UDAVE", "dave")
    slack.add_channel("C0OPS", "ops")
    slack.add_channel("C0DESIGN", "design")
    for channel in ("C0GENERAL", "G0PRIVATE"):
        slack.join(channel, "UDAVE")


async def run_chaos(
    config: ChaosConfig, workdir: Path | None = None, postgres: PostgresServer | None = None
) -> ChaosResult:
    """One run: start the bot(s), play the workload, interrupt once, restart, settle, check.

    On PostgreSQL each run gets a database of its own on `postgres`, or on a server started
    for this run alone when none is given."""
    async with contextlib.AsyncExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        database_url = f"sqlite:///{workdir / 'countersign.db'}"
        if config.database == "postgres":
            if postgres is None:
                postgres = stack.enter_context(running_server())
            database_url = postgres.new_database()
        return await _run(config, workdir, database_url)
    raise AssertionError("unreachable")  # mypy: AsyncExitStack may swallow exceptions


async def _run(config: ChaosConfig, workdir: Path, database_url: str) -> ChaosResult:
    async with SlackEmulator() as slack:
        setup_workspace(slack)
        kind = Run if config.replicas == 1 else ReplicaRun
        run = kind(config, slack, workdir, database_url)
        try:
            seen = await run.play()
        finally:
            await run.close()
    return run.result(seen, read_notes(database_url))


@dataclass(frozen=True)
class Moments:
    """The seeded timeline: the model's pace, when to interrupt, how long to stay down."""

    tokens_per_second: int
    interrupt_at: float
    """Seconds after the workload started."""
    downtime: float
    """Seconds between the exit and the next start (which itself takes a few)."""
    after_decision: float | None
    """If set, the interrupt waits for the next decision Slack acks after `interrupt_at`, then
    this long: the narrow window where a decision is taken but not yet applied, which a
    moment picked at random rarely hits."""

    @classmethod
    def for_run(cls, config: ChaosConfig) -> Moments:
        rng = random.Random(config.seed)
        return cls(
            rng.choice((20, 30, 45, 60)),
            rng.uniform(0.5, config.spread_seconds + 6),
            rng.uniform(0, 1.5),
            rng.uniform(0, 0.6) if rng.random() < 0.4 else None,
        )


class Run:
    """One run's moving parts: the emulator, the two bot processes, the people, the clock."""

    def __init__(
        self, config: ChaosConfig, slack: SlackEmulator, workdir: Path, database_url: str
    ) -> None:
        self.config = config
        self.slack = slack
        self.workdir = workdir
        self.moments = Moments.for_run(config)
        self.env = bot_environment(
            config, free_port(), self.moments.tokens_per_second, database_url
        )
        inbox = InboxProbe(database_url) if config.database == "postgres" else None
        self.watch = Watch(slack, config, inbox)
        self.stats: Counter[str] = Counter()
        self.side = SlackSide(slack, self.watch, self.stats)
        self.workload = Workload(slack, self.side, self.watch, config.seed)
        self.timings: dict[str, float] = {}
        self.logs: list[tuple[str, list[str]]] = []
        self.victim = ""
        self.moment = ""
        self.ready_at = self.signalled_at = self.restarted_at = 0.0
        self._started = self.watch.now()
        self._playing: asyncio.Task[None] | None = None

    def elapsed(self) -> float:
        return self.watch.now() - self._started

    async def play(self) -> Snapshot:
        await self.first_life()
        return await self.second_life()

    async def first_life(self) -> None:
        """Start the bot and the workload; interrupt the bot at the seeded moment."""
        async with bot_process(self.slack, self.workdir, **self.env) as first:
            self.logs.append(("first", first.log))
            self.watch.up.set()
            self.ready_at = self.timings["first start"] = self.elapsed()
            self.start_workload()
            await asyncio.sleep(self.moments.interrupt_at)
            await self.note_the_moment()
            await interrupt(first, self.config.mode, self.watch)
            self.timings["exit after the signal"] = self.elapsed() - self.signalled_at

    def start_workload(self) -> None:
        conversations, spread = self.config.conversations, self.config.spread_seconds
        self._playing = asyncio.create_task(self.workload.play(conversations, spread))

    async def note_the_moment(self) -> None:
        """Just before the signal: wait for a decision if the seed says so; what people see."""
        self.moment = await self._just_after_a_decision() + describe_moment(self.slack)
        self.signalled_at = self.elapsed()

    async def _just_after_a_decision(self) -> str:
        """Wait for the next acked decision and then `after_decision` (if the seed says so)."""
        after = self.moments.after_decision
        if after is None:
            return ""
        self.side.decision_acked.clear()
        try:
            await asyncio.wait_for(self.side.decision_acked.wait(), DECISION_WAIT_SECONDS)
        except TimeoutError:
            return "no decision came to interrupt after; "
        await asyncio.sleep(after)
        return f"{after:.2f} s after a decision was acked; "

    async def second_life(self) -> Snapshot:
        """Start again on the same database and port; let everyone finish; look at Slack."""
        await asyncio.sleep(self.moments.downtime)
        spawned = self.elapsed()
        async with bot_process(self.slack, self.workdir, **self.env) as second:
            self.logs.append(("second", second.log))
            self.watch.restarted(second.url)
            self.restarted_at = self.elapsed()
            self.timings["second start"] = self.restarted_at - spawned
            return await self.finish()

    async def finish(self) -> Snapshot:
        """Everyone finishes, retries end, Slack settles: what people see now."""
        assert self._playing is not None
        await self._playing
        await self.side.finish()
        await self.watch.settle()
        self.timings["settled after"] = self.elapsed() - self.restarted_at
        last_change = self.watch.changed_at - self._started
        self.timings["last change after"] = last_change - self.restarted_at
        if self.watch.inbox is not None:
            restart = self._started + self.restarted_at
            before = self.watch.longest_stall(before=restart)
            self.timings["longest stall before the restart"] = before
            self.timings["after it"] = self.watch.longest_stall(after=restart)
        return snapshot(self.slack, self.workload)

    async def close(self) -> None:
        """Whatever is still going when the run ends early (an error): stop it."""
        if self._playing is not None and not self._playing.done():
            self._playing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._playing
        await self.side.cancel()
        await self.watch.close()

    def result(self, seen: Snapshot, notes: Counter[str]) -> ChaosResult:
        findings, threads = check(seen, self.workload, notes)
        self.stats.update(self.side.tally(self.workload))
        return ChaosResult(
            config=self.config,
            tokens_per_second=self.moments.tokens_per_second,
            interrupted_at=self.signalled_at - self.ready_at,
            moment=self.moment,
            down_seconds=self.restarted_at - self.signalled_at,
            findings=findings,
            threads=threads,
            stats=self.stats,
            timings=self.timings,
            logs=self.logs,
            victim=self.victim,
            impatient=seen.impatient,
        )


@dataclass(frozen=True)
class ReplicaMoments:
    """What the seed decides for a run with several replicas (drawn apart from `Moments`, so
    a seed's workload and moment are the same with one replica or several)."""

    victim: int
    """Which replica is interrupted (0-based)."""
    noticed_after: float
    """After a kill, how long the balancer still sends requests to the dead replica (they
    fail, and Slack retries them, to whichever replica is next, or people click again)."""
    downtime: float
    """Seconds between the exit and the restart: short, or past a heartbeat (10 s), so that
    sometimes the survivor takes the dead replica's items over before it is back."""

    @classmethod
    def for_run(cls, config: ChaosConfig) -> ReplicaMoments:
        rng = random.Random(f"{config.seed}:replicas")
        victim = rng.randrange(config.replicas)
        noticed_after = rng.uniform(0.5, 3.0)
        long = rng.random() < 0.5
        downtime = rng.uniform(11, 16) if long else rng.uniform(0, 1.5)
        return cls(victim, noticed_after, downtime)


class ReplicaRun(Run):
    """Several replicas on one PostgreSQL database behind a round-robin balancer; one is
    interrupted at the seeded moment and started again later, while the others keep serving.

    The balancer sends each request to the next live replica in turn. A killed replica stays
    in the turn for `noticed_after` (requests to it fail, as before a balancer's health check
    notices, and Slack retries them once it has); a replica sent SIGTERM stays in it until it
    exits, since it keeps accepting what reaches it while it drains (into the inbox, for any
    replica to run). A replica is back in the turn once it is ready again.

    Unlike nginx in deploy/nginx.conf, which resends a request that found no replica to the
    next one, this balancer lets it fail: Slack's retry (same event_id, to another replica)
    and the duplicate claims are then exercised too.
    """

    def __init__(
        self, config: ChaosConfig, slack: SlackEmulator, workdir: Path, database_url: str
    ) -> None:
        super().__init__(config, slack, workdir, database_url)
        self.replica_moments = ReplicaMoments.for_run(config)
        self.envs = [{**self.env, "PORT": str(free_port())} for _ in range(config.replicas)]
        self.urls: list[str | None] = [None] * config.replicas
        """Each replica's URL while it is in the balancer's turn."""
        self.victim = f"replica {self.replica_moments.victim + 1} of {config.replicas}"

    def balance(self) -> None:
        """Hand Slack's requests to the replicas in the turn, each in turn."""
        live = [url + "/slack/events" for url in self.urls if url is not None]
        self.slack.deliver_to(*live)

    @contextlib.asynccontextmanager
    async def replica(self, index: int, life: str) -> AsyncIterator[BotProcess]:
        """Replica `index` running, in the balancer's turn once ready; stopped on exit."""
        async with bot_process(self.slack, self.workdir, **self.envs[index]) as bot:
            self.logs.append((f"replica {index + 1}{life}", bot.log))
            self.urls[index] = bot.url
            self.balance()  # bot_process pointed Slack at this replica alone
            yield bot

    async def play(self) -> Snapshot:
        victim = self.replica_moments.victim
        async with contextlib.AsyncExitStack() as stack:
            bots = []
            for index in range(self.config.replicas):
                life = ", first life" if index == victim else ""
                bots.append(await stack.enter_async_context(self.replica(index, life)))
            self.watch.up.set()  # from now on some replica always is
            self.watch.watch_health(lambda: [url for url in self.urls if url is not None])
            self.ready_at = self.timings["replicas started"] = self.elapsed()
            self.start_workload()
            await asyncio.sleep(self.moments.interrupt_at)
            await self.note_the_moment()
            await self.interrupt(bots[victim])
            await asyncio.sleep(self.replica_moments.downtime)
            spawned = self.elapsed()
            await stack.enter_async_context(self.replica(victim, ", after the restart"))
            self.restarted_at = self.elapsed()
            self.timings["restart"] = self.restarted_at - spawned
            self.watch.restarted()
            return await self.finish()
        raise AssertionError("unreachable")  # mypy: AsyncExitStack may swallow exceptions

    async def interrupt(self, bot: BotProcess) -> None:
        """Signal one replica; take it out of the turn when the balancer would notice.

        Until then Slack's retries and people's second clicks wait (`Watch.up` is clear): a
        retry comes a minute later in Slack, long after any balancer noticed. New messages
        still go to whichever replica is next, the dead one included."""
        index, noticed_after = self.replica_moments.victim, self.replica_moments.noticed_after
        self.watch.up.clear()
        if self.config.mode == "kill":
            bot.kill()
            self.victim += f" (sent requests {noticed_after:.2f} s after the kill)"
            await asyncio.sleep(noticed_after)
            self.urls[index] = None
            self.balance()
            self.watch.up.set()
        else:
            bot.process.send_signal(signal.SIGTERM)
        await wait_for_exit(bot)
        self.urls[index] = None
        self.balance()
        self.watch.up.set()
        self.timings["exit after the signal"] = self.elapsed() - self.signalled_at


async def interrupt(bot: BotProcess, mode: Mode, watch: Watch) -> None:
    """SIGKILL, or SIGTERM (a deploy: the bot may drain first); returns once it exited."""
    watch.up.clear()
    if mode == "kill":
        bot.kill()
    else:
        bot.process.send_signal(signal.SIGTERM)
    await wait_for_exit(bot)


async def wait_for_exit(bot: BotProcess) -> None:
    """Until the process has exited; SIGKILL if a drain takes over a minute."""
    try:
        await asyncio.wait_for(bot.process.wait(), timeout=60)
    except TimeoutError:
        bot.kill()
        await bot.process.wait()


def describe_moment(slack: SlackEmulator) -> str:
    """What people saw in progress when the interrupt came."""
    live = [m for m in slack.workspace.messages.values() if m.bot_id and not m.deleted]
    streaming = sum(any(b.get("action_id") == STOP for b in m.buttons()) for m in live)
    cards = sum(any(b.get("action_id") == APPROVE for b in m.buttons()) for m in live)
    questions = sum("reply in this thread" in m.visible_text() for m in live)
    return f"{streaming} answers streaming, {cards} cards and {questions} questions open"


# ── checks ──────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Shown:
    """A bot message as people see it at the end."""

    ts: str
    text: str
    buttons: tuple[str, ...]

    @property
    def unfinished(self) -> bool:
        """Still in progress, or ended without its text (interrupted, stopped, failed)."""
        return (
            STOP in self.buttons
            or RETRY in self.buttons
            or any(mark in self.text for mark in STATUS_LINES + UNFINISHED_MARKS)
        )

    @property
    def kind(self) -> Literal["card", "question", "pointer", "footer", "answer"]:
        if is_card(self.text):
            return "card"
        if self.text.startswith("<@") and "when should I remind you?" in self.text:
            return "question"
        if self.text.startswith(("⏸ I'm waiting", "This conversation is busy")):
            return "pointer"
        if self.text in (ASKED_FOOTER, PROPOSED_FOOTER):
            return "footer"
        return "answer"

    def line(self) -> str:
        shown = self.text.replace("\n", "\n        ")
        buttons = f"  [buttons: {', '.join(self.buttons)}]" if self.buttons else ""
        return f"    bot: {shown}{buttons}"


def shown(message: Message) -> Shown:
    buttons = tuple(str(b.get("action_id")) for b in message.buttons())
    return Shown(message.ts, message.visible_text(), buttons)


@dataclass(frozen=True)
class Snapshot:
    """What people see once everything is quiet, taken before the bot is stopped."""

    threads: dict[int, list[Shown]]
    """Bot messages per conversation (by index), in thread order."""
    views: dict[int, str]
    """Each conversation's thread as text, for reports."""
    stuck: list[Finding]
    impatient: list[str]
    """Things the workload stopped waiting for that came after all: the run proves nothing
    about them (raise ChaosConfig.patience_seconds)."""


def snapshot(slack: SlackEmulator, workload: Workload) -> Snapshot:
    conversations = workload.conversations
    threads = {c.index: [shown(m) for m in bot_messages(slack, c)] for c in conversations}
    views = {c.index: thread_view(slack, c) for c in conversations if c.thread_ts}
    impatient = [
        f"{c.where}: the workload stopped waiting for {awaited.strip()!r}, which came later"
        for c in conversations
        for awaited in c.gave_up_on
        if find_messages(slack, c, awaited)
    ]
    return Snapshot(threads, views, check_stuck(slack), impatient)


def thread_view(slack: SlackEmulator, conv: Conversation) -> str:
    lines = [f"    ({conv.kind}, started by {conv.starter})"]
    for message in slack.thread(conv.channel, conv.thread_ts):
        if message.bot_id:
            lines.append(shown(message).line())
        else:
            lines.append(f"    {message.user}: {message.visible_text()}")
    for note in slack.ephemerals(conv.channel):
        if note.get("thread_ts") == conv.thread_ts:
            lines.append(f"    (only {note['user']} sees) bot: {note.get('text', '')}")
    return "\n".join(lines)


def check(
    seen: Snapshot, workload: Workload, notes: Counter[str]
) -> tuple[list[Finding], dict[str, str]]:
    """Every count, and each thread as people see it (by where it is)."""
    findings = list(seen.stuck)
    for conv in workload.conversations:
        if conv.thread_ts:
            findings += check_conversation(conv, seen.threads[conv.index], notes)
    decided = {t: d for c in workload.conversations for t, d in c.decisions.items()}
    findings += check_writes(notes, decided)
    views = {c.where: seen.views[c.index] for c in workload.conversations if c.index in seen.views}
    return findings, views


def check_stuck(slack: SlackEmulator) -> list[Finding]:
    """Every bot message, anywhere: no Stop button and no in-progress line once all is quiet."""
    findings = []
    for message in slack.workspace.messages.values():
        if not message.bot_id or message.deleted:
            continue
        seen = shown(message)
        status = [line for line in STATUS_LINES if line in seen.text]
        if STOP in seen.buttons or status:
            why = "a Stop button" if STOP in seen.buttons else f"“{status[0]}”"
            where = f"{message.channel}/{message.thread_ts or message.ts}"
            findings.append(Finding("stuck_messages", where, f"a message still shows {why}"))
    return findings


def check_conversation(
    conv: Conversation, messages: list[Shown], notes: Counter[str]
) -> list[Finding]:
    """Cards first (a wrong card already explains a missing continuation), then answers,
    questions and proposals; a message nobody asked for counts only where nothing was lost."""
    findings, wrong_titles = check_cards(conv, messages, notes)
    answers, claimed = check_answers(conv, messages, wrong_titles)
    findings += answers + check_questions(conv, messages) + check_proposals(conv, messages)
    extra = [m for m in messages if m.kind == "answer" and m.ts not in claimed]
    if extra and not any(f.check in ("lost_mentions", "lost_pauses") for f in findings):
        what = f"an extra answer nobody asked for: {extra[0].text[:80]!r}"
        findings.append(Finding("duplicate_answers", conv.where, what))
    return findings


def check_answers(
    conv: Conversation, messages: list[Shown], wrong_titles: set[str]
) -> tuple[list[Finding], set[str]]:
    """Each owed answer once and complete, and no cut-off copy beside a complete one; returns
    the findings and the messages that answer something."""
    answers = [m for m in messages if m.kind == "answer"]
    groups: dict[tuple[str, str], list[Expected]] = {}
    for expected in conv.answers:
        groups.setdefault((expected.opening, expected.ending), []).append(expected)
    findings: list[Finding] = []
    claimed: set[str] = set()
    for (opening, ending), group in groups.items():
        matches = [m for m in answers if opening in m.text]
        claimed.update(m.ts for m in matches)
        complete = [m for m in matches if ending in m.text and not m.unfinished]
        owed = [e for e in group if e.ack.acked]
        for expected in owed[len(complete) :]:
            if expected.after_card not in wrong_titles:
                what = _lost(expected, matches, owed)
                findings.append(Finding(expected.lost_as, conv.where, what))
        twice = _twice(group, owed, len(complete), len(matches))
        if twice:
            findings.append(Finding("duplicate_answers", conv.where, twice))
    return findings, claimed


def _twice(group: list[Expected], owed: list[Expected], complete: int, matches: int) -> str:
    if complete > len(group):
        return f"{complete} complete answers to {group[0].why}"
    if owed and complete >= len(owed) and matches > complete:
        return f"a cut-off copy beside the complete answer to {group[0].why}"
    return ""


def _lost(expected: Expected, matches: list[Shown], owed: list[Expected]) -> str:
    what = "the answer never completed" if matches else "no answer"
    if len(owed) > 1:  # the same answer owed to several messages: which one lost it is moot
        whys = "; ".join(e.why for e in owed)
        return f"{len(owed)} like answers owed ({whys}), one {what} (owed “{expected.ending}”)"
    return f"{expected.why}: {what} (owed “{expected.ending}”)"


def check_questions(conv: Conversation, messages: list[Shown]) -> list[Finding]:
    """A reminder with no time gets its question once. None at all is a lost mention, or a
    lost pause if the model's "Waiting for an answer" shows that it did ask."""
    findings = []
    asked = any(m.kind == "footer" and m.text == ASKED_FOOTER for m in messages)
    for expected in conv.questions:
        posted = [m for m in messages if m.kind == "question" and expected.opening in m.text]
        if not posted and expected.ack.acked:
            lost: Check = "lost_pauses" if asked else "lost_mentions"
            what = "the model asked but the question never came" if asked else "no question"
            findings.append(Finding(lost, conv.where, f"{expected.why}: {what}"))
        if len(posted) > 1:
            what = f"{expected.why} was posted {len(posted)} times"
            findings.append(Finding("duplicate_answers", conv.where, what))
    return findings


def check_proposals(conv: Conversation, messages: list[Shown]) -> list[Finding]:
    """A write the model proposed (its words show in the thread) has exactly one card."""
    findings = []
    for title in conv.cards:
        proposed = any(m.kind == "answer" and f"titled “{title}”" in m.text for m in messages)
        cards = cards_for(title, messages)
        if proposed and not cards:
            findings.append(Finding("lost_pauses", conv.where, f"“{title}” proposed, no card"))
        if len(cards) > 1:
            what = f"“{title}” has {len(cards)} cards"
            findings.append(Finding("duplicate_answers", conv.where, what))
    return findings


def cards_for(title: str, messages: list[Shown]) -> list[Shown]:
    return [m for m in messages if m.kind == "card" and card_line(title) in m.text]


CardState = Literal["approved", "denied", "live", "closed"]


def card_state(card: Shown) -> CardState:
    """What the card says happened: a verdict, live buttons, or closed without a verdict."""
    if APPROVE in card.buttons:
        return "live"
    if "✅ Approved by" in card.text or "Edited and approved by" in card.text:
        return "approved"
    if "❌ Denied by" in card.text or "⌛ Expired" in card.text:
        return "denied"
    return "closed"


def check_cards(
    conv: Conversation, messages: list[Shown], notes: Counter[str]
) -> tuple[list[Finding], set[str]]:
    """Each card's final text matches what ran, and none is left live after its decision was
    acked or its thread moved on; returns the findings and the titles with a wrong card."""
    findings = []
    for title in conv.cards:
        cards = cards_for(title, messages)
        states = {card_state(card) for card in cards}
        for card in cards:
            later = any(m.ts > card.ts and m.kind == "answer" for m in messages)
            wrong = _wrong_card(card, states, notes[title], conv.decisions.get(title), later)
            if wrong:
                what = f"the card for “{title}” {wrong}"
                findings.append(Finding("wrong_cards", conv.where, what))
    return findings, {t for t in conv.cards if any(f"“{t}”" in f.what for f in findings)}


def _wrong_card(
    card: Shown, states: set[CardState], saved: int, decision: Decision | None, later: bool
) -> str:
    state = card_state(card)
    if state == "approved" and not saved:
        return "says approved, but the note was never saved"
    if state == "denied" and saved:
        return "says denied or expired, but the note was saved"
    if state == "live" and decision is not None and decision.ack.acked:
        return f"still shows its buttons after the {decision.choice} was acked"
    if state == "live" and (saved or later):
        return "still shows its buttons although the thread moved on"
    if state == "closed" and not states & {"approved", "denied"}:
        return "lost its buttons without saying what happened"
    return ""


NOTES_QUERY = "SELECT title, count(*) FROM notes GROUP BY title"


def read_notes(database_url: str) -> Counter[str]:
    """Notes per title, read from the database after the bots stopped."""
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            try:
                rows = db.execute(NOTES_QUERY).fetchall()
            except sqlite3.OperationalError:  # no table: nothing was ever saved
                return Counter()
    else:
        with psycopg.connect(database_url, autocommit=True) as connection:
            try:
                rows = connection.execute(NOTES_QUERY).fetchall()
            except psycopg.errors.UndefinedTable:
                return Counter()
    return Counter({str(title): int(n) for title, n in rows})


def check_writes(notes: Counter[str], decided: dict[str, Decision]) -> list[Finding]:
    """An approved write ran at most once; a denied one, or one nobody approved, never."""
    findings = []
    for title, count in notes.items():
        decision = decided.get(title)
        if decision is None or decision.choice == "deny":
            how = "denied" if decision else "never approved"
            findings += [
                Finding("double_writes", "notes", f"“{title}” was {how} but saved")
            ] * count
        elif count > 1:
            what = f"“{title}” was saved {count} times"
            findings += [Finding("double_writes", "notes", what)] * (count - 1)
    return findings
