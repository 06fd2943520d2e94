"""A 50-symbol watchlist on the simulator (bench.watchlist, short): each row equals the feed's summary of it."""

from __future__ import annotations

from bench.watchlist import SYMBOLS, run


def test_fifty_rows_equal_the_feeds_summaries(qapp):
    r = run(4.0)
    assert r["symbols"] == len(SYMBOLS) == 50
    assert r["rows_compared"] >= 40 and r["rows_equal"] == r["rows_compared"], r
    assert r["summaries_per_s"] > 0 and r["feed_cpu_pct"] >= 0
