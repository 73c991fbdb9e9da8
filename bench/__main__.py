"""`python -m bench [--quick] [--levels 1 30 100] [--words 400] [--chat-only] [--ramp]
[--history-turns 200] [--database sqlite|postgres] [--replicas N]`: run, print the table,
write JSON."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.config import FULL, QUICK, BenchConfig
from bench.database import DATABASE_KINDS, BenchDatabase, bench_database
from bench.history import history_lines, run_history
from bench.ramp import RampConfig, ramp_table, run_ramp, scaling, scaling_line
from bench.report import plain, table, write_json
from bench.scenarios import run_level
from bench.world import BALANCERS

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def main() -> None:
    """Parse the command line, run every level in turn, report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short answers, 1 and 10 (< 1 min)")
    parser.add_argument(
        "--levels", nargs="+", help="concurrent conversations, e.g. 1,30 or 1 30 100"
    )
    parser.add_argument(
        "--words", "--answer-words", dest="words", type=int, help="words per streamed answer"
    )
    parser.add_argument("--no-approvals", action="store_true", help="skip the approval phase")
    parser.add_argument(
        "--chat-only",
        action="store_true",
        help="only the levels' chat phase: no approvals, no ramp, no history run",
    )
    parser.add_argument(
        "--cold", action="store_true", help="no warm-up event: the first events meet a cold bot"
    )
    parser.add_argument(
        "--levels-off", action="store_true", help="skip the levels (run only ramp / history)"
    )
    parser.add_argument(
        "--ramp", action=argparse.BooleanOptionalAction, help="run the ramp (full: on)"
    )
    parser.add_argument(
        "--history-turns", type=int, help="turns in the one-thread database run (0: skip)"
    )
    parser.add_argument("--approval-cap", type=int, help="most approval conversations")
    parser.add_argument(
        "--approval-stagger", type=float, help="seconds between approval conversations' starts"
    )
    parser.add_argument(
        "--database",
        choices=DATABASE_KINDS,
        help="where the bot keeps its data (default sqlite; postgres: the bench starts one)",
    )
    parser.add_argument(
        "--replicas", type=int, help="bot processes on one database (several need postgres)"
    )
    parser.add_argument(
        "--balancer",
        choices=BALANCERS,
        help="how requests are spread over replicas (default round-robin; see bench/world.py)",
    )
    parser.add_argument(
        "--ramp-replicas", help="replica counts to ramp, e.g. 1,2 (default: 1 and --replicas)"
    )
    parser.add_argument("--ramp-budget", type=float, help="seconds each ramp may take (240)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    arguments = parser.parse_args()
    try:
        config = configure(arguments)
    except ValueError as wrong:
        parser.error(str(wrong))
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    results = plain(asyncio.run(run(config)))
    print(table(results))
    for ramp in results.get("ramps", []):
        print(ramp_table(ramp))
    if "ramp_scaling" in results:
        print(scaling_line(results["ramp_scaling"]))
    if "history" in results:
        print(history_lines(results["history"]))
    write_json(results, arguments.output)
    print(f"\nJSON: {arguments.output}")


def configure(arguments: argparse.Namespace) -> BenchConfig:
    """The preset, changed by the command line's options."""
    config = QUICK if arguments.quick else FULL
    changes: dict[str, Any] = {}
    if arguments.levels:
        changes["levels"] = levels(arguments.levels)
    if arguments.words:
        changes["answer_words"] = arguments.words
    if arguments.no_approvals or arguments.chat_only:
        changes["approvals"] = False
    if arguments.chat_only:
        changes.update(ramp=False, history_turns=0)
    if arguments.cold:
        changes["warm_up"] = False
    if arguments.levels_off:
        changes["levels"] = ()
    if arguments.ramp is not None:
        changes["ramp"] = arguments.ramp
    if arguments.history_turns is not None:
        changes["history_turns"] = arguments.history_turns
    if arguments.approval_cap is not None:
        changes["approval_cap"] = arguments.approval_cap
    if arguments.approval_stagger is not None:
        changes["approval_stagger_seconds"] = arguments.approval_stagger
    if arguments.database:
        changes["database"] = arguments.database
    if arguments.replicas is not None:
        changes["replicas"] = arguments.replicas
    if arguments.balancer:
        changes["balancer"] = arguments.balancer
    if arguments.ramp_replicas:
        changes["ramp_replicas"] = tuple(int(n) for n in arguments.ramp_replicas.split(","))
    if arguments.ramp_budget is not None:
        changes["ramp_budget_seconds"] = arguments.ramp_budget
    return dataclasses.replace(config, **changes)


def levels(given: list[str]) -> tuple[int, ...]:
    """Levels from `--levels 1,30` or `--levels 1 30 100` (or both at once)."""
    found = tuple(int(n) for part in given for n in part.split(",") if n.strip())
    if not found or min(found) < 1:
        raise ValueError("--levels needs one or more positive numbers")
    return found


async def run(config: BenchConfig) -> dict[str, Any]:
    """Every level, one after the other, each against a fresh bot (and database)."""
    started = time.monotonic()
    results: dict[str, Any] = {
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
        },
    }
    with bench_database(config.database) as database:
        results["levels"] = await _levels(config, database)
        if config.ramp:
            results["ramps"] = await _ramps(config, database)
            results["ramp_scaling"] = scaling(results["ramps"])
        if config.history_turns:
            print(f"… one thread, {config.history_turns} turns", file=sys.stderr, flush=True)
            results["history"] = await run_history(
                config.history_turns, config.answer_words, database
            )
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = time.monotonic() - started
    return results


async def _levels(config: BenchConfig, database: BenchDatabase) -> dict[str, Any]:
    levels: dict[str, Any] = {}
    for level in config.levels:
        print(f"… {level} concurrent conversation(s)", file=sys.stderr, flush=True)
        levels[str(level)] = await run_level(config, level, database)
    return levels


async def _ramps(config: BenchConfig, database: BenchDatabase) -> list[dict[str, Any]]:
    ramp_config = RampConfig()
    if config.ramp_budget_seconds is not None:
        ramp_config = dataclasses.replace(ramp_config, budget_seconds=config.ramp_budget_seconds)
    ramps = []
    for replicas in config.ramps():
        print(f"… ramp, {replicas} replica(s)", file=sys.stderr, flush=True)
        ramps.append(await run_ramp(ramp_config, database, replicas, config.balancer))
    return ramps


if __name__ == "__main__":
    main()
