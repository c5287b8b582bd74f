"""The service's log lines: JSON Lines for a log collector, readable lines on a terminal.

Every record becomes one line. As JSON (``log_format = "json"``, the default when standard error
is not a terminal: systemd's journal, a container, a file) it is an object with ``time`` (UTC),
``level``, ``logger``, ``event`` and the event's fields; the per-request ``request`` event of
:mod:`matcher.api.requestlog` adds request id, method, route template, status, duration and actor
id. On a terminal (``"text"``) the same fields are written as ``key=value`` after the event.

What a line never holds: query strings (some carry a person's national-id token), header values,
tokens, bodies. uvicorn's own access log is turned off (it would log the raw path with its
query); :class:`DropQueryString` remains for anyone who turns it on again.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = ["DropQueryString", "JsonLines", "LogFormat", "TextLines", "log_config", "resolve_format"]

LogFormat = Literal["auto", "json", "text"]

# The attributes every LogRecord has; anything else came in through ``extra=``.
# uvicorn's ``color_message`` repeats the message with terminal colour codes.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class DropQueryString(logging.Filter):
    """Rewrites uvicorn access records `(client, method, path, version, status)`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    """``time LEVEL event key=value ...``: for a person watching a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items() if v is not None)
        line = f"{_time(record)} {record.levelname:<7} {record.getMessage()}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolve_format(chosen: LogFormat, stream: TextIO | None = None) -> Literal["json", "text"]:
    """``auto`` is text on a terminal and JSON everywhere else."""
    if chosen != "auto":
        return chosen
    target = stream if stream is not None else sys.stderr
    return "text" if target.isatty() else "json"


def log_config(log_format: Literal["json", "text"] = "json", level: str = "info") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``matcher serve``: uvicorn's loggers and the
    matcher's own write one formatter's lines to standard error."""
    formatter = "json" if log_format == "json" else "text"
    handler = {
        "class": "logging.StreamHandler",
        "formatter": formatter,
        "stream": "ext://sys.stderr",
    }
    loud = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": JsonLines},
            "text": {"()": TextLines},
        },
        "filters": {"no_query": {"()": DropQueryString}},
        "handlers": {"default": handler, "access": {**handler, "filters": ["no_query"]}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": loud, "propagate": False},
            "uvicorn.error": {"level": loud},
            "uvicorn.access": {"handlers": ["access"], "level": loud, "propagate": False},
            "matcher": {"handlers": ["default"], "level": loud, "propagate": False},
        },
    }
