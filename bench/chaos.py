"""`python -m bench.chaos --runs 50 --mode kill|term|both [--seed S] [--replicas 2]`: many
chaos runs (tests/chaos.py), one after the other, and a table of what people lost per mode.

Each run is the real bot killed (`kill`) or deployed (`term`) once at a seeded moment of a
seeded workload, then restarted on the same database; see tests/chaos.py for the counts. With
`--replicas 2`, two bots share one PostgreSQL database (started here, one for all the runs,
a fresh database each run) and one of them is interrupted while the other keeps serving.
Rerun one with `--runs 1 --mode M --seed S --reports` to see what people saw and every log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos import (
    COUNTS,
    MODES,
    ChaosConfig,
    ChaosResult,
    Check,
    DatabaseKind,
    Mode,
    rerun_command,
    run_chaos,
)
from tests.postgres_server import PostgresServer, running_server


@dataclass
class ModeRuns:
    """Every run of one mode, and the seeds whose run failed to complete at all."""

    results: list[ChaosResult] = field(default_factory=list)
    errors: list[ChaosConfig] = field(default_factory=list)

    def total(self, read: Callable[[ChaosResult], int]) -> int:
        return sum(read(result) for result in self.results)

    def affected(self, read: Callable[[ChaosResult], int]) -> int:
        return sum(read(result) > 0 for result in self.results)


def main() -> None:
    """Parse the command line, run every seed in every mode, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="runs per mode (default 10)")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both")
    parser.add_argument("--seed", type=int, default=1, help="first seed (then +1, +2…)")
    parser.add_argument("--conversations", type=int, default=6, help="conversations per run")
    parser.add_argument(
        "--bot-source", type=Path, help="run the bot from this checkout (e.g. an older commit)"
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="bot processes on one PostgreSQL database; one is interrupted (default 1)",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        help="where the bots keep their data (default: sqlite; postgres with --replicas > 1)",
    )
    parser.add_argument(
        "--reports", action="store_true", help="print the full report of every run with a finding"
    )
    arguments = parser.parse_args()
    modes: tuple[Mode, ...] = MODES if arguments.mode == "both" else (arguments.mode,)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    seeds = range(arguments.seed, arguments.seed + arguments.runs)
    database: DatabaseKind = arguments.database or (
        "postgres" if arguments.replicas > 1 else "sqlite"
    )
    try:
        configs = [
            ChaosConfig(
                seed,
                mode,
                conversations=arguments.conversations,
                bot_source=arguments.bot_source,
                replicas=arguments.replicas,
                database=database,
            )
            for mode in modes
            for seed in seeds
        ]
    except ValueError as wrong:
        parser.error(str(wrong))
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(running_server()) if database == "postgres" else None
        runs = asyncio.run(run_many(configs, reports=arguments.reports, postgres=postgres))
    print(table(runs))
    print(failing_seeds(runs))


async def run_many(
    configs: Sequence[ChaosConfig], *, reports: bool, postgres: PostgresServer | None = None
) -> dict[Mode, ModeRuns]:
    """One run at a time: a run is two or three bot processes, and this machine has 2 cores."""
    runs: dict[Mode, ModeRuns] = {}
    for config in configs:
        into = runs.setdefault(config.mode, ModeRuns())
        started = time.monotonic()
        try:
            result = await run_chaos(config, postgres=postgres)
        except Exception:
            into.errors.append(config)
            print(f"… {config.mode} seed {config.seed}: the run failed", file=sys.stderr)
            traceback.print_exc()
            continue
        into.results.append(result)
        print(progress(result, time.monotonic() - started), file=sys.stderr, flush=True)
        if reports and not result.ok:
            print(result.report(), file=sys.stderr, flush=True)
    return runs


def progress(result: ChaosResult, seconds: float) -> str:
    found = " ".join(f"{name}={n}" for name, n in result.counts().items() if n) or "clean"
    if result.impatient:
        found += f" inconclusive={len(result.impatient)}"
    times = ", ".join(f"{name} {value:.0f}" for name, value in result.timings.items())
    config = result.config
    victim = f", {result.victim}" if result.victim else ""
    taken = ", ".join(f"{n} by {name}" for name, n in result.taken_over().items())
    taken = f"; taken over: {taken}" if taken else ""
    return f"… {config.mode} seed {config.seed}{victim}: {found} ({seconds:.0f} s; {times}{taken})"


def table(runs: dict[Mode, ModeRuns]) -> str:
    """Figures as rows, modes as columns; a count reads "total (runs with any)"."""
    rows: list[tuple[str, Callable[[ModeRuns], str]]] = [
        ("runs", lambda m: str(len(m.results))),
        ("runs that failed to complete", lambda m: str(len(m.errors))),
        ("runs with a finding", lambda m: str(sum(not r.ok for r in m.results))),
        ("inconclusive runs", lambda m: str(m.affected(lambda r: len(r.impatient)))),
        ("messages acked", lambda m: str(m.total(lambda r: r.stats["acked"]))),
        ("answers owed", lambda m: str(m.total(lambda r: r.stats["owed"]))),
        ("cards decided", lambda m: str(m.total(lambda r: r.stats["decided"]))),
        ("events redelivered", lambda m: str(m.total(lambda r: r.stats["redelivered"]))),
    ]
    for check in COUNTS:
        rows.append((f"{check.replace('_', ' ')} (runs)", _count_cell(check)))
    modes = list(runs)
    width = max(len(label) for label, _ in rows)
    lines = [" " * width + "".join(f"{mode:>14}" for mode in modes)]
    for label, cell in rows:
        lines.append(f"{label:<{width}}" + "".join(f"{cell(runs[m]):>14}" for m in modes))
    return "\n".join(lines)


def _count_cell(check: Check) -> Callable[[ModeRuns], str]:
    def cell(mode_runs: ModeRuns) -> str:
        def read(result: ChaosResult) -> int:
            return result.counts()[check]

        return f"{mode_runs.total(read)} ({mode_runs.affected(read)})"

    return cell


def failing_seeds(runs: dict[Mode, ModeRuns]) -> str:
    """Each run with a finding, or that failed to complete, as the command that reruns it."""
    lines = []
    for mode_runs in runs.values():
        failed = [r.config for r in mode_runs.results if not r.ok] + mode_runs.errors
        lines += [f"  {rerun_command(config)}" for config in sorted(failed, key=_seed)]
    if not lines:
        return "\nevery run clean"
    return "\nruns to look at:\n" + "\n".join(lines)


def _seed(config: ChaosConfig) -> int:
    return config.seed


if __name__ == "__main__":
    main()
