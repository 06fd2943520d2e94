"""End-to-end latency: upstream send -> the Qt side of a UI process, at 1k/5k/20k events/s.

Why: a trader cares how old a print is when the window learns of it. The
chain measured is the whole product path: a Polygon-protocol server stamps
each trade's id with its send time (ns, same machine clock) -> WebSocket ->
feed process -> ZeroMQ -> a UI process whose ``PolygonDataManager`` runs on a
real Qt event loop; the latency is taken where the manager applies the
events on the GUI thread (from its QSocketNotifier drain), right before the
spec's per-event hooks (``_process_trade``...) run.
The UI process starts as the app's ``run_ui`` does (calendar warmed and the
start-up heap frozen before it connects). Only trades sent from 0.5 s after
the window's first snapshot count (the steady state; start-up - subscribe,
snapshot, buffered catch-up - is the recovery benchmark's subject). The
trades are regular (no condition), so they move the last price, the ticker
and the forming bar as a real tape does.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap

from bench.common import REPO, bench_env, start, stop
from bench.feed_throughput import _LAT_SERVER, _feed

_UI_CHILD = textwrap.dedent("""
    import json, sys, time
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication
    from ui_process.polygon_data_manager import PolygonDataManager
    feed, expected, limit_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    from shared import market_hours
    from ui_process.app import freeze_startup_heap
    app = QApplication([])
    market_hours.warm()  # as the app's run_ui does before it connects (the calendar would otherwise load mid-stream)
    lat = []
    since = [None]  # steady state: only trades sent 0.5 s after the first snapshot was applied
    m = PolygonDataManager(feed)
    apply_events = m._core.apply_events
    # The seed's TradeData has no trade id, so the stamp is read from the wire
    # array just before the manager's core turns it into the dict for _process_trade.
    def probe(arrays, start, stop):
        now = time.time_ns()
        if since[0] is None:
            if m.feed_info()["synced"]:
                since[0] = now + 500_000_000
        else:
            for a in arrays[start:stop]:
                if a[0] == "T" and a[6] and int(a[6]) > since[0]:
                    lat.append((now - int(a[6])) / 1e6)
        apply_events(arrays, start, stop)
        if len(lat) >= expected:
            app.quit()
    m._core.apply_events = probe
    freeze_startup_heap()
    m.connect()
    m.change_symbol("LAT")
    QTimer.singleShot(int(limit_s * 1000), app.quit)
    print("READY", flush=True)
    app.exec()
    print(json.dumps({"events": len(lat), "latency_ms": lat}))
""")


def _run(rate: float, seconds: float) -> dict:
    srv, line = start([sys.executable, "-c", _LAT_SERVER, str(rate), "5", str(seconds + 8)], "LISTENING")
    port = int(line.split()[1])
    try:
        feed, ctl = _feed(f"ws://127.0.0.1:{port}/stocks")
        try:
            expected = int(rate * seconds)
            ui = subprocess.Popen([sys.executable, "-c", _UI_CHILD, ctl, str(expected), str(seconds + 20)],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env={**bench_env(), "QT_QPA_PLATFORM": "offscreen"})
            try:
                out, _ = ui.communicate(timeout=seconds + 60)
            finally:
                stop(ui)
        finally:
            stop(feed)
    finally:
        stop(srv)
    r = json.loads(out.strip().splitlines()[-1])
    lat = sorted(r["latency_ms"])
    row = {"name": f"~{rate:,.0f} events/s", "events": r["events"]}
    if len(lat) >= 100:
        q = statistics.quantiles(lat, n=100)
        row.update(p50_ms=q[49], p95_ms=q[94], p99_ms=q[98], max_ms=lat[-1])
    return row


def measure(quick: bool) -> dict:
    seconds = 3.0 if quick else 8.0
    rows = [_run(rate, seconds) for rate in (1_000.0, 5_000.0, 20_000.0)]
    return {"title": "end-to-end latency: upstream send -> PolygonDataManager on the GUI thread of a UI process",
            "rows": rows,
            "notes": ["server stamps each trade with time.time_ns(); the UI process subtracts on the GUI thread",
                      "frames of 5 trades; steady state: from 0.5 s after the window's first snapshot"]}


if __name__ == "__main__":  # python -m bench.latency [--quick]
    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
