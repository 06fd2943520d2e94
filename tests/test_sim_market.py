"""The synthetic tape, without I/O: believable, exact (AM == its trades), deterministic."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from feed_process.sim.bars import BarBuilder
from feed_process.sim.market import SymbolMarket, SyntheticMarket, next_session_after
from feed_process.sim.seconds import SecondBuilder
from shared.market_hours import Session, market_state, session_for
from shared.models.conditions import CONDITIONS, update_rules

DAY = dt.date(2025, 6, 27)  # a Friday, regular full session
S = session_for(DAY)


def tape(symbol="AAPL", seed=1, until=None, start_emit=None):
    """Events of one symbol from 04:00 to ``until`` (default 10:15 ET)."""
    m = SymbolMarket(symbol, seed, S)
    until = until or S.open + 45 * 60_000
    out: list[dict] = []
    if start_emit:
        m.advance(start_emit, None)
    m.advance(until, out)
    return m, out


@pytest.fixture(scope="module")
def morning():
    return tape()


def oracle_bars(trades: list[dict]) -> dict[int, dict]:
    """Independent re-aggregation of trades into minute bars with the condition rules."""
    bars: dict[int, dict] = {}
    for t in trades:
        # Form T prints make extended-hours bars only (Polygon's minute aggregates)
        hl, last, vol = update_rules(t.get("c"), extended=not S.open <= t["t"] < S.close)
        s = t["t"] - t["t"] % 60_000
        b = bars.setdefault(s, {"o": None, "h": None, "l": None, "c": None, "v": 0, "pv": 0.0, "n": 0})
        p = t["p"]
        b["n"] += 1
        if hl:
            b["h"] = p if b["h"] is None else max(b["h"], p)
            b["l"] = p if b["l"] is None else min(b["l"], p)
        if last:
            b["o"] = p if b["o"] is None else b["o"]
            b["c"] = p
        if vol:
            b["v"] += t["s"]
            b["pv"] += p * t["s"]
    return bars


def test_quotes_are_penny_ticks_with_1_to_3_tick_spreads(morning):
    _, evs = morning
    quotes = [e for e in evs if e["ev"] == "Q"]
    assert len(quotes) > 1000
    spreads = set()
    for q in quotes:
        bp, ap = round(q["bp"] * 100), round(q["ap"] * 100)
        assert abs(q["bp"] * 100 - bp) < 1e-6 and abs(q["ap"] * 100 - ap) < 1e-6
        assert 1 <= ap - bp <= 3
        spreads.add(ap - bp)
        assert q["bs"] >= 1 and q["as"] >= 1 and q["sym"] == "AAPL"
    assert spreads == {1, 2, 3}


def test_trades_at_or_inside_the_quote_with_real_conditions(morning):
    _, evs = morning
    quote = None
    trades = 0
    odd = round_lots = 0
    seen_conds: set[int] = set()
    for e in evs:
        if e["ev"] == "Q":
            quote = e
        elif e["ev"] == "T":
            trades += 1
            assert quote is not None, "a trade before any quote"
            assert quote["bp"] - 1e-9 <= e["p"] <= quote["ap"] + 1e-9
            assert abs(e["p"] * 100 - round(e["p"] * 100)) < 1e-6
            assert e["s"] >= 1 and isinstance(e["i"], str)
            conds = e.get("c", [])
            assert all(c in CONDITIONS for c in conds)
            seen_conds.update(conds)
            if e["s"] < 100:
                odd += 1
                assert 37 in conds
            elif e["s"] % 100 == 0:
                round_lots += 1
            # extended hours prints carry Form T
            assert (12 in conds) == (market_state(e["t"]) != "open")
    assert trades > 500 and odd > 50 and round_lots > 50
    assert {12, 14, 37, 41} <= seen_conds


def test_am_bars_agree_exactly_with_the_trades(morning):
    m, evs = morning
    trades = [e for e in evs if e["ev"] == "T"]
    ams = [e for e in evs if e["ev"] == "AM"]
    want = oracle_bars(trades)
    # a minute with only volume-only prints (odd lots) has no AM; its volume is in the next av
    assert len(ams) == sum(1 for b in want.values() if b["o"] is not None) > 300
    minutes = sorted(want)
    day_v, day_pv, op = 0, 0.0, None
    for am in ams:
        b = want[am["s"]]
        assert am["e"] == am["s"] + 60_000
        assert (am["o"], am["h"], am["l"], am["c"]) == (b["o"], b["h"], b["l"], b["c"])
        assert am["v"] == b["v"]
        assert am["vw"] == pytest.approx(b["pv"] / b["v"], abs=6e-5)
        while minutes and minutes[0] <= am["s"]:
            day_v += want[minutes[0]]["v"]
            day_pv += want[minutes.pop(0)]["pv"]
        op = op if op is not None else am["o"]
        assert am["av"] == day_v
        assert am["a"] == pytest.approx(day_pv / day_v, abs=6e-5)
        assert am["op"] == op
        assert am["z"] == b["v"] // b["n"]
    # bars are announced after their minute: every AM follows all of that minute's trades
    pos = {id(e): i for i, e in enumerate(evs)}
    last_trade_idx = defaultdict(int)
    for i, e in enumerate(evs):
        if e["ev"] == "T":
            last_trade_idx[e["t"] - e["t"] % 60_000] = i
    assert all(pos[id(a)] > last_trade_idx[a["s"]] for a in ams)
    # history holds the same bars (plus the trade count)
    hist = m.minute_bars()
    assert [{k: v for k, v in b.items() if k != "n"} for b in hist] == ams


def test_deterministic_per_seed_and_symbol_whatever_the_slicing():
    end = S.open + 5 * 60_000
    _, whole = tape("MSFT", seed=7, until=end)
    m = SymbolMarket("MSFT", 7, S)
    sliced: list[dict] = []
    t = S.pre_start
    steps = (1, 7, 999, 61_000, 250_000, 3_600_000)  # irregular slices, some inside one millisecond
    i = 0
    while t < end:
        t = min(t + steps[i % len(steps)], end)
        m.advance(t, sliced)
        i += 1
    assert sliced == whole
    _, other_seed = tape("MSFT", seed=8, until=S.pre_start + 3_600_000)
    _, other_sym = tape("MSFA", seed=7, until=S.pre_start + 3_600_000)
    assert other_seed[:50] != whole[:50] and other_sym[:50] != whole[:50]


# A short Friday (20 min pre, 60 min regular, 20 min post) keeps the whole-day tape cheap;
# the profile's shape constants (15/20 minutes) still show on it.
SHORT = Session(DAY, S.open - 20 * 60_000, S.open, S.open + 60 * 60_000, S.open + 80 * 60_000)


@pytest.fixture(scope="module")
def short_day_to_saturday():
    """SPY's whole (short) Friday tape, advanced on to Saturday noon."""
    m = SymbolMarket("SPY", 1, SHORT)
    out: list[dict] = []
    m.advance(int(dt.datetime(2025, 6, 28, 16, 0, tzinfo=dt.timezone.utc).timestamp() * 1000), out)
    return m, out


