"""Incremental indicators against TA-Lib (the oracle), on the real replay bars and long synthetic series."""

from __future__ import annotations

import functools
import gzip
import json
import math

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models.market_data import normalize
from ui_process.indicators import Atr, Ema, IndicatorSet, Rsi, SessionVwap

T0 = 1751377200000  # 2025-07-01 09:40 NY


@functools.lru_cache(maxsize=4)
def _replay_bars(path: str) -> tuple:
    with gzip.open(path, "rt") as f:  # only the AM lines need parsing
        return tuple(normalize(json.loads(line)) for line in f if '"ev":"AM"' in line)


def replay_bars(path) -> list[dict]:
    return [dict(b) for b in _replay_bars(str(path))]


def synthetic_bars(n: int, seed: int = 7, start: float = 100.0) -> list[dict]:
    rng = np.random.default_rng(seed)
    bars, c = [], start
    for i in range(n):
        o = c
        c = max(1.0, o * math.exp(rng.normal(0, 0.004)))
        h = max(o, c) * (1 + abs(rng.normal(0, 0.002)))
        lo = min(o, c) * (1 - abs(rng.normal(0, 0.002)))
        bars.append({"event_type": "aggregate", "symbol": "SYN", "timestamp": T0 + i * 60_000, "open": o, "high": h,
                     "low": lo, "close": c, "volume": int(rng.integers(100, 50_000)), "vwap": (h + lo + c) / 3,
                     "transactions": None})
    return bars


def incremental(bars: list[dict]) -> dict[str, list]:
    ind = IndicatorSet("X")
    out: dict[str, list] = {k: [] for k in ("ema_9", "ema_21", "rsi_14", "atr_14")}
    for b in bars:
        v = ind.commit(b)
        for k in out:
            out[k].append(v[k])
    return out


def assert_matches(ours: list, ref: np.ndarray) -> None:
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        if np.isnan(b):
            assert a is None, f"index {i}: expected no value yet, got {a}"
        else:
            assert a is not None and a == pytest.approx(b, abs=1e-6), f"index {i}: {a} != {b}"


def check_against_talib(bars: list[dict]) -> None:
    c = np.array([b["close"] for b in bars], dtype=float)
    h = np.array([b["high"] for b in bars], dtype=float)
    lo = np.array([b["low"] for b in bars], dtype=float)
    ours = incremental(bars)
    assert_matches(ours["ema_9"], talib.EMA(c, 9))
    assert_matches(ours["ema_21"], talib.EMA(c, 21))
    assert_matches(ours["rsi_14"], talib.RSI(c, 14))
    assert_matches(ours["atr_14"], talib.ATR(h, lo, c, 14))


def test_tsla_replay_bars_match_talib(big_replay):
    bars = replay_bars(big_replay.path)  # TSLA when ../shared is beside the repo, else the AAPL sample
    assert len(bars) == big_replay.am_bars
    check_against_talib(bars)
    ours = incremental(bars)
    assert ours["rsi_14"][-1] is not None and ours["atr_14"][-1] is not None and ours["ema_9"][-1] is not None


def test_aapl_replay_bars_match_talib(replay_dir):
    bars = replay_bars(replay_dir / "AAPL-2025-06-27-open.jsonl.gz")
    assert len(bars) == 30
    check_against_talib(bars)


def test_replay_bars_stretched_match_talib(big_replay):
    """The real TSLA bars repeated into a 2000-bar series (the window's maximum)."""
    real = replay_bars(big_replay.path)
    bars = [{**real[i % len(real)], "timestamp": T0 + i * 60_000} for i in range(2000)]
    check_against_talib(bars)


@pytest.mark.parametrize("seed", [1, 2])
def test_long_synthetic_series_match_talib(seed):
    check_against_talib(synthetic_bars(2500, seed))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1.0, 1000.0), min_size=1, max_size=80))
def test_ema_rsi_match_talib_on_any_closes(closes):
    c = np.array(closes, dtype=float)
    for period in (2, 9):
        e = Ema(period)
        assert_matches([e.update(x) for x in closes], talib.EMA(c, period))
    r = Rsi(14)
    assert_matches([r.update(x) for x in closes], talib.RSI(c, 14))
    a = Atr(5)
    assert_matches([a.update(x * 1.01, x * 0.99, x) for x in closes], talib.ATR(c * 1.01, c * 0.99, c, 5))


def test_flat_prices_rsi_is_zero_like_talib():
    c = np.full(30, 50.0)
    r = Rsi(14)
    assert_matches([r.update(x) for x in c], talib.RSI(c, 14))


def test_preview_does_not_commit_and_equals_commit():
    bars = synthetic_bars(60)
    ind = IndicatorSet("SYN")
    ind.load(bars[:-1])
    before = ind.values()
    p = ind.preview(bars[-1])
    assert ind.values() == before
    assert ind.commit(bars[-1]) == p
    assert p["bar_count"] == 60 and p["timestamp"] == bars[-1]["timestamp"]


def test_replacing_the_last_bar_equals_recompute():
    bars = synthetic_bars(50)
    ind = IndicatorSet("SYN")
    for b in bars:
        ind.commit(b)
    fixed = {**bars[-1], "close": bars[-1]["close"] * 1.01, "high": bars[-1]["high"] * 1.02}
    v = ind.commit(fixed)  # same timestamp: replaces
    ref = IndicatorSet("SYN").load(bars[:-1] + [fixed])[-1]
    assert v == ref and v["bar_count"] == 50
    v2 = ind.commit({**fixed, "close": fixed["close"] * 0.99})  # and again
    assert v2["bar_count"] == 50
    with pytest.raises(ValueError):
        ind.commit(bars[10])  # older than the last: the caller must load()


def test_load_then_replace_last_and_preview_of_same_minute():
    bars = synthetic_bars(30)
    ind = IndicatorSet("SYN")
    ind.load(bars)
    assert ind.can_commit(bars[-1]["timestamp"])
    forming = {**bars[-1], "close": 1.0}
    p = ind.preview(forming)  # a preview for the same minute as the last bar replaces it, not appends
    assert p["bar_count"] == 30


def test_session_vwap_resets_each_new_york_day():
    v = SessionVwap()
    day1 = T0
    assert v.update(day1, 11, 9, 10, 100, 10.0) == 10.0
    assert v.update(day1 + 60_000, 21, 19, 20, 100, 20.0) == 15.0
    assert v.update(day1 + 86_400_000, 31, 29, 30, 100, None) == 30.0  # next day, typical price
    assert v.update(day1 + 86_460_000, 1, 1, 1, 0, None) == 30.0      # no volume: unchanged


def test_relative_volume():
    bars = synthetic_bars(10)
    for b in bars:
        b["volume"] = 1000
    bars[-1]["volume"] = 3000
    vals = IndicatorSet("SYN").load(bars)
    assert vals[3]["relative_volume"] is None   # fewer than 5 bars of history
    assert vals[5]["relative_volume"] == pytest.approx(1.0)
    assert vals[-1]["relative_volume"] == pytest.approx(3.0)
