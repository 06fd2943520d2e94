"""Open another window process on the same feed (the "New window" action).

One function, so the supervisor can take it over later: each window is its
own process (a crashed or busy window never takes the others down), started
as ``python -m supervisor ui --feed FEED --symbol SYM``, in its own session so
closing this window does not close the new one.
"""

from __future__ import annotations

import logging
import subprocess
import sys

log = logging.getLogger(__name__)


def window_command(feed: str, symbol: str) -> list[str]:
    return [sys.executable, "-m", "supervisor", "ui", "--feed", feed, "--symbol", symbol]


def spawn_window(feed: str, symbol: str) -> subprocess.Popen | None:
    from shared.supervisor_client import request_window

    # Under `live-monitor` the supervisor opens it: a supervised window (reopened if it
    # crashes, stopped with the app, and the app lives until the last window is closed).
    if request_window(symbol, timeout=1.0):
        log.info("the supervisor opens a new window on %s", symbol)
        return None
    cmd = window_command(feed, symbol)
    log.info("opening a new window: %s", " ".join(cmd[1:]))
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
