"""What one benchmark run measures: concurrency levels, answer length, pace and time limits."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bench.database import DatabaseKind
from bench.world import Balancer


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Knobs of a run; `QUICK` and `FULL` are the presets the CLI starts from."""

    name: str
    levels: tuple[int, ...]
    """Concurrent conversations, one bot process (and one fresh workspace) per level."""
    answer_words: int
    """Words in each streamed chat answer."""
    continuation_words: int = 40
    """Words the model says after an approved tool call."""
    tokens_per_second: float = 40.0
    chunk_chars: int = 4
    """Characters per streamed chunk; one chunk counts as one token."""
    approvals: bool = True
    """Run the approval phase (save a note → card → Approve) after the chat phase."""
    approval_cap: int | None = None
    """At most this many concurrent approval conversations (None: as many as the level).
    Every approval needs about four chat.update calls and Slack allows ~50 a minute, so ten
    of them take ~40 s: the quick run caps them to stay under a minute."""
    approval_stagger_seconds: float = 0.0
    """Approval conversation n starts n times this after the phase: at 8 s, each click's card
    edit fits the decisions lane (8 a minute, bot.rate_limits), so click → card edited measures
    the way from a click to the card, on either replica, not a queue of clicks."""
    chatter_per_conversation: float = 0.5
    """Unrelated channel messages per second per conversation while answers stream (ack probes)."""
    min_chatter_per_second: float = 2.0
    think_seconds: float = 0.5
    """How long a person looks at a card before clicking Approve."""
    phase_timeout: float = 420.0
    """Longest a phase may take; a phase that runs out is reported as timed out."""
    startup_timeout: float = 60.0
    card_timeout: float = 180.0
    """Longest a person waits for an approval card before giving up on that conversation."""
    stall_seconds: float = 5.0
    """A bot with no job and no Slack or model traffic for this long is done, answered or not."""
    warm_up: bool = True
    """Send one unrelated event before the phases, so Bolt's first-request auth.test is paid
    once. Without it (`--cold`) each event of a first burst makes its own auth.test; the ones
    Slack answers 429 are dropped after a 200 ack, and those conversations never get a reply."""

    database: DatabaseKind = "sqlite"
    """Where the bot keeps its data; several replicas need PostgreSQL (bench.database)."""
    replicas: int = 1
    """Bot processes on the one database; Slack's requests go to each in turn."""
    balancer: Balancer = "round-robin"
    """How requests are spread over replicas (bench.world.rotation)."""

    ramp: bool = False
    """Also run the ramp (bench.ramp): step up streaming answers until ack p99 > 100 ms."""
    ramp_replicas: tuple[int, ...] = ()
    """The replica counts to ramp, one ramp each; empty: 1 and `replicas` (so two replicas
    are always compared with one, on the same machine in the same run)."""
    ramp_budget_seconds: float | None = None
    """Each ramp stops after this long (None: bench.ramp's default)."""
    history_turns: int = 0
    """Also run one thread of this many turns and weigh the database (bench.history); 0: no."""

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError("at least one replica")
        if max(self.replicas, *self.ramp_replicas, 1) > 1 and self.database != "postgres":
            raise ValueError("several replicas share one database: use --database postgres")

    def with_levels(self, levels: tuple[int, ...]) -> BenchConfig:
        """The same run at other concurrency levels."""
        return replace(self, levels=levels)

    def ramps(self) -> tuple[int, ...]:
        """Replica counts to ramp, in order."""
        return self.ramp_replicas or tuple(sorted({1, self.replicas}))


QUICK = BenchConfig(
    name="quick",
    levels=(1, 10),
    answer_words=80,
    continuation_words=20,
    approval_cap=3,
    history_turns=20,
)
FULL = BenchConfig(
    name="full",
    levels=(1, 30, 100),
    answer_words=400,
    approval_cap=30,
    ramp=True,
    history_turns=200,
)
"""Approvals stop at 30 conversations: a card's edit after a click has its own lane of 8 a
minute (bot.rate_limits), so 100 clicks in the same second would measure that lane's queue."""
