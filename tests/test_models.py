"""Seed data models and the one normaliser (shared/models/market_data.py, signals.py).

The key sets below are copied from the seed's README (spec/live_monitor_data_README.md),
not from the code, so a renamed key in the code fails here.
"""

from __future__ import annotations

import gzip
import json
import math
import typing
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from shared.models import market_data as md
from shared.models.market_data import InvalidEvent, exchange_name, normalize, quote_is_crossed
from shared.models.signals import ENTRY_KEYS, EXIT_KEYS, make_entry, make_exit

NY = ZoneInfo("America/New_York")

# ---------------------------------------------------------------- the spec's keys

SPEC_TRADE = {"event_type", "symbol", "timestamp", "price", "size", "conditions", "exchange"}
SPEC_QUOTE = {"event_type", "symbol", "timestamp", "bid_price", "bid_size", "ask_price", "ask_size", "exchange"}
SPEC_AGG = {"event_type", "symbol", "timestamp", "open", "high", "low", "close", "volume", "vwap", "transactions"}
SPEC_TICKER = {"last_price", "bid", "ask", "spread", "mid_price", "volume", "change", "change_percent",
               "day_high", "day_low", "day_open", "last_update", "market_state"}
SPEC_ENTRY = {"time", "signal_type", "price", "signal", "strength", "notes", "timestamp", "symbol"}
SPEC_EXIT = {"time", "exit_type", "price", "pnl", "signal", "urgency", "timestamp", "symbol", "pnl_value"}

# Optional keys of the seed ("# Optional" in the README).
SPEC_OPTIONAL = {
    "TradeData": {"exchange"},
    "QuoteData": {"exchange"},
    "AggregateData": {"vwap", "transactions"},
    "TickerCalculationData": {"change", "change_percent", "day_high", "day_low", "day_open"},
}


@pytest.mark.parametrize("typed, keys, frozen", [
    (md.TradeData, SPEC_TRADE, md.TRADE_KEYS),
    (md.QuoteData, SPEC_QUOTE, md.QUOTE_KEYS),
    (md.AggregateData, SPEC_AGG, md.AGGREGATE_KEYS),
    (md.TickerCalculationData, SPEC_TICKER, md.TICKER_KEYS),
])
def test_typed_dicts_have_exactly_the_seed_keys(typed, keys, frozen):
    assert set(typing.get_type_hints(typed)) == keys
    assert frozen == keys
    assert set(typed.__optional_keys__) == SPEC_OPTIONAL[typed.__name__]
    assert set(typed.__required_keys__) == keys - SPEC_OPTIONAL[typed.__name__]


def test_seed_value_types():
    hints = typing.get_type_hints(md.TradeData)
    assert hints["timestamp"] is int and hints["price"] is float and hints["size"] is int
    assert hints["conditions"] == list[int]
    q = typing.get_type_hints(md.QuoteData)
    assert (q["bid_price"], q["bid_size"], q["ask_price"], q["ask_size"]) == (float, int, float, int)
    a = typing.get_type_hints(md.AggregateData)
    assert all(a[k] is float for k in ("open", "high", "low", "close")) and a["volume"] is int
    t = typing.get_type_hints(md.TickerCalculationData)
    assert t["last_update"] is str and t["volume"] is int
    assert set(typing.get_args(t["market_state"])) == {"open", "closed", "pre", "post"}


