"""PolygonDataManager: the original module's public API, fed by the feed process over ZeroMQ.

Why it looks like this
----------------------
Code written against the seed module (``live_monitor.data.PolygonDataManager``)
keeps working with only its import changed: the same seven signals, methods and
overridable ``_process_trade`` / ``_process_quote`` / ``_process_aggregate``
hooks, which receive the seed dicts for every event.

Underneath, this is a thin Qt adapter over Qt-free cores:

* :class:`ui_process.feed_link.FeedLink` - the protocol state machine (hello,
  subscribe -> snapshot -> buffered updates, gaps, epochs, feed death);
* :class:`ui_process.symbol_state.WindowSymbol` - ticker, day stats, bars, forming bar;
* :class:`ui_process.indicators.IndicatorSet` and
  :class:`ui_process.signal_engine.SignalEngine`.

Transport: a SUB (data) and a DEALER (control) socket, read on the GUI thread
through ``QSocketNotifier`` s on ``ZMQ_FD``. That FD is *edge*-triggered and
only says "look at ZMQ_EVENTS", so each slot disables its notifier, drains
while ``EVENTS & POLLIN`` under a 10 ms budget and re-enables it. Accepted
events wait in a backlog applied in 64-event slices, so even a 10,000-event
batch never freezes the window; when the budget runs out the notifier stays
off and a zero-interval ``QTimer`` continues (a timer rather than posted calls,
so the display timers still get their turn). After every send or
(un)subscribe the sockets are drained once more, and a 250 ms safety timer
drains and then runs the link's timeouts. The receive queue is bounded
(``RCVHWM``): a UI slower than the feed drops, sees the gap and re-snapshots
rather than growing and lagging. No thread, no blocking call: snapshot
requests are asynchronous and retried by the link.

Emission rules: bars (finished), ``calculation_updated`` for finished bars and
entry/exit signals are emitted at once and never dropped. Ticker updates
(``market_data_updated``) and the forming bar are coalesced by a display timer
to at most ``ui_update_hz`` per second, and only emitted when changed.

Chart contract: ``chart_data_updated`` ``{'bars': [...], 'is_update': False}``
is a full refresh (finished bars, then the forming bar if any);
``{'bars': [bar], 'is_update': True}`` carries one bar that *replaces the bar
with the same timestamp* if the chart has one, else is appended. (The official
AM bar of minute m arrives after trades of minute m+1 have started the next
forming bar, so an update may be for the last-but-one bar.)
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any, Callable, Optional

import zmq
from PyQt6.QtCore import QObject, QSocketNotifier, QTimer, pyqtSignal

from shared import market_hours
from shared.config import Settings, load_settings
from shared.market_hours import market_state
from shared.models import wire
from shared.models.market_data import normalize_symbol
from shared.zmq_client import apply_curve, data_endpoint

from .feed_link import FEED_GONE_S, FeedLink
from .indicators import IndicatorSet
from .signal_engine import SignalEngine
from .symbol_state import MINUTE_MS, WindowSymbol

logger = logging.getLogger(__name__)

DRAIN_BUDGET_S = 0.010      # one drain slice; the rest continues after the event loop breathes
EVENT_SLICE = 64            # events between two looks at the clock (bounds the overshoot)
RCVHWM = 1_000              # data messages queued in this process before ZeroMQ drops
SAFETY_INTERVAL_MS = 250    # drain + link timeouts even if an FD edge was missed
UPSTREAM_BAD_STATES = {"auth_failed": "authentication failed", "max_connections": "another connection uses the key",
                       "failed": "gave up reconnecting", "stalled": "stalled (connected but silent)",
                       "reconnecting": "reconnecting", "stopped": "stopped"}


class _RateLimitedLog:
    """At most one log line per key per ``every`` seconds, with the count of the silent ones."""

    def __init__(self, every: float = 5.0):
        self.every = every
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, key: str, level: int, msg: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        n = self._suppressed.pop(key, 0)
        self._last[key] = now
        logger.log(level, "%s%s", msg, f" (+{n} more since last report)" if n else "")
        return True


class PolygonDataManager(QObject):
    """Central hub: feed messages in, the seed's Qt signals out (see module doc)."""

    market_data_updated = pyqtSignal(dict)       # TickerCalculationData
    chart_data_updated = pyqtSignal(dict)        # {'bars': [...], 'is_update': bool}
    calculation_updated = pyqtSignal(dict)       # indicators (ui_process.indicators.CALC_KEYS)
    entry_signal_generated = pyqtSignal(dict)    # EntrySignal
    exit_signal_generated = pyqtSignal(dict)     # ExitSignal
    connection_status_changed = pyqtSignal(bool)  # feed reachable and upstream connected
    error_occurred = pyqtSignal(str)             # human-readable

    def __init__(self, server_url: Optional[str] = None, *, settings: Settings | None = None,
                 symbol: str | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, parent: QObject | None = None):
        super().__init__(parent)
        market_hours.warm(background=True)  # a no-op when the host app warmed it (run_ui does)
        s = settings or load_settings()
        self.settings = s
        self.server_url = server_url or s.feed
        self.max_bars = s.max_bars
        self.no_data_threshold = s.no_data_threshold
        self.heartbeat_check_interval = s.heartbeat_check_interval
        self.ui_update_hz = s.ui_update_hz
        self.current_symbol: str = symbol or (s.symbols[0] if s.symbols else "AAPL")
        self._clock = clock
        self._wall = wall_clock
        self._ctx = zmq.Context.instance()
        self._sub: zmq.Socket | None = None
        self._dealer: zmq.Socket | None = None
        self._sub_notifier: QSocketNotifier | None = None
        self._dealer_notifier: QSocketNotifier | None = None
        self._data_endpoint: str | None = None
        self._backlog: deque[list] = deque()  # event arrays accepted by the link, not yet applied
        self._backlog_pos = 0
        self._link = FeedLink(client=f"ui-{os.getpid()}")
        self._state = WindowSymbol(self.current_symbol, self.max_bars)
        self._indicators = IndicatorSet(self.current_symbol)
        self.signal_engine = SignalEngine()
        self.signal_engine.reset(self.current_symbol)
        self._connected = False
        self._was_alive = False
        self._last_upstream_state: str | None = None
        self._dirty_ticker = False
        self._dirty_forming = False
        self._last_ticker: dict | None = None
        self._last_emit_at = -1e9
        self._last_data_at: float | None = None
        self._connected_at = clock()
        self._flow_warning: str | None = None
        self._ratelog = _RateLimitedLog()
        self.stats = {"events": 0, "messages": 0, "bad_messages": 0, "hook_errors": 0,
                      "market_data_emits": 0, "chart_emits": 0, "signals": 0}
        self._rate_window: list[tuple[float, int]] = []

        self._continue_timer = QTimer(self)
        self._continue_timer.setSingleShot(True)
        self._continue_timer.setInterval(0)
        self._continue_timer.timeout.connect(self._drain_all)
        self._display_timer = QTimer(self)
        # A third of the period: emissions are gated to >= one period apart (_on_display_tick), and a
        # finer tick loses less of each period to timer granularity.
        self._display_timer.setInterval(max(1, int(1000 / self.ui_update_hz / 3)))
        self._display_timer.timeout.connect(self._on_display_tick)
        self._safety_timer = QTimer(self)
        self._safety_timer.setInterval(SAFETY_INTERVAL_MS)
        self._safety_timer.timeout.connect(self._on_safety_tick)
        self.heartbeat_timer = QTimer(self)
        self.heartbeat_timer.setInterval(self.heartbeat_check_interval)
        self.heartbeat_timer.timeout.connect(self.check_data_flow)

    # ================================================================ public API (the seed's)

    def connect(self) -> None:  # type: ignore[override]  # the seed's name, shadows QObject.connect
        """Connect to the feed: say hello, subscribe, snapshot. Never blocks."""
        if self._dealer is not None:
            return
        url = self.server_url
        if not isinstance(url, str) or not url.startswith(("tcp://", "ipc://")):
            msg = f"Feed address must look like tcp://HOST:PORT (got {url!r})"
            logger.error(msg)
            self.error_occurred.emit(msg)
            return
        try:
            self._sub = self._ctx.socket(zmq.SUB)
            self._sub.setsockopt(zmq.LINGER, 0)
            # Bounded receive queue (messages of ~1-500 events): a UI slower than the feed drops at
            # the high-water mark, sees the gap and re-snapshots, instead of growing and lagging.
            self._sub.setsockopt(zmq.RCVHWM, RCVHWM)
            apply_curve(self._sub, self.settings.curve_dir)  # a remote feed bound with CURVE keys
            self._sub_notifier = self._notifier(self._sub, self._drain_data)
            self._open_control()
        except zmq.ZMQError as e:
            self._close_sockets()
            msg = f"Cannot connect to the feed at {url}: {e}"
            logger.error(msg)
            self.error_occurred.emit(msg)
            return
        logger.info("connecting to feed %s (symbol %s)", url, self.current_symbol)
        self._connected_at = self._clock()
        self._link.set_symbol(self.current_symbol, self._clock())
        self._run(self._link.start(self._clock()))
        self._display_timer.start()
        self._safety_timer.start()
        self.heartbeat_timer.start()

    def disconnect(self) -> None:  # type: ignore[override]
        """Clean disconnection: timers stopped, sockets closed."""
        self.heartbeat_timer.stop()
        self._display_timer.stop()
        self._safety_timer.stop()
        self._continue_timer.stop()
        if self._sub is not None:
            self._run(self._link.stop())
        self._close_sockets()
        self._backlog.clear()
        self._backlog_pos = 0
        self._data_endpoint = None
        self._link = FeedLink(client=f"ui-{os.getpid()}")
        self._set_connected(False)
        logger.info("disconnected from feed %s", self.server_url)

    def change_symbol(self, symbol: str) -> None:
        """Switch to ``symbol``: clear the old state; nothing of the old symbol is emitted after this returns."""
        try:
            sym = normalize_symbol(symbol)
        except ValueError as e:
            self.error_occurred.emit(f"Cannot change symbol: {e}")
            return
        if sym == self.current_symbol:
            return  # already there (connect() subscribes the current symbol)
        logger.info("symbol %s -> %s", self.current_symbol, sym)
        self.current_symbol = sym
        self._reset_symbol_state()
        self._last_data_at = None
        self._flow_warning = None
        self._run(self._link.set_symbol(sym, self._clock()))

    def get_accumulated_bars(self) -> list[dict]:
        """A copy of the finished minute bars (oldest first, at most ``max_bars``)."""
        return [dict(b) for b in self._state.bars]

    def check_data_flow(self) -> str:
        """Heartbeat check (every ``heartbeat_check_interval`` ms): warn after ``no_data_threshold`` s without data.

        Returns the current diagnosis: ``"ok"``, ``"feed process gone"``, ``"upstream down ..."``
        or ``"market closed or quiet ..."``.
        """
        now = self._clock()
        self._dirty_ticker = True  # market_state follows the clock even without events
        since = self._last_data_at if self._last_data_at is not None else self._connected_at
        age = now - since
        if age < self.no_data_threshold:
            if self._flow_warning is not None:
                logger.info("data flowing again for %s", self.current_symbol)
            self._flow_warning = None
            return "ok"
        reason = self._diagnose()
        if reason != self._flow_warning:
            self._flow_warning = reason
            msg = f"No data for {self.current_symbol} for {age:.0f} s: {reason}"
            logger.warning(msg)
            self.error_occurred.emit(msg)
        return reason

    def test_chart_update(self) -> None:
        """Send one synthetic minute bar through the pipeline (a chart wiring check; labelled in the log)."""
        last = self._state.bars[-1] if self._state.bars else None
        ts = (last["timestamp"] + MINUTE_MS) if last else int(self._wall() * 1000) // MINUTE_MS * MINUTE_MS
        p = last["close"] if last else (self._state.last_price or 100.0)
        bar = {"event_type": "aggregate", "symbol": self.current_symbol, "timestamp": ts, "open": p,
               "high": round(p * 1.002, 4), "low": round(p * 0.998, 4), "close": round(p * 1.001, 4),
               "volume": 1000, "vwap": p, "transactions": 10}
        logger.info("test_chart_update: synthetic bar %s at %s (not market data)", self.current_symbol, ts)
        self._process_aggregate(bar)

    # ---------------------------------------------------------------- hooks (override, call super)

    def _process_trade(self, trade: dict) -> None:
        if trade["symbol"] != self.current_symbol:
            return
        if self._state.on_trade(trade):  # type: ignore[arg-type]
            self._dirty_forming = True
        self._dirty_ticker = True
        if self._state.finished:  # the trade finished the previous minute (or a late print changed a bar)
            for kind, bar in self._state.take_finished():
                self._on_bar(kind, bar)

    def _process_quote(self, quote: dict) -> None:
        if quote["symbol"] != self.current_symbol:
            return
        if self._state.on_quote(quote):  # type: ignore[arg-type]
            self._dirty_ticker = True

    def _process_aggregate(self, agg: dict) -> None:
        if agg["symbol"] != self.current_symbol:
            return
        kind, bar = self._state.on_aggregate(agg)  # type: ignore[arg-type]
        for k, b in self._state.take_finished():  # a forming minute before this bar, closed by it
            self._on_bar(k, b)
        self._on_bar(kind, bar)

    def _on_bar(self, kind: str, bar: dict) -> None:
        """A finished bar (official, or provisional from trades): chart, indicators, signals."""
        self._dirty_ticker = True
        ind = self._indicators
        prev = ind.values()
        if kind in ("append", "replace_last") and ind.can_commit(bar["timestamp"]):
            values = ind.commit(bar)
        else:
            values = ind.load(self._state.bars)[-1]
        self.stats["chart_emits"] += 1
        self.chart_data_updated.emit({"bars": [dict(bar)], "is_update": True})
        self.calculation_updated.emit(values)
        if kind == "append":
            for e in self.signal_engine.on_bar(bar, values, prev if prev["bar_count"] else None, self._state.bars):
                self.stats["signals"] += 1
                (self.entry_signal_generated if e.kind == "entry" else self.exit_signal_generated).emit(e.signal)
        if self._state.forming is not None:
            self._dirty_forming = True  # its preview indicators depend on this bar

    # ================================================================ extras for the dashboard

    def feed_info(self) -> dict[str, Any]:
        """Read-only status for the dashboard (polled; the seven signals stay seven)."""
        now = self._clock()
        link = self._link
        up = link.upstream or {}
        self._rate_window = [(t, n) for t, n in self._rate_window if now - t <= 5.0]
        rate = sum(n for _, n in self._rate_window) / 5.0 if self._rate_window else 0.0
        return {
            "feed": self.server_url,
            "data": link.data_endpoint,
            "pid": link.pid,
            "epoch": link.epoch,
            "feed_alive": link.alive,
            "connected": self._connected,
            "upstream_state": up.get("state"),
            "upstream_message": up.get("message"),
            "upstream_url": up.get("url"),
            "source": link.source or up.get("source"),
            "attempts": up.get("attempts"),
            "symbol": self.current_symbol,
            "synced": link.synced,
            "last_event_age_s": None if self._last_data_at is None else now - self._last_data_at,
            "feed_heartbeat_age_s": link.age(now),
            "messages_per_s": rate,
            "events": self.stats["events"],
            "bars": len(self._state.bars),
            "backfill_state": (link.backfill or {}).get("state"),
            "backfill_message": (link.backfill or {}).get("message"),
            "resnapshots": link.counters["resnapshots"],
            "gaps": link.counters["gaps"],
            "bad_messages": self.stats["bad_messages"] + link.counters["bad_messages"],
            "data_flow": self._flow_warning or "ok",
        }

    status = feed_info

    # ================================================================ internals: sockets

    def _notifier(self, sock: zmq.Socket, slot: Callable[[], None]) -> QSocketNotifier:
        n = QSocketNotifier(sock.getsockopt(zmq.FD), QSocketNotifier.Type.Read, self)
        n.activated.connect(lambda *_: slot())
        return n

    def _open_control(self) -> None:
        d = self._ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.SNDHWM, 100)
        apply_curve(d, self.settings.curve_dir)
        d.connect(self.server_url)
        self._dealer = d
        self._dealer_notifier = self._notifier(d, self._drain_control)

    @staticmethod
    def _drop_notifier(n: QSocketNotifier | None) -> None:
        if n is not None:
            n.setEnabled(False)
            n.deleteLater()

    def _close_control(self) -> None:
        self._drop_notifier(self._dealer_notifier)
        self._dealer_notifier = None
        if self._dealer is not None:
            self._dealer.close(0)
            self._dealer = None

    def _close_sockets(self) -> None:
        self._close_control()
        self._drop_notifier(self._sub_notifier)
        self._sub_notifier = None
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None

    def _schedule_drain(self) -> None:
        # A zero-interval timer, not a posted call: it takes its turn with the display and other
        # timers, so a flood of data can't starve them.
        if not self._continue_timer.isActive():
            self._continue_timer.start()

    def _drain_all(self) -> None:
        self._drain_control()
        self._drain_data()

    def _drain_control(self) -> None:
        d, n = self._dealer, self._dealer_notifier
        if d is None or n is None:
            return
        n.setEnabled(False)
        try:
            while self._dealer is d and d.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                try:
                    raw = d.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = self._clock()
                try:
                    msg = wire.unpack(raw)
                except wire.WireError as e:
                    self._bad_message(f"bad control reply: {e}", now)
                    continue
                try:
                    self._run(self._link.on_reply(msg, now))
                except Exception as e:
                    logger.exception("control reply handling failed")
                    self._bad_message(f"control reply that could not be handled ({type(e).__name__})", now)
        finally:
            if self._dealer_notifier is n:
                n.setEnabled(True)

    def _drain_data(self) -> None:
        s, n = self._sub, self._sub_notifier
        if s is None or n is None:
            return
        n.setEnabled(False)
        deadline = time.perf_counter() + DRAIN_BUDGET_S
        drained = False
        try:
            if not self._process_backlog(deadline):
                return
            while self._sub is s and s.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                try:
                    frames = s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = self._clock()
                self.stats["messages"] += 1
                if len(frames) != 2:
                    self._bad_message(f"data message with {len(frames)} frames", now)
                    continue
                try:
                    msg = wire.unpack(frames[1])
                except wire.WireError as e:
                    self._bad_message(f"bad data message: {e}", now)
                    continue
                try:
                    self._run(self._link.on_data(frames[0], msg, now))
                except Exception as e:  # the UI never dies of the feed: count, tell, go on
                    logger.exception("data message handling failed")
                    self._bad_message(f"data message that could not be handled ({type(e).__name__})", now)
                if not self._process_backlog(deadline) or time.perf_counter() > deadline:
                    return
            drained = True
        finally:
            if not drained:
                # Out of budget: yield to the event loop (paint, timers, input) and continue from
                # the continuation timer. The notifier stays off meanwhile: it would only fire
                # again at once and double the work done per loop iteration.
                self._schedule_drain()
            elif self._sub_notifier is n:
                n.setEnabled(True)

    def _process_backlog(self, deadline: float) -> bool:
        """Apply queued events in slices until ``deadline``; True when the backlog is empty.

        One feed batch can hold thousands of events; slicing inside a batch keeps
        every stretch of work on the GUI thread under the drain budget.
        """
        bl = self._backlog
        while bl:
            arrays = bl[0]
            i, n = self._backlog_pos, len(arrays)
            while i < n:
                j = min(n, i + EVENT_SLICE)
                self._apply_events(arrays, i, j)
                i = j
                if time.perf_counter() > deadline:
                    break
            if i < n:
                self._backlog_pos = i
                return False
            bl.popleft()
            self._backlog_pos = 0
            if bl and time.perf_counter() > deadline:
                return False
        return True

    def _bad_message(self, what: str, now: float) -> None:
        self.stats["bad_messages"] += 1
        self._link.on_bad_message()
        if self._ratelog("bad_message", logging.WARNING, f"dropped a {what}", now):
            self.error_occurred.emit(f"Dropped a malformed message from the feed ({what})")

    def _run(self, outputs: list) -> None:
        """Carry out the link's outputs, in order."""
        touched = False
        for out in outputs:
            kind = out[0]
            if kind == "events":
                self._backlog.append(out[1])  # applied in time slices by _process_backlog
            elif kind == "send":
                if self._dealer is not None:
                    try:
                        self._dealer.send(wire.pack(out[1]), zmq.NOBLOCK)
                    except zmq.Again:
                        logger.debug("control request not sent (feed not connected); the link retries")
                    touched = True
            elif kind == "subscribe" and self._sub is not None:
                self._sub.setsockopt(zmq.SUBSCRIBE, out[1])
                touched = True
            elif kind == "unsubscribe" and self._sub is not None:
                self._sub.setsockopt(zmq.UNSUBSCRIBE, out[1])
                touched = True
            elif kind == "connect_data" and self._sub is not None:
                if self._data_endpoint is not None:
                    try:
                        self._sub.disconnect(self._data_endpoint)
                    except zmq.ZMQError:
                        pass
                self._data_endpoint = data_endpoint(out[1], self.server_url)
                self._sub.connect(self._data_endpoint)
                logger.info("feed data endpoint %s (epoch %s)", self._data_endpoint, self._link.epoch)
                touched = True
            elif kind == "reset_control" and self._dealer is not None:
                self._close_control()
                self._open_control()
            elif kind == "snapshot":
                self._apply_snapshot(out[1])  # supersedes any queued events (their seq <= snapshot's)
            elif kind == "link":
                self._on_link_change()
            elif kind == "error":
                logger.warning("%s", out[1])
                self.error_occurred.emit(str(out[1]))
        if touched or self._backlog:
            self._schedule_drain()  # the FD edge may have passed while we were busy

    # ================================================================ internals: state

    def _reset_symbol_state(self) -> None:
        sym = self.current_symbol
        self._state = WindowSymbol(sym, self.max_bars)
        self._backlog.clear()
        self._backlog_pos = 0
        self._indicators.reset(sym)
        self.signal_engine.reset(sym)
        self._dirty_ticker = self._dirty_forming = False
        self._last_ticker = None

    def _apply_events(self, arrays: list, start: int, stop: int) -> None:
        sym = self.current_symbol
        now = self._clock()
        bad = 0
        to_dict = wire.event_to_dict
        for k in range(start, stop):
            a = arrays[k]
            try:
                ev = to_dict(sym, a)
            except wire.WireError:
                bad += 1
                continue
            try:
                code = a[0]
                if code == "T":
                    self._process_trade(ev)
                elif code == "Q":
                    self._process_quote(ev)
                elif code == "AM":
                    self._process_aggregate(ev)
                elif code == "A":  # second aggregates: day stats only, never a minute bar (CONTRACTS)
                    self._state.on_second_aggregate(ev)
            except Exception:  # a hook (possibly user code) failed: log, keep the feed going
                self.stats["hook_errors"] += 1
                if self._ratelog("hook_error", logging.ERROR, f"error processing {a[:2]!r}", now):
                    logger.exception("event hook failed")
        if bad:
            self.stats["bad_messages"] += bad
            self._ratelog("bad_event", logging.WARNING, f"dropped {bad} malformed event(s)", now)
        n = stop - start
        self.stats["events"] += n
        self._rate_window.append((now, n))
        if len(self._rate_window) > 4096:
            del self._rate_window[:2048]
        self._last_data_at = now

    def _apply_snapshot(self, snap: dict) -> None:
        self._reset_symbol_state()
        st = self._state
        st.load_snapshot(snap)
        values = self._indicators.load(st.bars)
        self.signal_engine.warm_up(st.bars, values)
        refresh = [dict(b) for b in st.bars]
        if st.forming is not None:
            refresh.append(dict(st.forming))
        if st.bars or st.last_price is not None:
            self._last_data_at = self._clock()
        logger.info("snapshot %s: %d bars, seq %s, epoch %s, source %s", self.current_symbol, len(st.bars),
                    snap.get("seq"), snap.get("epoch"), snap.get("source"))
        if st.bad_bars:
            self._bad_message(f"snapshot with {st.bad_bars} malformed bar(s), skipped", self._clock())
        self.stats["chart_emits"] += 1
        self.chart_data_updated.emit({"bars": refresh, "is_update": False})
        calc = self._indicators.preview(st.forming) if st.forming is not None else self._indicators.values()
        self.calculation_updated.emit(calc)
        self._dirty_ticker = True
        self._on_display_tick()

    def _on_link_change(self) -> None:
        link = self._link
        if link.alive != self._was_alive:
            self._was_alive = link.alive
            if link.alive:
                logger.info("feed reachable at %s (pid %s, epoch %s)", self.server_url, link.pid, link.epoch)
            else:
                msg = f"Feed process gone: no heartbeat for {FEED_GONE_S:g} s; reconnecting"
                logger.warning(msg)
                self.error_occurred.emit(msg)
        state = (link.upstream or {}).get("state")
        if link.alive and state != self._last_upstream_state:
            self._last_upstream_state = state
            if state == "stopped":
                msg = "Feed is shutting down"
                logger.warning(msg)
                self.error_occurred.emit(msg)
            elif state in UPSTREAM_BAD_STATES:
                detail = (link.upstream or {}).get("message") or UPSTREAM_BAD_STATES[state]
                msg = f"Upstream {state}: {detail}"
                logger.warning(msg)
                self.error_occurred.emit(msg)
            else:
                logger.info("upstream %s (%s)", state, (link.upstream or {}).get("source"))
        self._set_connected(link.connected)

    def _set_connected(self, c: bool) -> None:
        if c != self._connected:
            self._connected = c
            self.connection_status_changed.emit(c)

    def _market_state(self) -> str:
        """At the data's own clock for simulated/replayed data, else at the wall clock."""
        if self._link.source in ("simulated", "replay") and self._state.last_event_ms:
            return market_state(self._state.last_event_ms)
        return market_state(int(self._wall() * 1000))

    def _on_display_tick(self) -> None:
        now = self._clock()
        if now - self._last_emit_at < 1.0 / self.ui_update_hz:
            return
        emitted = False
        st = self._state
        if self._dirty_forming:
            self._dirty_forming = False
            if st.forming is not None:
                self.stats["chart_emits"] += 1
                self.chart_data_updated.emit({"bars": [dict(st.forming)], "is_update": True})
                self.calculation_updated.emit(self._indicators.preview(st.forming))
                emitted = True
        if self._dirty_ticker:
            self._dirty_ticker = False
            t = st.ticker(self._market_state())
            if t is not None and t != self._last_ticker:
                self._last_ticker = t
                self.stats["market_data_emits"] += 1
                self.market_data_updated.emit(dict(t))
                emitted = True
        if emitted:
            self._last_emit_at = now

    def _on_safety_tick(self) -> None:
        # Drain first: after the GUI thread was busy (a modal dialog, a slow paint) the heartbeats
        # are waiting in the socket, and the feed must not be declared gone for our own delay.
        self._drain_all()
        self._run(self._link.tick(self._clock()))

    def _diagnose(self) -> str:
        link = self._link
        if not link.alive:
            return "feed process gone" if link.ever_alive else f"feed not reachable at {self.server_url}"
        up = link.upstream or {}
        state = up.get("state")
        if state != "connected":
            detail = up.get("message") or UPSTREAM_BAD_STATES.get(state or "", "")
            return f"upstream down ({state}{': ' + detail if detail else ''})"
        return f"market closed or quiet (market {self._market_state()})"
