"""The latency and desk benchmarks' stand-in and matching (bench.paced, bench.latency): real processes
on loopback, behaviour only - no timing thresholds (speed is the benchmark's own subject)."""

from __future__ import annotations

import json
import sys

from websockets.sync.client import connect

from bench.common import start, stop
from bench.latency import run_one, summarize
from bench.paced import STANDIN
from feed_process.protocols import PolygonCore


def _frames(cfg: dict) -> list[list[dict]]:
    """Every data frame the stand-in sends to one client that subscribes (it closes at the end)."""
    srv, line = start([sys.executable, "-c", STANDIN, json.dumps({**cfg, "close_after": True})], "LISTENING")
    try:
        frames = []
        with connect(f"ws://127.0.0.1:{line.split()[1]}", compression=None) as ws:
            ws.recv()
            ws.send('{"action":"auth","params":"k"}')
            ws.recv()
            ws.send('{"action":"subscribe","params":"T.BURST"}')
            try:
                while True:
                    frames.append(json.loads(ws.recv(timeout=10)))
            except Exception:  # the stand-in's close ends the stream
                pass
        return frames
    finally:
        stop(srv)


def test_the_send_log_matches_every_trade_of_a_direct_client():
    r = run_one("bare", 1000.0, 0.6)
    assert r["sent"] > 0 and r["received"] == r["sent"], r
    assert r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"], r


def test_summarize_matches_q_to_its_frame_and_drops_the_warm_up():
    # frames of 5 from q=0 every 1 ms; the consumer got each frame 2 ms after it left
    sent = {"q": list(range(0, 5000, 5)), "ns": [i * 1_000_000 for i in range(1000)], "events": 5000, "seconds": 1.0}
    got = {"q": list(range(5000)), "ns": [(q // 5) * 1_000_000 + 2_000_000 for q in range(5000)],
           "cpu_s": 0.1, "wall_s": 1.0}
    row = summarize("bare", 1000.0, sent, got, {"server": 0.1, "feed": None})
    assert row["received"] == 5000 and abs(row["p50_ms"] - 2.0) < 1e-9 and abs(row["max_ms"] - 2.0) < 1e-9


def test_stamped_trades_have_unique_ids_the_feed_keeps_all():
    # the feed de-duplicates trades by (symbol, exchange, id): a stamp shared by a frame's trades
    # would make it drop all but one of them
    frames = _frames({"rate": 2000.0, "batch": 5, "seconds": 0.4, "mode": "stamp", "burst": "BURST",
                      "symbols": {"S00": 200.0, "S01": 50.0}})
    events = [e for f in frames for e in f]
    trades = [e for e in events if e["ev"] == "T"]
    assert len(trades) > 100 and len({(e["sym"], e["x"], e["i"]) for e in trades}) == len(trades)
    assert {e["sym"] for e in events} == {"BURST", "S00", "S01"}
    core = PolygonCore("k")
    core.receive(b'[{"ev":"status","status":"auth_success","message":"authenticated"}]')
    core.subscribe(["BURST", "S00", "S01"])
    kept = 0
    for f in frames:
        out = core.receive(json.dumps(f).encode())
        assert not out.errors, out.errors[:3]
        kept += sum(len(v) for v in out.batches.values())
    assert kept == len(events)
    # the stamp is the frame's send time (monotonic ns) plus the trade's place in the frame
    for f in frames:
        ts = [int(e["i"]) for e in f if e["ev"] == "T"]
        assert ts == sorted(ts) and ts[-1] - ts[0] < len(f)


def test_the_relay_floor_hands_every_trade_through_its_hop():
    r = run_one("relay", 1000.0, 0.6)
    assert r["sent"] > 0 and r["received"] == r["sent"], r
    assert r["cpu_feed"] is not None and r["cpu_us_ev"] > 0, r


def test_the_table_pools_the_rounds_trades_for_its_quantiles():
    from bench.latency import table

    sent = {"q": list(range(0, 5000, 5)), "ns": [i * 1_000_000 for i in range(1000)], "events": 5000, "seconds": 1.0}

    def run(delay_ms: float) -> dict:
        got = {"q": list(range(5000)), "ns": [(q // 5) * 1_000_000 + int(delay_ms * 1e6) for q in range(5000)],
               "cpu_s": 0.1, "wall_s": 1.0}
        return summarize("feed", 1000.0, sent, got, {"server": 0.1, "feed": 0.2}, 0.2)

    # three rounds: two at 1 ms, one at 9 ms; the median of the rounds' p99 would say 1 ms, the pooled p99 9 ms
    rows = table([run(1.0), run(1.0), run(9.0)], ["feed"], rates=(1000.0,))
    (row,) = rows
    assert row["rounds"] == 3 and abs(row["p50_ms"] - 1.0) < 1e-6 and abs(row["p99_ms"] - 9.0) < 1e-6, row
    assert row["p99_spread"] == "1.00-9.00" and row["cpu_us_per_event"] > 0
