"""`python -m bot`: run the Slack bot, or the local playground when no Slack setting is set.
`python -m bot audit`: print the decision log.
`python -m bot policy check TOOL`: say which policy rule decides a call, and what happens."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys

if __name__ == "__main__":
    # Importing litellm, LangGraph and the SDKs allocates millions of long-lived objects, and
    # every few thousand the collector rescans the growing heap: half a second of start-up for
    # nothing. serve() collects once, freezes the heap and turns the collector back on.
    gc.disable()

from pydantic import ValidationError

from agent import ConfigurationError, describe_database
from bot.audit import print_audit
from bot.log_format import configure_logging
from bot.policy_command import add_policy_parser, run_policy_command
from bot.server import EVENTS_PATH, serve
from bot.settings import BotSettings
from playground.session import open_playground


def main() -> None:
    """Parse the command line, read settings once, run."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    audit = commands.add_parser("audit", help="print who approved, denied or edited what")
    audit.add_argument("--limit", type=int, default=50, help="how many entries (default 50)")
    add_policy_parser(commands)
    arguments = parser.parse_args()
    try:
        settings = BotSettings()
    except ValidationError as exc:
        sys.exit(f"countersign: invalid setting: {_first_error(exc)}")
    configure_logging(settings.log_level, settings.log_format)
    if arguments.command in ("audit", "policy") or not settings.slack_configured():
        gc.enable()  # only the bot's serve() collects and freezes the start-up heap
    if arguments.command == "policy":
        sys.exit(run_policy_command(settings, arguments))
    try:
        if arguments.command == "audit":
            asyncio.run(print_audit(settings, arguments.limit))
        else:
            asyncio.run(_run(settings))
    except ConfigurationError as exc:
        sys.exit(f"countersign: {exc}")


async def _run(settings: BotSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if settings.slack_configured():
        await _run_bot(settings, stop)
    else:
        await _run_playground(settings, stop)


async def _run_bot(settings: BotSettings, stop: asyncio.Event) -> None:
    async with serve(settings) as running:
        bot = running.bot
        where = (
            f"events at {running.url}{EVENTS_PATH}"
            if bot.mode == "http"
            else "connected over Socket Mode"
        )
        logging.getLogger("bot").info(
            "Countersign is ready as @%s (%s, model %s, %s); health at %s/healthz",
            bot.runtime.identity.user_id,
            where,
            settings.llm_model,
            describe_database(settings.database_url),
            running.url,
        )
        await stop.wait()
        logging.getLogger("bot").info("shutting down: finishing answers in progress…")


async def _run_playground(settings: BotSettings, stop: asyncio.Event) -> None:
    """No Slack settings at all: the same bot against a local Slack, in the browser."""
    async with open_playground(settings) as playground:
        logging.getLogger("bot").info(
            "No Slack settings, so this is the playground: open %s to chat with the bot as in "
            "Slack (model %s). To connect a real workspace instead, set SLACK_BOT_TOKEN and "
            "SLACK_APP_TOKEN (see README).",
            playground.url,
            settings.llm_model,
        )
        logging.getLogger("bot").info(
            'The HTTP API is at %s/api, without tokens here: name yourself with "user" '
            "(e.g. UALICE); see README, HTTP API.",
            playground.bot.url,
        )
        await stop.wait()
        logging.getLogger("bot").info("shutting down the playground…")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"]).upper()
    return f"{name}: {error['msg']}"


if __name__ == "__main__":
    main()
