"""The supervisor's word to the feed: resource reports and notices for the windows.

Why it looks like this
----------------------
* **A plain (not asyncio) DEALER with NOBLOCK sends**: reports are dropped when
  the feed is away (``IMMEDIATE``, a tiny ``SNDHWM``), never queued for a feed
  that isn't there, and nothing here can block the supervisor's loop. Replies
  are drained without waiting; each distinct refusal is logged once (an older
  feed that doesn't know a command).
* The socket uses the feed's CURVE keys when it has them
  (``shared.zmq_client.apply_curve``), like every other client of that feed.
* ``report_loop`` takes the children's figures as a function, so this module
  knows the wire, not the runners.
"""

from __future__ import annotations

import logging
import os
from typing import Awaitable, Callable

from shared.procs import format_report

log = logging.getLogger("supervisor")

REPORT_LOG_EVERY = 60.0       # seconds between INFO log lines of the samples (DEBUG otherwise)


class FeedReporter:
    def __init__(self, address: str, curve_dir: str = "", mode: str = "desktop"):
        self.address = address
        self.curve_dir = curve_dir
        self.mode = mode
        self._sock = None
        self._req_id = 0
        self._seen_errors: set[str] = set()
        self._last_info_log = float("-inf")

    def open(self) -> None:
        import zmq

        from shared.zmq_client import apply_curve

        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IMMEDIATE, 1)  # never queue reports for a feed that isn't there
        s.setsockopt(zmq.SNDHWM, 4)
        s.setsockopt(zmq.RCVHWM, 16)
        apply_curve(s, self.curve_dir)  # as every other client of a CURVE feed
        s.connect(self.address)
        self._sock = s

    def send(self, body: dict) -> None:
        if self._sock is None:
            return
        import zmq

        from shared.models import wire

        self._req_id += 1
        try:
            self._sock.send(wire.pack(wire.command(req_id=f"sup-{self._req_id}", **body)), zmq.NOBLOCK)
        except zmq.Again:
            log.debug("feed not reachable: %s dropped", body.get("cmd"))
        except (zmq.ZMQError, wire.WireError) as e:
            log.debug("cannot send %s to the feed: %s", body.get("cmd"), e)

    def drain(self) -> None:
        """Read the feed's replies; log each distinct refusal once."""
        import zmq

        from shared.models import messages as m
        from shared.models import wire

        while self._sock is not None:
            try:
                msg = wire.decode_reply(self._sock.recv(zmq.NOBLOCK))  # typed: ok, or an ErrorReply
            except zmq.Again:
                return
            except wire.WireError as e:
                log.debug("bad reply from the feed: %s", e)
                continue
            if isinstance(msg, m.ErrorReply):
                text = msg.message
                if text not in self._seen_errors and len(self._seen_errors) < 50:
                    self._seen_errors.add(text)
                    log.info("the feed refused a supervisor command: %s", text)

    def notice(self, message: str) -> None:
        """Ask the feed to tell every window (it publishes an ``error`` on ``sys|``)."""
        self.send({"cmd": "notice", "message": message, "source": "supervisor"})

    def report(self, children: list[dict], now: float) -> None:
        level = logging.INFO if now - self._last_info_log >= REPORT_LOG_EVERY else logging.DEBUG
        if level == logging.INFO:
            self._last_info_log = now
        log.log(level, "children: %s", format_report(children))
        self.drain()
        self.send({"cmd": "supervisor_report", "supervisor_pid": os.getpid(), "mode": self.mode,
                   "children": children})

    async def report_loop(self, children: Callable[[], list[dict]], clock: Callable[[], float],
                          sleep_or_stop: Callable[[float], Awaitable[bool]], interval: float) -> None:
        while True:
            self.report(children(), clock())
            if await sleep_or_stop(interval):
                return

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=200)  # let a last notice go out
            self._sock = None
