"""The printed table (metrics as rows, concurrency levels as columns) and the JSON file."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import targets
from bench.slack_rates import rate_cell

Figures = dict[str, Any]
Cell = Callable[[Figures], str]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a label and how to read its cell from a level's figures."""

    label: str
    cell: Cell


def stats(phase: str, key: str, digits: int = 0) -> Cell:
    """The p50 / p99 / max cell of a Stats figure in a phase."""

    def cell(level: Figures) -> str:
        found = level["phases"].get(phase, {}).get(key)
        if not found or not found["n"]:
            return "–"
        return " / ".join(f"{found[k]:.{digits}f}" for k in ("p50", "p99", "max"))

    return cell


def value(phase: str | None, key: str, digits: int = 0) -> Cell:
    """A plain number, from a phase or from the level."""

    def cell(level: Figures) -> str:
        source = level["phases"].get(phase, {}) if phase else level
        found = source.get(key)
        if found is None:
            return "–"
        return f"{found:.{digits}f}" if isinstance(found, float) else str(found)

    return cell


def ratio(phase: str, numerator: str, denominator: str) -> Cell:
    def cell(level: Figures) -> str:
        source = level["phases"].get(phase)
        return "–" if source is None else f"{source[numerator]}/{source[denominator]}"

    return cell


def marked(cell: Cell, mark: Callable[[Figures], str | None]) -> Cell:
    """A cell followed by PASS or MISS where the level has a target."""

    def with_mark(level: Figures) -> str:
        found = mark(level)
        return cell(level) if found is None else f"{cell(level)} {found}"

    return with_mark


def calls_cell(level: Figures) -> str:
    """Slack calls per chat answer: mean, then p50 / p99 / max."""
    found = level["phases"].get("chat", {}).get("slack_calls_per_answer")
    if not found or not found["n"]:
        return "–"
    return f"mean {found['mean']:.1f}: " + stats("chat", "slack_calls_per_answer")(level)


ROWS: tuple[Row, ...] = (
    Row("1  ack, conversation start (ms)", stats("chat", "ack_start_ms", 1)),
    Row("1  ack, chatter while streaming (ms)", stats("chat", "ack_while_streaming_ms", 1)),
    Row("2  event → first message (ms)", stats("chat", "first_message_ms")),
    Row(
        "3  first token → visible (ms; target p50 ≤ 1 s, p99 ≤ 3 s at 30, 100; p50 ≤ 50 at 1)",
        marked(stats("chat", "first_token_visible_ms"), targets.first_token_mark),
    ),
    Row("   event → whole answer shown (s)", stats("chat", "answer_done_s", 1)),
    Row(
        "   complete after its model finished (s; target last ≤ 20 s at 30, ≤ 60 s at 100)",
        marked(stats("chat", "complete_after_model_s", 1), targets.completion_mark),
    ),
    Row("   answers never complete (chat)", value("chat", "never_complete")),
    Row("4  Slack calls per answer (posts, edits, streams, status)", calls_cell),
    Row("   edits / minute / message", stats("chat", "edits_per_minute_per_message", 1)),
    Row("   longest gap between edits (s)", stats("chat", "longest_gap_between_edits_s", 1)),
    Row(
        "   429 responses (chat | approvals; target 0)",
        marked(lambda f: _both(f, "responses_429"), targets.rate_limit_mark),
    ),
    Row(
        "   calls inside Retry-After (target 0)",
        marked(lambda f: _both(f, "calls_inside_retry_after"), targets.rate_limit_mark),
    ),
    Row("   chat.update busiest min / limit (chat | appr.)", lambda f: _rates(f, "chat.update")),
    Row("   chat.postMessage busiest channel-min / limit", lambda f: _rates(f, "chat.postMessage")),
    Row("5  complete answers (chat)", ratio("chat", "complete", "conversations")),
    Row("   complete turns (approvals)", ratio("approval", "complete", "conversations")),
    Row("6  approval conversations", value("approval", "conversations")),
    Row("   click → ack (ms)", stats("approval", "click_ack_ms", 1)),
    Row("   click → card edited (ms)", stats("approval", "click_to_card_edited_ms")),
    Row("   click → continuation shown (ms)", stats("approval", "click_to_continuation_ms")),
    Row("7  bot CPU s / 1,000 tokens (chat)", value("chat", "cpu_seconds_per_1000_tokens", 3)),
    Row("   database server CPU s / 1,000 tokens", lambda f: _database_cpu(f)),
    Row("   peak RSS (MB)", lambda f: _summed(f, "peak_rss_mb", "peak_rss_mb_each")),
    Row("8  start-up to /healthz (s)", lambda f: _startup(f)),
    Row("   first event's ack after start-up (ms)", value(None, "first_event_ack_ms", 1)),
    Row("   bench's own loop lag, chat (ms)", stats("chat", "bench_loop_lag_ms", 1)),
    Row("   other processes' CPU, chat (cores)", value("chat", "others_cpu_share", 2)),
    Row("   bot log warnings / errors", lambda f: f"{f['log_warnings']} / {f['log_errors']}"),
)
"""With several replicas, CPU and memory are their sums (each replica's in the JSON)."""


