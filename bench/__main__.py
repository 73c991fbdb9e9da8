"""`python -m bench [--quick] [--levels 1,30] [--words 400]`: run, print the table, write JSON."""

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
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    results = plain(asyncio.run(run(config)))
    print(table(results))
    write_json(results, arguments.output)
    print(f"\nJSON: {arguments.output}")


async def run(config: BenchConfig) -> dict[str, Any]:
    """Every level, one after the other, each against a fresh bot process."""
    started = time.monotonic()
    levels: dict[str, Any] = {}
    for level in config.levels:
        print(f"… {level} concurrent conversation(s)", file=sys.stderr, flush=True)
        levels[str(level)] = await run_level(config, level)
    return {
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": time.monotonic() - started,
        "levels": levels,
    }


if __name__ == "__main__":
    main()
