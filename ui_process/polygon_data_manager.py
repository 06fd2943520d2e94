"""PolygonDataManager: the original module's public API, fed by the feed process over ZeroMQ.

Why it looks like this
----------------------
Code written against the seed module (``live_monitor.data.PolygonDataManager``)
keeps working unchanged: the same seven signals, methods, attributes and
overridable ``_on_data_received`` / ``_process_trade`` / ``_process_quote`` /
``_process_aggregate`` hooks, which receive the seed dicts for every event.

This class is only the seed's facade. The work is done by:

* :mod:`ui_process.private_feed` - which feed ``server_url`` means (a feed
  address, or the upstream of an attached / privately started feed);
* :mod:`ui_process.feed_transport` - the Qt transport (sockets, notifiers, drains);
* :mod:`ui_process.manager_core` - the Qt-free core (link, symbol state,
  indicators and signals, coalescing, diagnosis).

Routing: nothing overridden -> the core's own handlers (fast path). An
overridden ``_process_*`` hook is called directly with the seed dict (what the
base ``_on_data_received`` would do). A subclass that overrides
``_on_data_received`` gets the seed's whole pipeline: every event goes through
it in the relay's envelope
``{"type": "market_data", "data": {...}}`` (either field spelling is accepted,
as the seed's relay sent Polygon's), which routes to the ``_process_*`` hooks.
Overrides are detected at construction and at :meth:`connect`.

Many symbols (issue 16, :mod:`ui_process.watch_api`): ``watch(symbols)`` with
``summary_updated(dict)``, and alerts (``alert_fired``, ``alerts_changed``,
``add_alert``...) beside the one-symbol API, which does not change.

Three signals beyond the seed's seven (nothing of the seed's changes):
``luld_event(dict)`` (LULD price bands / halts, ``event_type`` ``'luld'``),
``second_aggregate_updated(dict)`` (``A`` bars, ``timeframe`` ``'1s'``; never a
minute bar) and ``levels_updated(dict)`` (the key levels of
:mod:`shared.market.levels`, when they change).

Timeframes (issue 15): :meth:`set_timeframe` (1m default, as the seed) and
:meth:`set_chart_options` choose what ``chart_data_updated``,
``calculation_updated`` and the signals are computed on; every chart dict
carries ``timeframe``, and a full refresh ``indicators`` (one calculation dict
per bar), so a chart draws the manager's indicators instead of computing its
own. ``get_accumulated_bars()`` stays the finished minute bars (the seed's).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Optional

import zmq
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from shared import market_hours
from shared.config import Settings, load_settings
from shared.market.timeframes import TIMEFRAMES
from shared.models.market_data import (AGGREGATE_KEYS, QUOTE_KEYS, TRADE_KEYS, InvalidEvent, normalize,
                                       normalize_symbol)

from . import private_feed
from .feed_transport import RCVHWM, FeedTransport  # RCVHWM: read at connect(); tests shrink it (a slow window)
from .manager_core import Emit, NullIO
from .watch_api import WatchApi
from .watch_core import WatchCore

logger = logging.getLogger("live_monitor.data.polygon_data_manager")

RESOLVE_POLL_MS = 20
_SEED_KEYS = {"trade": TRADE_KEYS, "quote": QUOTE_KEYS, "aggregate": AGGREGATE_KEYS}


class PolygonDataManager(WatchApi, QObject):
    """Central hub: feed messages in, the seed's Qt signals out (see module doc)."""

    market_data_updated = pyqtSignal(dict)       # TickerCalculationData
    chart_data_updated = pyqtSignal(dict)        # {'bars': [...], 'is_update': bool}
    calculation_updated = pyqtSignal(dict)       # indicators (ui_process.indicators.CALC_KEYS)
    entry_signal_generated = pyqtSignal(dict)    # EntrySignal
    exit_signal_generated = pyqtSignal(dict)     # ExitSignal
    connection_status_changed = pyqtSignal(bool)  # feed reachable and upstream connected
    error_occurred = pyqtSignal(str)             # human-readable
    luld_event = pyqtSignal(dict)                # not in the seed: LULD bands / halts
    second_aggregate_updated = pyqtSignal(dict)  # not in the seed: second bars (A)
    levels_updated = pyqtSignal(dict)            # not in the seed: prior day / pre-market / opening range
    summary_updated = pyqtSignal(dict)           # not in the seed: a watched symbol's summary (watch())
    alert_fired = pyqtSignal(dict)               # not in the seed: a fired alert (live, or from the feed's log)
    alerts_changed = pyqtSignal(dict)            # not in the seed: {alerts: [...]} after a change

    _transport_class = FeedTransport  # a subclass may time or wrap the transport (bench/ui_ingest.py)

    def __init__(self, server_url: Optional[str] = None, *, settings: Settings | None = None,
                 symbol: str | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, parent: QObject | None = None):
        super().__init__(parent)
        market_hours.warm(background=True)  # a no-op when the host app warmed it (run_ui does)
        s = settings or load_settings()
        self.settings = s
        self.server_url = server_url or s.feed
        self._requested_url = server_url
        self.heartbeat_check_interval = s.heartbeat_check_interval
        self.ui_update_hz = s.ui_update_hz
        emit = Emit(market=self.market_data_updated.emit, chart=self.chart_data_updated.emit,
                    calc=self.calculation_updated.emit, entry=self.entry_signal_generated.emit,
                    exit=self.exit_signal_generated.emit, connection=self.connection_status_changed.emit,
                    error=self.error_occurred.emit, luld=self.luld_event.emit,
                    second=self.second_aggregate_updated.emit, levels=self.levels_updated.emit)
        self._core = WatchCore(symbol or (s.symbols[0] if s.symbols else "AAPL"), max_bars=s.max_bars,
                               no_data_threshold=s.no_data_threshold, ui_update_hz=s.ui_update_hz,
                               client=f"ui-{os.getpid()}", clock=clock, wall_clock=wall_clock, emit=emit,
                               on_summary=self.summary_updated.emit, on_alert=self.alert_fired.emit,
                               on_alerts=self.alerts_changed.emit)
        self.entry_signal_generated.connect(self._report_signal)
        self.exit_signal_generated.connect(self._report_signal)
        self.signal_engine = self._core.signal_engine
        self.stats = self._core.stats
        self._transport: FeedTransport | None = None
        self._pending = None  # the future of the feed address while it is being found/started
        self._resolve_timer = QTimer(self)
        self._resolve_timer.setInterval(RESOLVE_POLL_MS)
        self._resolve_timer.timeout.connect(self._check_resolved)
        self._display_timer = QTimer(self)
        # A third of the period: emissions are gated to >= one period apart (display_tick), and a
        # finer tick loses less of each period to timer granularity.
        self._display_timer.setInterval(max(1, int(1000 / self.ui_update_hz / 3)))
        self._display_timer.timeout.connect(self._on_display_tick)
        self.heartbeat_timer = QTimer(self)
        self.heartbeat_timer.setInterval(self.heartbeat_check_interval)
        self.heartbeat_timer.timeout.connect(self.check_data_flow)
        self._install_routing()

    # ================================================================ the seed's attributes

    @property
    def current_symbol(self) -> str:
        return self._core.symbol

    @current_symbol.setter
    def current_symbol(self, symbol: str) -> None:
        self.change_symbol(symbol)

    @property
    def max_bars(self) -> int:
        return self._core.max_bars

    @max_bars.setter
    def max_bars(self, n: int) -> None:
        self._core.max_bars = n

    @property
    def no_data_threshold(self) -> float:
        return self._core.no_data_threshold

    @no_data_threshold.setter
    def no_data_threshold(self, s: float) -> None:
        self._core.no_data_threshold = float(s)

    @property
    def accumulated_bars(self) -> list[dict]:
        """The finished minute bars themselves (oldest first); get_accumulated_bars() returns a copy."""
        return self._core.state.bars

    @property
    def market_state(self) -> dict[str, dict]:
        """Per-symbol state (the current symbol only: a symbol change clears the old one)."""
        c = self._core
        ms = c.market_state()
        t = c.state.ticker(ms)
        return {c.symbol: dict(t) if t is not None else {"market_state": ms}}

    # ================================================================ public API (the seed's)

    def connect(self) -> None:  # type: ignore[override]  # the seed's name, shadows QObject.connect
        """Find (or start) the feed, then say hello, subscribe, snapshot. Never blocks."""
        if self._transport is not None or self._pending is not None:
            return
        self._install_routing()
        url = self._requested_url
        if url is not None and private_feed.is_feed_address(url):
            self._open(url)
            return
        if url is not None and not private_feed.is_upstream_url(url):
            msg = f"Feed address must look like tcp://HOST:PORT, or an upstream ws://HOST/PATH (got {url!r})"
            logger.error(msg)
            self.error_occurred.emit(msg)
            return
        private_feed.REGISTRY.install_quit_hooks()
        self._pending = private_feed.REGISTRY.resolve(url, self.settings)
        self._resolve_timer.start()
        self._check_resolved()

    def disconnect(self) -> None:  # type: ignore[override]
        """Clean disconnection: timers stopped, sockets closed (a private feed runs until the app quits)."""
        self.heartbeat_timer.stop()
        self._display_timer.stop()
        self._resolve_timer.stop()
        self._pending = None
        t, self._transport = self._transport, None
        if t is not None:
            self._core.stop()
            t.close()
            t.deleteLater()
        else:
            self._core.set_connected(False)
        self._core.io = NullIO()
        logger.info("disconnected from feed %s", self._core.address or self.server_url)

    def change_symbol(self, symbol: str) -> None:
        """Switch to ``symbol``: clear the old state; nothing of the old symbol is emitted after this returns."""
        try:
            sym = normalize_symbol(symbol)
        except ValueError as e:
            self.error_occurred.emit(f"Cannot change symbol: {e}")
            return
        if sym == self._core.symbol:
            return  # already there (connect() subscribes the current symbol)
        logger.info("symbol %s -> %s", self._core.symbol, sym)
        self._after(self._core.set_symbol(sym))

    def get_accumulated_bars(self) -> list[dict]:
        """A copy of the finished minute bars (oldest first, at most ``max_bars``)."""
        return [dict(b) for b in self._core.state.bars]

    def check_data_flow(self) -> str:
        """Heartbeat check (every ``heartbeat_check_interval`` ms): warn after ``no_data_threshold`` s without data.

        Returns the diagnosis: ``"ok"``, ``"feed process gone"``, ``"upstream down ..."`` or
        ``"market closed or quiet ..."``.
        """
        return self._core.check_data_flow()

    def test_chart_update(self) -> None:
        """Send one synthetic minute bar through the pipeline (a chart wiring check; labelled in the log)."""
        bar = self._core.pipe.synthetic_bar()
        logger.info("test_chart_update: synthetic bar %s at %s (not market data)", bar["symbol"], bar["timestamp"])
        self._process_aggregate(bar)

    # ---------------------------------------------------------------- timeframes (not in the seed)

    TIMEFRAMES = TIMEFRAMES

    @property
    def timeframe(self) -> str:
        return self._core.pipe.tf

    def set_timeframe(self, tf: str) -> None:
        """Bars, indicators and signals on ``tf`` (one of :data:`TIMEFRAMES`); a full refresh follows at once.

        Raises ValueError for an unknown timeframe.
        """
        self._core.pipe.configure(tf)

    def chart_options(self) -> dict[str, Any]:
        return dict(self._core.pipe.options)

    def set_chart_options(self, **options: Any) -> None:
        """``extended_hours`` (bool), ``vwap_anchor`` ('open' 09:30 | 'pre' 04:00), ``hour_anchor``
        ('open' 09:30 | 'clock' on the hour: 1h/4h buckets), ``opening_range`` (5 | 15 | 30 minutes).
        A full refresh follows when anything changed; ValueError for an unknown option or value."""
        self._core.pipe.configure(None, **options)

    def get_bars(self) -> list[dict]:
        """A copy of the finished bars of the chosen timeframe (oldest first)."""
        return [dict(b) for b in self._core.pipe.bars]

    # ---------------------------------------------------------------- hooks (override, call super)

    def _on_data_received(self, data: Any) -> None:
        """One relay message: ``{"type": "market_data", "data": {...}}`` (either spelling, or a list)."""
        if isinstance(data, dict) and data.get("type") == "error":
            self.error_occurred.emit(f"Upstream error: {data.get('message')}")
            return
        if isinstance(data, dict) and "type" in data and data.get("type") != "market_data":
            return  # connected / subscribed / pong: nothing for the signals
        payload = data.get("data") if isinstance(data, dict) and "type" in data else data
        for item in payload if isinstance(payload, list) else [payload]:
            try:
                ev = self._seed_dict(item)
            except InvalidEvent as e:
                self._core.stats["bad_messages"] += 1
                if self._core.ratelog("bad_event", f"dropped a received event: {e}", now=self._core.clock()):
                    self.error_occurred.emit(f"Dropped a malformed event ({e})")
                continue
            et = ev["event_type"]
            if et == "trade":
                self._process_trade(ev)
            elif et == "quote":
                self._process_quote(ev)
            elif et == "aggregate":
                self._process_aggregate(ev)
            else:  # second bars, LULD, NOI: their own signals, never a minute bar
                self._core.extra_event(ev)

    @staticmethod
    def _seed_dict(item: Any) -> dict:
        # Our own events are complete seed dicts already (with the contract's added keys): pass them on.
        if isinstance(item, dict):
            keys = _SEED_KEYS.get(item.get("event_type"))  # type: ignore[arg-type]
            if keys is not None and keys <= item.keys():
                return item
        return normalize(item)  # type: ignore[return-value]

    def _process_trade(self, trade: dict) -> None:
        self._core.pipe.trade(trade)

    def _process_quote(self, quote: dict) -> None:
        self._core.pipe.quote(quote)

    def _process_aggregate(self, agg: dict) -> None:
        self._core.pipe.aggregate(agg)

    # ================================================================ extras for the dashboard

    def feed_info(self) -> dict[str, Any]:
        """Read-only status for the dashboard (polled)."""
        info = self._core.info()
        info["feed"] = self._core.address or self.server_url
        return info

    status = feed_info

    def send_command(self, msg: dict) -> None:
        """Send a control command to the feed (e.g. ``{"type": "command", "cmd": "reconnect"}``)."""
        self._core.run([("send", msg)])

    @property
    def feed_address(self) -> str | None:
        """The control address of the feed in use (None while it is being found or started)."""
        return self._core.address

    # ================================================================ internals

    def _overridden(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(PolygonDataManager, name) or name in self.__dict__

    def _install_routing(self) -> None:
        """Fast path unless a subclass (or instance) overrides a hook: then every event goes through
        ``_on_data_received`` in the relay's envelope, which routes to the ``_process_*`` hooks."""
        c, p = self._core, self._core.pipe
        # Only an overridden _on_data_received needs the envelope. The base one merely routes by
        # event type, so an overridden _process_* hook is called straight with the seed dict: the
        # same calls the seed makes, without building an envelope per event (the dashboard's own
        # TapeDataManager overrides _process_trade/_process_quote and stays on this path).
        c.on_envelope = self._on_data_received if self._overridden("_on_data_received") else None
        c.on_trade = self._process_trade if self._overridden("_process_trade") else p.trade
        c.on_quote = self._process_quote if self._overridden("_process_quote") else p.quote
        c.on_aggregate = self._process_aggregate if self._overridden("_process_aggregate") else p.aggregate

    def _check_resolved(self) -> None:
        fut = self._pending
        if fut is None or not fut.done():
            return
        self._resolve_timer.stop()
        self._pending = None
        p = fut.result()
        if p.action == "error":
            logger.error(p.message)
            self.error_occurred.emit(p.message)
            return
        self._open(p.address)

    def _open(self, address: str) -> None:
        self._core.address = address
        t = self._transport_class(self._core, address, self.settings.curve_dir, rcvhwm=RCVHWM, parent=self)
        try:
            t.open()
        except zmq.ZMQError as e:
            msg = f"Cannot connect to the feed at {address}: {e}"
            logger.error(msg)
            self.error_occurred.emit(msg)
            return
        self._transport = t
        self._core.io = t
        logger.info("connecting to feed %s (symbol %s)", address, self._core.symbol)
        self._after(self._core.start())
        self._display_timer.start()
        self.heartbeat_timer.start()

    def _after(self, touched: bool) -> None:
        if self._transport is not None:
            self._transport.after(touched)

    def _on_display_tick(self) -> None:
        self._core.display_tick()

    def _on_safety_tick(self) -> None:
        if self._transport is not None:
            self._transport.safety_tick()
        else:
            self._core.tick()

    @property
    def _link(self):  # tests and tools read the protocol state
        return self._core.link

    @property
    def _state(self):
        return self._core.state