def _startup(level: Figures) -> str:
    cold = "" if level.get("bytecode_cached", True) else " (compiling, no .pyc yet)"
    each = level.get("startup_s_each") or [level["startup_s"]]
    return " / ".join(f"{seconds:.2f}" for seconds in each) + cold


def _summed(level: Figures, key: str, each_key: str) -> str:
    each = level.get(each_key) or []
    total = f"{level[key]:.0f}"
    return total if len(each) < 2 else f"{total} ({' + '.join(f'{v:.0f}' for v in each)})"


def _rates(level: Figures, method: str) -> str:
    return " | ".join(rate_cell(p.get("slack_rates", {}), method) for p in level["phases"].values())


def _database_cpu(level: Figures) -> str:
    chat = level["phases"].get("chat", {})
    if level.get("database") != "postgres" or not chat.get("tokens"):
        return "– (in the bot)" if level.get("database", "sqlite") == "sqlite" else "–"
    return f"{chat['database_cpu_seconds'] / chat['tokens'] * 1000:.3f}"


def _both(level: Figures, key: str) -> str:
    return " | ".join(str(p.get(key, "–")) for p in level["phases"].values())


def table(results: dict[str, Any]) -> str:
    """The table people read; stats cells are p50 / p99 / max."""
    levels: dict[str, Figures] = results["levels"]
    if not levels:
        return "Countersign bench: no concurrency levels run"
    heads = [f"{n} conversation{'s' if n != '1' else ''}" for n in levels]
    cells = [[row.cell(levels[n]) for n in levels] for row in ROWS]
    label_width = max(len(row.label) for row in ROWS)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    config = results["config"]
    lines = [
        f"Countersign bench ({config['name']}): {config['answer_words']}-word answers at "
        f"{config['tokens_per_second']:g} tokens/s, Slack tiers enforced; {setup(config)}; "
        "cells are p50 / p99 / max",
        "  ".join(
            ["metric".ljust(label_width), *(h.rjust(w) for h, w in zip(heads, widths, strict=True))]
        ),
        "-" * (label_width + sum(w + 2 for w in widths)),
    ]
    for row, row_cells in zip(ROWS, cells, strict=True):
        padded = (c.rjust(w) for c, w in zip(row_cells, widths, strict=True))
        lines.append("  ".join([row.label.ljust(label_width), *padded]))
    lines.extend(_notes(levels))
    return "\n".join(lines)


def setup(config: Figures) -> str:
    """ "SQLite, 1 bot process" or "PostgreSQL, 2 replicas (round-robin)"."""
    database = "PostgreSQL" if config.get("database") == "postgres" else "SQLite"
    replicas = int(config.get("replicas", 1))
    if replicas == 1:
        return f"{database}, 1 bot process"
    balancer = config.get("balancer", "round-robin")
    return f"{database}, {replicas} replicas (events and clicks {balancer})"


def _notes(levels: dict[str, Figures]) -> list[str]:
    """What needs a closer look: timeouts, failed acks, missing replies, mismatched answers."""
    notes: list[str] = []
    for n, level in levels.items():
        for name, phase in level["phases"].items():
            where = f"{n} conv, {name}"
            if phase["timed_out"]:
                notes.append(f"! {where}: phase timed out before the bot was idle")
            for key in (
                "ack_failures",
                "no_reply",
                "never_complete",
                "cards_missing",
                "click_failures",
            ):
                if phase.get(key):
                    notes.append(f"! {where}: {key} = {phase[key]}")
            for mismatch in phase["mismatches"]:
                notes.append(f"! {where}: answer differs: {json.dumps(mismatch)}")
            for error in phase.get("errors", []):
                notes.append(f"! {where}: {error}")
            for method, rate in phase.get("slack_rates", {}).items():
                if rate["over_limit"]:
                    notes.append(
                        f"! {where}: {method} went over Slack's limit, all replicas together "
                        f"(busiest {rate['scope']} minute {rate['busiest_minute']} > "
                        f"{rate['limit_per_minute']:g})"
                    )
    return ["", *notes] if notes else []


def plain(results: dict[str, Any]) -> dict[str, Any]:
    """The results as JSON types only (Stats become dicts), as `table` and the file read them."""
    converted: dict[str, Any] = json.loads(json.dumps(results, default=_plain))
    return converted


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=_plain) + "\n")


def _plain(obj: object) -> object:
    as_json = getattr(obj, "as_json", None)
    if callable(as_json):
        return as_json()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