def test_activity_profile_is_u_shaped_over_the_real_session():
    m = SymbolMarket("SPY", 1, S)
    at = m.intensity
    assert at(S.pre_start - 1) == 0 == at(S.post_end)
    assert 0 < at(S.pre_start + 60_000) < at(S.open - 60_000) < at(S.open + 60_000)
    midday = at(S.open + 180 * 60_000)
    assert at(S.open + 60_000) > 3 * midday and at(S.close - 60_000) > 1.5 * midday
    assert at(S.close + 60_000) < midday / 2 and at(S.post_end - 60_000) > 0


def test_activity_follows_the_session_clock(short_day_to_saturday):
    m, evs = short_day_to_saturday
    assert m.session.day == next_session_after(DAY).day  # rolled on to Monday's tape after the post-market
    counts = defaultdict(int)
    for e in evs:
        if e["ev"] in ("T", "Q"):
            assert SHORT.pre_start <= e["t"] < SHORT.post_end  # quiet when closed (also on Saturday)
            counts["pre" if e["t"] < SHORT.open else "open" if e["t"] < SHORT.close else "post"] += 1
    per_min = {"pre": counts["pre"] / 20, "open": counts["open"] / 60, "post": counts["post"] / 20}
    assert per_min["open"] > 3 * per_min["pre"] > 0 and per_min["open"] > 3 * per_min["post"] > 0
    def n(a: int, b: int) -> int:  # events between minutes a and b of the regular session
        return sum(1 for e in evs if e["ev"] != "AM" and SHORT.open + a * 60_000 <= e["t"] < SHORT.open + b * 60_000)
    assert n(0, 10) > 1.5 * n(25, 35) and n(50, 60) > 1.2 * n(25, 35)  # busy open, quieter middle, busier close
    last_am = [e for e in evs if e["ev"] == "AM"][-1]
    assert last_am["e"] <= SHORT.post_end  # later prints, if any, were volume-only minutes (no AM)
    assert all(37 in (e.get("c") or ()) or 2 in (e.get("c") or ()) for e in evs if e["ev"] == "T" and e["t"] >= last_am["e"])
    # after the roll, history still holds the finished day (a chart opened in the evening has it)
    assert m.bars == [] and m.minute_bars()[-1]["e"] == last_am["e"]
    friday = m.daily_bars(3)[-1]  # Monday's "previous session" is the Friday this tape made
    assert friday["c"] == last_am["c"] == m.prev_close / 100
    assert friday["v"] == sum(b["v"] for b in m.minute_bars())
    # minute bars cover the short day without gaps where trades happened
    assert all(b["e"] == b["s"] + 60_000 for b in m.bars) or m.bars == []


