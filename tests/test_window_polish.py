"""Window polish on a real Qt event loop (offscreen): menus and shortcuts, focus, header in
the chart's frame, a readable tape, crosshair labels, first-bars zoom, LULD banner, Reconnect,
shared Recent, cascade, signal tooltips, plain errors, the app's identity."""

from __future__ import annotations

import datetime as dt

import pytest
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QFontMetrics, QKeySequence
from PyQt6.QtWidgets import QApplication

from shared.market_hours import NY
from shared.models.signals import make_entry
from tests.test_window_widgets import T0, StandInManager, bar
from ui_process.window import menus
from ui_process.window.main_window import MainWindow


class CommandManager(StandInManager):
    def __init__(self):
        super().__init__()
        self.commands: list[dict] = []

    def send_command(self, msg: dict) -> None:
        self.commands.append(msg)


def make_window(qtbot, tmp_path, name="ui.ini", symbol="AAPL", manager=None, restore=True) -> MainWindow:
    w = MainWindow(manager or CommandManager(), feed="tcp://127.0.0.1:9999", symbol=symbol,
                   state_file=str(tmp_path / name), spawner=lambda *a: None, restore=restore)
    qtbot.addWidget(w)
    w.resize(1500, 950)
    w.show()
    qtbot.waitExposed(w)
    activate(qtbot, w)
    return w


def activate(qtbot, w) -> None:
    """Window shortcuts fire only in the active window (offscreen too)."""
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)


def test_menu_bar_lists_every_action_with_its_shortcut(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    titles = [a.text().replace("&", "") for a in w.menuBar().actions()]
    assert titles == ["File", "View", "Window", "Help"]
    for menu, key, text, keys, _, _ in menus.ACTIONS:
        a = w.actions_by_key[key]
        assert a in w.menus[menu].actions() and a in w.actions()
        assert [s.toString() for s in a.shortcuts()] == [QKeySequence(k).toString() for k in keys]
    assert {"Ctrl+Q", "Ctrl+W", "F1", "Ctrl+R", "Ctrl+N", "Ctrl+L", "F"} <= {
        s.toString() for a in w.actions_by_key.values() for s in a.shortcuts()}
    dock_toggles = [a.text() for a in w.menus["View"].actions() if a.isCheckable()]
    assert "Ticker" in dock_toggles and "Errors" in dock_toggles
    qtbot.keyClick(w, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: getattr(w, "_sheet", None) is not None and w._sheet.isVisible(), timeout=3000)
    sheet = w._sheet.label.text()
    assert "Ctrl+R" in sheet and "Reconnect to data" in sheet and "Ctrl+W" in sheet and "F1" in sheet
    w._sheet.close()
    activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=3000)
    assert w.manager.disconnected


