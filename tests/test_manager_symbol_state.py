"""WindowSymbol: ticker, day stats, forming bar and official bars, without Qt or sockets."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.models.market_data import AGGREGATE_KEYS, TICKER_KEYS
from ui_process.symbol_state import WindowSymbol

NY_OPEN = int(dt.datetime(2025, 6, 27, 13, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)  # 09:30 NY


def trade(ts, price, size=100, cond=()):
    return {"event_type": "trade", "symbol": "AAPL", "timestamp": ts, "price": price, "size": size,
            "conditions": list(cond), "exchange": "NASDAQ"}


def quote(ts, bid, ask):
    return {"event_type": "quote", "symbol": "AAPL", "timestamp": ts, "bid_price": bid, "bid_size": 1,
            "ask_price": ask, "ask_size": 1, "exchange": "NASDAQ"}


def agg(ts, o, h, lo, c, v=1000):
    return {"event_type": "aggregate", "symbol": "AAPL", "timestamp": ts, "open": o, "high": h, "low": lo,
            "close": c, "volume": v, "vwap": None, "transactions": None}


def test_conditions_decide_what_a_trade_updates():
    s = WindowSymbol("AAPL")
    s.on_trade(trade(NY_OPEN + 1000, 100.0))
    s.on_trade(trade(NY_OPEN + 2000, 90.0, 50, cond=[37]))   # odd lot: volume only
    s.on_trade(trade(NY_OPEN + 3000, 110.0, 10, cond=[22]))  # prior reference: high/low, not last
    s.on_trade(trade(NY_OPEN + 4000, 101.0, 5, cond=[15]))   # official close marker: nothing
    assert s.last_price == 100.0 and s.day_open == 100.0
    assert (s.day_high, s.day_low) == (110.0, 100.0)
    assert s.day_volume == 160
    f = s.forming
    assert (f["open"], f["high"], f["low"], f["close"], f["volume"]) == (100.0, 110.0, 100.0, 100.0, 160)


def test_day_open_is_the_first_regular_session_print():
    s = WindowSymbol("AAPL")
    s.on_trade(trade(NY_OPEN - 3_600_000, 95.0))  # 08:30 pre-market
    assert s.day_open is None and s.last_price == 95.0 and s.day_low == 95.0
    s.on_trade(trade(NY_OPEN + 5, 96.0))
    assert s.day_open == 96.0


def test_finished_bars_are_kept_and_the_official_bar_replaces_them_and_late_prints_ignored():
    s = WindowSymbol("AAPL")
    m0 = NY_OPEN
    assert s.on_trade(trade(m0 + 1000, 100.0))
    assert s.take_finished() == []
    assert s.on_trade(trade(m0 + 61_000, 101.0))  # next minute starts a new forming bar ...
    assert s.forming["timestamp"] == m0 + 60_000
    [(kind, prov)] = s.take_finished()  # ... and the finished minute is kept, provisional
    assert kind == "append" and s.bars == [prov] and prov["close"] == 100.0
    assert set(prov) == AGGREGATE_KEYS  # one shape for every bar a seed user sees
    kind, bar = s.on_aggregate(agg(m0, 99.5, 100.5, 99.0, 100.2))  # the official bar of minute 0 arrives late
    assert kind == "replace_last" and s.bars == [bar] and s.forming["timestamp"] == m0 + 60_000
    assert set(bar) == AGGREGATE_KEYS and s.take_finished() == []
    kind, _ = s.on_aggregate(agg(m0 + 60_000, 101, 101.5, 100.8, 101.2))
    assert kind == "append" and s.forming is None
    assert s.on_trade(trade(m0 + 30_000, 98.0)) is False  # a late print for a published minute
    assert s.forming is None and s.last_price == 101.2 and s.bars[0] == bar and s.take_finished() == []


def test_a_late_print_folds_into_its_provisional_bar_by_time():
    s = WindowSymbol("AAPL")
    m0 = NY_OPEN
    s.on_trade(trade(m0 + 1000, 100.0))
    s.on_trade(trade(m0 + 50_000, 100.5))
    s.on_trade(trade(m0 + 61_000, 101.0))
    s.take_finished()
    s.on_trade(trade(m0 + 500, 99.0, 10))     # earlier than the open print: the new open
    s.on_trade(trade(m0 + 40_000, 102.0, 10))  # before the close print: high, not the close
    [(k1, b1), (k2, b2)] = s.take_finished()
    assert k1 == k2 == "replace" or k1 == k2 == "replace_last"
    assert (b2["open"], b2["high"], b2["low"], b2["close"], b2["volume"]) == (99.0, 102.0, 99.0, 100.5, 220)
    assert s.bars == [b2] and s.forming["close"] == 101.0


def test_official_bars_replace_insert_and_bound():
    s = WindowSymbol("AAPL", max_bars=3)
    for i in (0, 1, 3):
        s.on_aggregate(agg(NY_OPEN + i * 60_000, 1, 2, 1, 1.5))
    assert s.on_aggregate(agg(NY_OPEN + 3 * 60_000, 1, 3, 1, 2.5))[0] == "replace_last"
    assert s.on_aggregate(agg(NY_OPEN + 1 * 60_000, 1, 3, 1, 2.0))[0] == "replace"
    assert s.on_aggregate(agg(NY_OPEN + 2 * 60_000, 1, 3, 1, 2.2))[0] == "insert"
    assert [b["timestamp"] for b in s.bars] == [NY_OPEN + i * 60_000 for i in (1, 2, 3)]  # oldest dropped
    s.on_aggregate(agg(NY_OPEN + 4 * 60_000, 1, 2, 1, 1.5))
    assert len(s.bars) == 3 and s.bars[-1]["timestamp"] == NY_OPEN + 4 * 60_000


def test_snapshot_then_ticker():
    s = WindowSymbol("AAPL")
    s.load_snapshot({"bars": [agg(NY_OPEN, 100, 101, 99, 100.5)], "forming": agg(NY_OPEN + 60_000, 100.5, 101, 100, 100.8),
                     "last_trade": trade(NY_OPEN + 70_000, 100.8), "last_quote": quote(NY_OPEN + 70_001, 100.7, 100.9),
                     "day": {"date": "2025-06-27", "open": 100.0, "high": 101.0, "low": 99.0, "last": 100.8,
                             "volume": 5000, "vwap": 100.3, "prev_close": 98.0}})
    t = s.ticker("open")
    assert set(t) == TICKER_KEYS
    assert t["last_price"] == 100.8 and t["bid"] == 100.7 and t["ask"] == 100.9
    assert t["spread"] == pytest.approx(0.2) and t["mid_price"] == pytest.approx(100.8)
    assert t["change"] == pytest.approx(2.8) and t["change_percent"] == pytest.approx(2.8 / 98 * 100)
    assert t["volume"] == 5000 and t["day_high"] == 101.0 and t["last_update"] == "09:31:10"
    # the forming bar continues from the snapshot's
    s.on_trade(trade(NY_OPEN + 80_000, 101.5, 10))
    assert s.forming["high"] == 101.5 and s.forming["volume"] == 1010


def test_change_falls_back_to_day_open_and_ticker_waits_for_a_price():
    s = WindowSymbol("AAPL")
    assert s.ticker("open") is None
    s.on_quote(quote(NY_OPEN, 10.0, 10.2))
    t = s.ticker("open")
    assert t["last_price"] == pytest.approx(10.1) and t["change"] is None
    s.on_trade(trade(NY_OPEN + 10, 10.0))
    s.on_trade(trade(NY_OPEN + 20, 10.5))
    t = s.ticker("open")
    assert t["change"] == pytest.approx(0.5) and t["change_percent"] == pytest.approx(5.0)


def test_new_day_rolls_stats_and_keeps_previous_close():
    s = WindowSymbol("AAPL")
    s.on_trade(trade(NY_OPEN + 10, 100.0, 100))
    s.on_trade(trade(NY_OPEN + 86_400_000 * 3 + 10, 104.0, 10))  # Monday 2025-06-30
    assert s.prev_close == 100.0 and s.day_open == 104.0 and s.day_volume == 10
    assert s.on_trade(trade(NY_OPEN + 20, 90.0, 5)) is False  # a late print from Friday: not Monday's
    assert (s.last_price, s.day_low, s.day_volume) == (104.0, 104.0, 10)
