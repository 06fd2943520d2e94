"""The trading dashboard: one symbol, every panel, on the data manager's signals.

The window consumes only ``PolygonDataManager``'s seven signals (plus its
read-only ``feed_info()`` for the status bar) and the tape buffer the manager
subclass fills (:mod:`.tape_manager`). Every slot is cheap - it updates a
model and marks it dirty - and timers repaint: the chart at ~30 Hz, the tape
at 10 Hz, the status bar at 1 Hz. That keeps the main thread free for the
manager's socket drain however fast the feed runs.

Switching symbol clears every panel first, then asks the manager to switch;
the manager's snapshot refills them (full chart refresh, ticker, ...).

Above the chart two alarm lines appear only when they have something true to
say: the LULD banner (a trading pause or a price at its band, :mod:`.luld`)
and the "gave up" line with *Reconnect* (:mod:`.reconnect`). Every action is
in the menu bar with its shortcut (:mod:`.menus`). What windows share (recent
symbols, where the last ones opened) is in :class:`.persist.SharedState`. The
chart's choices (timeframe, sessions, levels) are :mod:`.chart_controls`'.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from PyQt6.QtCore import QByteArray, QEvent, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QTabWidget, QToolBar,
                             QVBoxLayout, QWidget)

from shared.supervisor_client import report_symbol

from . import menus, theme, watch_dock
from .chart import ChartWidget
from .chart_controls import ChartControls
from .error_panel import ErrorPanel
from .luld import Banner, LuldTracker
from .messages import plain
from .persist import SharedState, open_settings, read_list, shared_path
from .reconnect import ReconnectBar, gave_up, request_reconnect
from .signal_tables import EntryTable, ExitTable
from .spawn import spawn_window
from .status import LIVE_FRESH_S, StatusBar, describe
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
                 max_bars: int = 2000, state_file: str = "", clock: Callable[[], float] = time.monotonic,
                 timeframe: str | None = None):
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

        # ---- panels
        self.chart = ChartWidget(max_bars)
        self.chart.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # Enter in the symbol box hands focus here
        self.banner = Banner()
        self.reconnect_bar = ReconnectBar()
        self.reconnect_bar.reconnect_requested.connect(self.reconnect)
        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.banner)
        col.addWidget(self.reconnect_bar)
        col.addWidget(self.chart, 1)
        self.setCentralWidget(central)
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
        self.watch = watch_dock.attach(self, state_file)  # watchlist + alerts docks (issue 16)
        # Sizes after every dock is placed: tabifying the watchlist and alert docks re-lays them out.
        self.resizeDocks([self.docks["ticker"], self.docks["tape"]], [250, 520], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["ticker"]], [430], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["signals"]], [190], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["signals"], self.docks["errors"]], [700, 400], Qt.Orientation.Horizontal)
        # ---- actions and menu bar (after the docks: View lists them), then the toolbar
        self.controls = ChartControls(self, restore=restore, timeframe=timeframe)
        self.actions_by_key = menus.build(self)
        self.controls.bind(self.actions_by_key)
        self.fit_action, self.new_action = self.actions_by_key["fit"], self.actions_by_key["new"]
        tb = QToolBar("Main")
        tb.setObjectName("toolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.shared = SharedState(shared_path(state_file))
        self.symbol_entry = SymbolEntry(self.shared.recent() or read_list(self.settings, "recent_symbols"))
        self.symbol_entry.menu.aboutToShow.connect(self.reload_recent)
        tb.addWidget(self.symbol_entry)
        tb.addWidget(self.controls.combo)
        self.notice = QLabel("")
        self.notice.setStyleSheet(f"color: {theme.current().warn}; padding-left: 10px;")
        tb.addWidget(self.notice)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy().Preferred)
        tb.addWidget(spacer)
        tb.addAction(self.fit_action)
        tb.addAction(self.new_action)
        # bound-method slots only: PyQt disconnects them when the window goes away (a lambda
        # would outlive it and touch deleted widgets)
        self._notice_timer = QTimer(self, singleShot=True, interval=8000, timeout=self._clear_notice)
        self.luld = LuldTracker()
        self._feed_gone_since: float | None = None

        self.status = StatusBar()
        self.setStatusBar(self.status)
        scr = QApplication.primaryScreen()  # a first start (nothing restored) opens at a readable size
        g = scr.availableGeometry() if scr is not None else None
        self.resize(min(1500, int(g.width() * 0.92)) if g else 1500, min(950, int(g.height() * 0.92)) if g else 950)

        # ---- wiring: the manager's signals only
        m = manager
        m.market_data_updated.connect(self.on_market_data)
        m.chart_data_updated.connect(self.chart.on_chart_data)
        m.calculation_updated.connect(self.chart.on_calculation)
        m.entry_signal_generated.connect(self.on_entry)
        m.exit_signal_generated.connect(self.on_exit)
        m.connection_status_changed.connect(self.on_connection)
        m.error_occurred.connect(self.on_error)
        if hasattr(m, "luld_event"):  # LULD bands / halts (a signal beyond the seed's seven)
            m.luld_event.connect(self.show_luld)
        self.errors.count_changed.connect(self.status.set_error_count)
        self.symbol_entry.symbol_requested.connect(self.switch_symbol)
        self.symbol_entry.invalid.connect(self.on_invalid_symbol)

        self.status_timer = QTimer(self, interval=1000, timeout=self.refresh_status)
        self.status_timer.start()

        self.tape_view.min_size.setValue(int(self.settings.value("tape/min_size", 0) or 0))
        if restore:
            self._restore()
            self._cascade()
        self.controls.apply()
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
        if self.symbol_entry.edit.hasFocus():
            self.chart.setFocus(Qt.FocusReason.OtherFocusReason)  # so F fits the chart at once
        if symbol == self.symbol:
            self.symbol_entry.set_current(symbol)
            return
        log.info("switching to %s", symbol)
        self.symbol = symbol
        self.notice.setText("")
        self.ticker.clear(symbol)
        self.chart.clear(symbol)
        self.controls.symbol_changed(symbol)
        self.tape.clear(symbol)
        self.tape_view.clear()
        self.entries.clear_rows()
        self.exits.clear_rows()
        self.luld.clear()
        self.banner.hide()
        self.manager.change_symbol(symbol)
        report_symbol(symbol)  # the supervisor's report (live-monitor status) lists this window under it
        self.symbol_entry.set_current(symbol)
        self.setWindowTitle(f"{symbol} — Live Monitor")
        self.settings.setValue("last_symbol", symbol)
        self.symbol_entry.set_recent(self.shared.push_recent(symbol))  # every window's Recent gains it
        self.settings.setValue("recent_symbols", self.symbol_entry.recent.items)
        self.symbol_changed.emit(symbol)

    def on_invalid_symbol(self, reason: str) -> None:
        keep = f" — still showing {self.symbol}" if self.symbol else ""
        self.show_notice(f"Invalid symbol: {reason}{keep}")
        self.symbol_entry.edit.setText(self.symbol)
        self.symbol_entry.edit.selectAll()  # focus stays in the box: type the right one

    def _clear_notice(self) -> None:
        self.notice.setText("")

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self._notice_timer.start()

    # ---------------------------------------------------------------- manager slots
    def chart_last_price(self) -> float | None:
        return getattr(self, "_last_price", None)

    def on_market_data(self, d: dict[str, Any]) -> None:
        self._last_price = d.get("last_price")
        self.ticker.set_quote_sizes(self.tape.bid_size or None, self.tape.ask_size or None)
        self.ticker.update_ticker(d)
        self.chart.set_last_price(d.get("last_price"))
        before = self.luld.condition
        if before != self.luld.on_price(d.get("last_price")):
            self._show_banner()

    def show_luld(self, d: dict[str, Any]) -> None:
        """A LULD event (``event_type`` 'luld'): band, halt or limit state -> the banner."""
        if d.get("symbol") not in (None, self.symbol):
            return
        self.luld.on_luld(d)
        self.ticker.set_band(self.luld.band_text())
        self._show_banner()

    def _show_banner(self) -> None:
        b = self.luld.banner(self.symbol)
        if b is None:
            self.banner.hide()
        else:
            self.banner.show_text(*b)

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
        log.info("error shown: %s", message)  # the raw text (exception names and all) stays in the log
        self.errors.add(plain(message))

    def feed_info(self) -> dict[str, Any]:
        fn = getattr(self.manager, "feed_info", None)
        try:
            info = dict(fn() or {}) if callable(fn) else {}
        except Exception:  # the status bar must never take the window down
            log.exception("feed_info() failed")
            return {}
        return info

    def refresh_status(self) -> None:
        self._children = [c for c in self._children if c.poll() is None]  # reap closed windows
        info = self.feed_info()
        now = self.clock()
        self.status.apply(describe(info, self.connected, self.feed, now - self._started_at))
        age = info.get("last_event_age_s")
        flowing = bool(info.get("feed_alive")) and info.get("upstream_state") == "connected" \
            and isinstance(age, (int, float)) and age < LIVE_FRESH_S
        self.chart.set_history_state(info.get("backfill_state"), str(info.get("backfill_message") or ""), flowing,
                                     info.get("backfill_ahead"))
        if info.get("feed_alive") is False and info.get("pid") is not None:
            self._feed_gone_since = self._feed_gone_since if self._feed_gone_since is not None else now
        elif info.get("feed_alive"):
            self._feed_gone_since = None
        gone = now - self._feed_gone_since if self._feed_gone_since is not None else 0.0
        self.reconnect_bar.set_message(gave_up(info, gone))

    # ---------------------------------------------------------------- actions
    def fit_chart(self) -> None:
        self.chart.fit()

    def focus_symbol(self) -> None:
        self.symbol_entry.focus()

    def reconnect(self) -> None:
        info = self.feed_info()
        how = request_reconnect(self.manager, bool(info.get("feed_alive")))
        self.show_notice({"command": "Asked the feed to reconnect to the data source…",
                          "sockets": "Reconnecting to the feed…"}.get(how, "Reconnect is not available here"))
        self._feed_gone_since = None

    def quit_app(self) -> None:
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def show_shortcuts(self) -> None:
        self._sheet = menus.ShortcutSheet(self)
        self._sheet.show()

    def show_about(self) -> None:
        info = self.feed_info()
        QMessageBox.about(self, "About Live Monitor",
                          f"Live Monitor — live market data for intraday traders.\n\nFeed: {self.feed}\n"
                          f"Source: {self.status.texts.get('source', '—')}\nFeed pid: {info.get('pid', '—')}")

    def reload_recent(self) -> None:
        """Re-read the shared Recent list (another window may have added to it)."""
        items = self.shared.recent()
        if items and items != self.symbol_entry.recent.items:
            self.symbol_entry.set_recent(items)

    def changeEvent(self, ev) -> None:  # noqa: N802
        if ev.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.reload_recent()
        super().changeEvent(ev)

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

    def _cascade(self) -> None:
        """Open offset from a window that opened at the same place moments ago (New window, --symbols)."""
        x, y = self.shared.place(self.x(), self.y())
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None and (x + 200 > screen.right() or y + 200 > screen.bottom()):
            x, y = screen.left() + (x - screen.left()) % 320, screen.top() + (y - screen.top()) % 240
        if (x, y) != (self.x(), self.y()):
            self.move(x, y)

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


