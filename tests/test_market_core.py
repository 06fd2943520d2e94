"""The market core (shared.market): one tape, three builders (feed, window, simulator), the same bars."""

from __future__ import annotations

import datetime as dt

import pytest

from feed_process.sim.bars import BarBuilder
from feed_process.state import FeedSymbol
from shared.market import CONDITIONS, HL, LAST, VOL, flags
from shared.models import wire
from ui_process.symbol_state import WindowSymbol

M = 60_000
T0 = int(dt.datetime(2025, 6, 27, 14, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)  # 10:00 New York
PRE = T0 - 90 * M  # 08:30, pre-market


def t_(t, cents, s=100, c=()):
    return ["T", t, cents / 100, s, 12, list(c), None, None, None, None, None]


def tape() -> tuple[list[list], list]:
    """Trades in arrival order, and the official AM of minute 2 (arrives after minute 3 began)."""
    ev = [
        t_(PRE + 1_000, 10000, 40, [12, 37]), t_(PRE + 2_000, 10010, 200, [12]),  # pre-market: Form T makes the bar
        t_(T0 + 1_000, 10050), t_(T0 + 2_000, 10070, 300), t_(T0 + 3_000, 10040, 10, [37]),
        t_(T0 + 59_999, 10060, 50, [14, 41]),
        t_(T0 + M + 5_000, 10090, 30, [37]), t_(T0 + M + 9_000, 10100, 20, [14, 37, 41]),  # odd lots only
        t_(T0 + 2 * M + 100, 10188, 60, [37]),           # the minute starts with an odd lot ...
        t_(T0 + 2 * M + 700, 10121, 5000, [17, 9, 41]),  # ... and opens at the opening cross
        t_(T0 + 2 * M + 800, 10125, 100, [12]),          # Form T in regular hours: volume only
        t_(T0 + 2 * M + 30_000, 10130, 100, [22]),       # prior reference: high/low, not the close
        t_(T0 + 2 * M + 40_000, 10118, 100),
        t_(T0 + 3 * M + 1_000, 10119, 100),
        t_(T0 + 2 * M + 50_000, 10140, 100),             # late print for minute 2: the new close and high
        t_(T0 + 2 * M + 200, 10110, 100),                # late, before the cross: the new open
        t_(T0 + 3 * M + 2_000, 10117, 100, [10]),        # derivatively priced: high/low only
        t_(T0 + 4 * M + 1_000, 10200, 100, [10]), t_(T0 + 4 * M + 2_000, 10201, 100, [2]),  # no open print
        t_(T0 + 5 * M + 1_000, 10210, 100), t_(T0 + 5 * M + 3_000, 10205, 100, [14]),
    ]
    am = ["AM", T0 + 2 * M, 101.21, 101.5, 101.1, 101.4, 5600, 101.22, 7, 9_999, 101.21, 101.0, T0 + 3 * M]
    return ev, am


def ohlcv(d: dict) -> tuple:
    return d["timestamp"], d["open"], d["high"], d["low"], d["close"], d["volume"]


def run_feed(ev, am) -> tuple[list, dict | None, dict]:
    st = FeedSymbol("X")
    i = ev.index(next(a for a in ev if a[1] >= T0 + 3 * M))  # the first print of minute 3
    st.apply_batch(ev[: i + 1])
    st.apply_batch([am])
    for a in ev[i + 1:]:
        st.apply_batch([a])
    snap = st.snapshot()
    return [ohlcv(b) for b in snap["bars"]], snap["forming"] and ohlcv(snap["forming"]), snap["day"]


def run_window(ev, am) -> tuple[list, list, dict | None, WindowSymbol]:
    s = WindowSymbol("X")
    chart: dict[int, tuple] = {}  # what the chart receives: the last bar per timestamp

    def take():
        for _, b in s.take_finished():
            chart[b["timestamp"]] = ohlcv(b)

    i = ev.index(next(a for a in ev if a[1] >= T0 + 3 * M))
    for a in ev[: i + 1]:
        s.on_trade(wire.event_to_dict("X", a))
        take()
    _, bar = s.on_aggregate({**wire.event_to_dict("X", am), "accumulated_volume": am[9], "official_open": am[10]})
    take()
    chart[bar["timestamp"]] = ohlcv(bar)
    for a in ev[i + 1:]:
        s.on_trade(wire.event_to_dict("X", a))
        take()
    return [ohlcv(b) for b in s.bars], [chart[k] for k in sorted(chart)], s.forming and ohlcv(s.forming), s


def run_sim(ev) -> list:
    b = BarBuilder("X")
    out: list[dict] = []
    for a in ev:
        b.add(a[1], round(a[2] * 100), a[3], a[5], out)
    b.close(out)
    last = {am["s"]: (am["s"], am["o"], am["h"], am["l"], am["c"], am["v"]) for am in out}  # re-sent: the latest
    return [last[k] for k in sorted(last)]


def test_one_tape_three_builders_same_bars():
    ev, am = tape()
    feed_bars, feed_forming, day = run_feed(ev, am)
    win_bars, chart, win_forming, win = run_window(ev, am)
    sim_bars = run_sim(ev)
    official = (am[1], *am[2:7])
    # the trades-built bars, minute by minute
    want = [
        (PRE, 100.1, 100.1, 100.1, 100.1, 240),                 # pre-market: Form T prints make the bar
        (T0, 100.5, 100.7, 100.5, 100.6, 460),                  # the 100.40 odd lot: volume only
        # minute 1: odd lots only -> no bar (Polygon publishes none); its 50 shares count for the day
        (T0 + 2 * M, 101.1, 101.4, 101.1, 101.4, 5560),         # opens at the cross (late 101.10 before it)
        (T0 + 3 * M, 101.19, 101.19, 101.17, 101.19, 200),
        # minute 4: no open/close print -> no bar
        (T0 + 5 * M, 102.1, 102.1, 102.05, 102.05, 200),        # closed by the end of the simulator's tape
    ]
    assert sim_bars == want
    assert feed_bars == win_bars == chart == [*want[:2], official, want[3]]
    assert feed_forming == win_forming == want[4]
    # day stats agree: official open and accumulated volume from the AM, later minutes added
    assert day["open"] == 101.21 == win.day_open and day["volume"] == 9_999 + 200 + 200 + 200 == win.day_volume
    assert (day["high"], day["low"]) == (102.1, 100.1) == (win.day_high, win.day_low)
    assert day["last"] == 102.05 == win.last_price


def test_volume_only_minutes_count_for_the_day_without_an_official_volume():
    ev, _ = tape()
    st = FeedSymbol("X")
    st.apply_batch(ev)
    vol = sum(a[3] for a in ev if flags(a[5], True) & VOL)
    assert st.day_stats()["volume"] == vol  # odd lots of bar-less minutes included
    s = WindowSymbol("X")
    for a in ev:
        s.on_trade(wire.event_to_dict("X", a))
    assert s.day_volume == vol and s.day_open == 100.5  # first regular-session bar


def test_second_aggregates_never_touch_bars_and_other_codes_pass():
    ev, _ = tape()
    st = FeedSymbol("X")
    st.apply_batch(ev[:6])
    before = st.snapshot()
    st.apply_batch([["A", T0 + 10_000, 1.0, 1.0, 1.0, 1.0, 5, None, None, 777, 99.0, None, T0 + 11_000],
                    ["LULD", T0 + 10_000, 110.0, 90.0, [], 1, 2], ["NOI", T0 + 10_000, "O", 5, 4, 1, 100.0]])
    after = st.snapshot()
    assert after["bars"] == before["bars"] and after["forming"] == before["forming"]
    assert after["day"]["open"] == 99.0 and after["day"]["volume"] == 777  # the A's op/av: the day so far


def test_old_am_arrays_without_day_fields_still_work():
    st = FeedSymbol("X")
    st.apply_batch([t_(T0 + 1000, 10000), ["AM", T0, 100.0, 100.0, 100.0, 100.0, 100, None, None]])
    assert st.snapshot()["bars"][0]["open"] == 100.0 and st.day_stats()["volume"] == 100


@pytest.mark.parametrize("c", sorted(CONDITIONS))
def test_every_condition_that_sets_the_close_also_sets_high_low(c):
    for ext in (False, True):
        m = flags([c], ext)
        assert not m & LAST or m & HL  # so a bar's open and close lie within its high/low