def test_enter_in_the_symbol_box_returns_focus_to_the_chart_so_f_fits(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.manager.chart_data_updated.emit({"bars": [bar(i) for i in range(300)], "is_update": False})
    w.chart.render()
    qtbot.keyClick(w, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(w.symbol_entry.edit.hasFocus, timeout=2000)
    qtbot.keyClicks(w.symbol_entry.edit, "msft")
    qtbot.keyClick(w.symbol_entry.edit, Qt.Key.Key_Return)
    assert w.symbol == "MSFT"
    qtbot.waitUntil(w.chart.hasFocus, timeout=2000)
    w.manager.chart_data_updated.emit({"bars": [bar(i, 300) for i in range(300)], "is_update": False})
    w.chart.follow = False
    qtbot.keyClick(w.chart, Qt.Key.Key_F)  # F reaches the Fit action, not the line edit
    assert w.chart.follow is True and w.chart.visible_bars >= 300
    assert w.symbol_entry.edit.text() == "MSFT"


def test_header_names_the_new_symbol_in_the_same_frame_as_the_chart(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    c = w.chart
    w.manager.chart_data_updated.emit({"bars": [bar(i, 80.0) for i in range(30)], "is_update": False})
    w.manager.calculation_updated.emit({"symbol": "AAPL", "timestamp": T0 + 29 * 60_000, "vwap": 80.45,
                                        "ema_9": 80.1, "ema_21": 80.2, "rsi_14": 50.0})
    c.render()
    c.price.setXRange(0, 29, padding=0)
    c._on_mouse((c.price.getViewBox().mapViewToScene(QPointF(12, 80.0)),))  # the mouse rests on the chart
    assert c._hover_x == 12 and "AAPL" in c.readout.text()
    w.switch_symbol("TSLA")
    assert "TSLA" in c.readout.text() and "VWAP" not in c.readout.text() and "AAPL" not in c.readout.text()
    w.manager.chart_data_updated.emit({"bars": [bar(i, 250.0) for i in range(5)], "is_update": False})
    c.render()
    assert "TSLA" in c.readout.text() and "250.00" in c.readout.text() and "80.45" not in c.readout.text()


def test_time_and_sales_is_readable_at_the_default_size_and_columns_resize(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.tape.on_quote({"symbol": "AAPL", "bid_price": 10.0, "ask_price": 10.02, "bid_size": 1, "ask_size": 1})
    for i in range(40):
        w.tape.on_trade({"symbol": "AAPL", "timestamp": T0 + i, "price": 10.01, "size": 100_000 + i,
                         "exchange": "NYSE American"})
    w.tape_view.pull()
    canvas = w.tape_view.table
    assert canvas._visible_rows() > 4
    fm = QFontMetrics(canvas.font())
    exchange_room = canvas.viewport().width() - sum(canvas.widths[:3]) - 2 * canvas.PAD
    assert exchange_room >= fm.horizontalAdvance("NYSE American")  # never truncated at the default layout
    assert canvas.widths[2] - 2 * canvas.PAD >= fm.horizontalAdvance("100,039")
    canvas.header.resizeSection(0, 200)  # drag a column border
    assert canvas.widths[0] == 200
    assert canvas.header.sectionResizeMode(1).name == "Interactive"


def test_crosshair_labels_both_axes_and_panes_are_named(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    c = w.chart
    w.manager.chart_data_updated.emit({"bars": [bar(i, 100 + i) for i in range(30)], "is_update": False})
    c.render()
    c.price.setXRange(0, 29, padding=0)
    c._on_mouse((c.price.getViewBox().mapViewToScene(QPointF(12, 112.5)),))
    ch = c.crosshair
    assert ch.vlines[-1].label.format == dt.datetime.fromtimestamp((T0 + 12 * 60_000) / 1000, NY).strftime(
        "%m-%d %H:%M")
    assert ch.hlines[0].isVisible() and not ch.hlines[2].isVisible()
    assert ch.hlines[0].label.textItem.toPlainText() == f"{ch.hlines[0].value():,.2f}"
    rsi_pt = c.rsi.getViewBox().mapViewToScene(QPointF(12, 55.0))
    c._on_mouse((rsi_pt,))
    assert ch.hlines[2].isVisible() and not ch.hlines[0].isVisible()
    assert {lab.text() for lab in c.pane_labels.values()} >= {"Volume", "RSI 14"}
    c._on_mouse((QPointF(-50, -50),))
    assert not any(line.isVisible() for line in ch.vlines)


def test_the_first_bars_do_not_fill_the_chart(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.manager.chart_data_updated.emit({"bars": [bar(0)], "is_update": False})
    w.chart.render()
    (x0, x1), _ = w.chart.price.getViewBox().viewRange()
    assert x1 - x0 >= 60 and x0 <= 0 <= x1


def test_luld_halt_is_a_banner_the_trader_cannot_miss(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    base = {"event_type": "luld", "symbol": "AAPL", "timestamp": T0, "limit_up": 105.0, "limit_down": 95.0,
            "tape": 3, "sequence": 1}
    w.show_luld({**base, "indicators": [13]})  # a band update: no banner, the band in the ticker
    assert not w.banner.isVisible() and w.ticker.text("luld") == "95.00 – 105.00"
    w.show_luld({**base, "indicators": [15]})
    assert w.banner.isVisible() and "AAPL TRADING PAUSED" in w.banner.text()
    assert w.banner.geometry().width() >= w.chart.width() - 2  # full width, above the chart
    assert w.banner.y() < w.chart.y()
    w.show_luld({**base, "symbol": "MSFT", "indicators": [16]})  # another symbol's resume: not ours
    assert w.banner.isVisible()
    w.show_luld({**base, "indicators": [16]})
    assert not w.banner.isVisible()
    w.manager.market_data_updated.emit({"last_price": 105.0, "market_state": "open"})
    assert w.banner.isVisible() and "LIMIT UP 105.00" in w.banner.text()
    w.switch_symbol("MSFT")
    assert not w.banner.isVisible() and w.ticker.text("luld") == "—"


def test_gave_up_shows_reconnect_and_ctrl_r_asks_the_feed(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    m = w.manager
    w.refresh_status()
    assert not w.reconnect_bar.isVisible()
    m.info = {**m.info, "upstream_state": "failed", "upstream_message": "gave up after 10 attempts"}
    w.refresh_status()
    assert w.reconnect_bar.isVisible() and "gave up reconnecting" in w.reconnect_bar.label.text()
    assert w.status.source.text() == "SIMULATOR · GAVE UP"
    qtbot.keyClick(w, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert m.commands and m.commands[-1]["type"] == "command" and m.commands[-1]["cmd"] == "reconnect"
    w.reconnect_bar.button.click()
    assert len(m.commands) == 2 and w.notice.text().startswith("Asked the feed to reconnect")
    m.info = {**m.info, "upstream_state": "connected"}
    w.refresh_status()
    assert not w.reconnect_bar.isVisible()


def test_recent_is_shared_across_windows_and_new_windows_cascade(qtbot, tmp_path):
    w1 = make_window(qtbot, tmp_path, "ui1.ini")
    w2 = make_window(qtbot, tmp_path, "ui2.ini", symbol="NVDA")
    w1.switch_symbol("TSLA")
    w2.symbol_entry.menu.aboutToShow.emit()  # opening Recent re-reads the shared file
    assert w2.symbol_entry.recent.items[:3] == ["TSLA", "NVDA", "AAPL"]
    w3 = make_window(qtbot, tmp_path, "ui3.ini", symbol="SPY")
    assert w3.symbol_entry.recent.items[:2] == ["SPY", "TSLA"]  # read when it opened
    a = MainWindow(CommandManager(), symbol="AAPL", state_file=str(tmp_path / "c1.ini"), spawner=lambda *x: None)
    b = MainWindow(CommandManager(), symbol="AAPL", state_file=str(tmp_path / "c2.ini"), spawner=lambda *x: None)
    qtbot.addWidget(a)
    qtbot.addWidget(b)
    assert (b.x() - a.x(), b.y() - a.y()) == (32, 32)


def test_signal_rows_explain_their_trigger_and_errors_are_plain(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    when = dt.datetime(2025, 6, 27, 9, 31, 5, tzinfo=NY)
    w.manager.entry_signal_generated.emit(make_entry("AAPL", when, "LONG", 101.25, "RSI Oversold Reversal + "
                                                     "EMA9 confirmation", "Weak", "No volume confirmation"))
    tip = w.entries.item(0, 0).toolTip()
    assert "RSI(14) crossed back up through 30" in tip and "Weak = one confirmation" in tip
    w.manager.error_occurred.emit("Upstream auth_failed: authentication failed")
    assert w.errors.messages()[-1].endswith("The data source refused the API key — check POLYGON_API_KEY "
                                            "(or MASSIVE_API_KEY), then Reconnect (Ctrl+R)")


def test_app_identity(qapp):
    from ui_process.app import APP_ID, APP_NAME, icon_path, make_app

    before = (qapp.applicationName(), qapp.desktopFileName())
    try:
        app = make_app()
        assert app is QApplication.instance()
        assert (app.applicationName(), app.desktopFileName()) == ("Live Monitor", "live-monitor")
        assert (APP_NAME, APP_ID) == ("Live Monitor", "live-monitor")
        assert not app.windowIcon().isNull() and icon_path().endswith("assets/live-monitor.png")
    finally:
        qapp.setApplicationName(before[0])
        qapp.setDesktopFileName(before[1])


@pytest.mark.parametrize("path", ["live-monitor.svg", "live-monitor.png", "live-monitor.desktop.in"])
def test_assets_ship_with_the_package(path):
    from importlib.resources import files

    assert (files("ui_process.window") / "assets" / path).is_file()
