"""Ask the supervisor that started this window to open another one ("New window").

A window started by ``live-monitor`` finds the supervisor's private endpoint (an
ipc socket in a 0700 temporary directory) in ``LIVE_MONITOR_SUPERVISOR``.
Asking there, instead of spawning a process itself, makes the new window a
supervised child like the others: reopened if it crashes, stopped with the
app, and the app ends only when the user has closed the last window. Without
the variable (a window started by hand) the caller spawns the process itself.
"""

from __future__ import annotations

import logging
import os

from .feed_probe import request
from .models import wire

log = logging.getLogger(__name__)

SUPERVISOR_ENV = "LIVE_MONITOR_SUPERVISOR"


def supervisor_endpoint() -> str | None:
    return os.environ.get(SUPERVISOR_ENV) or None


def request_window(symbol: str, endpoint: str | None = None, timeout: float = 2.0) -> bool:
    """True if the supervisor accepted to open a window on ``symbol``."""
    endpoint = endpoint or supervisor_endpoint()
    if not endpoint:
        return False
    reply = request(endpoint, {"v": wire.PROTOCOL_VERSION, "type": "command", "cmd": "open_window",
                               "symbol": symbol}, timeout)
    if reply is None:
        log.warning("the supervisor at %s did not answer; opening the window directly", endpoint)
        return False
    if reply.get("type") != "ok":
        log.warning("the supervisor refused a window on %s: %s", symbol, reply.get("message"))
        return False
    return True
