"""The service's access log: method, path and status, never a query string.

Bearer tokens travel only in headers, but some queries carry pseudonymous data (the subject
report's `?token=` is a person's national-id token; filters may hold a case reference). The
access log keeps the path and drops everything after `?`, so a log file never holds them.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

__all__ = ["DropQueryString", "log_config"]


class DropQueryString(logging.Filter):
    """Rewrites uvicorn access records `(client, method, path, version, status)`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with :class:`DropQueryString` on access lines."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query"] = {"()": DropQueryString}
    config["handlers"]["access"]["filters"] = ["no_query"]
    return config
