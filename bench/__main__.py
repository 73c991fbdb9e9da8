"""`python -m bench [--quick] [--levels 1,30] [--words 400] [--ramp] [--history-turns 200]`:
run, print the table, write JSON."""

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
from bench.history import history_lines, run_history
from bench.ramp import RampConfig, ramp_table, run_ramp
from bench.report import plain, table, write_json
from bench.scenarios import run_level

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def main() -> None:
    """Parse the command line, run every level in turn, report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short answers, 1 and 10 (< 1 min)")
    parser.add_argument("--levels", help="comma-separated concurrent conversations, e.g. 1,30")
    parser.add_argument("--words", type=int, help="words per streamed answer")
    parser.add_argument("--no-approvals", action="store_true", help="skip the approval phase")
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
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    arguments = parser.parse_args()
    config = QUICK if arguments.quick else FULL
    if arguments.levels:
        config = config.with_levels(tuple(int(n) for n in arguments.levels.split(",")))
    if arguments.words:
        config = dataclasses.replace(config, answer_words=arguments.words)
    if arguments.no_approvals:
        config = dataclasses.replace(config, approvals=False)
    if arguments.cold:
        config = dataclasses.replace(config, warm_up=False)
    if arguments.levels_off:
        config = config.with_levels(())
    if arguments.ramp is not None:
        config = dataclasses.replace(config, ramp=arguments.ramp)
    if arguments.history_turns is not None:
        config = dataclasses.replace(config, history_turns=arguments.history_turns)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    results = plain(asyncio.run(run(config)))
    print(table(results))
    if "ramp" in results:
        print(ramp_table(results["ramp"]))
    if "history" in results:
        print(history_lines(results["history"]))
    write_json(results, arguments.output)
    print(f"\nJSON: {arguments.output}")


async def run(config: BenchConfig) -> dict[str, Any]:
    """Every level, one after the other, each against a fresh bot process."""
    started = time.monotonic()
    levels: dict[str, Any] = {}
    for level in config.levels:
        print(f"… {level} concurrent conversation(s)", file=sys.stderr, flush=True)
        levels[str(level)] = await run_level(config, level)
    results: dict[str, Any] = {
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "levels": levels,
    }
    if config.ramp:
        print("… ramp", file=sys.stderr, flush=True)
        results["ramp"] = await run_ramp(RampConfig())
    if config.history_turns:
        print(f"… one thread, {config.history_turns} turns", file=sys.stderr, flush=True)
        results["history"] = await run_history(config.history_turns, config.answer_words)
    results["seconds"] = time.monotonic() - started
    return results


if __name__ == "__main__":
    main()
