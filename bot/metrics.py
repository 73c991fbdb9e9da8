"""The bot's Prometheus metrics, in a registry of its own (never prometheus_client's global one).

One `BotMetrics` is made per bot at start-up and passed down (BotRuntime.metrics): the turn
renderer times the first visible text, the Slack client counts every call, and the agent
reports turns, model tokens, the first token and decision latency through the `AgentObserver`
protocol, which this class implements (the agent never imports Prometheus), whichever front
end (Slack, the HTTP API) started the run.
What lives in the database (pending pauses, the inbox) is read when `/metrics` is scraped
(bot.metrics_endpoint), so it is right whichever replica changed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agent import TURN_OUTCOMES, PauseKind, TokenKind, TokenSource, TurnOutcome

SlackOutcome = Literal["ok", "error", "rate_limited", "cancelled"]
PAUSE_KINDS: tuple[PauseKind, ...] = ("approval", "question")
INBOX_STATUSES = ("queued", "running", "held")

_FAST_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
"""From a few milliseconds (the demo model, Slack on a good day) to the model's timeout."""
_SLACK_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_DECISION_SECONDS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)
"""People decide in seconds to hours; APPROVAL_TTL_SECONDS is an hour by default."""


class BotMetrics:
    """Every metric of one bot; `registry` is what `/metrics` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._turns_started = Counter(
            "countersign_turns_started",
            "Runs of the agent that began: a new turn, or a decision's continuation.",
            registry=registry,
        )
        self._turns_finished = Counter(
            "countersign_turns_finished",
            "Turns that ended, by outcome: finished, stopped (Stop pressed), failed, paused (an "
            "approval or a question), interrupted (a shutdown; the next process continues it).",
            ["outcome"],
            registry=registry,
        )
        self._model_tokens = Counter(
            "countersign_model_tokens",
            "Model tokens by kind (prompt, completion) and source: usage (the provider's count) "
            "or chunks (one per streamed delta, when the provider reported no usage).",
            ["kind", "source"],
            registry=registry,
        )
        self._first_token = Histogram(
            "countersign_model_first_token_seconds",
            "From the start of a model call to its first streamed text or tool-call delta.",
            buckets=_FAST_SECONDS,
            registry=registry,
        )
        self._first_text = Histogram(
            "countersign_first_visible_text_seconds",
            "From the start of a turn to the moment Slack accepted the first message showing "
            "its text.",
            buckets=_FAST_SECONDS,
            registry=registry,
        )
        self._slack_calls = Counter(
            "countersign_slack_calls",
            "Slack Web API calls the bot made, by method and outcome (ok, error, rate_limited, "
            "cancelled); each retry is a call.",
            ["method", "outcome"],
            registry=registry,
        )
        self._slack_429s = Counter(
            "countersign_slack_429",
            "Slack answers with HTTP status 429 (Too Many Requests), by method.",
            ["method"],
            registry=registry,
        )
        self._slack_seconds = Histogram(
            "countersign_slack_call_seconds",
            "How long one Slack Web API call took, by method.",
            ["method"],
            buckets=_SLACK_SECONDS,
            registry=registry,
        )
        self._decision_latency = Histogram(
            "countersign_decision_latency_seconds",
            "From a pause's creation to its decision being stored, by pause kind.",
            ["kind"],
            buckets=_DECISION_SECONDS,
            registry=registry,
        )
        self._pending_pauses = Gauge(
            "countersign_pending_pauses",
            "Pauses waiting on a person, by kind (read from the database at scrape time).",
            ["kind"],
            registry=registry,
        )
        self._inbox_items = Gauge(
            "countersign_inbox_items",
            "Inbox items by status: queued (waiting to run), running, held (waiting for Retry); "
            "read from the database at scrape time, so every replica's count.",
            ["status"],
            registry=registry,
        )
        self._slack_series: dict[tuple[str, SlackOutcome], tuple[Counter, Histogram]] = {}
        """Each method's children, looked up once: `labels()` costs a lock and a few µs."""
        # Every series exists from the start, at 0: a rate() over a series that appears only
        # with its first event misses that event.
        for outcome in TURN_OUTCOMES:
            self._turns_finished.labels(outcome)
        for kind in PAUSE_KINDS:
            self._pending_pauses.labels(kind)
            self._decision_latency.labels(kind)
        for status in INBOX_STATUSES:
            self._inbox_items.labels(status)

    # --- turns ---------------------------------------------------------------------------------

    def first_visible_text(self, seconds: float) -> None:
        """The turn's first text was shown in Slack `seconds` after the turn began."""
        self._first_text.observe(seconds)

    # --- Slack ---------------------------------------------------------------------------------

    def slack_call(
        self, method: str, outcome: SlackOutcome, seconds: float, status: int | None
    ) -> None:
        """One Web API call and how it went (`status`: Slack's HTTP status, if it answered)."""
        series = self._slack_series.get((method, outcome))
        if series is None:
            series = self._slack_calls.labels(method, outcome), self._slack_seconds.labels(method)
            self._slack_series[(method, outcome)] = series
        calls, seconds_taken = series
        calls.inc()
        seconds_taken.observe(seconds)
        if status == 429:
            self._slack_429s.labels(method).inc()

    # --- the agent's numbers (agent.AgentObserver) ---------------------------------------------

    def turn_started(self) -> None:
        """A run of the agent began."""
        self._turns_started.inc()

    def turn_finished(self, outcome: TurnOutcome) -> None:
        """It ended this way."""
        self._turns_finished.labels(outcome).inc()

    def model_first_token(self, seconds: float) -> None:
        """A model call's first delta arrived."""
        self._first_token.observe(seconds)

    def model_tokens(self, kind: TokenKind, source: TokenSource, count: int) -> None:
        """Tokens one model call used."""
        if count > 0:
            self._model_tokens.labels(kind, source).inc(count)

    def decision_stored(self, pause_kind: PauseKind, seconds: float) -> None:
        """A decision on a pause became durable."""
        self._decision_latency.labels(pause_kind).observe(seconds)

    # --- read at scrape time -------------------------------------------------------------------

    def set_state(self, pending_pauses: Mapping[PauseKind, int], inbox: Mapping[str, int]) -> None:
        """What the database holds now; kinds and statuses it does not mention are 0."""
        for kind in PAUSE_KINDS:
            self._pending_pauses.labels(kind).set(pending_pauses.get(kind, 0))
        for status in INBOX_STATUSES:
            self._inbox_items.labels(status).set(inbox.get(status, 0))
