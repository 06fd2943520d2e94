"""Emission rules of PolygonDataManager, driven through its hooks with an injected clock (no feed needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.models.market_data import AGGREGATE_KEYS, TICKER_KEYS
from ui_process.indicators import CALC_KEYS
from ui_process.polygon_data_manager import PolygonDataManager

T0 = int(dt.datetime(2025, 6, 27, 14, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)  # 10:00 NY


def trade(ts, price, size=100):
    return {"event_type": "trade", "symbol": "AAPL", "timestamp": ts, "price": price, "size": size,
            "conditions": [], "exchange": "NASDAQ"}


@pytest.fixture
def mgr(qtbot):
    now = [100.0]
    m = PolygonDataManager("tcp://127.0.0.1:1", symbol="AAPL", clock=lambda: now[0],
                           wall_clock=lambda: T0 / 1000 + 60)
    out: dict[str, list] = {k: [] for k in ("market", "chart", "calc", "entry", "exit")}
    m.market_data_updated.connect(out["market"].append)
    m.chart_data_updated.connect(out["chart"].append)
    m.calculation_updated.connect(out["calc"].append)
    m.entry_signal_generated.connect(out["entry"].append)
    m.exit_signal_generated.connect(out["exit"].append)
    return m, now, out


def test_market_data_is_coalesced_to_the_configured_rate_and_only_when_changed(mgr):
    m, now, out = mgr
    period = 1.0 / m.ui_update_hz
    for i in range(50):  # a burst of trades within one display period
        m._process_trade(trade(T0 + i, 100 + i * 0.01))
    m._on_display_tick()
    assert len(out["market"]) == 1 and out["market"][0]["last_price"] == pytest.approx(100.49)
    assert set(out["market"][0]) == TICKER_KEYS
    m._process_trade(trade(T0 + 100, 101.0))
    now[0] += period * 0.5
    m._on_display_tick()  # too soon: held back, not lost
    assert len(out["market"]) == 1
    now[0] += period * 0.6
    m._on_display_tick()
    assert len(out["market"]) == 2 and out["market"][-1]["last_price"] == 101.0
    now[0] += period
    m._on_display_tick()  # nothing changed: nothing emitted
    assert len(out["market"]) == 2
    m.check_data_flow()  # marks the ticker dirty for the clock, but the dict is the same
    now[0] += period
    m._on_display_tick()
    assert len(out["market"]) == 2


def test_forming_bar_updates_are_coalesced_but_finished_bars_are_immediate(mgr):
    m, now, out = mgr
    for i in range(20):
        m._process_trade(trade(T0 + i * 100, 100 + i * 0.1, 10))
    assert out["chart"] == []  # forming bar waits for the display tick
    m._on_display_tick()
    (c,) = out["chart"]
    assert c["is_update"] and set(c["bars"][0]) == AGGREGATE_KEYS and c["bars"][0]["volume"] == 200
    assert out["calc"][-1]["timestamp"] == T0 and set(out["calc"][-1]) == CALC_KEYS
    m._process_aggregate({"event_type": "aggregate", "symbol": "AAPL", "timestamp": T0, "open": 100.0,
                          "high": 102.0, "low": 99.9, "close": 101.9, "volume": 200, "vwap": 101.0,
                          "transactions": 20})
    assert len(out["chart"]) == 2 and out["chart"][-1]["bars"][0]["close"] == 101.9  # at once
    assert out["calc"][-1]["bar_count"] == 1
    assert m.get_accumulated_bars()[-1]["high"] == 102.0


def test_test_chart_update_sends_a_synthetic_bar_through_the_pipeline(mgr):
    m, now, out = mgr
    m.test_chart_update()
    m.test_chart_update()
    bars = m.get_accumulated_bars()
    assert len(bars) == 2 and bars[1]["timestamp"] - bars[0]["timestamp"] == 60_000
    assert [c["is_update"] for c in out["chart"]] == [True, True]
    assert out["calc"][-1]["bar_count"] == 2


def test_max_bars_bounds_the_history(qtbot):
    from shared.config import Settings

    m = PolygonDataManager("tcp://127.0.0.1:1", settings=Settings(max_bars=10), symbol="AAPL")
    for _ in range(25):
        m.test_chart_update()
    bars = m.get_accumulated_bars()
    assert len(bars) == 10 and bars == sorted(bars, key=lambda b: b["timestamp"])


def test_bad_symbol_and_bad_address_are_errors_not_exceptions(qtbot):
    m = PolygonDataManager("http://nope", symbol="AAPL")
    errors: list[str] = []
    m.error_occurred.connect(errors.append)
    m.connect()
    m.change_symbol("not a symbol!")
    assert m.current_symbol == "AAPL"
    assert any("tcp://HOST:PORT" in e for e in errors) and any("Cannot change symbol" in e for e in errors)
    m.disconnect()
