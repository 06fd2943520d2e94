"""The one rate-limited logger of the project.

Why: input that is bad once is usually bad a thousand times a second (a
broken upstream, a flood of malformed messages). Each kind of trouble gets at
most one log line per ``period`` seconds; the lines held back in between are
counted and said with the next one, so nothing is hidden and the log stays
readable. Sans-I/O apart from the logger: the clock is injected (tests pass a
fake one, or ``now=`` per call, as the window's Qt-free cores do).

    log = RateLimitedLog(logging.getLogger(__name__), period=5.0)
    log("malformed_json", "frame is not JSON: ...")            # WARNING
    log("slot_error", "...", level=logging.ERROR, now=t)        # explicit time
"""

from __future__ import annotations

import logging
import time
from typing import Callable


class RateLimitedLog:
    """At most one line per key per ``period`` s; returns True when the line was written."""

    def __init__(self, logger: logging.Logger, period: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.period, self.clock = logger, period, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, key: str, message: str, *, level: int = logging.WARNING, now: float | None = None) -> bool:
        t = self.clock() if now is None else now
        last = self._last.get(key)
        if last is not None and t - last < self.period:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        n = self._held.pop(key, 0)
        self._last[key] = t
        self.logger.log(level, "%s%s", message, f" (+{n} more since the last report)" if n else "")
        return True

    def held(self, key: str) -> int:
        """Lines of ``key`` held back since its last report."""
        return self._held.get(key, 0)