def test_signal_builders_make_exactly_the_seed_dicts():
    when = datetime(2025, 6, 27, 14, 35, 22, tzinfo=NY)
    e = make_entry("AAPL", when, "LONG", 150.25, "RSI Oversold + Support Test", "Strong",
                   "Volume confirmation present")
    assert set(e) == SPEC_ENTRY == ENTRY_KEYS
    assert e == {"time": "14:35:22", "signal_type": "LONG", "price": "150.25",
                 "signal": "RSI Oversold + Support Test", "strength": "Strong",
                 "notes": "Volume confirmation present", "timestamp": when, "symbol": "AAPL"}
    x = make_exit("AAPL", when.replace(minute=45, second=15), "TARGET", 151.5, 0.83, "Price target reached",
                  "Normal", 1.25)
    assert set(x) == SPEC_EXIT == EXIT_KEYS
    assert (x["time"], x["price"], x["pnl"], x["pnl_value"]) == ("14:45:15", "151.50", "+0.83%", 1.25)
    assert isinstance(x["timestamp"], datetime) and isinstance(x["pnl_value"], float)
    assert make_exit("AAPL", when, "STOP", 149.0, -0.5, "stop", "Urgent", -0.75)["pnl"] == "-0.50%"


@pytest.mark.parametrize("bad", [
    dict(signal_type="BUY"), dict(strength="Huge"),
])
def test_entry_builder_refuses_values_outside_the_spec(bad):
    kw = dict(signal_type="LONG", strength="Weak") | bad
    with pytest.raises(ValueError):
        make_entry("AAPL", datetime.now(NY), kw["signal_type"], 1.0, "s", kw["strength"])


def test_exit_builder_refuses_values_outside_the_spec():
    with pytest.raises(ValueError):
        make_exit("AAPL", datetime.now(NY), "PANIC", 1.0, 0.0, "s", "Normal", 0.0)
    with pytest.raises(ValueError):
        make_exit("AAPL", datetime.now(NY), "STOP", 1.0, 0.0, "s", "Relaxed", 0.0)


# ---------------------------------------------------------------- normalize: both spellings

# Real lines from AAPL-2025-06-27-open.jsonl.gz
POLY_T = {"ev": "T", "sym": "AAPL", "x": 11, "i": "100000", "z": 3, "p": 201.63, "s": 73,
          "t": 1751029504042, "q": 1000000, "c": [14, 12, 37, 41]}
POLY_Q = {"ev": "Q", "sym": "AAPL", "bx": 12, "bp": 201.6, "bs": 3, "ax": 8, "ap": 201.66, "as": 2, "c": 1,
          "t": 1751029502330, "q": 2000000, "z": 3}
POLY_AM = {"ev": "AM", "sym": "AAPL", "v": 2119, "av": 2119, "op": 201.63, "vw": 201.6451, "o": 201.63,
           "c": 201.67, "h": 201.68, "l": 201.6, "a": 201.6451, "z": 41, "s": 1751029500000, "e": 1751029560000}


# Keys CONTRACTS.md adds to the seed dicts (the seed's keys stay exactly).
ADDED_TRADE = {"id", "tape", "sequence", "trf_id", "trf_timestamp"}
ADDED_QUOTE = {"ask_exchange", "conditions", "indicators", "tape", "sequence"}
ADDED_AGG = {"accumulated_volume", "official_open", "day_vwap", "end_timestamp", "timeframe", "average_size", "otc"}


def test_polygon_trade():
    assert normalize(POLY_T) == {"event_type": "trade", "symbol": "AAPL", "timestamp": 1751029504042,
                                 "price": 201.63, "size": 73, "conditions": [14, 12, 37, 41],
                                 "exchange": "NYSE Arca", "id": "100000", "tape": 3, "sequence": 1000000,
                                 "trf_id": None, "trf_timestamp": None}


def test_polygon_quote():
    assert normalize(POLY_Q) == {"event_type": "quote", "symbol": "AAPL", "timestamp": 1751029502330,
                                 "bid_price": 201.6, "bid_size": 3, "ask_price": 201.66, "ask_size": 2,
                                 "exchange": "NASDAQ", "ask_exchange": "Cboe EDGX", "conditions": [1],
                                 "indicators": [], "tape": 3, "sequence": 2000000}


