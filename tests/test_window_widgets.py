"""Dashboard window widgets on a real Qt event loop (offscreen), driven through
the data manager's seven signals by a stand-in QObject with those signals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QColor

from shared.market_hours import NY
from shared.models.signals import make_entry, make_exit
from ui_process.window.bar_series import BarSeries
from ui_process.window.status import describe
from ui_process.window.tape_buffer import BUY, BUY_LEAN, MID, SELL, SELL_LEAN, TapeBuffer, classify

T0 = 1751031000000  # 2025-06-27 09:30 ET


def bar(i: int, close: float = 100.0, vol: int = 1000) -> dict:
    return {"timestamp": T0 + i * 60_000, "open": close - 0.1, "high": close + 0.2, "low": close - 0.3,
            "close": close, "volume": vol, "vwap": close, "transactions": None, "symbol": "AAPL",
            "event_type": "aggregate"}


def ticker(last: float = 101.25, change: float = 1.25) -> dict:
    return {"last_price": last, "bid": last - 0.01, "ask": last + 0.01, "spread": 0.02, "mid_price": last,
            "volume": 1_234_567, "change": change, "change_percent": change / (last - change) * 100,
            "day_high": 102.0, "day_low": 99.5, "day_open": 100.0, "last_update": "10:31:07",
            "market_state": "open"}


class StandInManager(QObject):
    """The seven signals of PolygonDataManager, plus what the window calls."""

    market_data_updated = pyqtSignal(dict)
    chart_data_updated = pyqtSignal(dict)
    calculation_updated = pyqtSignal(dict)
    entry_signal_generated = pyqtSignal(dict)
    exit_signal_generated = pyqtSignal(dict)
    connection_status_changed = pyqtSignal(bool)
    error_occurred = pyqtSignal(str)

    def __init__(self):
        super().__init__()
        self.symbols: list[str] = []
        # the keys of PolygonDataManager.feed_info()
        self.info = {"pid": 4321, "epoch": 99, "feed_alive": True, "upstream_state": "connected",
                     "source": "simulated", "attempts": 2, "last_event_age_s": 0.4, "messages_per_s": 850.0}
        self.disconnected = False

    def change_symbol(self, s: str) -> None:
        self.symbols.append(s)

    def disconnect(self) -> None:
        self.disconnected = True

    def feed_info(self) -> dict:
        return self.info


@pytest.fixture
def ui_settings(tmp_path):
    return tmp_path / "ui.ini"  # never the user's real QSettings


@pytest.fixture
def window(qtbot, ui_settings):
    from ui_process.window.main_window import MainWindow

    mgr = StandInManager()
    spawned: list[tuple[str, str]] = []
    w = MainWindow(mgr, feed="tcp://127.0.0.1:9999", symbol="AAPL", state_file=str(ui_settings),
                   spawner=lambda feed, sym: spawned.append((feed, sym)))
    w.spawned = spawned
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


# ---------------------------------------------------------------- sans-Qt cores


def test_bar_series_upsert_replace_trim_keeps_absolute_x():
    s = BarSeries(max_bars=5)
    s.set_bars([bar(i) for i in range(3)])
    assert (len(s), s.base, s.last_x) == (3, 0, 2)
    assert s.upsert(bar(2, close=101)) == 2 and s.row(2)[3] == 101  # forming bar replaced
    assert s.upsert(bar(1, close=99)) == 1 and s.row(1)[3] == 99  # official bar replaces an older one
    assert s.upsert({**bar(0), "timestamp": T0 - 60_000}) is None  # older than the window: ignored
    for i in range(3, 8):
        s.upsert(bar(i, close=100 + i))
    assert (len(s), s.base, s.last_x) == (5, 3, 7)  # 2000-bar style bound, x never shifts
    assert s.row(7)[3] == 107 and s.row(2) is None
    assert s.x_for_time(T0 + 5 * 60_000 + 30_000) == 5
    assert s.set_indicators({"timestamp": T0 + 6 * 60_000, "ema_9": 1.5, "rsi_14": None}) == 6
    assert s.ind["ema_9"][6 - s.base] == 1.5 and np.isnan(s.ind["rsi_14"][6 - s.base])
    lo, hi = s.y_range(3, 4)
    assert lo == pytest.approx(103 - 0.3) and hi == pytest.approx(104 + 0.2)


def test_bar_series_skips_unusable_bars():
    s = BarSeries()
    kept = s.set_bars([bar(0), {"timestamp": T0 + 60_000, "open": "x"}, {"close": 1.0}, bar(2),
                       {**bar(3), "high": float("nan")}])
    assert [b["timestamp"] for b in kept] == [T0, T0 + 120_000] and s.rejected == 3
    assert s.upsert({"timestamp": T0 + 240_000, "open": None, "high": 1, "low": 1}) is None and s.rejected == 4
    assert s.upsert("garbage") is None and len(s) == 2


def test_tape_classifies_against_the_quote_at_the_time():
    assert classify(10.02, 10.00, 10.02) == BUY
    assert classify(10.00, 10.00, 10.02) == SELL
    assert classify(10.015, 10.00, 10.02) == BUY_LEAN
    assert classify(10.005, 10.00, 10.02) == SELL_LEAN
    assert classify(10.01, 10.00, 10.02) == MID
    assert classify(10.01, 0, 0) == MID  # no quote yet
    tb = TapeBuffer(maxlen=3)
    tb.clear("AAPL")
    tb.on_quote({"symbol": "AAPL", "bid_price": 10.0, "ask_price": 10.02, "bid_size": 300, "ask_size": 500})
    tb.on_trade({"symbol": "AAPL", "timestamp": T0, "price": 10.02, "size": 100, "exchange": "NASDAQ"})
    tb.on_quote({"symbol": "AAPL", "bid_price": 10.02, "ask_price": 10.04, "bid_size": 1, "ask_size": 1})
    tb.on_trade({"symbol": "AAPL", "timestamp": T0 + 1, "price": 10.02, "size": 200, "exchange": "NYSE"})
    tb.on_trade({"symbol": "MSFT", "timestamp": T0 + 2, "price": 1.0, "size": 1})  # another symbol: ignored
    sides = [p.side for p in tb.since(0, 10)]
    assert sides == [SELL, BUY]  # newest first; the same price is a sell against the newer quote
    for i in range(5):
        tb.on_trade({"symbol": "AAPL", "timestamp": T0 + 10 + i, "price": 10.03, "size": 1})
    assert len(tb.prints) == 3 and [p.seq for p in tb.since(5, 10)] == [7, 6]


def test_status_describe_badges_and_states():
    d = describe({"upstream": {"state": "connected", "source": "simulated", "attempts": 0}, "pid": 5,
                  "epoch": 3, "last_event_age": 2.0, "messages_per_s": 12.0}, True)
    assert d["source"] == "SIMULATED" and d["connection"] == "Connected" and d["level"] == "ok"
    assert d["feed"] == "feed pid 5 · epoch 3" and d["rate"] == "12 msg/s" and d["age"] == "last event 2 s ago"
    up = {"feed_alive": True, "upstream_state": "connected", "last_event_age_s": 1.0}
    assert describe({**up, "source": "replay"}, True)["source"] == "REPLAY"
    assert describe({**up, "source": "live"}, True)["source"] == "LIVE"
    assert describe({**up, "source": "delayed"}, True)["source"] == "DELAYED"
    assert describe({"source": "replay"}, True)["source"] == "REPLAY · CONNECTING"  # nothing heard yet
    r = describe({"upstream": {"state": "reconnecting", "attempts": 3}}, False)
    assert r["connection"].startswith("Connection lost — reconnecting") and r["attempts"] == "reconnects 3"
    assert describe({"feed_alive": False}, False, "tcp://127.0.0.1:1", waited_s=1)["connection"] == \
        "Connecting to feed at tcp://127.0.0.1:1…"
    u = describe({"feed_alive": False}, False, "tcp://127.0.0.1:1", waited_s=6)
    assert u["connection"].startswith("Feed unreachable at tcp://127.0.0.1:1 — retrying") and u["level"] == "bad"
    g = describe({"feed_alive": False, "pid": 77}, False)
    assert "reconnecting" in g["connection"] and g["level"] == "bad"


# ---------------------------------------------------------------- the window


def test_ticker_tape_tables_errors_show_what_was_sent(window, qtbot):
    m = window.manager
    m.market_data_updated.emit(ticker())
    t = window.ticker
    assert t.text("last_price") == "101.25"
    assert t.text("change") == "+1.25" and t.text("change_percent") == "+1.25%"
    assert t.text("spread") == "0.02" and t.text("volume") == "1,234,567" and t.text("last_update") == "10:31:07"
    assert t.text("day_high") == "102.00" and t.text("day_low") == "99.50" and t.text("day_open") == "100.00"
    assert t.state_badge.text() == "OPEN"
    assert QColor(window.ticker.labels["change"].palette().color(
        window.ticker.labels["change"].foregroundRole())).name() == "#26a69a"
    m.market_data_updated.emit({**ticker(99.0, -1.0), "market_state": "post"})
    assert t.state_badge.text() == "POST" and t.text("change") == "-1.00"

    window.tape.on_quote({"symbol": "AAPL", "bid_price": 101.24, "ask_price": 101.26, "bid_size": 3, "ask_size": 5})
    window.tape.on_trade({"symbol": "AAPL", "timestamp": T0 + 1234, "price": 101.26, "size": 700,
                          "exchange": "NASDAQ"})
    window.tape.on_trade({"symbol": "AAPL", "timestamp": T0 + 2000, "price": 101.24, "size": 50,
                          "exchange": "IEX"})
    model = window.tape_view.model
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=3000)  # pulled by the 10 Hz timer

    def cell(r, c, role=Qt.ItemDataRole.DisplayRole):
        return model.data(model.index(r, c), role)

    assert [cell(0, c) for c in range(4)] == ["09:30:02.000", "101.24", "50", "IEX"]
    assert [cell(1, c) for c in range(4)] == ["09:30:01.234", "101.26", "700", "NASDAQ"]
    assert cell(0, 0, Qt.ItemDataRole.ForegroundRole).name() == "#ef5350"  # sold into the bid
    assert cell(1, 0, Qt.ItemDataRole.ForegroundRole).name() == "#26a69a"  # bought at the ask
    window.tape_view.min_size.setValue(100)
    assert model.rowCount() == 1 and cell(0, 3) == "NASDAQ"
    m.market_data_updated.emit(ticker())
    assert t.text("bid") == "101.24 × 3" and t.text("ask") == "101.26 × 5"

    when = dt.datetime(2025, 6, 27, 9, 31, 5, tzinfo=NY)
    m.entry_signal_generated.emit(make_entry("AAPL", when, "LONG", 101.25, "RSI Oversold + VWAP reclaim",
                                             "Strong", "Volume confirmation present"))
    m.exit_signal_generated.emit(make_exit("AAPL", when, "STOP", 100.5, -0.74, "Stop hit", "Urgent", -0.75))
    assert [window.entries.cell_text(0, k) for k in ("time", "signal_type", "price", "strength")] == \
        ["09:31:05", "LONG", "101.25", "Strong"]
    assert [window.exits.cell_text(0, k) for k in ("exit_type", "pnl", "urgency")] == ["STOP", "-0.74%", "Urgent"]
    assert window.exits.item(0, 0).foreground().color().name() == "#ef5350"  # urgent exits are red

    m.error_occurred.emit("upstream down: connection refused")
    m.error_occurred.emit("upstream down: connection refused")
    msgs = window.errors.messages()
    assert len(msgs) == 1 and msgs[0].endswith("upstream down: connection refused  (×2)")
    assert msgs[0][2] == ":" and msgs[0][5] == ":"  # HH:MM:SS stamp
    assert window.status.errors.text() == "⚠ 2 errors"


def test_status_bar_reads_simulated_and_reacts_to_connection(window, qtbot):
    m = window.manager
    m.connection_status_changed.emit(True)
    assert window.status.source.text() == "SIMULATED"
    assert "Connected" in window.status.connection.text()
    assert window.status.feed.text() == "feed pid 4321 · epoch 99"
    assert window.status.attempts.text() == "reconnects 2"
    m.info = {**m.info, "upstream_state": "reconnecting", "attempts": 3}
    m.connection_status_changed.emit(False)
    assert "reconnecting" in window.status.connection.text()
    assert window.status.source.text() == "SIMULATOR · RECONNECTING"  # the source stays named, its state too


def test_typing_a_symbol_switches_and_clears_every_panel(window, qtbot):
    m = window.manager
    m.chart_data_updated.emit({"bars": [bar(i) for i in range(50)], "is_update": False})
    m.market_data_updated.emit(ticker())
    window.tape.on_trade({"symbol": "AAPL", "timestamp": T0, "price": 101.0, "size": 10})
    m.entry_signal_generated.emit(make_entry("AAPL", dt.datetime.now(NY), "SHORT", 1, "x", "Weak"))
    qtbot.waitUntil(lambda: window.tape_view.model.rowCount() == 1, timeout=3000)

    window.symbol_entry.edit.clear()
    qtbot.keyClicks(window.symbol_entry.edit, "msft")
    qtbot.keyClick(window.symbol_entry.edit, Qt.Key.Key_Return)
    assert m.symbols == ["AAPL", "MSFT"] and window.symbol == "MSFT"
    assert len(window.chart.series) == 0 and window.tape_view.model.rowCount() == 0
    assert window.entries.rowCount() == 0 and window.ticker.text("last_price") == "—"
    assert window.ticker.symbol_label.text() == "MSFT" and window.windowTitle().startswith("MSFT")
    assert window.symbol_entry.recent.items[:2] == ["MSFT", "AAPL"]
    # the refill comes from the manager's snapshot
    m.chart_data_updated.emit({"bars": [bar(i, 300) for i in range(20)], "is_update": False})
    window.chart.render()
    assert len(window.chart.series) == 20 and window.chart.series.row(19)[3] == 300
    # the recent-symbols menu switches back in one click
    recent = {a.text(): a for a in window.symbol_entry.menu.actions()}
    assert list(recent) == ["MSFT", "AAPL"]
    recent["AAPL"].trigger()
    assert m.symbols[-1] == "AAPL" and window.symbol == "AAPL" and len(window.chart.series) == 0


def test_invalid_symbol_shows_a_message_and_keeps_the_previous(window, qtbot):
    window.symbol_entry.edit.clear()
    qtbot.keyClicks(window.symbol_entry.edit, "12$%")
    qtbot.keyClick(window.symbol_entry.edit, Qt.Key.Key_Return)
    assert window.manager.symbols == ["AAPL"] and window.symbol == "AAPL"
    assert window.notice.text().startswith("Invalid symbol: '12$%' is not a valid ticker")
    assert window.notice.text().endswith("still showing AAPL")
    assert window.symbol_entry.edit.text() == "AAPL"


def test_chart_follows_live_edge_until_scrolled_away_and_fit_resumes(window, qtbot):
    m, c = window.manager, window.chart
    m.chart_data_updated.emit({"bars": [bar(i, 100 + i * 0.01) for i in range(2000)], "is_update": False})
    c.render()
    (x0, x1), _ = c.price.getViewBox().viewRange()
    assert x0 <= 1999 <= x1
    m.chart_data_updated.emit({"bars": [bar(2000, 130)], "is_update": True})
    c.render()
    assert len(c.series) == 2000 and c.series.base == 1  # the 2000-bar bound
    (x0, x1), _ = c.price.getViewBox().viewRange()
    assert x0 <= 2000 <= x1
    # the user pans back in time: the view stays there while bars arrive
    c.price.getViewBox().setXRange(500, 600, padding=0)
    c.price.getViewBox().sigRangeChangedManually.emit([True, False])
    assert c.follow is False
    m.chart_data_updated.emit({"bars": [bar(2001, 131)], "is_update": True})
    c.render()
    (x0, x1), _ = c.price.getViewBox().viewRange()
    assert (round(x0), round(x1)) == (500, 600)
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert c.follow is True
    (x0, x1), _ = c.price.getViewBox().viewRange()
    assert x0 <= 2 and x1 >= 2001  # fit shows every bar
    # y follows the visible bars
    (_, _), (y0, y1) = c.price.getViewBox().viewRange()
    assert y0 < 100 and y1 > 131


def test_candles_cache_finished_bars_and_redraw_only_the_forming_one(window, qtbot):
    m, c = window.manager, window.chart
    m.chart_data_updated.emit({"bars": [bar(i, 100 + (i % 7)) for i in range(300)], "is_update": False})
    c.render()
    window.grab()
    built = c.candles.chunk_builds
    assert built > 0
    for k in range(20):  # the forming bar ticks: no cached chunk is re-recorded
        m.chart_data_updated.emit({"bars": [bar(299, 101 + k * 0.01)], "is_update": True})
        c.render()
        window.grab()
    assert c.candles.chunk_builds == built
    # ...and the price range stays put while the forming bar stays inside it (no full-pane repaint)
    yrange = c.price.getViewBox().viewRange()[1]
    m.chart_data_updated.emit({"bars": [bar(299, 101.05)], "is_update": True})
    c.render()
    assert c.price.getViewBox().viewRange()[1] == yrange
    m.chart_data_updated.emit({"bars": [bar(300, 102)], "is_update": True})  # a new bar: one chunk re-recorded
    c.render()
    window.grab()
    assert c.candles.chunk_builds == built + 1


def test_crosshair_readout_and_markers(window, qtbot):
    m, c = window.manager, window.chart
    bars = [bar(i, 100 + i) for i in range(30)]
    from ui_process.indicators import IndicatorSet  # the manager sends every bar's indicators with a refresh

    m.chart_data_updated.emit({"bars": bars, "is_update": False, "indicators": IndicatorSet("AAPL").load(bars)})
    m.calculation_updated.emit({"symbol": "AAPL", "timestamp": T0 + 29 * 60_000, "vwap": 111.5, "ema_9": 125.0,
                                "ema_21": 118.0, "rsi_14": 71.0, "atr_14": 1.0, "relative_volume": 1.0,
                                "bar_count": 30})
    c.render()
    v = c.readout_values(29)
    assert (v["close"], v["volume"], v["ema_9"], v["rsi_14"]) == (129.0, 1000, 125.0, 71.0)
    assert v["time"] == "2025-06-27 09:59"
    assert "EMA9 125.00" in c.readout.text() and "RSI 71.00" in c.readout.text()
    assert np.isfinite(c.series.ind["ema_9"][10])  # history from the refresh's indicators (the manager's)
    when = dt.datetime.fromtimestamp((T0 + 10 * 60_000) / 1000, NY)
    m.entry_signal_generated.emit(make_entry("AAPL", when, "LONG", 110, "x", "Medium"))
    m.exit_signal_generated.emit(make_exit("AAPL", when, "TARGET", 110.2, 0.2, "y", "Normal", 0.2))
    c.render()
    assert list(c.entry_marks.data["x"]) == [10] and c.entry_marks.data["y"][0] < 110 - 0.3
    assert list(c.exit_marks.data["x"]) == [10] and c.exit_marks.data["y"][0] == pytest.approx(110.2)
    # hover a point over bar 12 -> its readout
    vb = c.price.getViewBox()
    scene_pt = vb.mapViewToScene(vb.mapToView(vb.rect().center()))
    from PyQt6.QtCore import QPointF

    c.price.setXRange(0, 29, padding=0)
    scene_pt = vb.mapViewToScene(QPointF(12, 112))
    c._on_mouse((scene_pt,))
    assert c._hover_x == 12 and "C</span> <span" in c.readout.text() and "112.00" in c.readout.text()


def test_history_progress_and_failure_message(window, qtbot):
    m, c = window.manager, window.chart
    m.info = {**m.info, "backfill_state": "pending", "backfill_message": None}
    window.refresh_status()
    assert c.message.isVisible() and c.message.text().startswith("Loading earlier bars for AAPL")
    # the seed showed "History unavailable: history: ClientConnectorDNSError — live bars continue" with
    # no connection: now plain words, no class name, and the second half only when it is true
    m.info = {**m.info, "backfill_state": "failed", "backfill_message": "history: ClientConnectorDNSError",
              "upstream_state": "reconnecting"}
    window.refresh_status()
    text = c.message.text()
    assert text == ("Earlier bars could not be loaded: the server's name could not be looked up — check your "
                    "network connection or the upstream address. Live bars will appear once the feed is connected.")
    m.info = {**m.info, "backfill_message": "HTTP 503", "upstream_state": "connected", "last_event_age_s": 0.5}
    window.refresh_status()
    assert c.message.text().startswith("Earlier bars could not be loaded: the server had an internal error")
    assert c.message.text().endswith("Live bars continue below.")
    m.chart_data_updated.emit({"bars": [bar(0)], "is_update": True})  # live bars still flow
    c.render()
    assert len(c.series) == 0 or c.series.row(0) is not None
    m.info = {**m.info, "backfill_state": "done", "backfill_message": None}
    window.refresh_status()
    assert not c.message.isVisible()


def test_shortcuts_new_window_and_persistence(window, qtbot, ui_settings):
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.spawned == [("tcp://127.0.0.1:9999", "AAPL")]
    window.symbol_entry.edit.clearFocus()
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.symbol_entry.edit.hasFocus(), timeout=2000)
    window.switch_symbol("TSLA")
    window.tape_view.min_size.setValue(300)
    window.docks["errors"].hide()  # a layout change that must survive the restart
    window.close()
    assert window.manager.disconnected
    from ui_process.window.main_window import MainWindow, last_symbol

    assert ui_settings.exists() and last_symbol(str(ui_settings)) == "TSLA"
    w2 = MainWindow(StandInManager(), feed="tcp://127.0.0.1:9999", symbol=last_symbol(str(ui_settings)),
                    state_file=str(ui_settings))
    qtbot.addWidget(w2)
    assert w2.symbol == "TSLA" and w2.symbol_entry.recent.items[:2] == ["TSLA", "AAPL"]
    assert w2.tape_view.min_size.value() == 300
    assert w2.restored == (True, True)
    w2.show()
    assert w2.docks["errors"].isHidden() and not w2.docks["tape"].isHidden()
    w2.close()
    window.second = w2  # keep it alive until qtbot's teardown deletes both


def test_new_window_command_is_a_ui_process_on_the_same_feed():
    import subprocess

    from tests.util import REPO
    from ui_process.window.spawn import window_command

    cmd = window_command("tcp://127.0.0.1:8301", "MSFT")
    assert cmd[1:] == ["-m", "supervisor", "ui", "--feed", "tcp://127.0.0.1:8301", "--symbol", "MSFT"]
    r = subprocess.run([*cmd, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--symbol S" in r.stdout and "--screenshot FILE" in r.stdout


def test_an_exception_in_a_slot_is_shown_and_the_window_keeps_running(window, monkeypatch):
    import sys

    from ui_process.app import _keep_running_on_errors

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    _keep_running_on_errors(window)
    try:
        raise ValueError("bad dict from a plug-in")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    # plain words for the trader, the exception class only in the log
    assert window.errors.messages()[0].endswith("Something went wrong inside the window (bad dict from a plug-in)"
                                                " — details are in the log; the window keeps running")
    window.manager.market_data_updated.emit(ticker())  # still alive and updating
    assert window.ticker.text("last_price") == "101.25"


def test_time_axis_ticks_fall_on_round_minutes(qapp):
    from ui_process.window.chart import TimeAxis

    s = BarSeries()
    s.set_bars([bar(i) for i in range(120)])  # 09:30 .. 11:29 ET
    axis = TimeAxis(s)
    xs = axis.bar_ticks(0, 119, 1000)  # ~11 labels wanted over 119 minutes -> every 15 minutes
    labels = axis.tickStrings(xs, 1, 1)
    assert labels == ["09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00", "11:15"]
    assert axis.tickStrings(axis.bar_ticks(0, 119, 300), 1, 1) == ["10:00", "11:00"]  # narrow: hourly


def test_tape_canvas_keeps_a_scrolled_reader_in_place(qtbot):
    from ui_process.window.tape_view import TapeView

    tb = TapeBuffer()
    tb.clear("AAPL")
    view = TapeView(tb)
    qtbot.addWidget(view)
    view.timer.stop()
    view.resize(400, 300)
    view.show()
    for i in range(60):
        tb.on_trade({"symbol": "AAPL", "timestamp": T0 + i, "price": 10.0, "size": i + 1})
    view.pull()
    sb = view.table.verticalScrollBar()
    assert sb.maximum() > 0 and sb.value() == 0
    sb.setValue(5)
    for i in range(3):
        tb.on_trade({"symbol": "AAPL", "timestamp": T0 + 100 + i, "price": 10.0, "size": 1})
    view.pull()
    assert sb.value() == 8  # the rows the reader was looking at did not move
    assert view.model.data(view.model.index(8, 2)) == "55"
    sb.setValue(0)
    tb.on_trade({"symbol": "AAPL", "timestamp": T0 + 200, "price": 10.0, "size": 7})
    view.pull()
    assert sb.value() == 0  # at the top: follow the newest print
    img = view.table.viewport().grab().toImage()
    assert len({img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}) > 3
