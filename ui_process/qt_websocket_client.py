"""The seed's ``PolygonWebSocketClient``: one upstream WebSocket in a Qt application, with Qt signals.

Why it looks like this
----------------------
The seed module's client ran an asyncio loop in a ``QThread`` and reported
through Qt signals. This keeps that surface exactly (signals ``connected``,
``disconnected``, ``data_received(dict)``, ``error_occurred(str)``,
``connection_status(bool)``; methods ``connect_to_server``, ``subscribe``,
``unsubscribe``, ``change_symbol``, ``disconnect``, all safe to call from the Qt
main thread) but holds no protocol logic of its own: inside the thread runs
the feed's asyncio client (:class:`feed_process.websocket_client.PolygonWebSocketClient`:
backoff 1 s doubling to 30 s with jitter, ``max_reconnect_attempts``, keepalive,
stall watchdog) over the feed's sans-I/O cores (:mod:`feed_process.protocols`:
relay ``/ws/{client_id}``, or Polygon ``/stocks`` with the key from
``POLYGON_API_KEY`` / ``MASSIVE_API_KEY``). Only the seams are here:

* main thread -> loop: ``loop.call_soon_threadsafe`` (the asyncio client is not
  thread-safe, so every call into it runs in its own loop);
* loop -> main thread: one private signal per upstream frame, carrying the
  frame's events; it is connected to a method of this object, which lives in the
  main thread, so Qt queues it there and the public signals are emitted on the
  main thread (no slot of the user's ever runs in the loop thread).

``data_received`` carries the relay's envelope ``{"type": "market_data",
"data": {...}}`` with the event in Polygon's spelling (``ev``, ``sym``, ``p``,
...), as the seed README shows, whichever protocol the upstream speaks; second
aggregates, LULD and NOI carry the dicts of docs/PROTOCOL.md. ``PolygonDataManager``'s
``_on_data_received`` accepts it as is.

When to prefer the feed: this is one upstream connection *per client object*
and every event crosses into Python and Qt. Several windows, several symbols,
history (backfill), sequence-checked snapshots, or Polygon's one-connection-per-key
limit: use ``PolygonDataManager`` (the feed process), which shares one
connection among all of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Iterable

from PyQt6.QtCore import QCoreApplication, QObject, QThread, pyqtSignal

from feed_process.protocols import AUTH_FAILED, CONNECTED, FAILED, MAX_CONNECTIONS, STALLED, make_core
from feed_process.websocket_client import PolygonWebSocketClient as _AsyncClient
from shared.models import wire
from shared.models.market_data import normalize_symbol, to_polygon

logger = logging.getLogger("live_monitor.data.websocket_client")

DEFAULT_URL = "ws://localhost:8200/ws/{client_id}"
ERROR_EVERY_S = 5.0  # error_occurred at most once per kind per this many seconds (a bad stream is loud)


def envelopes(batches: dict[str, list[list]]) -> list[dict]:
    """One frame's wire arrays -> relay envelopes (Polygon spelling for T/Q/AM; the other kinds as
    ``wire.event_to_dict`` makes them: ``second_aggregate``, ``luld``, ``imbalance``)."""
    out = []
    for sym, arrays in batches.items():
        for a in arrays:
            try:
                d = wire.event_to_dict(sym, a)
            except wire.WireError:
                continue
            out.append({"type": "market_data", "data": to_polygon(d) if a[0] in ("T", "Q", "AM") else d})
    return out


class _LoopThread(QThread):
    """A QThread whose run() is an asyncio loop (the seed's threading model)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self.loop.close()


class PolygonWebSocketClient(QObject):
    """The seed's client (see module doc)."""

    connected = pyqtSignal()
    disconnected = pyqtSignal()
    data_received = pyqtSignal(dict)
    error_occurred = pyqtSignal(str)
    connection_status = pyqtSignal(bool)
    _incoming = pyqtSignal(object)  # loop thread -> this object's (main) thread

    def __init__(self, server_url: str = DEFAULT_URL, client_id: str = "live_monitor",
                 parent: QObject | None = None, *, protocol: str | None = None, api_key: str | None = None):
        super().__init__(parent)
        self.server_url = server_url
        self.client_id = client_id
        self.url = server_url.replace("{client_id}", client_id)
        self.protocol = protocol or ("polygon" if self.url.split("?")[0].rstrip("/").endswith("/stocks") else "relay")
        self._api_key = api_key if api_key is not None else (
            os.environ.get("POLYGON_API_KEY") or os.environ.get("MASSIVE_API_KEY") or "")
        self.channels = ["T", "Q", "AM"]
        self.reconnect_delay = 1.0
        self.max_reconnect_delay = 30.0
        self.max_reconnect_attempts = 10
        self.is_connected = False
        self.subscribed_symbols: set[str] = set()
        self._thread: _LoopThread | None = None
        self._client: _AsyncClient | None = None
        self._error_at: dict[str, float] = {}
        self._incoming.connect(self._on_incoming)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.disconnect)  # a running QThread must not outlive the app

    # ------------------------------------------------------------ the seed's methods (main thread)

    def connect_to_server(self) -> None:
        """Start the loop thread and the connection (reconnects on its own until disconnect())."""
        if self._thread is not None:
            return
        core = make_core(self.protocol, self._api_key, self.channels)
        core.subscribe(sorted(self.subscribed_symbols))  # sent once the connection is ready
        emit = self._incoming.emit
        self._client = _AsyncClient(
            self.url, core, on_events=lambda b: emit(("data", b)),
            on_state=lambda s, m: emit(("state", s, m)), on_errors=lambda e: emit(("errors", e)),
            reconnect_delay=self.reconnect_delay, max_reconnect_delay=self.max_reconnect_delay,
            max_reconnect_attempts=self.max_reconnect_attempts)
        self._thread = _LoopThread(self)
        self._thread.start()
        logger.info("connecting to %s (%s)", self._client.public_url, self.protocol)
        self._call(self._client.connect_to_server)

    def subscribe(self, symbols: Iterable[str]) -> None:
        syms = self._symbols(symbols)
        self.subscribed_symbols.update(syms)
        if self._client is not None:
            self._call(self._client.subscribe, syms)

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        syms = self._symbols(symbols)
        self.subscribed_symbols.difference_update(syms)
        if self._client is not None:
            self._call(self._client.unsubscribe, syms)

    def change_symbol(self, symbol: str) -> None:
        """Watch only ``symbol`` (the seed's single-symbol switch)."""
        syms = self._symbols([symbol])
        if not syms:
            return
        self.subscribed_symbols = set(syms)
        if self._client is not None:
            self._call(self._client.change_symbol, syms[0])

    def disconnect(self) -> None:  # type: ignore[override]  # the seed's name, shadows QObject.disconnect
        """Unsubscribe, close frame, end the thread (waits at most ~3 s)."""
        t, c = self._thread, self._client
        self._thread = self._client = None
        if t is None or c is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(c.disconnect(), t.loop).result(3.0)
        except Exception as e:  # closing is best effort
            logger.debug("disconnect: %s", e)
        t.loop.call_soon_threadsafe(t.loop.stop)
        t.wait(3000)
        self._set_connected(False)
        logger.info("disconnected from %s", c.public_url)

    # ------------------------------------------------------------ internals

    def _symbols(self, symbols: Iterable[str] | str) -> list[str]:
        if isinstance(symbols, str):
            symbols = [symbols]
        out = []
        for s in symbols:
            try:
                out.append(normalize_symbol(s))
            except ValueError as e:
                self.error_occurred.emit(f"Cannot subscribe: {e}")
        return out

    def _call(self, fn, *args) -> None:
        t = self._thread
        if t is not None and not t.loop.is_closed():
            t.loop.call_soon_threadsafe(fn, *args)

    def _on_incoming(self, item: tuple) -> None:
        kind = item[0]
        if kind == "data":
            emit = self.data_received.emit
            for env in envelopes(item[1]):
                emit(env)
        elif kind == "state":
            _, state, message = item
            self._set_connected(state == CONNECTED)
            if state in (AUTH_FAILED, MAX_CONNECTIONS, FAILED, STALLED):
                self._error(state, f"Upstream {state}: {message}")
        else:
            for k, message in item[1]:
                self._error(k, message)

    def _set_connected(self, c: bool) -> None:
        if c == self.is_connected:
            return
        self.is_connected = c
        (self.connected if c else self.disconnected).emit()
        self.connection_status.emit(c)

    def _error(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._error_at.get(kind, -1e9) < ERROR_EVERY_S:
            return
        self._error_at[kind] = now
        logger.warning("%s", message)
        self.error_occurred.emit(message)
