"""How the bot writes its log: lines for people (the default) or JSON for a log pipeline.

`LOG_FORMAT=json` writes one JSON object per line on stderr:

    {"time": "2026-01-05T09:30:12.345Z", "level": "INFO", "logger": "bot.conversations",
     "message": "…", "thread": "T0…:C0…:1767…", "turn": "5f0c…", "event": "Ev0…"}

`thread`, `turn` and `event` are there when the line was written on behalf of a thread, an
inbox item or a Slack request (bot.log_context); `exception` holds the traceback when the line
has one. Every line is JSON, libraries' included: a library that installed a handler of its own
(litellm does) gets this format on it, and Python warnings go through logging too.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, Literal

from bot import log_context

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = {
    "LiteLLM": logging.WARNING,
    "httpx2": logging.WARNING,  # a line per MCP request otherwise
}


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line (newlines in a message or a traceback are
    escaped inside the JSON string)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = log_context.current()
        for name in ("thread", "turn", "event"):
            value = getattr(ids, name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Set up the root logger once, at start-up, for the whole process."""
    formatter = JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)
    if log_format == "json":
        logging.captureWarnings(True)  # `warnings.warn` would print text lines otherwise
        _restyle_own_handlers(formatter)


def _restyle_own_handlers(formatter: logging.Formatter) -> None:
    """Libraries that print through a handler of their own (litellm adds one at import, with
    a filter that redacts keys) keep it, in our format, and stop passing the same record on to
    the root handler as well: one JSON line per record."""
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        printing = [handler for handler in logger.handlers if _prints(handler)]
        for handler in printing:
            handler.setFormatter(formatter)
        if printing:
            logger.propagate = False


def _prints(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and stream in (sys.stderr, sys.stdout)


def _utc(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
