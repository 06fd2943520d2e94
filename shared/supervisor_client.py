"""A window's two words to the supervisor that started it: "open another window"
(New window) and "I now show this symbol".

A window started by ``live-monitor`` finds the supervisor's private endpoint (an
ipc socket in a 0700 temporary directory) in ``LIVE_MONITOR_SUPERVISOR``.
Asking there, instead of spawning a process itself, makes the new window a
supervised child like the others: reopened if it crashes, stopped with the
app, and the app ends only when the user has closed the last window. Without
the variable (a window started by hand) the caller spawns the process itself.

``report_symbol`` is a notification, not a request: it is called from the
window's GUI thread on every symbol switch, so it never waits. One DEALER per
process is kept (a throw-away socket with LINGER 0 could drop the message before
it left); sends are NOBLOCK and the supervisor never replies to it. With the
symbols in the supervisor's reports, ``live-monitor status`` lists each window
under the symbol it shows. ``report_ready`` is the same kind of notification,
sent once when the first chart with bars is painted, with the window's start-up
steps: the supervisor logs it, and ``bench/startup.py`` measures time to first
chart by it.
"""

from __future__ import annotations

import logging
import os

from .feed_probe import request
from .models import messages as m
from .models import wire

log = logging.getLogger(__name__)

SUPERVISOR_ENV = "LIVE_MONITOR_SUPERVISOR"

_notify_sock = None  # (endpoint, zmq socket) of report_symbol, created on first use


def supervisor_endpoint() -> str | None:
    return os.environ.get(SUPERVISOR_ENV) or None


def request_window(symbol: str, endpoint: str | None = None, timeout: float = 2.0) -> bool:
    """True if the supervisor accepted to open a window on ``symbol``."""
    endpoint = endpoint or supervisor_endpoint()
    if not endpoint:
        return False
    reply = request(endpoint, wire.command("open_window", symbol=symbol), timeout)
    if reply is None:
        log.warning("the supervisor at %s did not answer; opening the window directly", endpoint)
        return False
    if reply.get("type") != "ok":
        log.warning("the supervisor refused a window on %s: %s", symbol, reply.get("message"))
        return False
    return True


def report_symbol(symbol: str, endpoint: str | None = None) -> bool:
    """Tell the supervisor (if any) that this window now shows ``symbol``. Never blocks;
    False when there is no supervisor or the message could not be queued."""
    if not symbol:
        return False
    return _notify("window_symbol", {"symbol": symbol}, endpoint)


def report_ready(symbol: str, marks: dict[str, float], endpoint: str | None = None) -> bool:
    """Tell the supervisor (if any) that this window has painted its first chart with bars.

    ``marks``: wall-clock instants (``time.time()``) of the window's start-up steps, named
    (``process``, ``imported``, ``shown``, ``hello``, ``chart_data``, ``painted``); the
    supervisor logs them as durations (``bench/startup.py`` reads that line). Never blocks."""
    if not symbol:
        return False
    clean = {str(k): float(v) for k, v in marks.items() if isinstance(v, (int, float))}
    return _notify("window_ready", {"symbol": symbol, "marks": clean}, endpoint)


def _notify(cmd: str, body: dict, endpoint: str | None) -> bool:
    """One notification (never answered) on the process's DEALER to the supervisor."""
    global _notify_sock
    endpoint = endpoint or supervisor_endpoint()
    if not endpoint:
        return False
    import zmq

    try:
        if _notify_sock is None or _notify_sock[0] != endpoint:
            if _notify_sock is not None:
                _notify_sock[1].close(0)
            s = zmq.Context.instance().socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 500)  # a last report may still leave when the window closes
            s.setsockopt(zmq.SNDHWM, 16)
            s.connect(endpoint)
            _notify_sock = (endpoint, s)
        _notify_sock[1].send(wire.pack(wire.command(cmd, pid=os.getpid(), **body)), zmq.NOBLOCK)
        return True
    except (zmq.ZMQError, wire.WireError) as e:
        log.debug("could not send %s to the supervisor: %s", cmd, e)
        return False


def wait_for_symbol(endpoint: str | None = None) -> str | None:
    """A spare window's wait: ask the supervisor for a symbol and block until it answers (the user
    asked for a window). None without a supervisor or on a bad answer (the caller exits)."""
    endpoint = endpoint or supervisor_endpoint()
    if not endpoint:
        return None
    import zmq

    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    try:
        s.connect(endpoint)
        s.send(wire.pack(wire.command("window_spare", "spare", pid=os.getpid())))
        while not s.poll(500):  # in slices: a signal handler still runs while the spare waits
            pass
        reply = wire.decode_reply(s.recv())  # typed: an Ok with the symbol, or an error
    except (zmq.ZMQError, wire.WireError) as e:
        log.warning("spare window: no symbol from the supervisor: %s", e)
        return None
    finally:
        s.close(0)
    return reply.symbol or None if isinstance(reply, m.Ok) else None