def test_daily_bars_are_consistent_with_the_previous_close():
    m = SymbolMarket("AAPL", 1, S)
    days = m.daily_bars(10)
    assert len(days) == 10 and days[-1]["c"] == m.prev_close / 100
    assert days == SymbolMarket("AAPL", 1, S).daily_bars(10)
    for d in days:
        assert d["l"] <= min(d["o"], d["c"]) <= max(d["o"], d["c"]) <= d["h"] and d["v"] > 0
    assert [d["t"] for d in days] == sorted(d["t"] for d in days)
    m.advance(S.open + 5 * 60_000)
    today = m.today_daily_bar()
    bars = m.minute_bars()
    assert today["v"] == sum(b["v"] for b in bars) and today["c"] == bars[-1]["c"]


def test_bar_builder_publishes_no_bar_for_a_volume_only_minute():
    out: list[dict] = []
    b = BarBuilder("X", prev_close_cents=1000)
    b.add(60_000, 1001, 50, [37], out)  # odd lot: volume only
    b.close(out)
    assert out == []  # Polygon publishes no bar without an open/close print
    b.add(120_000, 1003, 20, [37], out)  # an odd lot before the first regular print: volume, not the open
    b.add(121_000, 1005, 100, None, out)
    b.add(130_000, 2000, 100, [2], out)  # average-price print: volume, not price
    b.close(out)
    assert (out[0]["o"], out[0]["h"], out[0]["l"], out[0]["c"], out[0]["v"]) == (10.05, 10.05, 10.05, 10.05, 220)
    assert out[0]["av"] == 270 and out[0]["op"] == 10.05 and b.last_cents == 1005


def test_second_bars_follow_the_minute_bar_rules_and_day_marks():
    """A's bars are the core's bars per second; av/a/op are the AM bars' day state."""
    bars = BarBuilder("X", prev_close_cents=1000, session=lambda: S)
    secs = SecondBuilder("X", bars)
    secs.resume(S.open - 60_000)
    out: list[dict] = []

    def trade(t, cents, size, conds):
        if secs.due(t):
            secs.close(out)
        secs.add(t, cents, size, conds, out)
        bars.add(t, cents, size, conds, [])

    pre = S.open - 60_000
    trade(pre + 100, 1001, 200, [12])  # pre-market Form T: makes the bar (extended hours)
    trade(pre + 1_100, 1002, 50, [12, 37])  # an odd lot alone in its second: no bar
    trade(pre + 2_100, 1003, 100, [12])
    trade(S.open + 100, 1010, 300, [12])  # regular hours: Form T is volume only, no bar
    trade(S.open + 1_100, 1011, 100, None)
    secs.close(out)
    assert [(a["s"] - pre, a["o"], a["v"], a["av"], a["op"]) for a in out] == [
        (0, 10.01, 200, 200, 10.01), (2_000, 10.03, 100, 350, 10.01), (61_000, 10.11, 100, 750, 10.01)]
    assert out[-1]["a"] == round((1001 * 200 + 1002 * 50 + 1003 * 100 + 1010 * 300 + 1011 * 100) / 750 / 100, 4)
    am: list[dict] = []
    bars.close(am)
    assert am[-1]["av"] == out[-1]["av"] and am[-1]["op"] == out[-1]["op"]