def test_polygon_minute_aggregate_uses_start_and_not_z_as_transactions():
    assert normalize(POLY_AM) == {"event_type": "aggregate", "symbol": "AAPL", "timestamp": 1751029500000,
                                  "open": 201.63, "high": 201.68, "low": 201.6, "close": 201.67,
                                  "volume": 2119, "vwap": 201.6451, "transactions": None,
                                  "accumulated_volume": 2119, "official_open": 201.63, "day_vwap": 201.6451,
                                  "end_timestamp": 1751029560000, "average_size": 41, "otc": None,
                                  "timeframe": "1m"}
    # 'A' (second aggregates) has the same fields but is its own kind: never a minute bar
    a = normalize(POLY_AM | {"ev": "A", "e": 1751029501000})
    assert a["event_type"] == "second_aggregate" and a["timeframe"] == "1s"


def test_standard_spelling_trade_quote_aggregate():
    t = normalize({"event_type": "trade", "symbol": "AAPL", "timestamp": 1234567890000, "price": 150.25,
                   "size": 100, "conditions": [14, 37], "exchange": "NASDAQ"})
    assert t == {"event_type": "trade", "symbol": "AAPL", "timestamp": 1234567890000, "price": 150.25,
                 "size": 100, "conditions": [14, 37], "exchange": "NASDAQ", "id": None, "tape": None,
                 "sequence": None, "trf_id": None, "trf_timestamp": None}
    q = normalize({"event_type": "quote", "symbol": "AAPL", "timestamp": 1234567890000, "bid_price": 150.20,
                   "bid_size": 300, "ask_price": 150.25, "ask_size": 500, "exchange": 12})
    assert q == {"event_type": "quote", "symbol": "AAPL", "timestamp": 1234567890000, "bid_price": 150.20,
                 "bid_size": 300, "ask_price": 150.25, "ask_size": 500, "exchange": "NASDAQ",
                 "ask_exchange": None, "conditions": [], "indicators": [], "tape": None, "sequence": None}
    a = normalize({"event_type": "aggregate", "symbol": "AAPL", "timestamp": 1234567890000, "open": 150.0,
                   "high": 150.5, "low": 149.75, "close": 150.25, "volume": 100000, "vwap": 150.10,
                   "transactions": 500})
    assert {k: a[k] for k in SPEC_AGG} == {
        "event_type": "aggregate", "symbol": "AAPL", "timestamp": 1234567890000, "open": 150.0, "high": 150.5,
        "low": 149.75, "close": 150.25, "volume": 100000, "vwap": 150.10, "transactions": 500}
    assert set(a) == SPEC_AGG | ADDED_AGG


