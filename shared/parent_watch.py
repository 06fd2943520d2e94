"""Children of the supervisor exit when it is gone, even after a SIGKILL.

On Linux the supervisor also asks the kernel for a parent-death signal
(``shared.procs.child_preexec``); this watch is the portable fallback and
covers grandchildren (a window's "New window" process) that the kernel hook
does not. The supervisor puts its pid in ``LIVE_MONITOR_PARENT_PID``;
:func:`start_parent_watch` (called from ``shared.cli.main`` for every
sub-command) starts a daemon thread that polls it and, when the supervisor is
gone, sends this process SIGTERM so its normal clean shutdown runs, then
``os._exit`` after a grace period if that did not end it.

Polling ``os.getppid()`` is exact when the supervisor is our parent (no pid
reuse issue: we are re-parented the moment it dies); for a grandchild we fall
back to checking that the pid still exists.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Callable, Mapping

log = logging.getLogger(__name__)

# The supervisor puts its pid here for its children (shared.procs sets it, every command line reads it:
# declared in this small module so that reading it costs no import of shared.procs).
PARENT_PID_ENV = "LIVE_MONITOR_PARENT_PID"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parent_gone_check(watched: int, ppid_at_start: int,
                      getppid: Callable[[], int] = os.getppid,
                      pid_alive: Callable[[int], bool] = _pid_alive) -> Callable[[], bool]:
    """A predicate "is the supervisor gone?" (pure; the I/O functions are injectable)."""
    if watched == ppid_at_start:
        return lambda: getppid() != watched
    return lambda: not pid_alive(watched)


def start_parent_watch(env: Mapping[str, str] | None = None, interval: float = 0.5,
                       grace: float = 5.0) -> threading.Thread | None:
    """Start the watch when ``LIVE_MONITOR_PARENT_PID`` is set; return the thread."""
    env = os.environ if env is None else env
    raw = env.get(PARENT_PID_ENV, "")
    try:
        watched = int(raw)
    except ValueError:
        return None
    if watched <= 1:
        return None
    gone = parent_gone_check(watched, os.getppid())
    if gone():  # already orphaned before we even looked
        os.kill(os.getpid(), signal.SIGTERM)

    def run() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            if gone():
                log.warning("supervisor (pid %d) is gone; exiting", watched)
                os.kill(os.getpid(), signal.SIGTERM)
                stop.wait(grace)
                os._exit(1)

    t = threading.Thread(target=run, name="parent-watch", daemon=True)
    t.start()
    return t
