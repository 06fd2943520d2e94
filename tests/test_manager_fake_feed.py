"""PolygonDataManager against a protocol-v1 fake feed (real ZeroMQ sockets, real Qt event loop).

The fake feed makes the protocol's edge cases happen on demand: gaps, epochs,
garbage, death and restart. The real feed + simulator are in test_manager_live.py.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from shared.models.market_data import AGGREGATE_KEYS, TICKER_KEYS
from tests.manager_fake_feed import FakeFeed, make_bar, packed_garbage
from tests.util import recorded_manager
from ui_process.indicators import CALC_KEYS
from ui_process.polygon_data_manager import PolygonDataManager

# 2025-06-27 10:00 New York (a regular session)
T0 = int(dt.datetime(2025, 6, 27, 14, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)


def until(qtbot, cond, timeout: int = 5000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


def am(sym: str, i: int, c: float, v: int = 1000) -> list:
    return ["AM", T0 + i * 60_000, c - 0.1, c + 0.2, c - 0.3, c, v, c, 10]


@pytest.fixture
def feed():
    f = FakeFeed().start()
    st = f.state("AAPL")
    for i in range(30):
        st["bars"].append(make_bar("AAPL", T0 + i * 60_000, 100 + i * 0.1, 100.5 + i * 0.1, 99.5 + i * 0.1,
                                   100.2 + i * 0.1))
    st["seq"] = 500
    st["last_trade"] = {"event_type": "trade", "symbol": "AAPL", "timestamp": T0 + 30 * 60_000 - 5, "price": 103.1,
                        "size": 100, "conditions": [], "exchange": "NASDAQ"}
    st["last_quote"] = {"event_type": "quote", "symbol": "AAPL", "timestamp": T0 + 30 * 60_000 - 4,
                        "bid_price": 103.0, "bid_size": 3, "ask_price": 103.2, "ask_size": 4, "exchange": "NASDAQ"}
    st["day"].update({"date": "2025-06-27", "open": 100.0, "high": 103.5, "low": 99.5, "last": 103.1,
                      "volume": 123456, "prev_close": 101.0})
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
def manager(qtbot, feed):
    with recorded_manager(feed.control, "AAPL") as m_rec:
        yield m_rec


def test_snapshot_then_live_events(qtbot, feed, manager):
    m, rec = manager
    m.connect()
    until(qtbot, lambda: rec.conn == [True] and rec.refreshes(), 5000)
    # full refresh == the feed's bars, and get_accumulated_bars is a copy of them
    assert rec.refreshes()[0]["bars"] == feed.state("AAPL")["bars"]
    bars = m.get_accumulated_bars()
    assert bars == feed.state("AAPL")["bars"]
    bars[0]["close"] = -1
    assert m.get_accumulated_bars()[0]["close"] != -1
    until(qtbot, lambda: rec.market, 3000)
    t = rec.market[-1]
    assert set(t) == TICKER_KEYS
    assert t["last_price"] == 103.1 and t["bid"] == 103.0 and t["ask"] == 103.2
    assert t["spread"] == pytest.approx(0.2) and t["mid_price"] == pytest.approx(103.1)
    assert t["change"] == pytest.approx(2.1) and t["change_percent"] == pytest.approx(2.1 / 101 * 100)
    assert t["volume"] == 123456 and t["day_open"] == 100.0
    assert t["market_state"] == "open"  # simulated source: the data's own clock (10:00 NY)
    assert t["last_update"] == "10:29:59"

    # live: trades build the forming bar; the AM bar replaces it
    ts = T0 + 30 * 60_000
    feed.publish("AAPL", [["T", ts + 1000, 103.3, 200, 12, [], "1"], ["T", ts + 2000, 103.6, 100, 12, [], "2"],
                          ["Q", ts + 2001, 103.5, 1, 103.7, 2, 12, 12]])
    until(qtbot, lambda: any(c["is_update"] and c["bars"][0]["timestamp"] == ts for c in rec.chart), 3000)
    forming = [c for c in rec.chart if c["is_update"]][-1]["bars"][0]
    assert set(forming) == AGGREGATE_KEYS
    assert (forming["open"], forming["high"], forming["low"], forming["close"], forming["volume"]) == \
        (103.3, 103.6, 103.3, 103.6, 300)
    until(qtbot, lambda: rec.market[-1]["last_price"] == 103.6 and rec.market[-1]["bid"] == 103.5, 3000)
    assert rec.market[-1]["volume"] == 123456 + 300
    n_calc = len(rec.calc)
    feed.publish("AAPL", [["AM", ts, 103.3, 103.8, 103.2, 103.7, 5000, 103.5, 40]])
    until(qtbot, lambda: len(m.get_accumulated_bars()) == 31, 3000)
    assert m.get_accumulated_bars()[-1]["close"] == 103.7
    # one rule for chart bars: the snapshot's and the live AM's carry the seed's AggregateData keys, no more
    assert all(set(b) == AGGREGATE_KEYS for b in m.get_accumulated_bars())
    assert all(set(b) == AGGREGATE_KEYS for c in rec.chart for b in c["bars"])
    until(qtbot, lambda: len(rec.calc) > n_calc, 3000)
    calc = rec.calc[-1]
    assert set(calc) == CALC_KEYS
    assert calc["symbol"] == "AAPL" and calc["timestamp"] == ts and calc["bar_count"] == 31
    assert all(isinstance(calc[k], float) for k in ("vwap", "ema_9", "ema_21", "rsi_14", "atr_14"))
    info = m.feed_info()
    assert info["feed_alive"] and info["connected"] and info["source"] == "simulated"
    assert info["symbol"] == "AAPL" and info["bars"] == 31


def test_gap_and_epoch_trigger_resnapshot(qtbot, feed, manager):
    m, rec = manager
    m.connect()
    until(qtbot, lambda: len(rec.refreshes()) == 1, 5000)
    snaps = sum(1 for r in feed.requests if r["type"] == "snapshot")
    feed.publish("AAPL", [am("AAPL", 30, 104.0)], skip=3)  # seq jumps: a message was lost
    until(qtbot, lambda: len(rec.refreshes()) == 2, 5000)
    assert sum(1 for r in feed.requests if r["type"] == "snapshot") == snaps + 1
    assert m.get_accumulated_bars() == feed.state("AAPL")["bars"]
    assert all(set(b) == AGGREGATE_KEYS for b in m.get_accumulated_bars())
    feed.publish("AAPL", [am("AAPL", 31, 104.1)], epoch=7)  # a batch from another epoch
    until(qtbot, lambda: len(rec.refreshes()) == 3, 5000)
    assert m.feed_info()["resnapshots"] >= 2


def test_malformed_messages_are_counted_not_fatal(qtbot, feed, manager, caplog):
    m, rec = manager
    m.connect()
    until(qtbot, lambda: rec.refreshes(), 5000)
    caplog.set_level(logging.WARNING, logger="live_monitor.data.polygon_data_manager")
    for frames in packed_garbage():
        feed.send_raw(frames)
    feed.publish("AAPL", [["T", "bad"], am("AAPL", 30, 104.0)])
    until(qtbot, lambda: len(m.get_accumulated_bars()) == 31, 3000)
    assert m.feed_info()["bad_messages"] >= 5
    assert any("malformed" in e for e in rec.errors)
    assert rec.conn == [True]
    # the shared rate-limited logger, under the seed's logger name: one line per kind per period
    lines = [r.getMessage() for r in caplog.records if r.name == "live_monitor.data.polygon_data_manager"
             and r.getMessage().startswith("dropped a ")]
    assert 1 <= len(lines) < m.feed_info()["bad_messages"]


def test_change_symbol_twice_quickly_no_cross_talk(qtbot, feed, manager):
    m, rec = manager
    for sym, base in (("MSFT", 400.0), ("TSLA", 300.0)):
        st = feed.state(sym)
        st["bars"] = [make_bar(sym, T0 + i * 60_000, base, base + 1, base - 1, base + 0.5) for i in range(5)]
        st["seq"] = 10
    m.connect()
    until(qtbot, lambda: rec.refreshes(), 5000)
    m.change_symbol("MSFT")
    m.change_symbol("tsla")
    assert m.current_symbol == "TSLA"
    n_chart, n_calc, n_market = len(rec.chart), len(rec.calc), len(rec.market)
    # the old symbols keep publishing; none of it may reach the signals
    feed.publish("AAPL", [am("AAPL", 30, 104.0), ["T", T0 + 30 * 60_000 + 1, 104.0, 5, 12, [], "x"]])
    feed.publish("MSFT", [am("MSFT", 5, 401.0)])
    until(qtbot, lambda: any(not c["is_update"] for c in rec.chart[n_chart:]), 5000)
    feed.publish("TSLA", [am("TSLA", 5, 301.0)])
    until(qtbot, lambda: len(m.get_accumulated_bars()) == 6, 3000)
    after = rec.chart[n_chart:]
    assert all(b["symbol"] == "TSLA" for c in after for b in c["bars"])
    assert rec.calc[n_calc:] and all(c["symbol"] == "TSLA" for c in rec.calc[n_calc:])
    assert [b["close"] for b in m.get_accumulated_bars()][-1] == 301.0
    until(qtbot, lambda: len(rec.market) > n_market, 3000)
    assert all(abs(t["last_price"] - 300) < 5 for t in rec.market[n_market:])
    assert sum(1 for c in rec.chart[n_chart:] if not c["is_update"]) == 1  # only TSLA's snapshot


def test_feed_death_and_restart(qtbot, feed, manager):
    m, rec = manager
    m.connect()
    until(qtbot, lambda: rec.conn == [True] and rec.refreshes(), 5000)
    feed.stop()
    until(qtbot, lambda: rec.conn == [True, False], 6000)
    assert any("Feed process gone" in e for e in rec.errors)
    assert m.check_data_flow() in ("ok", "feed process gone")
    n_ref = len(rec.refreshes())
    feed.state("AAPL")["bars"].append(make_bar("AAPL", T0 + 30 * 60_000, 104, 105, 103, 104.5))
    feed.restart(epoch=2)  # same control address, new epoch, new data port
    until(qtbot, lambda: rec.conn == [True, False, True] and len(rec.refreshes()) > n_ref, 8000)
    assert rec.refreshes()[-1]["bars"] == feed.state("AAPL")["bars"]
    assert m.feed_info()["epoch"] == 2
    # and the new stream flows
    feed.publish("AAPL", [am("AAPL", 31, 105.0)])
    until(qtbot, lambda: len(m.get_accumulated_bars()) == 32, 3000)


def test_upstream_down_is_reported(qtbot, feed, manager):
    m, rec = manager
    m.connect()
    until(qtbot, lambda: rec.conn == [True], 5000)
    feed.set_upstream(state="auth_failed", message="bad API key")
    until(qtbot, lambda: rec.conn == [True, False], 3000)
    assert any("auth_failed" in e and "bad API key" in e for e in rec.errors)
    feed.set_upstream(state="connected", message="")
    until(qtbot, lambda: rec.conn == [True, False, True], 3000)


def test_check_data_flow_diagnoses(qtbot, feed):
    now = [1000.0]
    m = PolygonDataManager(feed.control, symbol="ZZZZ", clock=lambda: now[0])
    errors: list[str] = []
    m.error_occurred.connect(errors.append)
    try:
        m.connect()
        until(qtbot, lambda: m.feed_info()["feed_alive"] and m.feed_info()["synced"], 5000)
        assert m.check_data_flow() == "ok"
        now[0] += 31  # no data for the (empty) symbol for 31 s, feed alive, upstream connected
        m._link.last_feed_at = now[0]
        assert m.check_data_flow().startswith("market closed or quiet")
        feed.set_upstream(state="reconnecting", message="connection reset")
        until(qtbot, lambda: m.feed_info()["upstream_state"] == "reconnecting", 3000)
        m._link.last_feed_at = now[0]
        assert m.check_data_flow().startswith("upstream down (reconnecting")
        now[0] += 10  # heartbeats stop
        m._on_safety_tick()
        assert m.check_data_flow() == "feed process gone"
        assert sum("No data for ZZZZ" in e for e in errors) == 3  # one per diagnosis, not every 5 s
        m.check_data_flow()
        assert sum("No data for ZZZZ" in e for e in errors) == 3
    finally:
        m.disconnect()


def test_entry_and_exit_signals_are_emitted_live_not_for_history(qtbot, feed, manager):
    from shared.models.signals import ENTRY_KEYS, EXIT_KEYS

    m, rec = manager
    st = feed.state("AAPL")
    # A decline in the history (warm-up emits nothing), then the reversal and the run-up arrive live.
    hist = [make_bar("AAPL", T0 + i * 60_000, 110 - 0.5 * i + 0.5, 110 - 0.5 * i + 0.7, 110 - 0.5 * i - 0.2,
                     110 - 0.5 * i) for i in range(21)]
    hist.append(make_bar("AAPL", T0 + 21 * 60_000, 100, 104.2, 99.9, 104.0, 3000))
    for b in hist:
        b["vwap"] = None
    st["bars"] = hist[:21]
    m.connect()
    until(qtbot, lambda: rec.refreshes(), 5000)
    assert rec.entry == [] and rec.exit == []
    b = hist[21]
    feed.publish("AAPL", [["AM", b["timestamp"], b["open"], b["high"], b["low"], b["close"], b["volume"], None, 5]])
    until(qtbot, lambda: rec.entry, 3000)
    (e,) = rec.entry
    assert set(e) == ENTRY_KEYS and e["signal_type"] == "LONG" and e["symbol"] == "AAPL"
    feed.publish("AAPL", [["AM", T0 + 22 * 60_000, 104, 110.0, 103.8, 109.5, 1500, None, 5]])
    until(qtbot, lambda: rec.exit, 3000)
    (x,) = rec.exit
    assert set(x) == EXIT_KEYS and x["exit_type"] == "TARGET" and x["pnl"].startswith("+")
    # the same bar again (a feed re-send after a re-snapshot) does not repeat the signal
    feed.publish("AAPL", [["AM", T0 + 22 * 60_000, 104, 110.0, 103.8, 109.5, 1500, None, 5]])
    feed.publish("AAPL", [["AM", T0 + 23 * 60_000, 109.5, 109.8, 109.0, 109.2, 1000, None, 5]])
    until(qtbot, lambda: len(m.get_accumulated_bars()) == 24, 3000)
    assert len(rec.entry) == 1 and len(rec.exit) == 1


def test_malformed_snapshot_bars_are_skipped_and_told(qtbot, feed, manager):
    m, rec = manager

    def mangle(rep: dict) -> dict:
        bars = [dict(b) for b in rep["bars"]]
        bars[3]["close"] = "x"
        del bars[5]["high"]
        bars[7] = "not a bar"
        return {**rep, "bars": bars, "day": {"volume": "lots", "open": None}, "forming": {"timestamp": None}}

    feed.snapshot_hook = mangle
    m.connect()
    until(qtbot, lambda: rec.refreshes(), 5000)
    assert len(m.get_accumulated_bars()) == 27
    assert any("malformed bar" in e for e in rec.errors)
    feed.snapshot_hook = None
    feed.publish("AAPL", [am("AAPL", 30, 104.0)])
    until(qtbot, lambda: len(m.get_accumulated_bars()) == 28, 3000)
    assert rec.conn == [True]