def test_seed_relay_minimal_message_and_optional_fields():
    # The seed README's incoming example: only ev, sym, p, s, t.
    t = normalize({"ev": "T", "sym": "AAPL", "p": 150.25, "s": 100, "t": 1234567890000})
    assert t["conditions"] == [] and t["exchange"] is None and set(t) == SPEC_TRADE | ADDED_TRADE
    a = normalize({"event_type": "aggregate", "symbol": "AAPL", "timestamp": 1234567890000, "open": 1.0,
                   "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0})
    assert a["vwap"] is None and a["transactions"] is None and set(a) == SPEC_AGG | ADDED_AGG


@pytest.mark.parametrize("ts, ms", [
    (1751029504, 1751029504000),               # seconds
    (1751029504042, 1751029504042),            # milliseconds
    (1751029504042123, 1751029504042),         # microseconds
    (1751029504042123456, 1751029504042),      # nanoseconds
])
def test_timestamps_become_epoch_milliseconds(ts, ms):
    assert normalize(POLY_T | {"t": ts})["timestamp"] == ms


def test_symbols_with_share_class_and_lower_case_preferreds():
    assert normalize(POLY_T | {"sym": "BRK.B"})["symbol"] == "BRK.B"
    assert normalize(POLY_T | {"sym": "BACpL"})["symbol"] == "BACpL"  # the spec's pattern has lower case
    assert md.normalize_symbol(" brk.b ") == "BRK.B"  # typed all in lower case: upper-cased
    assert md.normalize_symbol("BACpL") == "BACpL"    # never upper-case a preferred
    assert md.normalize_symbol("NTEST.Q") == "NTEST.Q"
    for good in ("BACpL", "BRK.B", "PBRpA", "A", "NTEST.Q", "BRK/B"):
        assert md.valid_symbol(good), good
    for bad in ("", "I:SPX", "AAPL|", "1ABC", "aapl w", "bACpL", "AAPL.", "A" * 11, "x" * 10**6):
        with pytest.raises(ValueError):
            md.normalize_symbol(bad)


# ---------------------------------------------------------------- exchanges

@pytest.mark.parametrize("xid, name", [
    (1, "NYSE American"), (2, "Nasdaq BX"), (3, "NYSE National"), (4, "FINRA TRF"), (7, "Cboe EDGA"),
    (8, "Cboe EDGX"), (10, "NYSE"), (11, "NYSE Arca"), (12, "NASDAQ"), (15, "IEX"), (19, "Cboe BZX"),
    (21, "MEMX"),
])
def test_real_polygon_exchange_ids(xid, name):
    assert exchange_name(xid) == name
    assert md.exchange_id(name) == xid
    assert normalize(POLY_T | {"x": xid})["exchange"] == name


def test_exchange_unknown_named_and_missing():
    assert exchange_name(99) == "EX99" and md.exchange_id("EX99") == 99
    assert exchange_name("NASDAQ") == "NASDAQ"  # already named (standard spelling)
    assert exchange_name(None) is None and exchange_name(True) is None and exchange_name("") is None


# ---------------------------------------------------------------- validation

def _kind(raw) -> str:
    with pytest.raises(InvalidEvent) as ei:
        normalize(raw)
    assert ei.value.reason and str(ei.value) == ei.value.reason
    return ei.value.kind


def _without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


@pytest.mark.parametrize("raw, kind", [
    (_without(POLY_T, "sym"), "missing_symbol"),
    (POLY_T | {"sym": ""}, "missing_symbol"),
    (POLY_T | {"sym": None}, "missing_symbol"),
    (_without(POLY_Q, "t"), "missing_field"),
    (POLY_T | {"t": None}, "missing_field"),
    (_without(POLY_AM, "s"), "missing_field"),
    (POLY_T | {"p": float("nan")}, "bad_value"),
    (POLY_T | {"p": float("inf")}, "bad_value"),
    (POLY_Q | {"ap": -float("inf")}, "bad_value"),
    (POLY_T | {"p": 10**400}, "bad_value"),
    (POLY_T | {"p": 1e9}, "bad_value"),           # the price cap, on every path
    (POLY_T | {"p": 0}, "bad_value"),
    (POLY_T | {"p": -0.0}, "bad_value"),
    (POLY_T | {"p": -1.5}, "bad_value"),
    (POLY_Q | {"bp": -0.01}, "bad_value"),
    (POLY_AM | {"l": -1}, "bad_value"),
    (POLY_T | {"s": -1}, "bad_value"),
    (POLY_T | {"s": 2**63}, "bad_value"),         # beyond msgpack's signed range
    (POLY_T | {"s": 2**64}, "bad_value"),
    (POLY_T | {"s": 1e30}, "wrong_type"),         # the spec says integer: no float, however round
    (POLY_T | {"s": 100.0}, "wrong_type"),
    (POLY_Q | {"as": -100}, "bad_value"),
    (POLY_AM | {"v": -5}, "bad_value"),
    (POLY_T | {"p": "201.63"}, "wrong_type"),
    (POLY_T | {"p": "NaN"}, "wrong_type"),
    (POLY_T | {"s": "73"}, "wrong_type"),
    (POLY_T | {"p": True}, "wrong_type"),       # bool is not a number
    (POLY_T | {"s": False}, "wrong_type"),
    (POLY_Q | {"bs": [3]}, "wrong_type"),
    (POLY_T | {"t": "1751029504042"}, "bad_timestamp"),
    (POLY_T | {"t": True}, "bad_timestamp"),
    (POLY_T | {"t": 1751029504.5}, "bad_timestamp"),
    (POLY_T | {"sym": 123}, "wrong_type"),
    (POLY_T | {"c": "14,12"}, "wrong_type"),
    (POLY_T | {"c": [14, True]}, "wrong_type"),
    (POLY_T | {"c": [14, -1]}, "bad_value"),
    (POLY_T | {"c": list(range(65))}, "bad_value"),  # bounded lists
    (POLY_T | {"i": "x" * 65}, "bad_value"),       # bounded strings
    (POLY_T | {"t": 0}, "bad_timestamp"),
    (POLY_T | {"t": -5}, "bad_timestamp"),
    (POLY_T | {"t": 1234567}, "bad_timestamp"),    # 1970: not an epoch in any unit
    (POLY_T | {"t": 10**13}, "bad_timestamp"),     # 2286 in ms, 1970 in us: neither
    (POLY_T | {"t": float("nan")}, "bad_timestamp"),
    (POLY_T | {"t": 10**400}, "bad_timestamp"),
    (_without(POLY_T, "p"), "missing_field"),
    (POLY_Q | {"bp": None}, "missing_field"),
    (POLY_T | {"ev": "XX"}, "unknown_event"),
    (_without(POLY_T, "ev"), "unknown_event"),
    ({"event_type": "bogus", "symbol": "AAPL"}, "unknown_event"),
    (POLY_T | {"sym": "I:SPX"}, "bad_symbol"),
    (POLY_T | {"sym": "AAPL|"}, "bad_symbol"),
    (POLY_AM | {"h": 201.0}, "inconsistent_bar"),    # high below open/close
    (POLY_AM | {"c": 202.0}, "inconsistent_bar"),    # close above high
])
def test_rejections_carry_the_right_kind(raw, kind):
    assert _kind(raw) == kind


@pytest.mark.parametrize("raw", [None, [], "T", 42, ["ev", "T"]])
def test_non_objects_are_wrong_type(raw):
    assert _kind(raw) == "wrong_type"


def test_invalid_event_is_a_value_error_and_zero_size_is_fine():
    assert issubclass(InvalidEvent, ValueError)
    assert normalize(POLY_T | {"s": 0})["size"] == 0


def test_crossed_quote_is_kept_and_flagged():
    q = normalize(POLY_Q | {"bp": 201.70, "ap": 201.66})
    assert q["bid_price"] == 201.70 and q["ask_price"] == 201.66
    assert quote_is_crossed(q) is True
    assert quote_is_crossed(normalize(POLY_Q)) is False
    assert quote_is_crossed(normalize(POLY_Q | {"bp": 201.66})) is False  # locked, not crossed


def test_to_polygon_round_trips_through_normalize():
    for raw in (POLY_T, POLY_Q, POLY_AM):
        ev = normalize(raw)
        assert normalize(md.to_polygon(ev)) == ev


# ---------------------------------------------------------------- the real replay files

def _check_seed_dict(ev: dict) -> None:
    et = ev["event_type"]
    assert isinstance(ev["symbol"], str) and md.valid_symbol(ev["symbol"])
    ts = ev["timestamp"]
    assert type(ts) is int and 1_700_000_000_000 < ts < 1_800_000_000_000  # epoch ms, 2023..2027
    if et == "trade":
        assert set(ev) == SPEC_TRADE | ADDED_TRADE
        assert type(ev["price"]) is float and math.isfinite(ev["price"]) and ev["price"] > 0
        assert type(ev["size"]) is int and ev["size"] >= 0
        assert type(ev["conditions"]) is list and all(type(c) is int for c in ev["conditions"])
        assert ev["exchange"] is None or isinstance(ev["exchange"], str)
    elif et == "quote":
        assert set(ev) == SPEC_QUOTE | ADDED_QUOTE
        for k in ("bid_price", "ask_price"):
            assert type(ev[k]) is float and math.isfinite(ev[k]) and ev[k] > 0
        for k in ("bid_size", "ask_size"):
            assert type(ev[k]) is int and ev[k] >= 0
        assert ev["exchange"] is None or isinstance(ev["exchange"], str)
    else:
        assert et == "aggregate" and set(ev) == SPEC_AGG | ADDED_AGG
        for k in ("open", "high", "low", "close"):
            assert type(ev[k]) is float and ev[k] > 0
        assert ev["low"] <= min(ev["open"], ev["close"]) <= max(ev["open"], ev["close"]) <= ev["high"]
        assert type(ev["volume"]) is int and ev["volume"] >= 0
        assert ev["vwap"] is None or (type(ev["vwap"]) is float and ev["low"] <= ev["vwap"] <= ev["high"])
        assert ev["transactions"] is None or type(ev["transactions"]) is int


def _normalize_file(path, limit: int | None = None):
    counts: dict[str, int] = {}
    last_ts = 0
    n = 0
    with gzip.open(path, "rt") as fh:
        for n, line in enumerate(fh, 1):
            raw = json.loads(line)
            try:
                ev = normalize(raw)
            except InvalidEvent as e:  # pragma: no cover - the assertion message is the point
                raise AssertionError(f"{path.name} line {n}: {e.kind}: {e.reason}: {line[:200]}") from None
            _check_seed_dict(ev)
            assert ev["symbol"] == raw["sym"]
            if ev["event_type"] != "aggregate":
                assert ev["timestamp"] == raw["t"] and ev["timestamp"] >= last_ts  # time ordered
                last_ts = ev["timestamp"]
            counts[ev["event_type"]] = counts.get(ev["event_type"], 0) + 1
            if limit and n >= limit:
                break
    return n, counts


def test_every_aapl_replay_line_normalises_to_a_valid_seed_dict(replay_dir):
    n, counts = _normalize_file(replay_dir / "AAPL-2025-06-27-open.jsonl.gz")
    assert n == 50_772
    assert counts == {"trade": 34_319, "quote": 16_423, "aggregate": 30}


def test_tsla_replay_sample_normalises(big_replay):
    # The first 60k lines (a few seconds) of TSLA (the AAPL sample without ../shared); the whole file: `-m soak`.
    n, counts = _normalize_file(big_replay.path, limit=60_000)
    assert n == min(60_000, big_replay.events) and counts.get("trade", 0) > 0 and counts.get("quote", 0) > 0


@pytest.mark.soak
def test_every_tsla_replay_line_normalises(replay_dir):
    n, counts = _normalize_file(replay_dir / "TSLA-2025-07-01.jsonl.gz")
    assert n == 355_944 and counts["aggregate"] == 20


# ---------------------------------------------------------------- trade-condition update rules

@pytest.mark.parametrize("conds, rules", [
    (None, (True, True, True)),
    ([], (True, True, True)),
    ([14, 41], (True, True, True)),          # intermarket sweep, trade-thru exempt: regular
    ([37], (False, False, True)),            # odd lot: volume only
    ([14, 12, 37, 41], (False, False, True)),  # a real AAPL print: every condition must allow
    ([12], (False, False, True)),            # Form T in the regular session: volume only (extended: see test_market)
    ([22], (True, False, True)),             # prior reference price: not the last price
    ([15], (False, False, False)),           # official close: nothing
    ([38], (True, True, False)),             # corrected consolidated close: high/low and last, no volume
    ([999], (True, True, True)),             # an unknown new code must not blank the chart
])
def test_condition_update_rules(conds, rules):
    from shared.models.conditions import update_rules

    assert update_rules(conds) == rules


def test_condition_names():
    from shared.models.conditions import condition_name

    assert condition_name(37) == "Odd Lot Trade" and condition_name(999) == "Condition 999"
