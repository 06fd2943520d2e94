"""The desktop's private control socket: windows ask for a new window and say which
symbol they show.

Why it looks like this
----------------------
* **Private by construction**: a ROUTER bound at ``ipc://<0700 temp dir>/supervisor``
  (only this user can connect), handed to the children in ``LIVE_MONITOR_SUPERVISOR``
  (``shared.supervisor_client``). Nothing on the network can ask for windows.
* **Three messages**, all ``{type: command, cmd: ...}`` in the feed's wire format:
  ``open_window {symbol}`` is a request (replied ``ok`` at once, the window is
  started in the background), ``window_symbol {symbol, pid}`` and
  ``window_ready {symbol, pid, marks}`` (the first chart with bars is painted;
  ``marks`` are the window's start-up instants) are notifications (no reply: the
  window's GUI thread sends them without waiting). ``window_spare {pid}`` is the
  request of a spare window (started, imported, its widgets built, not shown):
  its reply ``ok {symbol}`` comes only when a window is wanted, so a New window
  costs the snapshot and a paint, not an interpreter and Qt. The server knows
  nothing about runners: it calls the two functions it was given, so the owner
  decides what a request means (limits, names) in one place.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from typing import Awaitable, Callable

log = logging.getLogger("supervisor")

MAX_MESSAGE = 1 << 16


class WindowServer:
    """Serve ``open_window`` / ``window_symbol`` / ``window_ready`` until :meth:`close`."""

    def __init__(self, open_window: Callable[[str], str | None], window_symbol: Callable[[int, str], None],
                 window_ready: Callable[[int, str, dict], None] | None = None,
                 window_spare: Callable[[int, Callable[[str], None]], None] | None = None):
        # open_window(symbol) -> None when accepted (the owner starts it), else the refusal text
        self._open_window = open_window
        self._window_symbol = window_symbol
        self._window_ready = window_ready
        self._window_spare = window_spare  # (pid, assign): call assign(symbol) when a window is wanted
        self._dir: str | None = None
        self._sock = None
        self._task: asyncio.Task | None = None
        self.endpoint = ""

    def start(self) -> str:
        import zmq
        import zmq.asyncio

        self._dir = tempfile.mkdtemp(prefix="live-monitor-")  # 0700: only this user can ask
        self.endpoint = f"ipc://{self._dir}/supervisor"
        s = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        s.bind(self.endpoint)
        self._sock = s
        self._task = asyncio.create_task(self._serve(), name="window-requests")
        log.info("window requests at %s", self.endpoint)
        return self.endpoint

    async def _serve(self) -> None:
        from shared.models import wire

        assert self._sock is not None
        while True:
            frames = await self._sock.recv_multipart()
            if len(frames) != 2:
                continue
            ident, raw = frames
            if self._spare_request(ident, raw):
                continue
            reply = self._handle(raw)
            if reply is not None:
                await self._sock.send_multipart([ident, wire.pack(reply)])

    def _spare_request(self, ident: bytes, raw: bytes) -> bool:
        """A spare window asks for its symbol: answered later, by the assign function it gets."""
        from shared.models import messages as m
        from shared.models import wire

        try:
            msg = wire.decode_request(raw)  # typed: a Command (its shape is declared once, messages.Command)
        except wire.WireError:
            return False
        if not isinstance(msg, m.Command) or msg.cmd != "window_spare":
            return False
        pid = msg.pid
        if self._window_spare is None or not isinstance(pid, int) or isinstance(pid, bool):
            return True  # no spares here: the window waits until it is stopped

        def assign(symbol: str) -> None:
            if self._sock is not None:
                reply = m.Ok(v=1, id=msg.id, symbol=symbol)
                asyncio.ensure_future(self._sock.send_multipart([ident, wire.pack(reply)]))

        self._window_spare(pid, assign)
        return True

    def _handle(self, raw: bytes) -> object | None:
        from shared.models import messages as m
        from shared.models import wire
        from shared.models.market_data import normalize_symbol

        try:
            msg = wire.decode_request(raw)
        except wire.WireError as e:
            return wire.error_reply(None, str(e))
        rid = wire.reply_id(msg)
        cmd = msg.cmd if isinstance(msg, m.Command) else None
        if cmd not in ("open_window", "window_symbol", "window_ready"):
            return wire.error_reply(rid, "the supervisor only opens windows (cmd: open_window)", "unknown")
        try:
            sym = normalize_symbol(msg.symbol)
        except (ValueError, TypeError, AttributeError) as e:
            return None if cmd != "open_window" else wire.error_reply(rid, str(e)[:200])
        if cmd != "open_window":  # a notification: never answered
            pid = msg.pid
            if not isinstance(pid, int) or isinstance(pid, bool):
                return None
            if cmd == "window_symbol":
                self._window_symbol(pid, sym)
            elif self._window_ready is not None:
                marks = msg.marks
                self._window_ready(pid, sym, marks if isinstance(marks, dict) else {})
            return None
        refused = self._open_window(sym)
        if refused:
            return wire.error_reply(rid, refused, "refused")
        return m.Ok(v=1, id=rid)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
