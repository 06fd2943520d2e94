"""The history store and the rate limiter with real processes: simulator, feed, CLI.

* a feed restarted against the simulator has its history from the store before
  any REST answer, and the simulator's request log shows it asked only for the
  minutes after the last stored one (and no day bars: they are stored);
* ``kill -9`` of a feed in the middle of a burst of store writes leaves a store
  that passes ``PRAGMA integrity_check``;
* a small plan (3 requests per 2 s) is never exceeded at the simulator, and the
  feed says ``queued`` meanwhile;
* ``live-monitor bars`` and ``live-monitor history`` on them.
Every process is stopped by its context manager; waits are condition waits.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3

import pytest

from tests.feed_process_util import Subscriber, clean_env, cli, run_feed
from tests.feed_tap import Tap
from tests.sim_process import run_sim
from tests.util import free_port, wait_until

M = 60_000


@pytest.fixture(scope="module")
def sim():
    with run_sim("--speed", "30") as s:
        yield s


def _env(db) -> dict:
    return clean_env(POLYGON_API_KEY="test-key", LIVE_MONITOR_HISTORY_DB=str(db))


def _history(sim) -> list[dict]:
    return sim.status()["history"]["requests"]


def _stored(db, symbol: str) -> tuple[int, int | None]:
    """(minute rows, last start) for ``symbol``, read while the feed may be writing (WAL)."""
    if not os.path.exists(db):
        return 0, None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        n, last = con.execute("SELECT COUNT(*), MAX(start) FROM minute_bars WHERE symbol=?", (symbol,)).fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0, None
    finally:
        con.close()
    return n, last


def _settled(sub: Subscriber, *states: str) -> dict | None:
    """The snapshot once the backfill is in one of ``states`` (default done; asked afresh each time)."""
    sub.poll(50)
    sub.resnapshot()
    snap = sub.snapshot or {}
    return snap if (snap.get("backfill") or {}).get("state") in (states or ("done",)) else None


@pytest.mark.parametrize("path", ["polygon", "relay"])
def test_a_restarted_feed_loads_the_store_then_asks_only_the_missing_range(sim, tmp_path, path):
    db = tmp_path / "history.sqlite3"
    env = _env(db)
    url = sim.url_polygon if path == "polygon" else sim.url_relay.replace("{client_id}", "store")
    with run_feed("--upstream", url, "--store-flush", "0.1", env=env) as feed:
        sub = Subscriber(feed.control, "AAPL")
        try:
            first = wait_until(lambda: _settled(sub), 20, what="first backfill")
            assert first["backfill"]["stored"] == 0 and len(first["bars"]) > 10
            assert first["day_bars"] and first["prev_day"]["close"] == first["day"]["prev_close"]
            n0 = len(first["bars"])
            # live bars (the sim runs x30: a minute every 2 s) reach the store too
            wait_until(lambda: _stored(db, "AAPL")[0] >= n0 + 2, 20, what="live bars stored")
        finally:
            sub.close()
    stored, last = _stored(db, "AAPL")
    asked_before = len(_history(sim))

    # 1) the store alone: a REST server that is not there, and the bars are still in the snapshot
    #    (failed: the minutes since the last stored one could not be fetched; done: none were missing)
    dead = f"http://127.0.0.1:{free_port()}"
    with run_feed("--upstream", url, "--rest-url", dead, env=env) as feed:
        sub = Subscriber(feed.control, "AAPL")
        try:
            snap = wait_until(lambda: _settled(sub, "failed", "done"), 20, what="stored bars, REST failing")
            assert snap["backfill"]["stored"] == min(stored, 2000)
            starts = [b["timestamp"] for b in snap["bars"]]
            assert last in starts and len(starts) >= stored
            assert snap["day_bars"] and snap["prev_day"]  # day bars come from the store too
        finally:
            sub.close()
    assert len(_history(sim)) == asked_before  # nothing reached the simulator

    # 2) the store, then only the minutes after the last stored one
    stored, last = _stored(db, "AAPL")
    # let the market move on past a finished minute the store does not have (x30: a few seconds)
    wait_until(lambda: sim.status()["clock_ms"] >= last + 2 * M + 1000, 15, interval=0.2, what="a new minute")
    with run_feed("--upstream", url, env=env) as feed:
        sub = Subscriber(feed.control, "AAPL")
        try:
            snap = wait_until(lambda: _settled(sub), 20, what="backfill after restart")
            assert snap["backfill"]["stored"] == stored
        finally:
            sub.close()
    asked = [r for r in _history(sim)[asked_before:] if r["symbol"] == "AAPL"]
    minute = [r for r in asked if r["timeframe"] == "1min"]
    assert len(minute) == 1 and minute[0]["from"] == last + M, asked
    assert snap["bars"][-1]["timestamp"] > last  # and the missing minutes arrived
    assert not [r for r in asked if r["timeframe"] == "1day"], "day bars were stored: none asked for"
    assert not [r for r in asked if r["endpoint"] == "polygon_prev"]


def test_kill_9_during_a_burst_of_store_writes_leaves_a_readable_store(tmp_path):
    db = tmp_path / "history.sqlite3"
    symbols = ["AAPL", "MSFT", "NVDA", "TSLA", "AMD", "META", "AMZN", "GOOG"]
    with run_sim("--speed", "600") as fast:  # 10 minutes a second: a steady stream of bars to write
        for round_ in range(3):
            with run_feed("--upstream", fast.url_polygon, "--store-flush", "0.01", env=_env(db)) as feed:
                tap = Tap(feed.control, symbols)
                try:
                    before = sum(_stored(db, s)[0] for s in symbols)
                    # round 0: killed while the first backfills are written; later rounds amid live bars
                    wait_until(lambda: (tap.pump(20), sum(_stored(db, s)[0] for s in symbols) > before + 5)[1],
                               30, what="store writes")
                    os.kill(feed.pid, signal.SIGKILL)
                    feed.proc.wait(10)
                finally:
                    tap.ctl.close(0)
                    tap.sub.close(0)
            assert feed.proc.returncode == -signal.SIGKILL
            con = sqlite3.connect(db)
            try:
                assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                n = con.execute("SELECT COUNT(*) FROM minute_bars").fetchone()[0]
                bad = con.execute("SELECT COUNT(*) FROM minute_bars WHERE l > h OR o > h OR c < l").fetchone()[0]
            finally:
                con.close()
            assert n > 0 and bad == 0, (round_, n, bad)


def test_a_small_plan_is_never_exceeded_and_the_feed_says_queued(sim, tmp_path):
    symbols = ["AAPL", "MSFT", "NVDA", "AMD", "INTC"]  # 5 minute + 5 day requests on 3 per 2 s
    since = len(_history(sim))
    env = _env(tmp_path / "history.sqlite3")
    with run_feed("--upstream", sim.url_polygon, "--rest-rate", "3/2s", env=env) as feed:
        tap = Tap(feed.control, symbols)
        seen_queued: dict = {}
        rest: list[dict] = []
        try:
            def all_done() -> bool:
                tap.pump(20)
                st = tap.status()
                rest.append(st["rest"])
                for s, v in st["symbols"].items():
                    if v["backfill"] == "queued":
                        seen_queued[s] = v["backfill_ahead"]
                return len(st["symbols"]) == len(symbols) and all(
                    v["backfill"] == "done" for v in st["symbols"].values())
            wait_until(all_done, 30, interval=0.05, what="every backfill done")
            snap = tap.request({"v": 1, "type": "snapshot", "id": 9, "symbol": "INTC"})
            assert snap["backfill"]["state"] == "done" and snap["day_bars"]
        finally:
            tap.ctl.close(0)
            tap.sub.close(0)
    assert seen_queued, "some backfill must have waited for the rate limit"
    assert rest[0]["limit"] == "3/2s" and max(r["queued"] for r in rest) >= 1
    assert rest[-1]["requests"] == 2 * len(symbols) and rest[-1]["queued"] == 0
    times = sorted(r["at_ms"] for r in _history(sim)[since:])
    assert len(times) == 2 * len(symbols)
    worst = max(sum(1 for u in times if t <= u < t + 2000) for t in times)
    assert worst <= 3, times


def test_bars_cli_prints_the_feeds_bars_at_any_timeframe(sim, tmp_path):
    env = _env(tmp_path / "history.sqlite3")
    with run_feed("--upstream", sim.url_polygon, env=env) as feed:
        one = cli("bars", "AAPL", "--json", "--no-forming", "--feed", feed.control, "--timeout", "15", env=env)
        assert one.returncode == 0, one.stderr
        minutes = [json.loads(x) for x in one.stdout.splitlines()]
        assert len(minutes) > 10 and all(b["timeframe"] == "1m" for b in minutes)
        five = cli("bars", "AAPL", "--timeframe", "5m", "--json", "--no-forming", "--feed", feed.control,
                   "--timeout", "15", env=env)
        assert five.returncode == 0, five.stderr
        bars5 = [json.loads(x) for x in five.stdout.splitlines()]
        assert bars5 and all(b["timestamp"] % (5 * M) == 0 for b in bars5)
        by_start = {b["timestamp"]: b for b in minutes}
        end = minutes[-1]["timestamp"]
        checked = 0
        for b in bars5:  # each 5m bar that was over at the first call is its minutes merged
            mins = [by_start[t] for t in range(b["timestamp"], b["timestamp"] + 5 * M, M) if t in by_start]
            if b["timestamp"] + 5 * M > end - 2 * M or any(m.get("provisional") for m in mins):
                continue  # its minutes may have become official between the two calls
            checked += 1
            assert b["open"] == mins[0]["open"] and b["close"] == mins[-1]["close"]
            assert b["high"] == max(m["high"] for m in mins) and b["low"] == min(m["low"] for m in mins)
            assert b["volume"] == sum(m["volume"] for m in mins)
        assert checked >= 3
        day = cli("bars", "AAPL", "--timeframe", "D", "--json", "--feed", feed.control, "--timeout", "15", env=env)
        days = [json.loads(x) for x in day.stdout.splitlines()]
        assert len(days) >= 3 and days[-1]["timestamp"] > days[0]["timestamp"]  # day aggregates + today
        text = cli("bars", "AAPL", "--timeframe", "15m", "--feed", feed.control, "--timeout", "15", env=env)
        assert text.returncode == 0 and " ET  o=" in text.stdout
        for bad in (["bars", "AAPL", "--timeframe", "7m"], ["bars", "not a symbol!"],
                    ["bars", "AAPL", "--timeout", "-1"]):
            r = cli(*bad, "--feed", feed.control, env=env)
            assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)
    gone = cli("bars", "AAPL", "--feed", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.5", env=env)
    assert gone.returncode == 1 and "no feed answering" in gone.stderr and len(gone.stderr.splitlines()) == 1


def test_history_cli_lists_exports_and_prunes(tmp_path):
    from feed_process.store import HistoryStore

    db = tmp_path / "history.sqlite3"
    s = HistoryStore(db)
    sim_, live = s.source_id("simulated", "sim"), s.source_id("live", "polygon")
    t0 = 1751031000000  # 2025-06-27 09:30 New York
    s.put_minutes(sim_, "AAPL", [[t0 + i * M, 10.0, 11.0, 9.0, 10.5, 100, 10.2, 3, 2] for i in range(5)])
    s.put_minutes(live, "AAPL", [[t0, 200.0, 201.0, 199.0, 200.5, 10, None, None, 0]])
    s.put_days(sim_, "AAPL", [[t0 - 86_400_000, 9.0, 10.0, 8.0, 9.5, 1000, 9.1, 50]])
    s.close()
    env = clean_env(LIVE_MONITOR_HISTORY_DB=str(db))
    ls = cli("history", "list", env=env)
    assert ls.returncode == 0, ls.stderr
    assert "simulated" in ls.stdout and "live" in ls.stdout and "5 bars" in ls.stdout
    js = json.loads(cli("history", "list", "--json", env=env).stdout)
    assert {(r["source"], r["timeframe"], r["count"]) for r in js["series"]} == {
        ("simulated", "1m", 5), ("simulated", "D", 1), ("live", "1m", 1)}
    ex = cli("history", "export", "--source", "simulated", env=env)
    rows = list(csv.DictReader(io.StringIO(ex.stdout)))
    assert len(rows) == 6 and {r["source"] for r in rows} == {"simulated"}
    assert rows[0]["kind"] == "official" and rows[0]["time_et"].startswith("2025-06-27T09:30")
    out = tmp_path / "aapl.csv"
    assert cli("history", "export", "--symbol", "aapl", "--out", str(out), env=env).returncode == 0
    assert len(out.read_text().splitlines()) == 1 + 7
    pq = cli("history", "export", "--out", str(tmp_path / "x.parquet"), env=env)
    try:
        import pyarrow  # noqa: F401
        assert pq.returncode == 0
    except ImportError:
        assert pq.returncode == 2 and "pyarrow" in pq.stderr
    for bad in (["history", "prune"], ["history", "prune", "--days", "-1"], ["history", "nope"],
                ["history", "list", "--days", "3"]):
        r = cli(*bad, env=env)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)
    pr = cli("history", "prune", "--days", "0", "--source", "live", env=env)
    assert pr.returncode == 0 and "pruned 1 minute bars" in pr.stdout
    assert "live" not in cli("history", "list", env=env).stdout.replace("simulated", "")
    missing = cli("history", "list", env=clean_env(LIVE_MONITOR_HISTORY_DB=str(tmp_path / "none.sqlite3")))
    assert missing.returncode == 1 and "no history store" in missing.stderr
