"""Logging: standard ``logging``, module loggers by ``__name__``, one level flag.

A redacting filter on the root handler replaces any registered secret (the
API key) with ``***`` - a second line of defence behind ``config.Secret``.
"""

from __future__ import annotations

import logging
import os
import sys

_SECRETS: set[str] = set()
FORMAT = "%(asctime)s %(levelname)-7s %(name)s[%(process)d]: %(message)s"


def register_secret(value: str) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            msg = record.getMessage()
            red = msg
            for s in _SECRETS:
                red = red.replace(s, "***")
            if red is not msg and red != msg:
                record.msg, record.args = red, None
        return True


def configure_logging(level: str = "INFO", stream=None) -> None:
    """Idempotent root setup for every process of the app."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_live_monitor", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    handler._live_monitor = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for var in ("POLYGON_API_KEY", "MASSIVE_API_KEY"):
        register_secret(os.environ.get(var, ""))
    # Chatty third-party loggers stay at WARNING unless we debug them on purpose.
    for name in ("websockets", "asyncio", "aiohttp.access", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