def test_a_rate_override_is_exact_a_burst_does_not_multiply_it():
    # seed 18: IBM's tape starts a 4x burst right after the thin pre-market (found by scanning seeds)
    start = S.pre_start + 5 * 60_000
    m = SymbolMarket("IBM", 18, S, rate_fn=lambda t: 3000.0 if t >= start else None)
    m.advance(start + 10_000, None)
    assert m.burst_until > start + 20_000 and m.burst_mult > 2  # the burst is on
    out: list[dict] = []
    m.advance(start + 20_000, out)
    n = sum(1 for e in out if e["ev"] != "AM")
    assert 0.9 * 30_000 < n < 1.1 * 30_000


def test_synthetic_market_rate_override_scales_activity():
    fast = SyntheticMarket(1, lambda t: S, rate_fn=lambda t: 2000.0 if t >= S.open else None)
    fast.advance(["ZZZ"], S.open, [])
    out: list[dict] = []
    fast.advance(["ZZZ"], S.open + 10_000, out)  # 10 s at 2000 events/s
    n = sum(1 for e in out if e["ev"] != "AM")
    assert 0.9 * 20_000 < n < 1.1 * 20_000


# ---- believable levels and volume -------------------------------------------
from feed_process.sim.reference import ADV_RANGE, PRICE_RANGE, known_symbols, reference  # noqa: E402

COMMON = ["AAPL", "MSFT", "NVDA", "TSLA", "SPY", "QQQ", "AMZN", "META", "GOOGL", "AMD"]


def test_common_tickers_trade_near_their_reference_level_whatever_the_seed():
    assert set(COMMON) <= set(known_symbols())
    for sym in COMMON:
        ref = reference(sym)
        for seed in (1, 2, 3):
            m = SymbolMarket(sym, seed, S)
            assert 0.8 * ref.price <= m.prev_close / 100 <= 1.25 * ref.price, (sym, seed, m.prev_close)
            assert 0.8 * ref.adv <= m.adv <= 1.2 * ref.adv
    # the levels themselves are the real ones' order of magnitude (not AAPL at $96)
    assert 150 < reference("AAPL").price < 400 and 300 < reference("MSFT").price < 700
    assert 250 < reference("TSLA").price < 600 and 500 < reference("SPY").price < 900
    assert reference("NVDA").adv > reference("AAPL").adv > reference("META").adv > 5_000_000


def test_other_tickers_get_a_stable_level_from_their_name_in_a_plausible_range():
    names = ["ZZZZ", "ABCD", "QWER", "XY", "BRK.B", "LMNOP"]
    for sym in names:
        ref = reference(sym)
        assert ref == reference(sym)  # stable: from the name, not a random draw
        assert PRICE_RANGE[0] <= ref.price <= PRICE_RANGE[1] and ADV_RANGE[0] <= ref.adv <= ADV_RANGE[1]
    assert len({reference(s).price for s in names}) == len(names)


def minute_volumes(sym: str, seed: int, until: int) -> dict[int, int]:
    m = SymbolMarket(sym, seed, S)
    m.advance(until)
    return {b["s"]: b["v"] for b in m.minute_bars()}


@pytest.fixture(scope="module")
def aapl_day():
    """AAPL's regular session volume per minute for two seeds (the tape up to 16:00)."""
    return [minute_volumes("AAPL", seed, S.close) for seed in (1, 2)]


