"""Chart timeframes: what a timeframe switch costs, and the window's stalls with a 5m chart.

Why these two: a switch is the one moment the whole history is re-merged
(:class:`shared.market.timeframes.TimeframeBars`), its indicators recomputed
and the chart redrawn from scratch; live, a 5m chart pays the per-minute merge
and the display-rate merge of the forming bar on top of the 1m window's work.

* **switch**: a real ``PolygonDataManager`` holding 2000 minute bars (no feed:
  fed through its snapshot path) and a ``MainWindow`` (offscreen,
  1600x1000); per timeframe the time of ``set_timeframe`` (merge, indicators,
  signals warm-up, the full-refresh emission into the chart) plus the chart's
  render and one full repaint (``grab``), 1m (2000 bars) included.
* **stall**: :mod:`bench.ui_window`'s replay run (sim ``--replay --max`` ->
  feed -> window) with the window on 5m.
"""

from __future__ import annotations

import os
import time

from bench.ui_window import _pct, _replay_run, _round

T0 = 1750939200000  # 2025-06-26 08:00 ET: 2000 minutes reach into the next session


def _switch(rounds: int) -> list[dict]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PyQt6.QtWidgets import QApplication

    from shared import market_hours
    from shared.config import Settings
    from shared.market.timeframes import TIMEFRAMES
    from ui_process.polygon_data_manager import PolygonDataManager
    from ui_process.window import theme
    from ui_process.window.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    theme.apply(app)
    market_hours.warm()
    rng = np.random.default_rng(3)
    closes = 200 + np.cumsum(rng.normal(0, 0.2, 2000))
    bars = [{"timestamp": T0 + i * 60_000, "open": float(c) - 0.05, "high": float(c) + 0.15, "low": float(c) - 0.2,
             "close": float(c), "volume": int(1000 + abs(rng.normal(0, 4000))), "vwap": float(c),
             "transactions": 10} for i, c in enumerate(closes)]
    m = PolygonDataManager("tcp://127.0.0.1:1", settings=Settings(), symbol="AAPL")
    state = f"/tmp/lm-bench-chart-{os.getpid()}.ini"
    w = MainWindow(m, feed="-", symbol="AAPL", restore=False, state_file=state, spawner=lambda *a: None)
    w.resize(1600, 1000)
    w.show()
    m._core.apply_snapshot({"symbol": "AAPL", "bars": bars, "day": {}})
    w.chart.render()
    w.chart.grab()
    rows = []
    for tf in [t for t in TIMEFRAMES if t != "1m"] + ["1m"]:
        total, manager = [], []
        for _ in range(rounds):
            m.set_timeframe("1m" if tf != "1m" else "5m")
            w.chart.render()
            app.processEvents()
            t0 = time.perf_counter()
            m.set_timeframe(tf)
            t1 = time.perf_counter()
            w.chart.render()
            w.chart.grab()
            total.append(time.perf_counter() - t0)
            manager.append(t1 - t0)
        rows.append({"name": f"switch to {tf}", "bars": len(w.chart.series),
                     "manager_p50_ms": _pct(manager, 50) * 1000, "redraw_p50_ms": _pct(total, 50) * 1000,
                     "redraw_max_ms": max(total) * 1000})
    w.close()
    try:
        os.unlink(state)
    except OSError:
        pass
    return rows


def measure(quick: bool) -> dict:
    from bench.common import replay_dir

    title = "chart timeframes: switch redraw on 2000 minute bars, window stalls with a 5m chart"
    rows = [_round(r) for r in _switch(3 if quick else 10)]
    notes = [f"switch (2000 minutes held) worst p50 {max(r['redraw_p50_ms'] for r in rows):.1f} ms "
             f"(target < 50 ms); redraw = set_timeframe + render + a full repaint"]
    d = replay_dir()
    if d is not None:
        name, symbol = ("AAPL-2025-06-27-open.jsonl.gz", "AAPL") if quick else ("TSLA-2025-07-01.jsonl.gz", "TSLA")
        r = _round(_replay_run(d / name, symbol, pinned=False, timeframe="5m"))
        rows.append({"name": f"{symbol} 5m chart, shared cores", **{k: r[k] for k in (
            "events", "events_per_s", "frames_per_s", "stall_p50_ms", "stall_p99_ms", "stall_max_ms", "bars")}})
        notes.append(f"5m chart at full replay rate: stall p99 {r['stall_p99_ms']:.1f} ms (target < 50 ms): "
                     f"{'OK' if r['stall_p99_ms'] < 50 else 'OVER'}")
    return {"title": title, "rows": rows, "notes": notes}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure("--quick" in sys.argv), indent=1, default=str))
