"""The history store, the REST rate limiter and the missing-range rules, without processes.

The limiter runs on a fake clock (its sans-I/O bucket directly, and the async
limiter with an injected clock and sleep); the store on a temporary file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

import pytest

from feed_process import history
from feed_process.state import FeedSymbol
from feed_process.store import SCHEMA, HistoryStore, StoreError, resolve_path
from feed_process.store_sync import StoreSync
from shared.config import ConfigError, load_settings
from shared.market import HIST, LIVE, PROV
from shared.market_hours import NY
from shared.rest_limit import Rate, RateBucket, RestLimiter, default_rate, parse_rate
from ui_process.window.messages import history_queued

M = 60_000


def _ms(y, mo, d, h, mi) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=NY).timestamp() * 1000)


T0 = _ms(2025, 6, 27, 9, 30)


def _max_in_window(times: list[float], period: float) -> int:
    """The most events in any half-open window [t, t + period)."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - period:
            j += 1
        best = max(best, i - j + 1)
    return best


# ------------------------------------------------------------------ the rate limiter


def test_rate_parsing_and_defaults():
    assert parse_rate("5/min") == Rate(5, 60.0) and parse_rate("3/2s") == Rate(3, 2.0)
    assert parse_rate("100/s") == Rate(100, 1.0) and parse_rate("unlimited") is None
    for bad in ("5", "five/min", "0/min", "5/year", "-1/s"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    assert default_rate("", "https://api.massive.com")[0] == Rate(5, 60.0)  # Polygon's free tier
    assert default_rate("", "https://api.polygon.io")[0] == Rate(5, 60.0)
    assert default_rate("", "http://127.0.0.1:8200")[0] is None              # simulator / relay
    assert default_rate("20/min", "https://api.massive.com")[0] == Rate(20, 60.0)
    assert load_settings(env={"LIVE_MONITOR_REST_RATE": "3/2s"}, use_default_file=False).rest_rate == "3/2s"
    with pytest.raises(ConfigError, match="rest_rate"):
        load_settings(env={"LIVE_MONITOR_REST_RATE": "lots"}, use_default_file=False)


def test_bucket_never_exceeds_the_plan_in_any_window():
    """50 requests at once on 5/min: at most 5 in any 60 s, all served in 9 minutes (fake clock)."""
    b = RateBucket(Rate(5, 60.0))
    now, sent = 0.0, []
    while len(sent) < 50:
        wait = b.take(now)
        if wait == 0.0:
            sent.append(now)
            b.done(now)  # an instant answer
        else:
            now += wait
    assert _max_in_window(sent, 60.0) == 5
    assert sent[-1] == pytest.approx(9 * 60.0)
    assert b.tokens(sent[-1]) == 0 and b.tokens(sent[-1] + 60.0) == 5


def test_refill_at_rate_would_exceed_the_plan_and_ours_does_not():
    """Why tokens come back one period after use: bursts at the window's edges stay within N."""
    b = RateBucket(Rate(5, 60.0))
    sent = []
    for t in [0.0] * 5 + [59.9] * 5 + [60.0] * 5 + [119.99] * 5:
        if b.take(t) == 0.0:
            sent.append(t)
            b.done(t)
    assert _max_in_window(sent, 60.0) <= 5


def test_a_slow_request_holds_its_token_until_it_finishes():
    """The period counts from the answer: a request 10 s in flight returns its token at 70 s."""
    b = RateBucket(Rate(1, 60.0))
    assert b.take(0.0) == 0.0
    assert b.take(30.0) == float("inf")  # in flight: back when it finishes
    b.done(10.0)
    assert b.take(30.0) == pytest.approx(40.0) and b.take(70.0) == 0.0


def test_fifty_backfills_through_the_async_limiter_on_a_fake_clock():
    """50 concurrent callers (as 50 symbols' backfills): the plan holds, FIFO, each told its place."""
    clock = [0.0]

    async def fake_sleep(s: float) -> None:
        await asyncio.sleep(0)  # what is ready runs at the current time (a real sleep lets it run first, too)
        clock[0] += s
        await asyncio.sleep(0)

    async def main():
        lim = RestLimiter(Rate(5, 60.0), clock=lambda: clock[0], sleep=fake_sleep, safety=0.0)
        sent: list[tuple[float, int]] = []
        places: dict[int, list[int]] = {}

        async def backfill(i: int) -> None:
            async with lim.slot(lambda n, i=i: places.setdefault(i, []).append(n)):
                sent.append((clock[0], i))
                assert lim.in_flight <= 4
                await asyncio.sleep(0)

        await asyncio.gather(*(backfill(i) for i in range(50)))
        return lim, sent, places

    lim, sent, places = asyncio.run(main())
    times = [t for t, _ in sent]
    assert len(sent) == 50 and _max_in_window(times, 60.0) == 5
    assert [i for _, i in sent] == list(range(50))   # first come, first served
    assert places[49][0] == 45 and places[49][-1] == 0  # 4 in flight at once: the last was 45 ahead
    assert all(p == sorted(p, reverse=True) for p in places.values())  # a place only ever moves forward
    st = lim.status()
    assert st["limit"] == "5/min" and st["requests"] == 50 and st["queued"] == 0 and st["waited"] == 46


def test_a_cancelled_waiter_leaves_the_queue():
    clock = [0.0]

    async def fake_sleep(s):
        clock[0] += s
        await asyncio.sleep(0)

    async def main():
        lim = RestLimiter(Rate(1, 10.0), clock=lambda: clock[0], sleep=fake_sleep, safety=0.0)
        await lim.acquire()
        lim.release()
        t = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        assert lim.status()["queued"] == 1
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        assert lim.status()["queued"] == 0 and lim.in_flight == 0
    asyncio.run(main())


def test_the_window_says_history_is_queued():
    assert history_queued(3) == "Loading history: waiting for the data provider's rate limit (3 ahead)"
    assert history_queued(None) == "Loading history: waiting for the data provider's rate limit"


# ------------------------------------------------------------------ missing ranges


def test_minute_range_asks_only_after_the_last_stored_minute():
    now = T0 + 30 * M + 5_000
    fresh = history.minute_range(now, None)
    assert fresh[0] == _ms(2025, 6, 26, 0, 0) and fresh[1] == _ms(2025, 6, 28, 0, 0) - 1
    assert history.minute_range(now, T0 + 10 * M)[0] == T0 + 11 * M
    assert history.minute_range(now, T0 + 29 * M) is None            # only the forming minute is missing
    assert history.minute_range(now, _ms(2025, 6, 1, 10, 0))[0] == fresh[0]  # old store: the fresh range


def test_day_range_skips_what_the_store_has():
    now = T0 + 30 * M
    lo, hi = history.day_range(now, 30, None)
    assert lo == dt.date(2025, 5, 28) and hi == dt.date(2025, 6, 26)
    assert history.day_range(now, 30, _ms(2025, 6, 20, 0, 0)) == (dt.date(2025, 6, 21), dt.date(2025, 6, 26))
    assert history.day_range(now, 30, _ms(2025, 6, 26, 0, 0)) is None  # yesterday stored: no request


# ------------------------------------------------------------------ the store


def _bar(start, c=10.0, level=HIST):
    return [start, c, c + 1, c - 1, c, 100, c, 5, level]


def test_store_keeps_sources_apart_and_the_more_official_bar(tmp_path):
    s = HistoryStore(tmp_path / "h.sqlite3")
    sim, live, relay = s.source_id("simulated", "sim"), s.source_id("live", "polygon"), \
        s.source_id("live", "ws://relay-a/ws/{client_id}")
    assert len({sim, live, relay}) == 3
    s.put_minutes(sim, "AAPL", [_bar(T0, 1.0, PROV), _bar(T0 + M, 2.0, LIVE)])
    s.put_minutes(live, "AAPL", [_bar(T0, 200.0)])
    s.put_minutes(sim, "AAPL", [_bar(T0, 3.0, HIST), _bar(T0 + M, 4.0, HIST)])  # official replaces provisional only
    assert [(r[0], r[4], r[8]) for r in s.load_minutes(sim, "AAPL", 10)] == [(T0, 3.0, HIST), (T0 + M, 2.0, LIVE)]
    assert [r[4] for r in s.load_minutes(live, "AAPL", 10)] == [200.0]
    assert s.load_minutes(relay, "AAPL", 10) == []
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA
    assert s.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    s.close()


def test_prune_keeps_days_before_each_sources_newest_bar(tmp_path):
    s = HistoryStore(tmp_path / "h.sqlite3")
    rep, live = s.source_id("replay", "sim"), s.source_id("live", "polygon")
    day = 86_400_000
    s.put_minutes(rep, "TSLA", [_bar(T0 - 40 * day), _bar(T0 - 2 * day), _bar(T0)])
    s.put_minutes(live, "AAPL", [_bar(T0 + 100 * day - 31 * day), _bar(T0 + 100 * day)])
    s.put_days(rep, "TSLA", [_bar(T0 - 40 * day)[:8], _bar(T0 - day)[:8]])
    assert s.prune(30) == (2, 1)
    assert [r[0] for r in s.load_minutes(rep, "TSLA", 10)] == [T0 - 2 * day, T0]
    assert s.prune(0, "replay") == (2, 1) and s.load_minutes(live, "AAPL", 10)
    s.close()


def test_a_newer_schema_or_a_broken_file_is_refused_in_one_line(tmp_path):
    p = tmp_path / "h.sqlite3"
    HistoryStore(p).close()
    db = sqlite3.connect(p)
    db.execute(f"PRAGMA user_version = {SCHEMA + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer Live Monitor"):
        HistoryStore(p)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        HistoryStore(junk)
    assert resolve_path("off") is None and resolve_path("").name == "history.sqlite3"


def test_sync_loads_levels_back_and_writes_only_finished_changed_bars(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    sync = StoreSync(store, 30, 2000)
    st = FeedSymbol("AAPL")
    assert sync.load(st, "simulated", "sim") == (None, None)
    st.apply_batch([["T", T0 + 1000, 10.0, 100, 4, [], None], ["T", T0 + M + 1000, 11.0, 50, 4, [], None]])
    assert sync.flush({"AAPL": st}) == 1   # the 09:30 bar (built from trades); 09:31 is still forming
    assert sync.flush({"AAPL": st}) == 0   # nothing changed
    st.apply_batch([["AM", T0, 10.0, 10.5, 9.9, 10.2, 120, 10.1, 3]])  # the official bar replaces it
    assert sync.flush({"AAPL": st}) == 1
    st2 = FeedSymbol("AAPL")
    last_min, last_day = sync.load(st2, "simulated", "sim")
    assert last_min == T0 and st2.stored == 1 and st2.snapshot()["bars"][0]["close"] == 10.2
    assert "provisional" not in st2.snapshot()["bars"][0]
    st3 = FeedSymbol("AAPL")
    assert sync.load(st3, "replay", "sim") == (None, None) and st3.snapshot()["bars"] == []  # never mixed
    store.close()


def test_snapshot_carries_day_bars_and_prev_day():
    st = FeedSymbol("AAPL")
    st.apply_batch([["T", T0 + 1000, 10.0, 100, 4, [], None]])
    d1, d2 = _ms(2025, 6, 25, 0, 0), _ms(2025, 6, 26, 0, 0)
    st.set_days([[d1, 9.0, 9.5, 8.5, 9.2, 1000, 9.1, 10], [d2, 9.2, 9.9, 9.0, 9.8, 1200, 9.5, 12]])
    snap = st.snapshot()
    assert snap["prev_day"] == {"high": 9.9, "low": 9.0, "close": 9.8, "date": "2025-06-26"}
    assert snap["day"]["prev_close"] == 9.8
    assert [b["timestamp"] for b in snap["day_bars"]] == [d1, d2]
    assert set(snap["day_bars"][0]) >= {"open", "high", "low", "close", "volume", "vwap", "timestamp"}