def test_volume_is_u_shaped_at_a_realistic_scale(aapl_day):
    ref = reference("AAPL")
    for vols in aapl_day:
        regular = {s: v for s, v in vols.items() if S.open <= s < S.close}
        day = sum(regular.values())
        assert 0.6 * ref.adv < day < 1.5 * ref.adv  # the day's volume is the ticker's average daily volume
        first5 = sum(regular.get(S.open + i * 60_000, 0) for i in range(5)) / 5
        midday = sorted(regular.get(S.open + i * 60_000, 0) for i in range(150, 210))  # 12:00-13:00
        mid = midday[len(midday) // 2]
        last5 = sum(regular.get(S.close - i * 60_000, 0) for i in range(1, 6)) / 5
        assert first5 > 4 * mid and last5 > 2 * mid, (first5, mid, last5)
        # a real AAPL opening minute trades hundreds of thousands of shares, a midday minute tens of thousands
        assert regular[S.open] > 250_000 and 20_000 < mid < 300_000
        pre = sum(v for s, v in vols.items() if s < S.open)
        assert 0 < pre < 0.15 * day  # pre-market is thin


def test_liquidity_scales_the_tape_not_only_the_price():
    until = S.open + 10 * 60_000
    nvda, ibm = minute_volumes("NVDA", 1, until), minute_volumes("IBM", 1, until)
    assert sum(nvda.values()) > 10 * sum(ibm.values())


# ---- second aggregates ------------------------------------------------------
def test_second_aggregates_agree_with_the_trades_and_never_change_the_tape():
    start, end = S.open + 60_000, S.open + 3 * 60_000
    plain = SymbolMarket("MSFT", 5, S)
    plain.advance(start)
    with_a = SymbolMarket("MSFT", 5, S)
    with_a.advance(start)
    with_a.emit_seconds = True
    a_out: list[dict] = []
    p_out: list[dict] = []
    with_a.advance(end, a_out)
    plain.advance(end, p_out)
    assert [e for e in a_out if e["ev"] != "A"] == p_out  # subscribing A changes nothing else
    secs = [e for e in a_out if e["ev"] == "A"]
    assert len(secs) > 60
    by_sec: dict[int, list[dict]] = defaultdict(list)
    for e in p_out:
        if e["ev"] == "T":
            by_sec[e["t"] - e["t"] % 1000].append(e)
    def rules(t):  # the minute bars' rules (Form T makes a bar only outside regular hours)
        return update_rules(t.get("c"), extended=not S.open <= t["t"] < S.close)

    for a in secs:
        assert a["e"] == a["s"] + 1000 and a["s"] % 1000 == 0 and a["sym"] == "MSFT"
        ts = by_sec[a["s"]]
        vol = [t for t in ts if rules(t)[2]]
        px = [t for t in ts if rules(t)[1]]
        assert a["v"] == sum(t["s"] for t in vol)
        assert (a["o"], a["c"]) == (px[0]["p"], px[-1]["p"])
        assert a["h"] == max(t["p"] for t in px) and a["l"] == min(t["p"] for t in px)
    # as the minute bars: a second with an open/close print has a bar, one of volume-only prints
    # (odd lots) none - its volume is in the next bar's av
    assert {a["s"] for a in secs} == {s for s, ts in by_sec.items() if any(rules(t)[1] for t in ts)}
    # day totals run over the whole day (the trades before anyone asked for A included)
    ams = [e for e in p_out if e["ev"] == "AM"]
    last_a_of = {a["s"] - a["s"] % 60_000: a for a in secs}
    for am in ams:
        a = last_a_of.get(am["s"])
        if a is not None and a["e"] == am["e"]:
            assert a["av"] == am["av"] and a["a"] == pytest.approx(am["a"], abs=2e-4)
    assert all(a["op"] == ams[0]["op"] for a in secs)
    # and each A comes after its second's trades
    pos = {id(e): i for i, e in enumerate(a_out)}
    last_t = {e["t"] - e["t"] % 1000: pos[id(e)] for e in a_out if e["ev"] == "T"}
    assert all(pos[id(a)] > last_t[a["s"]] for a in secs if a["s"] in last_t)
