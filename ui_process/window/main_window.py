"""The trading dashboard: one symbol, every panel, on the data manager's signals.

The window consumes only ``PolygonDataManager``'s seven signals (plus its
read-only ``feed_info()`` for the status bar) and the tape buffer the manager
subclass fills (:mod:`.tape_manager`). Every slot is cheap - it updates a
model and marks it dirty - and timers repaint: the chart at ~30 Hz, the tape
at 10 Hz, the status bar at 1 Hz. That keeps the main thread free for the
manager's socket drain however fast the feed runs.

Switching symbol clears every panel first, then asks the manager to switch;
the manager's snapshot refills them (full chart refresh, ticker, ...).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from PyQt6.QtCore import QByteArray, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PyQt6.QtWidgets import QDockWidget, QLabel, QMainWindow, QTabWidget, QToolBar, QWidget

from shared.supervisor_client import report_symbol

from . import theme
from .chart import ChartWidget
from .error_panel import ErrorPanel
from .persist import open_settings, read_list
from .signal_tables import EntryTable, ExitTable
from .spawn import spawn_window
from .status import StatusBar, describe
from .symbol_entry import SymbolEntry
from .tape_buffer import TapeBuffer
from .tape_view import TapeView
from .ticker import TickerPanel

log = logging.getLogger(__name__)

STATE_VERSION = 1


class MainWindow(QMainWindow):
    symbol_changed = pyqtSignal(str)

    def __init__(self, manager: Any, tape: TapeBuffer | None = None, feed: str = "", symbol: str = "",
                 restore: bool = True, spawner: Callable[[str, str], Any] = spawn_window,
                 max_bars: int = 2000, state_file: str = "", clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.manager = manager
        self.tape = tape if tape is not None else getattr(manager, "tape", None) or TapeBuffer()
        self.feed = feed
        self.spawner = spawner
        self.symbol = ""
        self.connected: bool | None = None
        self.clock = clock
        self._children: list[Any] = []  # window processes opened with "New window"
        self._started_at = clock()
        self.restored = (False, False)  # (geometry, dock layout) restored from QSettings
        self.settings = open_settings(state_file)
        self.setWindowTitle("Live Monitor")
        self.setObjectName("LiveMonitorMain")
        self.setDockNestingEnabled(True)

        # ---- toolbar: symbol entry, notices, actions
        tb = QToolBar("Main")
        tb.setObjectName("toolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.symbol_entry = SymbolEntry(read_list(self.settings, "recent_symbols"))
        tb.addWidget(self.symbol_entry)
        self.notice = QLabel("")
        self.notice.setStyleSheet(f"color: {theme.current().warn}; padding-left: 10px;")
        tb.addWidget(self.notice)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy().Preferred)
        tb.addWidget(spacer)
        self.fit_action = QAction("Fit chart", self)
        self.fit_action.setShortcuts([QKeySequence("F"), QKeySequence("Ctrl+0")])
        self.fit_action.setToolTip("Show all bars and follow the live edge (F / Ctrl+0)")
        self.fit_action.triggered.connect(self.fit_chart)
        self.new_action = QAction("New window", self)
        self.new_action.setShortcut(QKeySequence("Ctrl+N"))
        self.new_action.setToolTip("Open another window on the same feed (Ctrl+N)")
        self.new_action.triggered.connect(self.new_window)
        tb.addAction(self.fit_action)
        tb.addAction(self.new_action)
        self.addAction(self.fit_action)
        self.addAction(self.new_action)
        self._focus_shortcut = QShortcut(QKeySequence("Ctrl+L"), self, activated=self.symbol_entry.focus)
        # bound-method slots only: PyQt disconnects them when the window goes away (a lambda
        # would outlive it and touch deleted widgets)
        self._notice_timer = QTimer(self, singleShot=True, interval=8000, timeout=self._clear_notice)

        # ---- panels
        self.chart = ChartWidget(max_bars)
        self.setCentralWidget(self.chart)
        self.ticker = TickerPanel()
        self.tape_view = TapeView(self.tape)
        self.entries = EntryTable()
        self.exits = ExitTable()
        self.errors = ErrorPanel()
        self.signals_tabs = QTabWidget()
        self.signals_tabs.addTab(self.entries, "Entry signals")
        self.signals_tabs.addTab(self.exits, "Exit signals")
        self.docks = {
            "ticker": self._dock("Ticker", self.ticker, Qt.DockWidgetArea.RightDockWidgetArea),
            "tape": self._dock("Time && Sales", self.tape_view, Qt.DockWidgetArea.RightDockWidgetArea),
            "signals": self._dock("Signals", self.signals_tabs, Qt.DockWidgetArea.BottomDockWidgetArea),
            "errors": self._dock("Errors", self.errors, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self.splitDockWidget(self.docks["ticker"], self.docks["tape"], Qt.Orientation.Vertical)
        self.splitDockWidget(self.docks["signals"], self.docks["errors"], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["ticker"], self.docks["tape"]], [260, 500], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["ticker"]], [400], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["signals"]], [190], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["signals"], self.docks["errors"]], [700, 400], Qt.Orientation.Horizontal)
        self.status = StatusBar()
        self.setStatusBar(self.status)

        # ---- wiring: the manager's signals only
        m = manager
        m.market_data_updated.connect(self.on_market_data)
        m.chart_data_updated.connect(self.chart.on_chart_data)
        m.calculation_updated.connect(self.chart.on_calculation)
        m.entry_signal_generated.connect(self.on_entry)
        m.exit_signal_generated.connect(self.on_exit)
        m.connection_status_changed.connect(self.on_connection)
        m.error_occurred.connect(self.on_error)
        if hasattr(m, "luld_event") and hasattr(self, "show_luld"):  # LULD bands/halts (seed helper's signal)
            m.luld_event.connect(self.show_luld)
        self.errors.count_changed.connect(self.status.set_error_count)
        self.symbol_entry.symbol_requested.connect(self.switch_symbol)
        self.symbol_entry.invalid.connect(self.on_invalid_symbol)

        self.status_timer = QTimer(self, interval=1000, timeout=self.refresh_status)
        self.status_timer.start()

        self.tape_view.min_size.setValue(int(self.settings.value("tape/min_size", 0) or 0))
        if restore:
            self._restore()
        if symbol:
            self.switch_symbol(symbol)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName("dock_" + "".join(ch for ch in title.lower() if ch.isalnum()))
        d.setWidget(widget)
        d.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                      | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, d)
        return d

    # ---------------------------------------------------------------- symbol
    def switch_symbol(self, symbol: str) -> None:
        """Clear every panel, then ask the manager for ``symbol`` (its snapshot refills them)."""
        if symbol == self.symbol:
            self.symbol_entry.set_current(symbol)
            return
        log.info("switching to %s", symbol)
        self.symbol = symbol
        self.notice.setText("")
        self.ticker.clear(symbol)
        self.chart.clear(symbol)
        self.tape.clear(symbol)
        self.tape_view.clear()
        self.entries.clear_rows()
        self.exits.clear_rows()
        self.manager.change_symbol(symbol)
        report_symbol(symbol)  # the supervisor's report (live-monitor status) lists this window under it
        self.symbol_entry.set_current(symbol)
        self.setWindowTitle(f"{symbol} — Live Monitor")
        self.settings.setValue("last_symbol", symbol)
        self.settings.setValue("recent_symbols", self.symbol_entry.recent.items)
        self.symbol_changed.emit(symbol)

    def on_invalid_symbol(self, reason: str) -> None:
        keep = f" — still showing {self.symbol}" if self.symbol else ""
        self.show_notice(f"Invalid symbol: {reason}{keep}")
        self.symbol_entry.edit.setText(self.symbol)

    def _clear_notice(self) -> None:
        self.notice.setText("")

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self._notice_timer.start()

    # ---------------------------------------------------------------- manager slots
    def on_market_data(self, d: dict[str, Any]) -> None:
        self.ticker.set_quote_sizes(self.tape.bid_size or None, self.tape.ask_size or None)
        self.ticker.update_ticker(d)
        self.chart.set_last_price(d.get("last_price"))

    def on_entry(self, sig: dict[str, Any]) -> None:
        self.entries.add(sig)
        self.chart.add_entry(sig)

    def on_exit(self, sig: dict[str, Any]) -> None:
        self.exits.add(sig)
        self.chart.add_exit(sig)

    def on_connection(self, connected: bool) -> None:
        self.connected = connected
        self.refresh_status()

    def on_error(self, message: str) -> None:
        self.errors.add(message)

    def feed_info(self) -> dict[str, Any]:
        fn = getattr(self.manager, "feed_info", None)
        try:
            return dict(fn() or {}) if callable(fn) else {}
        except Exception:  # the status bar must never take the window down
            log.exception("feed_info() failed")
            return {}

    def refresh_status(self) -> None:
        self._children = [c for c in self._children if c.poll() is None]  # reap closed windows
        info = self.feed_info()
        self.status.apply(describe(info, self.connected, self.feed, self.clock() - self._started_at))
        self.chart.set_history_state(info.get("backfill_state"), str(info.get("backfill_message") or ""))

    # ---------------------------------------------------------------- actions
    def fit_chart(self) -> None:
        self.chart.fit()

    def new_window(self) -> None:
        try:
            child = self.spawner(self.feed, self.symbol or "AAPL")
        except OSError as e:
            self.on_error(f"could not open a new window: {e}")
            return
        if hasattr(child, "poll"):
            self._children.append(child)

    # ---------------------------------------------------------------- persistence
    def _restore(self) -> None:
        geo = self.settings.value("geometry")
        state = self.settings.value("window_state")
        self.restored = (isinstance(geo, QByteArray) and self.restoreGeometry(geo),
                         isinstance(state, QByteArray) and self.restoreState(state, STATE_VERSION))

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState(STATE_VERSION))
        s.setValue("recent_symbols", self.symbol_entry.recent.items)
        s.setValue("tape/min_size", self.tape_view.min_size.value())
        if self.symbol:
            s.setValue("last_symbol", self.symbol)
        s.sync()

    def closeEvent(self, ev: QCloseEvent) -> None:  # noqa: N802
        self.save_settings()
        for t in (self.status_timer, self.chart.timer, self.tape_view.timer, self._notice_timer):
            t.stop()
        try:
            self.manager.disconnect()
        except Exception:  # closing must always succeed
            log.exception("manager.disconnect() failed")
        super().closeEvent(ev)


def last_symbol(state_file: str = "") -> str | None:
    v = open_settings(state_file).value("last_symbol")
    return str(v) if v else None


