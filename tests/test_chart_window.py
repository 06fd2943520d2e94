"""The chart in the real window (pytest-qt, offscreen): timeframe keys and selector, levels that
survive a restart, session shading with the extended-hours toggle, automatic levels from the manager.

The manager is the real ``PolygonDataManager`` driven through its seed hooks (no feed process:
the timeframe logic is the manager's, the drawing the chart's), or a stand-in for the restart test.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QApplication

from shared.market_hours import NY
from tests.test_window_widgets import StandInManager
from ui_process.polygon_data_manager import PolygonDataManager

DAY = dt.date(2025, 6, 27)


def ms(h: int, m: int) -> int:
    return int(dt.datetime.combine(DAY, dt.time(h, m), NY).timestamp() * 1000)


def am(t: int, price: float, vol: int = 1000) -> dict:
    return {"event_type": "aggregate", "symbol": "AAPL", "timestamp": t, "open": price, "high": price + 0.2,
            "low": price - 0.2, "close": price + 0.1, "volume": vol, "vwap": price, "transactions": 10}


class TfStandIn(StandInManager):
    def __init__(self):
        super().__init__()
        self.calls: list = []

    def set_timeframe(self, tf):
        self.calls.append(("tf", tf))

    def set_chart_options(self, **kw):
        self.calls.append(("opts", kw))


def open_window(qtbot, manager, state_file, **kw):
    from ui_process.window.main_window import MainWindow

    w = MainWindow(manager, feed="tcp://127.0.0.1:9", symbol="AAPL", state_file=str(state_file),
                   spawner=lambda *a: None, **kw)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def activate(qtbot, w) -> None:
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)


def click_price(qtbot, w, price: float) -> None:
    """A left click on the price pane, mid-width, at ``price``."""
    c = w.chart
    vb = c.price.getViewBox()
    (x0, x1), _ = vb.viewRange()
    pos = c.glw.mapFromScene(vb.mapViewToScene(QPointF((x0 + x1) / 2, price)))
    qtbot.mouseClick(c.glw.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(pos.x()), int(pos.y())))


def test_timeframe_and_levels_survive_a_window_restart(qtbot, tmp_path):
    state = tmp_path / "ui.ini"
    m = TfStandIn()
    w = open_window(qtbot, m, state)
    assert w.controls.tf == "1m" and ("tf", "1m") in m.calls
    m.chart_data_updated.emit({"bars": [am(ms(10, 0) + i * 60_000, 100 + i * 0.1) for i in range(40)],
                               "is_update": False})
    w.chart.render()
    activate(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_3)  # the View menu's third timeframe: 5m
    assert w.controls.tf == "5m" and m.calls[-1] == ("tf", "5m") and w.controls.combo.currentText() == "5m"
    assert w.actions_by_key["tf_5m"].isChecked()
    w.controls.combo.textActivated.emit("15m")  # the toolbar selector
    assert m.calls[-1] == ("tf", "15m") and w.actions_by_key["tf_15m"].isChecked()
    # a level: L, then a click on the price pane
    qtbot.keyClick(w, Qt.Key.Key_L)  # Add horizontal level (L or Alt+L; Alt+H is the Help menu)
    assert w.chart.levels.armed
    click_price(qtbot, w, 101.5)
    lv = w.chart.levels
    assert len(lv.user) == 1 and not lv.armed and abs(lv.user[0].value() - 101.5) < 0.2
    lv.ask_text = lambda current: "breakout"
    lv.ask_label(lv.user[0])
    lv.user[0].setValue(102.25)
    lv.user[0].sigPositionChangeFinished.emit(lv.user[0])  # what a drag ends with
    second = lv.add(99.0, "support")
    lv.remove(second)
    w.actions_by_key["extended"].trigger()  # off
    assert m.calls[-1] == ("opts", {"extended_hours": False})
    w.close()
    # a new window on the same settings file
    m2 = TfStandIn()
    w2 = open_window(qtbot, m2, state)
    assert w2.controls.tf == "15m" and ("tf", "15m") in m2.calls and w2.chart.timeframe == "15m"
    assert ("opts", {"extended_hours": False, "vwap_anchor": "open", "hour_anchor": "open",
                     "opening_range": 15}) in m2.calls
    assert not w2.actions_by_key["extended"].isChecked()
    assert w2.chart.levels.rows() == [{"price": 102.25, "label": "breakout"}]
    w2.switch_symbol("MSFT")  # levels are per symbol
    assert w2.chart.levels.rows() == []
    w2.switch_symbol("AAPL")
    assert [r["label"] for r in w2.chart.levels.rows()] == ["breakout"]


@pytest.fixture
def real(qtbot, tmp_path):
    m = PolygonDataManager("tcp://127.0.0.1:1", symbol="AAPL")
    w = open_window(qtbot, m, tmp_path / "ui.ini")
    for i, t in enumerate(range(ms(8, 0), ms(11, 0), 60_000)):  # pre-market 08:00 .. regular 11:00
        m._process_aggregate(am(t, 100 + 0.05 * i + (0.5 if i % 7 == 0 else 0), 1000 + 10 * i))
    m.set_timeframe("1m")  # a full refresh (what a snapshot would send)
    m.set_timeframe("5m")
    w.chart.render()
    return m, w


def test_a_timeframe_switch_redraws_the_managers_bars_and_indicators(real):
    m, w = real
    c = w.chart
    assert c.timeframe == "5m" and len(c.series) == 36 and c.series.span_ms == 300_000
    assert [t % 300_000 for t in c.series.t] == [0] * 36
    assert c.pane_labels["Price"].text().startswith("Price 5m")
    bars = m.get_bars()
    assert [b["timestamp"] for b in bars] == c.series.t  # every bucket finished (11:00 not begun)
    vals = m._core.pipe.indicators.load(bars)
    ema = np.array([np.nan if v["ema_9"] is None else v["ema_9"] for v in vals])
    assert np.allclose(c.series.ind["ema_9"], ema, equal_nan=True)  # the manager's values, drawn as sent
    assert np.isnan(c.series.ind["vwap"][:18]).all() and np.isfinite(c.series.ind["vwap"][18:]).all()  # 09:30
    assert "5m ·" in c.readout.text()


def test_session_shading_follows_the_extended_hours_toggle(real):
    m, w = real
    c = w.chart
    shade = c.shades[0]
    assert shade.runs == [(c.series.base, c.series.base + 17)] and shade.opens == [c.series.base + 18]
    assert shade.isVisible()
    w.actions_by_key["extended"].trigger()  # off: the manager drops pre/post bars, nothing to shade
    c.render()
    assert not shade.isVisible() and shade.runs == [] and len(c.series) == 18
    assert c.series.t[0] == ms(9, 30)
    w.actions_by_key["extended"].trigger()  # on again
    c.render()
    assert shade.isVisible() and shade.runs and len(c.series) == 36
    w.grab()  # paints without error


def test_automatic_levels_come_from_the_manager_and_toggle(real, qtbot):
    m, w = real
    m._on_display_tick()
    lv = w.chart.levels
    qtbot.waitUntil(lambda: lv.auto["pre_high"].isVisible(), timeout=3000)
    pre = [b for b in m.get_accumulated_bars() if b["timestamp"] < ms(9, 30)]
    assert lv.auto["pre_high"].value() == pytest.approx(max(b["high"] for b in pre))
    orng = [b for b in m.get_accumulated_bars() if ms(9, 30) <= b["timestamp"] < ms(9, 45)]
    assert lv.auto["or_high"].value() == pytest.approx(max(b["high"] for b in orng))
    w.actions_by_key["or_5"].trigger()
    orng5 = [b for b in orng if b["timestamp"] < ms(9, 35)]
    # the display timer runs once connected; here its tick is called (it is rate-gated: until it passes)
    qtbot.waitUntil(lambda: m._on_display_tick() or lv.auto["or_high"].value() == pytest.approx(
        max(b["high"] for b in orng5)), timeout=3000)
    w.actions_by_key["levels_pre"].trigger()  # hide the pre-market group
    assert not lv.auto["pre_high"].isVisible() and lv.auto["or_high"].isVisible()
    name, price, _ = lv.nearest(lv.auto["or_low"].value() + 0.01)
    assert name == "ORL"
    lv.tag_near(price)
    assert lv.tag.isVisible() and lv.tag.value() == price and "ORL" in lv.tag.label.format
