"""The window's watchlist and alert docks on a real feed with the scripted tape (real Qt loop).

Alerts fired with no window open: the first window lists and notifies each once
and flashes its row; closing every window and opening one lists them again
without a second notification. A watchlist row shows the feed's summary and
a click charts its symbol.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt

from tests.alert_tape import SYM
from tests.test_alerts_feed import expected_fires
from tests.test_watch_manager import fired_feed  # noqa: F401 - the fixture
from ui_process.polygon_data_manager import PolygonDataManager
from ui_process.window.main_window import MainWindow


def until(qtbot, cond, timeout: int = 15_000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


def open_window(qtbot, control: str, tmp_path, symbol: str = "MSFT") -> MainWindow:
    m = PolygonDataManager(control, symbol=symbol)
    w = MainWindow(m, feed=control, symbol=symbol, state_file=str(tmp_path / "ui.ini"), spawner=lambda *a: None)
    qtbot.addWidget(w)
    m.connect()
    return w


def test_alerts_reach_a_later_window_once_and_rows_follow_the_feed(qtbot, fired_feed, tmp_path):  # noqa: F811
    w = open_window(qtbot, fired_feed.control, tmp_path)
    panel, wl = w.watch.alerts, w.watch.watchlist
    until(qtbot, lambda: len(panel.fired_texts()) == expected_fires())
    assert len(w.watch.notifier.shown) == expected_fires()
    assert any("AAPL halted (LULD)" in t for t in panel.fired_texts())
    wl.model.set_symbols([])
    assert wl.add_symbol("aapl") and wl.model.symbols == [SYM]
    assert not wl.add_symbol("not a symbol")
    until(qtbot, lambda: (wl.model.data_by_sym.get(SYM) or {}).get("last") == 102.05)
    assert wl.model.data_by_sym[SYM]["change_pct"] == 2.05
    assert wl.model.index(0, 3).data() == "+2.05%"
    until(qtbot, lambda: panel.alerts and len(panel.alerts) == 8)
    qtbot.mouseClick(wl.table.viewport(), Qt.MouseButton.LeftButton, pos=wl.table.visualRect(wl.model.index(0, 0)).center())
    assert w.symbol == SYM
    w.close()
    w2 = open_window(qtbot, fired_feed.control, tmp_path)  # every window was closed; a new one opens
    until(qtbot, lambda: len(w2.watch.alerts.fired_texts()) == expected_fires())
    assert w2.watch.notifier.shown == []  # listed, not notified again
    assert w2.watch.watchlist.model.symbols == [SYM]  # the edited list was kept
    w2.close()
