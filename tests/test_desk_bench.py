"""The desk benchmark (bench.desk, bench.desk_procs): real stand-in, feed and screen processes on loopback,
behaviour only - counts, gaps, the header read against the decode, the limit's naming; no timing thresholds."""

from __future__ import annotations

import os

from bench import desk


def test_a_small_desk_counts_every_event_with_no_gap_and_reads_every_header_right():
    # 2 processes x 5 screens; screen 0 and 5 watch the burst; every 8th message is decoded and checked
    # against the screen's header read (seq, event count), which must agree on every one
    row = desk.run_desk(2000.0, 1.5, procs_n=2, per_proc=5, name="small")
    assert row["screens"] == 10 and row["gaps"] == 0 and row["misread"] == 0, row
    # (a screen whose subscription reached the feed after the stream began misses its first events: no gap)
    assert row["offered_ev_s"] > 0 and 50 < row["received_pct"] <= 100.0, row
    assert row["feed_python_pct"] > 0 and row["feed_zmq_io_pct"] >= 0 and row["delivered_msgs"] > 0, row
    assert row["p50_ms_median"] is not None and row["probe_p50_ms"] is not None, row
    assert row["busiest"] and "limit" in row


def _row(**kw) -> dict:
    base = {"gaps": 0, "feed_python_pct": 40.0, "feed_zmq_io_pct": 10.0, "standin_pct": 20.0,
            "screens_python_max_pct": 15.0, "asked_ev_s": 100_000.0, "offered_ev_s": 100_000.0,
            "delivered_pct": 100.0, "machine_pct": 100.0, "ours_pct": 100.0, "busiest": "feed Python thread 40 %"}
    return {**base, **kw}


def test_the_limit_names_the_part_that_ran_out():
    assert desk.limit(_row()) == ""
    assert desk.limit(_row(gaps=3)).startswith("gaps: the feed's high-water mark")
    assert desk.limit(_row(feed_python_pct=97.0)) == "feed: its Python thread at a core"
    assert desk.limit(_row(feed_zmq_io_pct=95.0)) == "feed: its ZeroMQ I/O thread at a core"
    assert desk.limit(_row(offered_ev_s=60_000.0, standin_pct=99.0)).startswith("stand-in:")
    assert desk.limit(_row(delivered_pct=80.0, screens_python_max_pct=95.0)).startswith("screens:")
    assert desk.limit(_row(delivered_pct=80.0, machine_pct=100.0 * os.cpu_count())).startswith("machine: every core busy, busiest feed")
    assert desk.limit(_row(offered_ev_s=60_000.0)).startswith("feed: reads slower than offered")
    assert desk.limit(_row(delivered_pct=80.0)) == "feed: delivers behind the stream"


def test_saturation_is_the_first_limit_and_the_highest_rate_kept_up_below_it():
    rows = [{"name": "a", "limit": "", "asked_ev_s": 1000.0, "offered_ev_s": 1000.0},
            {"name": "b", "limit": "", "asked_ev_s": 2000.0, "offered_ev_s": 2000.0},
            {"name": "c", "limit": "machine: x", "asked_ev_s": 3000.0, "offered_ev_s": 2500.0},
            {"name": "d", "limit": "feed: y", "asked_ev_s": 4000.0, "offered_ev_s": 3000.0}]
    s = desk.saturation(rows)
    assert (s["at"], s["limit"], s["kept_up"], s["offered_ev_s"]) == ("c", "machine: x", "b", 2500)
    assert desk.saturation(rows[:2])["at"] is None
