"""Timeframes on real tapes: every bar of every timeframe is the merge of its minute bars, buckets start
where Polygon's do, the forming bar follows a trade, and the VWAP's 09:30 anchor matches the trades.

Tapes: ``TSLA-2025-06-27`` (Polygon's own trades and minute bars, 09:05-09:50, across the open) and
``AAPL-2025-06-27-open`` (09:05-09:35). Minute bars come from the manager's own pipeline; the
reference buckets here are computed with plain datetime arithmetic, not the module under test.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from shared.market.conditions import VOL, flags
from shared.market.levels import key_levels
from shared.market.timeframes import TIMEFRAMES, TimeframeBars, aggregate, span_ms
from shared.market_hours import NY, market_state, session_for
from shared.models import wire
from tests.util import replay_dir
from ui_process.symbol_pipeline import Emit, SymbolPipeline

D = replay_dir()
pytestmark = pytest.mark.skipif(D is None, reason="replay data not available")
CONFIGS = [(tf, "open") for tf in TIMEFRAMES] + [("1h", "clock"), ("4h", "clock")]


def load(name: str, keep_am: bool = True) -> list[list]:
    out = []
    with gzip.open(D / name, "rt") as fh:
        for line in fh:
            r = json.loads(line)
            if r["ev"] == "T":
                out.append(["T", r["t"], r["p"], r["s"], r.get("x"), r.get("c") or [], None, r.get("z"), None,
                            None, None])
            elif r["ev"] == "Q":
                out.append(["Q", r["t"], r["bp"], r["bs"], r["ap"], r["as"], r.get("bx"), r.get("ax"), None, [],
                            r.get("z"), None])
            elif r["ev"] == "AM" and keep_am:
                out.append(["AM", r["s"], r["o"], r["h"], r["l"], r["c"], r["v"], r.get("vw"), None,
                            r.get("av"), r.get("op"), r.get("a"), r.get("e")])
    return out


class Sink:
    def __init__(self):
        self.chart: list[dict] = []
        self.calc: list[dict] = []
        self.levels: list[dict] = []

    def emit(self) -> Emit:
        return Emit(chart=self.chart.append, calc=self.calc.append, levels=self.levels.append)


def pipeline(sink: Sink, symbol: str, clock=None) -> SymbolPipeline:
    return SymbolPipeline(symbol, max_bars=2000, ui_update_hz=1000.0, clock=clock or (lambda: 0.0),
                          wall_clock=lambda: 0.0, emit=sink.emit(), stats={"chart_emits": 0, "signals": 0,
                                                                             "market_data_emits": 0})


def play(p: SymbolPipeline, arrays: list[list], symbol: str) -> None:
    for a in arrays:
        ev = wire.event_to_dict(symbol, a)
        {"T": p.trade, "Q": p.quote, "AM": p.aggregate}[a[0]](ev)


def ref_start(t: int, tf: str, anchor: str) -> int:
    """The bucket start by plain wall-clock arithmetic in New York."""
    d = dt.datetime.fromtimestamp(t / 1000, NY)
    mins = d.hour * 60 + d.minute
    n = span_ms(tf) // 60_000
    if tf == "D":
        b = 0
    elif n <= 30 or anchor == "clock":
        b = mins - mins % n
    else:
        b = max(570 + ((mins - 570) // n) * n, 240)
    return int(dt.datetime.combine(d.date(), dt.time(b // 60, b % 60), NY).timestamp() * 1000)


@pytest.fixture(scope="module")
def tsla():
    """The TSLA tape through a 1m pipeline: its minute bars and the (kind, minute) changes as they came."""
    arrays = load("TSLA-2025-06-27.jsonl.gz")
    sink = Sink()
    p = pipeline(sink, "TSLA")
    changes: list = []  # ("minute", kind, bar) | ("forming", start), in pipeline order
    orig_minute = p.minute

    def minute(kind, bar):
        changes.append(("minute", kind, dict(bar)))
        orig_minute(kind, bar)

    p.minute = minute
    last_fs = None
    for a in arrays:
        ev = wire.event_to_dict("TSLA", a)
        {"T": p.trade, "Q": p.quote, "AM": p.aggregate}[a[0]](ev)
        f = p.state.market.forming
        if f is not None and f[0] != last_fs:
            last_fs = f[0]
            changes.append(("forming", f[0]))
    return arrays, p, changes


@pytest.mark.parametrize("tf,anchor", CONFIGS)
def test_every_bar_is_the_merge_of_its_minutes_with_session_aligned_starts(tsla, tf, anchor):
    arrays, p, changes = tsla
    minutes = p.state.bars
    assert len(minutes) == 45 and p.state.forming is None  # Polygon's last AM (09:49) ended the tape
    every = minutes
    groups: dict[int, list[dict]] = {}
    for m in every:
        groups.setdefault(ref_start(m["timestamp"], tf, anchor), []).append(m)
    # live: the minute changes in the order the pipeline saw them, incrementally
    live = TimeframeBars(tf, "TSLA", hour_anchor=anchor)
    emitted: dict[int, dict] = {}
    seen: list[dict] = []
    for c in changes:
        if c[0] == "forming":
            out = live.on_forming(c[1])
        else:
            seen.append(c[2])
            seen.sort(key=lambda b: b["timestamp"])
            dedup = {b["timestamp"]: b for b in seen}
            seen[:] = list(dedup.values())
            out = live.on_minute(c[1], c[2], seen)
        for _, b in out:
            emitted[b["timestamp"]] = b
    bars = live.bars + ([live.forming(None)] if live.open is not None else [])
    assert [b["timestamp"] for b in bars] == sorted(groups)  # session-aligned starts, one bar per bucket
    for b in bars:
        ms = groups[b["timestamp"]]
        assert (b["open"], b["close"]) == (ms[0]["open"], ms[-1]["close"])
        assert b["high"] == max(m["high"] for m in ms) and b["low"] == min(m["low"] for m in ms)
        assert b["volume"] == sum(m["volume"] for m in ms)
        pv = sum((m["vwap"] or (m["high"] + m["low"] + m["close"]) / 3) * m["volume"] for m in ms)
        assert b["vwap"] == pytest.approx(pv / b["volume"], rel=1e-12)
    # what was emitted bar by bar equals the finished bars, and a rebuild from the history agrees
    assert [emitted[b["timestamp"]] for b in live.bars] == live.bars
    assert aggregate(every, tf, "TSLA", hour_anchor=anchor) == bars
    if tf in ("5m", "15m"):
        assert all(dt.datetime.fromtimestamp(b["timestamp"] / 1000, NY).minute % int(tf[:-1]) == 0 for b in bars)
    if tf == "1h":
        starts = [dt.datetime.fromtimestamp(b["timestamp"] / 1000, NY).strftime("%H:%M") for b in bars]
        assert starts == (["08:30", "09:30"] if anchor == "open" else ["09:00"])


def test_the_pipeline_on_5m_emits_5m_bars_and_a_forming_bar_that_follows_a_trade(tsla):
    arrays = tsla[0]
    sink = Sink()
    now = [0.0]
    p = pipeline(sink, "TSLA", clock=lambda: now[0])
    p.configure("5m")
    play(p, arrays, "TSLA")
    finished = [c for c in sink.chart if c["is_update"]]
    assert finished and all(c["timeframe"] == "5m" for c in sink.chart)
    assert [b["timestamp"] for b in p.bars] == [ref_start(m["timestamp"], "5m", "open") for m in p.bars]
    assert len(p.bars) == 9 and p.indicators.values()["bar_count"] == 9  # indicators on the 5m bars
    assert p.forming_bar() is None  # Polygon's 09:49 AM finished the 09:45 bucket
    t = max(a[1] for a in arrays) + 200  # 09:50:00.19x: a trade opens the 09:50 bucket
    assert ref_start(t, "5m", "open") == t - t % 300_000 and t % 300_000 < 1000
    for i, (price, size) in enumerate([(325.0, 300), (325.6, 200)]):
        p.trade(wire.event_to_dict("TSLA", ["T", t + i, price, size, 4, [], None, 3, None, None, None]))
        now[0] += 1
        p.display_tick(lambda: "open")
    after = sink.chart[-1]
    assert after["is_update"] and after["timeframe"] == "5m"
    b = after["bars"][0]
    assert (b["timestamp"], b["open"], b["high"], b["close"], b["volume"]) == (t - t % 300_000, 325.0, 325.6,
                                                                               325.6, 500)
    assert sink.calc[-1]["timestamp"] == b["timestamp"]  # its indicator preview rides along
    # switching timeframe: one full refresh with every bar's indicators, computed by the manager
    p.configure("15m")
    ref = sink.chart[-1]
    assert not ref["is_update"] and ref["timeframe"] == "15m" and len(ref["indicators"]) == len(ref["bars"])
    assert [r["timestamp"] for r in ref["indicators"]] == [x["timestamp"] for x in ref["bars"]]


def _vwap_ref(arrays, lo: int, hi: int, minutes: set) -> float:
    """sum(price x size) / sum(size) of the prints that count for volume (the conditions' rule), in the
    minutes that have a bar (a pre-market minute of odd lots only has none: Polygon publishes none)."""
    pv = v = 0.0
    for a in arrays:
        if a[0] == "T" and lo <= a[1] < hi and a[1] - a[1] % 60_000 in minutes:
            s = a[1] - a[1] % 60_000
            ext = market_state(s) != "open"
            if flags(a[5], ext) & VOL:
                pv += a[2] * a[3]
                v += a[3]
    return pv / v


@pytest.mark.parametrize("anchor", ["open", "pre"])
def test_vwap_is_anchored_at_0930_by_default_and_matches_the_trades(anchor):
    arrays = load("AAPL-2025-06-27-open.jsonl.gz", keep_am=False)  # bars from the trades alone
    sink = Sink()
    p = pipeline(sink, "AAPL")
    p.configure(vwap_anchor=anchor)
    play(p, arrays, "AAPL")
    opened = session_for(dt.date(2025, 6, 27)).open
    bars = p.bars
    values = p.indicators.load(bars)
    last = bars[-1]["timestamp"]  # 09:33, the last finished minute
    first = arrays[0][1] - arrays[0][1] % 60_000
    have = {b["timestamp"] for b in bars} | {p.state.forming["timestamp"]}
    assert len(have) == 29  # one pre-market minute 09:05-09:34 has odd lots only: no bar
    expect = _vwap_ref(arrays, opened if anchor == "open" else first, last + 60_000, have)
    assert values[-1]["vwap"] == pytest.approx(expect, rel=1e-12)
    pre = [v["vwap"] for b, v in zip(bars, values) if b["timestamp"] < opened]
    assert pre and (all(x is None for x in pre) if anchor == "open" else all(x is not None for x in pre))
    # the same line on the 5m timeframe at the 5m bar's end (09:30-09:35 is forming: preview)
    p.configure("5m")
    calc = sink.calc[-1]
    assert calc["timestamp"] == opened
    full = _vwap_ref(arrays, opened if anchor == "open" else first, opened + 5 * 60_000, have)
    assert calc["vwap"] == pytest.approx(full, rel=1e-12)


def test_extended_hours_off_leaves_only_regular_session_bars(tsla):
    p = tsla[1]
    minutes = p.state.bars
    bars = aggregate(minutes, "5m", extended=False)
    opened = session_for(dt.date(2025, 6, 27)).open
    assert bars[0]["timestamp"] == opened and len(bars) == 4
    assert bars[0]["open"] == next(m for m in minutes if m["timestamp"] >= opened)["open"]


def test_key_levels_pre_market_and_opening_range(tsla):
    p = tsla[1]
    minutes, forming = p.state.bars[:-1], p.state.bars[-1]  # 09:49 as if still forming
    opened = session_for(dt.date(2025, 6, 27)).open
    lv = key_levels(minutes, forming, forming["timestamp"], prev_close=320.0, opening_range=5)
    pre = [m for m in minutes if m["timestamp"] < opened]
    orng = [m for m in minutes if opened <= m["timestamp"] < opened + 300_000]
    assert (lv["pre_high"], lv["pre_low"]) == (max(m["high"] for m in pre), min(m["low"] for m in pre))
    assert (lv["or_high"], lv["or_low"]) == (max(m["high"] for m in orng), min(m["low"] for m in orng))
    assert lv["prior_close"] == 320.0 and lv["prior_high"] is None  # no prior-day bars held, no prev_day
    lv = key_levels(minutes, forming, forming["timestamp"], prev_day={"high": 330.0, "low": 310.0, "close": 321.0})
    assert (lv["prior_high"], lv["prior_low"], lv["prior_close"]) == (330.0, 310.0, 321.0)
